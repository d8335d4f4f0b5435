"""Property: no landing zone crashes ingestion, every record is accounted for, and bad records
change nothing for the good ones (issue 19).

Hypothesis draws a landing zone of valid records (LMS users, xAPI statements, credential
events, Open Badges 3.0 credentials, collections.csv rows) and a list of hostile records
(the cases of issue 19 and the usual malformed ones), interleaved at drawn positions, in
drawn file shapes (NDJSON, JSON arrays, with or without a byte-order mark). It ingests the
zone twice into real DuckDB files: valid records only, then valid and hostile together.
For every drawn zone:

* ``ingest_landing`` does not raise (it raises when any source does not reconcile);
* every source balances: read = loaded + quarantined + duplicates, quarantine rows present;
* every hostile record is exactly one record more read, quarantined (with a reason, a
  detail and its bytes) or counted as a duplicate: none is loaded, none absorbs another;
* the raw tables hold exactly the same rows (load metadata aside) as with the valid
  records alone, so the marts built on them are the same.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from skillpath.config import settings
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.runner import ingest_landing

USERS = ("u1", "u2", "u3")
USER_COLUMNS = ("user_id", "account_id", "email", "display_name", "role")
COLLECTION_COLUMNS = ("collection_id", "collection_name", "position", "achievement_id")
VC2 = "https://www.w3.org/ns/credentials/v2"
OB3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
BOM = b"\xef\xbb\xbf"
#: raw tables compared between the two zones, without the load metadata
COMPARED = ("lms_users", "xapi_statements", "credential_events", "credential_documents", "credential_awards",
            "credential_associations", "collections")
META = {"load_id", "loaded_at", "record_no", "source_ref"}

_counter = itertools.count(1)


def uid() -> int:
    """A number never drawn before in this process: ids of valid records never collide."""
    return next(_counter)


def sid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- valid records


def csv_row(values: list[str]) -> bytes:
    """One RFC 4180 record without its line end (values with a comma, quote or line break quoted)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue().removesuffix("\r\n").encode()

_text = st.text(alphabet=st.sampled_from('abcXYZ019 ,"\n-éü—😀'), max_size=12)
# a value never starts with a quote-like character: an RFC 4180 reader then cannot join a bad
# row's open quoted value with a valid row into another well-formed row (see _csv.py)
_name = _text.filter(lambda s: s[:1] not in (",", "\n", '"') and s.strip() == s)


@st.composite
def timestamps(draw, lo=dt.datetime(2000, 1, 1), hi=dt.datetime(2025, 12, 31)) -> str:
    """A valid RFC 3339 / ISO 8601 timestamp in the plausible window, in a drawn spelling."""
    ts = draw(st.datetimes(min_value=lo, max_value=hi))
    offset = draw(st.integers(-14 * 4, 14 * 4)) * 15
    local = ts + dt.timedelta(minutes=offset)
    sep = draw(st.sampled_from("Tt"))
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if draw(st.booleans()):
        text += f".{local.microsecond // 1000:03d}"
    if offset == 0 and draw(st.booleans()):
        return text + draw(st.sampled_from("Zz"))
    sign = "+" if offset >= 0 else "-"
    return text + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@st.composite
def user_rows(draw) -> list[bytes]:
    """users.csv data rows: the fixed learners (every statement's actor) and drawn extra users."""
    rows = []
    for user_id in USERS + tuple(f"x{uid()}" for _ in range(draw(st.integers(0, 3)))):
        values = [user_id, "acc1", f"{user_id}@example.org", draw(_name), draw(st.sampled_from(
            ("learner", "manager", "executive")))]
        rows.append(csv_row(values))
    return rows


@st.composite
def results(draw) -> dict | None:
    if draw(st.booleans()):
        return None
    result: dict = {}
    if draw(st.booleans()):
        lo = draw(st.integers(-100, 100))
        hi = lo + draw(st.integers(1, 100))
        score = {"raw": draw(st.integers(lo, hi)), "min": lo, "max": hi}
        if draw(st.booleans()):
            score["scaled"] = draw(st.floats(-1, 1))
        result["score"] = score
    for key in ("success", "completion"):
        if draw(st.booleans()):
            result[key] = draw(st.booleans())
    if draw(st.booleans()):
        result["duration"] = f"PT{draw(st.integers(0, 10_000))}S"
    return result


@st.composite
def statements(draw) -> bytes:
    n = uid()
    s = {"id": sid(n), "actor": {"objectType": "Agent",
                                 "account": {"homePage": "https://lms.example.org", "name": draw(st.sampled_from(USERS))}},
         "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
         "object": {"id": f"https://lms.example.org/exercise/{n}"},
         "timestamp": draw(timestamps())}
    if draw(st.booleans()):
        s["stored"] = draw(timestamps())
    result = draw(results())
    if result is not None:
        s["result"] = result
    if draw(st.booleans()):
        s["context"] = {"extensions": {"https://x.example/deep": nested(draw(st.integers(0, 100)))}}
    return compact(s)


