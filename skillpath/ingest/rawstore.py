"""Writing to the raw layer: one transaction per file or LRS page, with its manifest row.

Usage::

    con = connect_raw(settings().raw_db)
    dup = already_loaded(con, "xapi_file", sha)
    if dup: record_duplicate_content(con, "xapi_file", "xapi/a.ndjson", sha, dup)
    with RawLoad(con, "xapi_file", "xapi/a.ndjson", sha) as load:
        load.read += 1
        load.quarantine(record_no=1, reason="malformed_json", detail="...", raw=b"...")
        con.execute("insert into raw.xapi_statements ...")   # rows with load.load_id
        load.loaded += 1

Leaving the ``with`` block checks ``read = loaded + quarantined + duplicate``
(raising :class:`ReconciliationError` and rolling back when it does not hold),
writes the manifest row and commits. An exception rolls everything back, so a
killed or failed load leaves no trace and the file is loaded again next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa


class ReconciliationError(RuntimeError):
    """read != loaded + quarantined + duplicate for a load."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_load_id() -> str:
    return uuid.uuid4().hex


def already_loaded(con: duckdb.DuckDBPyConnection, source: str, content_sha256: str) -> str | None:
    """The load_id of an earlier successful load of the same content for this source."""
    rows = con.execute(
        "select load_id from raw.load_manifest where source = ? and content_sha256 = ? "
        "and status = 'loaded' order by started_at limit 1",
        [source, content_sha256],
    ).fetchall()
    return rows[0][0] if rows else None


def loaded_contents(con: duckdb.DuckDBPyConnection, source: str, shas: set[str]) -> dict[str, tuple[str, str]]:
    """Of the content hashes ``shas``, those this source has loaded successfully before, each with
    the ``(load_id, source_ref)`` of its first load (what :func:`already_loaded` finds; one query)."""
    if not shas:
        return {}
    return {sha: (first[0], first[1]) for sha, first in con.execute(
        "select content_sha256, arg_min([load_id, source_ref], started_at) "
        "from raw.load_manifest where source = ? and status = 'loaded' "
        "and content_sha256 in (select unnest(?::varchar[])) group by content_sha256",
        [source, sorted(shas)]).fetchall()}


def record_duplicate_content(
    con: duckdb.DuckDBPyConnection, source: str, source_ref: str, content_sha256: str, duplicate_of: str
) -> str:
    """Note a file whose exact content was loaded before under another name; loads nothing.

    Returns the load id of the note (or of the earlier load when the name is the same:
    a file seen again under its own name is not noted, so re-runs leave the manifest as
    it was). One note per (source, source_ref, content).
    """
    same_name = con.execute(
        "select load_id from raw.load_manifest where load_id = ? and source_ref = ?", [duplicate_of, source_ref]
    ).fetchall()
    if same_name:
        return duplicate_of
    exists = con.execute(
        "select load_id from raw.load_manifest where source = ? and source_ref = ? and content_sha256 = ? "
        "and status = 'duplicate_content'",
        [source, source_ref, content_sha256],
    ).fetchall()
    if exists:
        return exists[0][0]
    load_id = new_load_id()
    now = utcnow()
    con.execute(
        "insert into raw.load_manifest (load_id, source, source_ref, content_sha256, status, started_at, "
        "finished_at, detail) values (?, ?, ?, ?, 'duplicate_content', ?, ?, ?)",
        [load_id, source, source_ref, content_sha256, now, now,
         orjson.dumps({"duplicate_of": duplicate_of}).decode()],
    )
    return load_id


