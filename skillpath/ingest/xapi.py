"""xAPI statements into ``raw.xapi_statements``: from landing files and (through
:func:`load_xapi_records`) from the LRS client.

Each record is the raw bytes of one statement. It is parsed with orjson, checked
(id, actor, verb, object, timestamp), its typed columns extracted, and then it is
either inserted, counted as a duplicate (same id, same canonical payload) or
quarantined with a reason. Actors are not checked against an LMS roster: any actor
the standard allows is a learner (dbt links actors to LMS users, docs/raw_layer.md).
A statement without ``id`` (xAPI 1.0.3 makes it recommended, not required) gets the
name-based UUID of its canonical form (:func:`assigned_statement_id`), so the same
statement delivered twice is still one row. Rows go
to DuckDB in Arrow batches; duplicates are found with a join against the raw table
on ``statement_id`` (never a Python set of the whole history).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import gc
import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from skillpath.ingest.landing import (
    READ_ERRORS,
    Progress,
    base_name,
    iter_lines,
    load_files,
    open_landing_file,
    quarantine_unreadable,
    quarantine_whole_file,
)
from skillpath.ingest.rawstore import RawLoad
from skillpath.ingest.records import (  # noqa: F401 - re-exported for the LRS client and the tests
    Rejected,
    canonical_json,
    canonical_sha256,
    dumps,
    iso_to_utc,
    parse_json_record,
)

SOURCE = "xapi_file"
ATTEMPT_EXT = "http://id.tincanapi.com/extension/attempt-id"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
#: statement properties an LRS sets or may rewrite; left out of the payload hash
HASH_EXCLUDED = ("stored", "authority", "version")
#: parsed rows converted to Arrow at a time
ARROW_ROWS = 20_000
#: rows checked against the history and inserted at a time: each check scans the key
#: column of the whole raw table, so fewer, larger batches keep a big load from growing
#: with the history (about 1 KB of Arrow memory per statement)
INSERT_ROWS = 200_000

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUM = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")
_UTC = dt.UTC
#: namespace of the name-based (version 5) UUIDs given to statements delivered without an id
ASSIGNED_ID_NAMESPACE = uuid.UUID("6f1c1a52-8d2e-5b7e-9a43-2f6d1e0c7b15")
#: activity types that mark a context activity as the course (ADL, TinCan / Moodle, cmi5)
COURSE_TYPES = frozenset({
    "http://adlnet.gov/expapi/activities/course",
    "http://id.tincanapi.com/activitytype/lms/course",
    "https://w3id.org/xapi/cmi5/activitytype/course",
})
#: language tags tried first when a language map (object / activity name) is reduced to one text
_LANGUAGES = ("en-US", "en", "en-GB")

#: timestamps (statement ``timestamp`` and ``stored``, event ``occurred_at``) before this
#: are quarantined as ``implausible_timestamp``: no learning record predates the Unix epoch,
#: and ``0001-01-01`` style placeholders would otherwise reach the marts
TIMESTAMP_FLOOR = dt.datetime(1970, 1, 1)
#: ... and so are timestamps more than this many hours after the load (clock skew allowance);
#: ``SKILLPATH_MAX_FUTURE_HOURS`` overrides it. A ``9999-12-31`` placeholder would otherwise
#: be the newest record for ever and switch freshness checks off.
MAX_FUTURE_HOURS = 24
#: score values (``raw``, ``min``, ``max``) and durations (seconds) beyond this magnitude are
#: quarantined as ``invalid_result``: the marts sum them as decimal(38, 10)
MAX_RESULT_MAGNITUDE = 1e12

# Columns of raw.xapi_statements after the load metadata, in the Arrow batch order
# (record_no first).
_SCHEMA = pa.schema([
    ("record_no", pa.int64()),
    ("statement_id", pa.string()),
    ("payload", pa.large_string()),  # see BatchWriter: non-null UTF-8 bytes
    ("payload_sha256", pa.string()),
    ("actor_account_homepage", pa.string()),
    ("actor_account_name", pa.string()),
    ("actor_mbox", pa.string()),
    ("actor_mbox_sha1sum", pa.string()),
    ("actor_openid", pa.string()),
    ("verb_id", pa.string()),
    ("object_type", pa.string()),
    ("object_id", pa.string()),
    ("object_definition_type", pa.string()),
    ("voided_statement_id", pa.string()),
    ("statement_timestamp", pa.timestamp("us")),
    ("stored_at", pa.timestamp("us")),
    ("registration", pa.string()),
    ("attempt_id", pa.string()),
    ("parent_activity_id", pa.string()),
    ("grouping_activity_id", pa.string()),
    ("has_result", pa.bool_()),
    ("result_score_scaled", pa.float64()),
    ("result_score_raw", pa.float64()),
    ("result_score_min", pa.float64()),
    ("result_score_max", pa.float64()),
    ("result_success", pa.bool_()),
    ("result_completion", pa.bool_()),
    ("result_duration", pa.string()),
    ("result_duration_seconds", pa.float64()),
    ("result_extensions", pa.string()),
    ("context_extensions", pa.string()),
    ("id_assigned", pa.bool_()),
    ("actor_object_type", pa.string()),
    ("object_name", pa.string()),
    ("parent_activity_type", pa.string()),
    ("parent_activity_name", pa.string()),
    ("grouping_activity_type", pa.string()),
    ("grouping_activity_name", pa.string()),
    ("course_activity_id", pa.string()),
    ("course_activity_name", pa.string()),
])


# --- small parsers shared with the other ingesters ---------------------------------------------

def parse_timestamp(value) -> dt.datetime:
    """An ISO 8601 date-time as a naive UTC datetime (no offset = UTC); ValueError otherwise.

    RFC 3339 lower-case ``t`` / ``z`` are accepted. A value that cannot be expressed in
    UTC (``9999-12-31T23:00:00-05:00``, ``0001-01-01T00:00:00+05:30``) is clamped to
    ``datetime.max`` / ``datetime.min``, which :func:`check_timestamp` then rejects.
    """
    if not isinstance(value, str) or len(value) < 16:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    return iso_to_utc(value)


def max_future() -> dt.timedelta:
    """How far after the load a timestamp may lie (``SKILLPATH_MAX_FUTURE_HOURS``, default 24)."""
    from skillpath.config import settings

    return dt.timedelta(hours=settings().max_future_hours)


def latest_plausible() -> dt.datetime:
    """The latest plausible timestamp now: the load time plus :func:`max_future` (naive UTC)."""
    return dt.datetime.now(_UTC).replace(tzinfo=None) + max_future()


_LATEST: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("skillpath_latest", default=None)


@contextmanager
def timestamp_window() -> Iterator[None]:
    """Fix the latest plausible timestamp for a bulk load (reading the clock and the setting
    once, not per record)."""
    token = _LATEST.set(latest_plausible())
    try:
        yield
    finally:
        _LATEST.reset(token)


def check_timestamp(ts: dt.datetime | None, what: str, latest: dt.datetime | None = None) -> None:
    """Rejected ``implausible_timestamp`` unless ``TIMESTAMP_FLOOR <= ts <= latest``.

    ``latest`` defaults to the one fixed by :func:`timestamp_window`, else
    :func:`latest_plausible`.
    """
    if ts is None:
        return
    if latest is None:
        latest = _LATEST.get() or latest_plausible()
    if ts < TIMESTAMP_FLOOR or ts > latest:
        shown = "beyond what UTC can hold" if ts in (dt.datetime.min, dt.datetime.max) else f"{ts.isoformat()} UTC"
        raise Rejected("implausible_timestamp",
                       f"{what} {shown} is outside the plausible window [{TIMESTAMP_FLOOR.date().isoformat()}, "
                       f"load time + {max_future().total_seconds() / 3600:g} h]")


def _invalid_score(score: dict) -> str | None:
    """Why a result's ``score`` object breaks xAPI 1.0.3 (or the marts' range), else None."""
    values = {}
    for key in ("scaled", "raw", "min", "max"):
        value = score.get(key)
        if value is None:
            continue
        if type(value) is not float and type(value) is not int:  # bool is not a number here
            return f"result.score.{key} is not a number: {str(value)[:100]!r}"
        if not -MAX_RESULT_MAGNITUDE <= value <= MAX_RESULT_MAGNITUDE:  # also false for NaN
            return f"result.score.{key} {value!r} is beyond {MAX_RESULT_MAGNITUDE:g}"
        values[key] = value
    scaled, raw, low, high = (values.get(k) for k in ("scaled", "raw", "min", "max"))
    if scaled is not None and not -1 <= scaled <= 1:
        return f"result.score.scaled {scaled!r} is outside [-1, 1]"
    # xAPI wants min < max; min = max (Open edX sends 0 / 0 for problems worth no points) is
    # tolerated: the marts count no points for it and divide by max - min only when it is positive
    if low is not None and high is not None and low > high:
        return f"result.score.min {low!r} is above max {high!r}"
    if raw is not None and ((low is not None and raw < low) or (high is not None and raw > high)):
        return f"result.score.raw {raw!r} is outside [min {low!r}, max {high!r}]"
    return None


def check_result(result) -> None:
    """Rejected ``invalid_result`` when a statement's ``result`` breaks xAPI 1.0.3.

    ``result`` must be an object; ``success`` / ``completion`` booleans; ``score`` an
    object of numbers with ``scaled`` in [-1, 1], ``min <= max`` and ``raw`` between
    them; ``duration`` a string. ``null`` counts as absent. Values the marts cannot
    hold (beyond ``MAX_RESULT_MAGNITUDE``) are rejected too.
    """
    if result is None:
        return
    if type(result) is not dict:
        raise Rejected("invalid_result", f"result is not an object: {type(result).__name__}")
    get = result.get
    success, completion, duration, score = get("success"), get("completion"), get("duration"), get("score")
    for key, value in (("success", success), ("completion", completion)):
        if value is not None and type(value) is not bool:
            raise Rejected("invalid_result", f"result.{key} is not a boolean: {str(value)[:100]!r}")
    if duration is not None:
        if type(duration) is not str:
            raise Rejected("invalid_result", f"result.duration is not a string: {str(duration)[:100]!r}")
        seconds = _duration_seconds(duration)
        if seconds is not None and not seconds <= MAX_RESULT_MAGNITUDE:
            raise Rejected("invalid_result", f"result.duration {duration[:100]!r} is beyond "
                                             f"{MAX_RESULT_MAGNITUDE:g} seconds")
    if score is not None:
        if type(score) is not dict:
            raise Rejected("invalid_result", f"result.score is not an object: {type(score).__name__}")
        problem = _invalid_score(score)
        if problem is not None:
            raise Rejected("invalid_result", problem)


def parse_duration(value) -> float | None:
    """Seconds of an ISO 8601 duration (``PT1H2M3.5S``, ``P1DT2H``, ``P2W``).

    None when absent, unparsable, or using years/months (no fixed length in seconds).
    """
    if not isinstance(value, str) or len(value) < 3:
        return None
    m = _DURATION.fullmatch(value)
    if m is None:
        return None
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    if years or months or value.endswith("T"):
        return None
    total = 0.0
    for part, factor in ((weeks, 604800), (days, 86400), (hours, 3600), (minutes, 60), (seconds, 1)):
        if part:
            total += float(part.replace(",", ".")) * factor
    return total


@functools.lru_cache(maxsize=1 << 16)
def _duration_seconds(value: str) -> float | None:
    return parse_duration(value)


def assigned_statement_id(canonical: bytes) -> str:
    """The id given to a statement delivered without one: the version 5 (name-based, SHA-1)
    UUID of its canonical JSON without ``stored``/``authority``/``version`` in
    :data:`ASSIGNED_ID_NAMESPACE` (what :func:`uuid.uuid5` computes, over bytes)."""
    digest = hashlib.sha1(ASSIGNED_ID_NAMESPACE.bytes + canonical).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


# --- one statement -----------------------------------------------------------------------------

def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _num(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bool(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _ext_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return dumps(value).decode()


def _extensions(obj) -> dict | None:
    if isinstance(obj, dict):
        ext = obj.get("extensions")
        if isinstance(ext, dict):
            return ext
    return None


def _language_text(value) -> str | None:
    """One text of an xAPI language map (en-US, en, en-GB, else the first entry)."""
    if not isinstance(value, dict) or not value:
        return None
    for tag in _LANGUAGES:
        text = value.get(tag)
        if isinstance(text, str):
            return text
    return next((v for v in value.values() if isinstance(v, str)), None)


def _first_activity(activities) -> dict | None:
    if isinstance(activities, list):
        activities = activities[0] if activities else None
    return activities if isinstance(activities, dict) else None


def _activity_type_name(activity: dict | None) -> tuple[str | None, str | None]:
    definition = activity.get("definition") if activity is not None else None
    if not isinstance(definition, dict):
        return None, None
    return _str(definition.get("type")), _language_text(definition.get("name"))


def parse_statement(record_no: int, raw: bytes) -> tuple:
    """The batch row (see ``_SCHEMA``) of one statement, or :class:`Rejected`."""
    st = parse_json_record(raw)
    if not isinstance(st, dict):
        raise Rejected("not_a_statement", f"a statement is a JSON object, got {type(st).__name__}")
    sid = st.get("id")
    if sid is not None and (not isinstance(sid, str) or not _UUID.fullmatch(sid)):
        raise Rejected("invalid_id", f"statement id is not a UUID: {str(sid)[:100]!r}")
    actor = st.get("actor")
    if not isinstance(actor, dict):
        raise Rejected("missing_actor", "statement has no actor object")
    actor_type = _str(actor.get("objectType")) or "Agent"
    account = actor.get("account")
    homepage = name = None
    if type(account) is dict:
        homepage, name = account.get("homePage"), account.get("name")
        homepage = homepage if type(homepage) is str else None
        name = name if type(name) is str else None
    mbox, sha1, openid = actor.get("mbox"), actor.get("mbox_sha1sum"), actor.get("openid")
    mbox = mbox if type(mbox) is str else None
    sha1 = sha1 if type(sha1) is str else None
    openid = openid if type(openid) is str else None
    if not (name or mbox or sha1 or openid):
        # an anonymous Group (members, no identifier) is a valid actor; it is nobody's learner
        if not (actor_type == "Group" and isinstance(actor.get("member"), list) and actor["member"]):
            raise Rejected("missing_actor", "actor has no identifier (account, mbox, mbox_sha1sum, openid)")
    verb = st.get("verb")
    verb_id = _str(verb.get("id")) if isinstance(verb, dict) else None
    if not verb_id:
        raise Rejected("missing_verb", "statement has no verb.id")
    obj = st.get("object")
    if not isinstance(obj, dict):
        raise Rejected("missing_object", "statement has no object")
    object_type = _str(obj.get("objectType")) or "Activity"
    object_id = _str(obj.get("id"))
    if object_type in ("Activity", "StatementRef") and not object_id:
        raise Rejected("missing_object", f"{object_type} object has no id")
    stored_raw = st.get("stored")
    ts_raw = st.get("timestamp", stored_raw)
    if ts_raw is None:
        raise Rejected("bad_timestamp", "statement has neither timestamp nor stored")
    try:
        timestamp = parse_timestamp(ts_raw)
        stored = parse_timestamp(stored_raw) if stored_raw is not None else None
    except (ValueError, TypeError) as exc:
        raise Rejected("bad_timestamp", f"unparsable timestamp: {exc}") from None
    check_timestamp(timestamp, "timestamp")
    check_timestamp(stored, "stored")
    canonical = canonical_json(st, HASH_EXCLUDED)
    id_assigned = sid is None
    if id_assigned:
        sid = assigned_statement_id(canonical)

    definition = obj.get("definition")
    definition = definition if isinstance(definition, dict) else None
    context = st.get("context")
    context = context if isinstance(context, dict) else None
    result = st.get("result")
    check_result(result)
    ctx_ext = _extensions(context)
    res_ext = _extensions(result)
    parent = grouping = registration = course = None
    groupings = parents = ()
    if context is not None:
        registration = _str(context.get("registration"))
        ca = context.get("contextActivities")
        if isinstance(ca, dict):
            parents = ca.get("parent") or ()
            parents = parents if isinstance(parents, list) else [parents]
            parent = _first_activity(parents)
            groupings = ca.get("grouping") or ()
            groupings = groupings if isinstance(groupings, list) else [groupings]
            grouping = _first_activity(groupings)
            course = next((a for a in (*parents, *groupings) if isinstance(a, dict)
                           and _activity_type_name(a)[0] in COURSE_TYPES and _str(a.get("id"))), None)
    parent_type, parent_name = _activity_type_name(parent)
    grouping_type, grouping_name = _activity_type_name(grouping)
    attempt = None
    for ext in (_extensions(definition), ctx_ext, res_ext,
                *(_extensions(g.get("definition")) for g in groupings if isinstance(g, dict))):
        if ext is not None and ATTEMPT_EXT in ext:
            attempt = _ext_text(ext[ATTEMPT_EXT])
            break
    score = result.get("score") if result is not None else None
    score = score if isinstance(score, dict) else {}
    duration = _str(result.get("duration")) if result is not None else None
    voided = object_id.lower() if verb_id == VOIDED and object_type == "StatementRef" and object_id else None
    return (
        record_no,
        sid.lower(),
        raw,  # valid UTF-8: orjson checked it; Arrow takes the bytes as a string column
        hashlib.sha256(canonical).hexdigest(),
        homepage, name, mbox, sha1, openid,
        verb_id,
        object_type,
        object_id,
        _str(definition.get("type")) if definition is not None else None,
        voided,
        timestamp,
        stored,
        registration,
        attempt,
        _str(parent.get("id")) if parent is not None else None,
        _str(grouping.get("id")) if grouping is not None else None,
        result is not None,
        _num(score.get("scaled")), _num(score.get("raw")), _num(score.get("min")), _num(score.get("max")),
        _bool(result.get("success")) if result is not None else None,
        _bool(result.get("completion")) if result is not None else None,
        duration,
        _duration_seconds(duration) if duration is not None else None,
        dumps(res_ext) if res_ext is not None else None,  # bytes: Arrow reads them as UTF-8 text
        dumps(ctx_ext) if ctx_ext is not None else None,
        id_assigned,
        actor_type,
        _language_text(definition.get("name")) if definition is not None else None,
        parent_type, parent_name,
        grouping_type, grouping_name,
        course["id"] if course is not None else None,
        _activity_type_name(course)[1],
    )


# --- batches -----------------------------------------------------------------------------------

@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk load.

    Parsing creates millions of short-lived, acyclic objects; the collector's
    generation scans over a batch of parsed rows cost more than the parsing itself.
    Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

def insert_new_records(con: duckdb.DuckDBPyConnection, load: RawLoad, table: str, key: str,
                       batch: pa.Table) -> list[tuple[int, str, str]]:
    """Insert the batch rows whose ``key`` is new to ``raw.<table>``; count the rest.

    A row whose key is already in the table (or earlier in the batch) with the same
    ``payload_sha256`` is a duplicate (``load.duplicate``); with another payload it is a
    conflict, returned as ``(record_no, key, payload)`` for the caller to quarantine.
    The batch needs ``record_no``, ``key``, ``payload``, ``payload_sha256`` columns and
    otherwise exactly the table's columns after the load metadata.
    """
    con.complete()  # a pending result (e.g. after fetchone) blocks register
    con.register("_ingest_batch", batch)
    try:
        con.execute(
            f"""
            create or replace temp table _ingest_kind as
            with b as (
                select record_no, {key} as k, payload_sha256 as sha,
                       row_number() over w as rn, first_value(payload_sha256) over w as first_sha
                from _ingest_batch window w as (partition by {key} order by record_no)
            ), e as (
                select {key} as k, min(payload_sha256) as sha from raw.{table}
                where {key} in (select {key} from _ingest_batch) group by all
            )
            select b.record_no,
                   case when e.sha is null and b.rn = 1 then 'new'
                        when b.sha = coalesce(e.sha, b.first_sha) then 'duplicate'
                        else 'conflict' end as kind
            from b left join e using (k)
            """
        )
        cols = ", ".join(f"b.{c}" for c in batch.schema.names)
        con.execute(
            f"insert into raw.{table} (load_id, source, source_ref, loaded_at, {', '.join(batch.schema.names)}) "
            f"select ?, ?, ?, ?, {cols} from _ingest_batch b join _ingest_kind k using (record_no) "
            "where k.kind = 'new'",
            [load.load_id, load.source, load.source_ref, load.loaded_at],
        )
        counts = dict(con.execute("select kind, count(*) from _ingest_kind group by kind").fetchall())
        conflicts = con.execute(
            f"select b.record_no, b.{key}, b.payload from _ingest_batch b join _ingest_kind k using (record_no) "
            "where k.kind = 'conflict' order by b.record_no"
        ).fetchall()
        con.execute("drop table _ingest_kind")
    finally:
        con.unregister("_ingest_batch")
    load.loaded += counts.get("new", 0)
    load.duplicate += counts.get("duplicate", 0)
    return conflicts


def _utf8_bytes_column(values: tuple[bytes, ...]) -> pa.Array:
    """A large_string column from non-null bytes already known to be UTF-8 (orjson checked them).

    Built from one joined buffer and its offsets: several times faster than
    ``pa.array`` for the ~1 KB payloads, which dominate the Arrow conversion.
    """
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(b"".join(values)))


class BatchWriter:
    """Collects parsed rows of one load and writes them with :func:`insert_new_records`.

    Fields typed ``large_string`` in ``schema`` take non-null UTF-8 ``bytes``. Rows
    are converted to Arrow every ``ARROW_ROWS`` and inserted every
    ``INSERT_ROWS``; conflicts are quarantined with ``what`` (e.g. "statement") in
    the detail.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, load: RawLoad, table: str, key: str,
                 schema: pa.Schema, what: str):
        self.con, self.load, self.table, self.key, self.schema, self.what = con, load, table, key, schema, what
        self.rows: list[tuple] = []
        self.tables: list[pa.Table] = []
        self.pending = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= ARROW_ROWS:
            self._to_arrow()
            if self.pending >= INSERT_ROWS:
                self._insert()

    def close(self) -> None:
        self._to_arrow()
        self._insert()

    def _to_arrow(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        self.tables.append(pa.Table.from_arrays(
            [_utf8_bytes_column(col) if field.type == pa.large_string() else pa.array(col, type=field.type)
             for col, field in zip(columns, self.schema, strict=True)],
            schema=self.schema))
        self.pending += len(self.rows)
        self.rows = []

    def _insert(self) -> None:
        if not self.tables:
            return
        batch = pa.concat_tables(self.tables)
        self.tables, self.pending = [], 0
        for record_no, key, payload in insert_new_records(self.con, self.load, self.table, self.key, batch):
            self.load.quarantine(record_no, "duplicate_id_conflict",
                                 f"{self.what} {key} was loaded before with a different payload", payload)


def load_xapi_records(con: duckdb.DuckDBPyConnection, records: Iterable[tuple[int, bytes]], *,
                      load: RawLoad) -> None:
    """Load statements ``(record_no, raw bytes of one statement)`` within ``load``.

    Every record read is counted in exactly one of ``load.loaded``, ``load.duplicate``
    or the quarantine.
    """
    load_parsed_records(con, load, records, parse_statement,
                        BatchWriter(con, load, "xapi_statements", "statement_id", _SCHEMA, "statement"))


def load_parsed_records(con: duckdb.DuckDBPyConnection, load: RawLoad, records: Iterable[tuple[int, bytes]],
                        parse, writer: BatchWriter) -> None:
    """Parse each ``(record_no, raw bytes)`` with ``parse`` and write its row with ``writer``; a
    record ``parse`` rejects (or that raises) is quarantined with its reason. Every record read
    ends up loaded, a duplicate or quarantined (statements and credential events alike)."""
    with gc_paused(), timestamp_window():
        for record_no, raw in records:
            load.read += 1
            try:
                row = parse(record_no, raw)
            except Rejected as rej:
                load.quarantine(record_no, rej.reason, rej.detail, raw)
                continue
            except Exception as exc:  # noqa: BLE001 - one record never stops a load
                load.quarantine(record_no, "ingest_error", f"{type(exc).__name__}: {exc}", raw)
                continue
            writer.add(row)
        writer.close()


# --- files -------------------------------------------------------------------------------------

#: a JSON string (which cannot hold a raw line break, so an unterminated one ends at the
#: line end and does not swallow the rest of the file) or a structural character
_ARRAY_TOKEN = re.compile(rb'"[^"\\\n]*(?:\\[^\n][^"\\\n]*)*"|[\[\]{},]')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_COMMA = ord(",")
_QUOTE = ord('"')
_MATCHING = {ord("]"): ord("["), ord("}"): ord("{")}
BOM = b"\xef\xbb\xbf"


def split_json_array(buf: bytes) -> Iterator[bytes]:
    """The raw bytes of each element of the JSON array ``buf`` (which starts with ``[``).

    Works on the bytes without building Python objects for the whole array. Input
    that is not a well-formed array still loses nothing: an unterminated array yields
    its unfinished tail, and text after the closing bracket is yielded as one more
    element, so those bytes end in quarantine as malformed JSON.

    One broken element does not take its neighbours with it: brackets are matched by
    kind, so a stray closing bracket stays inside its element, a closing bracket of
    the wrong kind closes the elements still open up to its match, and an object that
    is left open (``{"a": 1, {"next": ...}``: after a comma an object needs a key)
    ends its element at that comma, where the next element starts.
    """
    stack: list[int] = []   # open brackets; stack[0] is the array itself
    start = None
    end = len(buf)
    comma = -1              # position of a comma inside an object, while its key is awaited
    for m in _ARRAY_TOKEN.finditer(buf):
        pos = m.start()
        c = buf[pos]
        after_object_comma, comma = comma, -1
        if c == _QUOTE:
            continue
        if c in _OPEN:
            if not stack:
                stack.append(c)
                start = m.end()
                continue
            if after_object_comma >= 0 and len(stack) > 1:  # an object left open: resync
                yield buf[start:after_object_comma].strip()
                start = after_object_comma + 1
                del stack[1:]
            stack.append(c)
        elif c in _CLOSE:
            want = _MATCHING[c]
            if want not in stack:
                continue  # a stray closing bracket: part of a (malformed) element
            while stack[-1] != want:  # brackets left open inside the element are closed here
                stack.pop()
            stack.pop()
            if not stack:
                element = buf[start:pos].strip()
                if element:
                    yield element
                end = m.end()
                start = None
                break
        elif c == _COMMA:
            if len(stack) == 1:
                yield buf[start:pos].strip()
                start = m.end()
            elif stack and stack[-1] == ord("{"):
                comma = pos
    if start is not None:
        tail = buf[start:].strip()
        if tail:
            yield tail
    else:
        rest = buf[end:].strip()
        if rest:
            yield rest


def _statements_array(doc: bytes) -> bytes | None:
    """The raw bytes of the top-level ``"statements"`` array of an LRS page object."""
    depth = 0
    key = False
    begin = None
    for m in _ARRAY_TOKEN.finditer(doc):
        c = doc[m.start()]
        if c == _QUOTE:
            key = depth == 1 and m.group() == b'"statements"'
            continue
        if c in _OPEN:
            if depth == 1 and key and c == ord("[") and begin is None:
                begin = m.start()
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if begin is not None and depth == 1:
                return doc[begin:m.end()]
        key = False
    return None


def _json_file_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    if data.startswith(BOM):
        data = data[3:]
    stripped = data.strip()
    if not stripped:
        return
    if stripped[:1] == b"[":
        yield from enumerate(split_json_array(stripped), 1)
        return
    if stripped[:1] == b"{" and b'"statements"' in stripped:
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("statements"), list):
            try:
                records = [orjson.dumps(st) for st in doc["statements"]]
            except orjson.JSONEncodeError:  # nested too deeply to re-serialise: keep the bytes as sent
                array = _statements_array(stripped)
                records = list(split_json_array(array)) if array else [stripped]
            yield from enumerate(records, 1)
            return
    yield 1, stripped