@st.composite
def events(draw) -> bytes:
    e = {"event_id": f"ev-{uid()}", "event_type": draw(st.sampled_from(("issued", "viewed", "shared", "verified"))),
         "occurred_at": draw(timestamps()), "credential_id": "urn:uuid:cred-1"}
    if draw(st.booleans()):
        e["verifier"] = {"organization_id": "org-1", "consented": draw(st.booleans())}
    return compact(e)


@st.composite
def credentials(draw) -> bytes:
    cred = {"@context": [VC2, OB3], "id": f"urn:uuid:00000000-0000-4000-9000-{uid():012d}",
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": {"id": "https://uni.example/issuer", "type": ["Profile"], "name": draw(_name)},
            "validFrom": draw(timestamps(hi=dt.datetime(2024, 1, 1))),
            "credentialSubject": {"type": ["AchievementSubject"], "id": f"mailto:l{uid()}@example.org",
                                  "achievement": {"id": f"urn:ach:{draw(st.integers(1, 5))}", "name": draw(_name)}}}
    return compact(cred)


@st.composite
def collection_rows(draw) -> list[bytes]:
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        values = [f"c{uid()}", draw(_name), str(draw(st.integers(1, 9))), f"urn:ach:{uid()}"]
        rows.append(csv_row(values))
    return rows


# --------------------------------------------------------------------------- hostile records


def _bad_statements() -> list:
    def s(**over) -> bytes:
        base = {"id": sid(uid()), "actor": {"account": {"homePage": "https://lms.example.org", "name": "u1"}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
                "object": {"id": "https://lms.example.org/exercise/1"}, "timestamp": "2024-03-01T10:00:00Z"}
        base.update(over)
        return compact({k: v for k, v in base.items() if v is not None})

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        lambda: s(timestamp="9999-12-31T23:00:00-05:00"),
        lambda: s(timestamp="0001-01-01T00:00:00+05:30"),
        lambda: s(timestamp="9999-12-31T00:00:00Z"),
        lambda: s(timestamp=future),
        lambda: s(timestamp="1969-07-20T20:17:00Z"),
        lambda: s(timestamp=None, stored="9999-12-31T00:00:00z"),
        lambda: s(timestamp="yesterday"),
        lambda: s(result={"score": {"raw": 1e308}}),
        lambda: s(result={"score": {"scaled": 1.5}}),
        lambda: s(result={"score": {"raw": -5, "min": 0, "max": 4}}),
        lambda: s(result={"score": {"scaled": "0.5"}, "success": "true"}),
        lambda: s(result="passed"),
        lambda: s(context={"extensions": {"https://x.example/deep": nested(300)}}),
        lambda: s()[:-1] + b', "deep": ' + b"[" * 1100 + b"]" * 1100 + b"}",
        lambda: s(verb=None),
        lambda: s(object={"objectType": "Activity"}),
        lambda: s()[:-10],                                            # truncated
        lambda: f"[1, {uid()}]".encode(),
        lambda: b'{"id": "' + sid(uid()).encode() + b'", "actor": "\xff\xfe"}',
        # unbalanced: these must stay one record in a JSON array too
        lambda: b'{"id": "' + sid(uid()).encode() + b'", "actor": {"x": [1}',
        lambda: b'{"id": "' + sid(uid()).encode() + b'"}}',
        lambda: b'{"id": {"nested": "' + str(uid()).encode() + b'"',
        lambda: b'{"id": "unterminated ' + str(uid()).encode(),
    ]


def _bad_events() -> list:
    def e(**over) -> bytes:
        base = {"event_id": f"bad-{uid()}", "event_type": "viewed", "occurred_at": "2024-05-01T12:00:00Z",
                "credential_id": "urn:uuid:cred-1"}
        base.update(over)
        return compact(base)

    return [
        lambda: e(occurred_at="0001-01-01T00:00:00+05:30"),
        lambda: e(occurred_at="9999-12-31T23:00:00-05:00"),
        lambda: e(occurred_at="2999-01-01T00:00:00Z"),
        lambda: e(occurred_at="May 1st"),
        lambda: e(event_type="liked"),
        lambda: e(credential_id=None),
        lambda: e(extra=nested(300)),
        lambda: e()[:-1] + b', "deep": ' + b"[" * 1100 + b"]" * 1100 + b"}",
        lambda: e()[:-5],
        lambda: f'"a string {uid()}"'.encode(),
    ]