class RawLoad:
    """One load (file or page) inside one transaction; see the module docstring."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, source_ref: str,
                 content_sha256: str | None, detail: dict | None = None):
        self.con = con
        self.source = source
        self.source_ref = source_ref
        self.content_sha256 = content_sha256
        self.detail = detail or {}
        self.load_id = new_load_id()
        self.loaded_at = utcnow()
        self.read = 0
        self.loaded = 0
        self.duplicate = 0
        self.reasons: Counter[str] = Counter()
        self._quarantine_rows: list[tuple] = []

    @property
    def quarantined(self) -> int:
        return sum(self.reasons.values())

    def meta(self, record_no: int) -> tuple:
        """The load-metadata columns, in raw-table order, for one record."""
        return (self.load_id, self.source, self.source_ref, record_no, self.loaded_at)

    def quarantine(self, record_no: int, reason: str, detail: str, raw: bytes | str | None) -> None:
        """Quarantine one record with its reason; the raw bytes are kept.

        A record whose exact bytes this source already quarantined (an earlier load, or
        earlier in this one) is counted as a duplicate instead: re-reading a grown file or
        an LRS overlap window must not quarantine the same bad record twice.
        """
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.reasons[reason] += 1
        self._quarantine_rows.append(
            (*self.meta(record_no), reason, detail[:2000], raw, sha256_bytes(raw or b""))
        )
        if len(self._quarantine_rows) >= 10_000:
            self._flush_quarantine()

    def _flush_quarantine(self) -> None:
        if not self._quarantine_rows:
            return
        rows, self._quarantine_rows = self._quarantine_rows, []
        cols = ["load_id", "source", "source_ref", "record_no", "loaded_at", "reason", "detail",
                "raw_record", "raw_sha256"]
        table = pa.table(
            [pa.array([r[i] for r in rows]) for i in range(len(cols))], names=cols
        ).cast(pa.schema([("load_id", pa.string()), ("source", pa.string()), ("source_ref", pa.string()),
                          ("record_no", pa.int64()), ("loaded_at", pa.timestamp("us")),
                          ("reason", pa.string()), ("detail", pa.string()), ("raw_record", pa.binary()),
                          ("raw_sha256", pa.string())]))
        self.con.register("_quarantine_batch", table)
        try:
            # first occurrence of each byte string that this source has not quarantined before
            groups = self.con.execute(
                """
                select any_value(b.reason), count(*), bool_or(q.raw_sha256 is not null)
                from _quarantine_batch b
                left join (select distinct raw_sha256 from raw.quarantine where source = ?) q using (raw_sha256)
                group by b.raw_sha256
                """,
                [self.source],
            ).fetchall()
            for reason, n, known in groups:
                dup = n if known else n - 1
                self.reasons[reason] -= dup
                self.duplicate += dup
            self.reasons = +self.reasons  # drop zero counts
            self.con.execute(
                f"""
                insert into raw.quarantine ({", ".join(cols)})
                select {", ".join(cols)} from _quarantine_batch b
                where not exists (select 1 from raw.quarantine q where q.source = ? and q.raw_sha256 = b.raw_sha256)
                qualify row_number() over (partition by raw_sha256 order by record_no) = 1
                """,
                [self.source],
            )
        finally:
            self.con.unregister("_quarantine_batch")

    def __enter__(self) -> RawLoad:
        self.con.begin()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.con.rollback()
            return False
        try:
            self.record()
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return False

    def record(self, manifest_rows: list[tuple] | None = None) -> None:
        """Flush the quarantine, check that the load balances and write its manifest row, in the
        open transaction (``__exit__`` then commits; batched loads commit many at once and pass
        ``manifest_rows``, which collects the row for :func:`insert_manifest_rows` instead)."""
        self._flush_quarantine()
        if self.read != self.loaded + self.quarantined + self.duplicate:
            raise ReconciliationError(
                f"{self.source} {self.source_ref}: read {self.read} != loaded {self.loaded} + "
                f"quarantined {self.quarantined} + duplicates {self.duplicate}"
            )
        detail = dict(self.detail)
        if self.reasons:
            detail["quarantine_reasons"] = dict(self.reasons)
        row = (self.load_id, self.source, self.source_ref, self.content_sha256, self.loaded_at, utcnow(),
               self.read, self.loaded, self.quarantined, self.duplicate,
               orjson.dumps(detail).decode() if detail else None)
        if manifest_rows is not None:
            manifest_rows.append(row)
        else:
            insert_manifest_rows(self.con, [row])


MANIFEST_COLUMNS = ("load_id", "source", "source_ref", "content_sha256", "started_at", "finished_at",
                    "records_read", "records_loaded", "records_quarantined", "records_duplicate", "detail")


def insert_manifest_rows(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """Manifest rows of successful loads (:data:`MANIFEST_COLUMNS`), status ``loaded``."""
    cols = ", ".join(MANIFEST_COLUMNS)
    if len(rows) < 20:
        con.executemany(f"insert into raw.load_manifest ({cols}, status) values "
                        f"({', '.join('?' * len(MANIFEST_COLUMNS))}, 'loaded')", rows)
        return
    columns = list(zip(*rows, strict=True))
    table = pa.table({name: pa.array(values) for name, values in zip(MANIFEST_COLUMNS, columns, strict=True)})
    con.register("_manifest_rows", table)
    try:
        con.execute(f"insert into raw.load_manifest ({cols}, status) select {cols}, 'loaded' from _manifest_rows")
    finally:
        con.unregister("_manifest_rows")


def reconciliation(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per source: files/pages, read, loaded, quarantined, duplicates, erased and whether they balance.

    Quarantine rows are counted from raw.quarantine itself (not from the manifest) and
    loaded rows from the raw tables, so a lost record shows up as an imbalance.
    """
    rows = con.execute(
        """
        with m as (
            select source,
                   count(*) filter (where status = 'loaded') as loads,
                   count(*) filter (where status = 'duplicate_content') as duplicate_files,
                   coalesce(sum(records_read), 0) as records_read,
                   coalesce(sum(records_loaded), 0) as records_loaded,
                   coalesce(sum(records_quarantined), 0) as records_quarantined,
                   coalesce(sum(records_duplicate), 0) as records_duplicate,
                   coalesce(sum(records_erased), 0) as records_erased
            from raw.load_manifest group by source
        ), q as (
            select source, count(*) as quarantine_rows from raw.quarantine group by source
        )
        select m.*, coalesce(q.quarantine_rows, 0) as quarantine_rows
        from m left join q using (source) order by source
        """
    ).fetchall()
    cols = [d[0] for d in con.description]
    out = []
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        d["balanced"] = (
            d["records_read"] == d["records_loaded"] + d["records_quarantined"] + d["records_duplicate"]
            + d["records_erased"]
            and d["records_quarantined"] == d["quarantine_rows"]
        )
        out.append(d)
    return out


def quarantine_by_reason(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    return con.execute(
        "select source, reason, count(*) from raw.quarantine group by all order by 1, 3 desc"
    ).fetchall()