def _file_records(load: RawLoad, path: Path) -> Iterator[tuple[int, bytes]]:
    """Records of one landing file; a read/decompression error becomes one unreadable_file record."""
    name = base_name(path)
    last = 0
    try:
        with open_landing_file(path) as fh:
            if name.endswith((".ndjson", ".jsonl")):
                for last, line in iter_lines(fh):
                    yield last, line
            else:
                yield from _json_file_records(fh.read())
    except READ_ERRORS as exc:
        after = f"read failed after line {last}: " if last else ""
        quarantine_unreadable(load, path, last + 1, exc, after)


def _load_xapi_file(con: duckdb.DuckDBPyConnection):
    def body(load: RawLoad, path: Path) -> None:
        if not base_name(path).endswith((".json", ".ndjson", ".jsonl")):
            quarantine_whole_file(load, path, "unknown_file",
                                  "xapi/ takes *.json, *.ndjson, *.jsonl (optionally .gz)")
            return
        load_xapi_records(con, _file_records(load, path), load=load)
    return body


def ingest_xapi_files(con: duckdb.DuckDBPyConnection, landing_dir: Path, progress: Progress = None) -> list[dict]:
    """Load every new file under ``landing/xapi/``; returns one dict of counts per file."""
    return load_files(con, SOURCE, Path(landing_dir), "xapi", _load_xapi_file(con), progress)