def _bad_credentials() -> list:
    def c(**over) -> bytes:
        cred = {"@context": [VC2, OB3], "id": f"urn:uuid:bad-{uid()}",
                "type": ["VerifiableCredential", "OpenBadgeCredential"],
                "issuer": {"id": "https://uni.example/issuer", "type": ["Profile"]},
                "validFrom": "2024-01-15T09:30:00Z",
                "credentialSubject": {"id": "mailto:x@example.org", "achievement": {"id": "urn:ach:1"}}}
        cred.update(over)
        return compact({k: v for k, v in cred.items() if v is not None})

    return [
        lambda: c(issuer=None),
        lambda: c(validFrom="0001-01-01T00:00:00+05:30"),
        lambda: c(validFrom="2999-01-01T00:00:00Z"),
        lambda: c(evidence=nested(300)),
        lambda: c()[:-1] + b', "deep": ' + b"[" * 1100 + b"]" * 1100 + b"}",
        lambda: compact({"hello": "world", "n": uid()}),
        lambda: b'{"type": "Issuer", "id": [' + str(uid()).encode() + b"}",
        lambda: c()[:-10],
    ]


def _bad_user_rows() -> list:
    return [
        lambda: f'b{uid()},acc1,dj@example.org,Dwayne "The Rock Johnson,learner'.encode(),
        lambda: f'b{uid()},acc1,x@example.org,"Unclosed,learner'.encode(),
        lambda: f"b{uid()},acc1".encode(),
        lambda: f"b{uid()},acc1,x@example.org,X,learner,extra".encode(),
        lambda: b" ,acc1,nokey@example.org,X,learner",
        lambda: f"b{uid()},acc1,\xff@example.org,X,learner".encode("latin-1"),
        lambda: f'b{uid()},acc1,x@example.org,"Quoted"tail,learner'.encode(),
    ]


def _bad_collection_rows() -> list:
    return [
        lambda: f'k{uid()},The "best" one,1,urn:x'.encode(),
        lambda: f"k{uid()},One".encode(),
        lambda: f",One,1,urn:ach:{uid()}".encode(),
        lambda: f"k{uid()},One,first,urn:x".encode(),
        lambda: f'k{uid()},"Unclosed,1,urn:x'.encode(),
        lambda: f"k{uid()},One,99999999999,urn:x".encode(),
    ]


def hostile(choices: list, max_size: int = 4):
    return st.lists(st.sampled_from(range(len(choices))).map(lambda i: choices[i]()), max_size=max_size)


def conflicting_pair(kind: str):
    """Two rows with a key of their own and different values: both are duplicate_key_conflict."""
    def make(_):
        key = uid()
        if kind == "users":
            return [f"k{key},acc1,a@example.org,A,learner".encode(), f"k{key},acc1,a@example.org,A,manager".encode()]
        return [f"k{key},One,1,urn:k".encode(), f"k{key},One,2,urn:k".encode()]
    return st.booleans().map(lambda b: make(b) if b else [])


@st.composite
def interleave(draw, valid: list, bad: list) -> list[tuple[bool, bytes]]:
    """The valid records in order, with the bad ones (and maybe an identical repeat of a valid
    one, a duplicate) at drawn positions: ``(is_valid, record)`` pairs."""
    mixed = [(True, r) for r in valid]
    extra = list(bad)
    if valid and draw(st.booleans()):
        extra.append(draw(st.sampled_from(valid)))
    for item in extra:
        mixed.insert(draw(st.integers(0, len(mixed))), (False, item))
    return mixed


def hostile_count(mixed: list[tuple[bool, bytes]]) -> int:
    return sum(not ok for ok, _ in mixed)


@st.composite
def zones(draw) -> dict:
    """Both landing zones as {relative path: bytes} plus the number of hostile records per source."""
    clean: dict[str, bytes] = {}
    dirty: dict[str, bytes] = {}
    extra = {"lms": 0, "xapi_file": 0, "credential_events": 0, "credentials": 0}

    def csv_file(name: str, source: str, header: bytes, mixed: list[tuple[bool, bytes]]) -> None:
        extra[source] += hostile_count(mixed)
        clean[name] = b"\n".join([header, *(r for ok, r in mixed if ok)]) + b"\n"
        dirty[name] = b"\n".join([header, *(r for _, r in mixed)]) + b"\n"

    csv_file("lms/users.csv", "lms", ",".join(USER_COLUMNS).encode(),
             draw(interleave(draw(user_rows()), draw(hostile(_bad_user_rows())) + draw(conflicting_pair("users")))))

    def json_files(folder: str, source: str, records: list[bytes], bad: list[bytes], array_ok: bool):
        mixed = draw(interleave(records, bad))
        extra[source] += hostile_count(mixed)
        n_files = draw(st.integers(1, 2))
        cuts = sorted(draw(st.lists(st.integers(0, len(mixed)), min_size=n_files - 1, max_size=n_files - 1)))
        parts = [mixed[a:b] for a, b in zip([0, *cuts], [*cuts, len(mixed)], strict=True)]
        for i, part in enumerate(parts):
            as_array = array_ok and draw(st.booleans())
            bom = BOM if draw(st.booleans()) else b""
            name = f"{folder}/part{i}.{'json' if as_array else 'ndjson'}"

            def render(items, as_array=as_array, bom=bom, pad=b"\n" * (i + 1)):
                # the padding keeps two files from having the same content (which is read once)
                if as_array:
                    return bom + b"[\n" + b",\n".join(items) + b"\n]" + pad
                return bom + b"\n".join(items) + pad
            dirty[name] = render([r for _, r in part])
            clean[name] = render([r for ok, r in part if ok])

    json_files("xapi", "xapi_file", [draw(statements()) for _ in range(draw(st.integers(0, 6)))],
               draw(hostile(_bad_statements(), 6)), array_ok=True)
    json_files("credential_events", "credential_events", [draw(events()) for _ in range(draw(st.integers(0, 4)))],
               draw(hostile(_bad_events())), array_ok=False)
    json_files("credentials", "credentials", [draw(credentials()) for _ in range(draw(st.integers(0, 4)))],
               draw(hostile(_bad_credentials())), array_ok=True)

    csv_file("credentials/collections.csv", "credentials", ",".join(COLLECTION_COLUMNS).encode(),
             draw(interleave(draw(collection_rows()), draw(hostile(_bad_collection_rows(), 3))
                             + draw(conflicting_pair("collections")))))

    # files a run must pass over or quarantine whole without a word lost
    if draw(st.booleans()):
        dirty["xapi/notes.txt"] = b"not xapi"
        extra["xapi_file"] += 1
    if draw(st.booleans()):
        dirty["credentials/.issuer.json.part"] = clean.get("credentials/part0.ndjson", b"{}")  # ignored dotfile
    return {"clean": clean, "dirty": dirty, "extra": extra, "dangling": draw(st.booleans())}


# --------------------------------------------------------------------------- the property


def ingest(root: Path, files: dict[str, bytes], dangling: bool = False) -> tuple[dict, dict]:
    landing = root / "landing"
    for rel, data in files.items():
        path = landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if dangling:
        os.symlink(landing / "xapi" / "missing.ndjson", landing / "xapi" / "link.ndjson")
    conf = dataclasses.replace(settings(), home=root, landing_dir=landing, lrs_url=None, threads=1)
    summary = ingest_landing(conf, include_lrs=False)  # raises when a source does not reconcile
    con = connect_raw(root / "lake.duckdb")
    try:
        tables = {}
        for table in COMPARED:
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? order by ordinal_position", [table]).fetchall() if c not in META]
            tables[table] = sorted(con.execute(f"select {', '.join(cols)} from raw.{table}").fetchall(), key=repr)
        unexplained = con.execute("select count(*) from raw.quarantine where coalesce(reason, '') = '' "
                                  "or coalesce(detail, '') = '' or raw_record is null").fetchone()[0]
        assert unexplained == 0
    finally:
        con.close()
    return summary, tables


def totals(summary: dict) -> dict[str, tuple[int, int, int]]:
    return {s["source"]: (s["records_read"], s["records_loaded"], s["records_quarantined"] + s["records_duplicate"])
            for s in summary["sources"]}


_examples = itertools.count()


@hsettings(max_examples=int(os.environ.get("SKILLPATH_HYPOTHESIS_EXAMPLES", "40")), deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                  HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(zone=zones())
def test_hostile_records_never_crash_and_change_nothing_for_valid_ones(tmp_path: Path, zone: dict):
    root = tmp_path / f"example-{next(_examples)}"
    clean_summary, clean_tables = ingest(root / "clean", zone["clean"])
    dirty_summary, dirty_tables = ingest(root / "dirty", zone["dirty"], zone["dangling"])

    for summary in (clean_summary, dirty_summary):
        assert all(s["balanced"] for s in summary["sources"]), summary["sources"]
    # valid input is never quarantined
    assert clean_summary["quarantine"] == []
    clean, dirty = totals(clean_summary), totals(dirty_summary)
    for source in ("lms", "xapi_file", "credential_events", "credentials"):
        read, loaded, other = clean.get(source, (0, 0, 0))
        d_read, d_loaded, d_other = dirty.get(source, (0, 0, 0))
        n = zone["extra"][source]
        # each hostile record is one record: read once more, and quarantined or a duplicate
        assert (d_read, d_loaded, d_other) == (read + n, loaded, other + n), (source, clean, dirty, n)
    assert dirty_tables == clean_tables
    if zone["dangling"]:
        assert "xapi/link.ndjson: a dangling symbolic link, skipped" in dirty_summary["notes"]
