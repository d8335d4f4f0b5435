"""The raw layer as Parquet files, for engines that read no DuckDB file (Spark; docs/scale_out.md).

``lake.duckdb`` stays the system of record of ingestion: exactly-once (the load manifest),
the quarantine and the reconciliation run in its transactions as before. After a source's
loads are committed, :func:`sync_parquet` brings the Parquet copy up to date::

    $SKILLPATH_HOME/raw/<table>/part-<id>.parquet

(on the Spark engine, and in a home that has one: :func:`wanted`), one directory per raw
table that dbt reads (every table of the contract but the
ingestion-only ones), which Spark reads as an external Parquet table and DuckDB as
``read_parquet('raw/<table>/*.parquet')``. Files are written to a hidden temporary name and
renamed into place, so a reader never sees half a file.

What a file holds is decided from the lake, not from a log of what was written, so a crash
between a commit and the copy, an erasure or the retention window (which delete raw rows)
are all caught up by the next sync:

- tables with ``load_id`` (every table of records, the quarantine): a file is kept while
  each load in it has, over all files, exactly the lake's rows of that load; any other file
  is replaced by one holding the current rows of its loads (none, when they were all
  deleted), and loads no file holds yet go to one new file. A run appends one file per table
  it loaded into; an erasure rewrites the files that held the person's rows.
- ``load_manifest`` (rows are updated: ``records_erased``): rewritten whole when its content
  changes (a few rows per file or page).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from skillpath.ingest.contract import INGESTION_ONLY_TABLES, SOURCE_BY_NAME, SUMMARY_TABLES

RAW_DIR = "raw"
FILE_GLOB = "part-*.parquet"
#: tables rewritten whole when they change (updated in place, few rows)
WHOLE_TABLES = ("load_manifest",)


def parquet_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The raw tables the Parquet copy holds: every table of schema ``raw`` that dbt reads."""
    rows = con.execute("select table_name from information_schema.tables where table_schema = 'raw' "
                       "and table_type = 'BASE TABLE' order by table_name").fetchall()
    return [t for (t,) in rows if t not in INGESTION_ONLY_TABLES]


def tables_of_source(name: str) -> tuple[str, ...]:
    """What a source's ingestion can change: its tables, the manifest and the quarantine."""
    return (*SOURCE_BY_NAME[name].tables, *SUMMARY_TABLES)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob(FILE_GLOB)) if directory.is_dir() else []


def _file_list(files: list[Path]) -> str:
    return "[" + ", ".join(_lit(str(f)) for f in files) + "]"


def _write(con: duckdb.DuckDBPyConnection, directory: Path, select_sql: str, params: list | None = None) -> Path:
    """COPY a query to a new file of ``directory`` (hidden name first, then renamed)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = directory / f".{name}.tmp"
    try:
        con.execute(f"copy ({select_sql}) to {_lit(str(tmp))} (format parquet)", params or [])
        tmp.rename(directory / name)
    finally:
        tmp.unlink(missing_ok=True)
    return directory / name


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe select * from {relation}").fetchall()]


def _sync_whole(con: duckdb.DuckDBPyConnection, table: str, directory: Path) -> int:
    files = _files(directory)
    lake = f"raw.{table}"
    if files:
        parquet = f"read_parquet({_file_list(files)})"
        same = (len(files) == 1 and _columns(con, parquet) == _columns(con, lake) and con.execute(
            f"select (select count(*) from (select * from {lake} except all select * from {parquet})) "
            f"+ (select count(*) from (select * from {parquet} except all select * from {lake}))").fetchone()[0] == 0)
        if same:
            return 0
    _write(con, directory, f"select * from {lake}")
    for f in files:
        f.unlink()
    return 1 + len(files)


def _sync_by_load(con: duckdb.DuckDBPyConnection, table: str, directory: Path) -> int:
    files = _files(directory)
    lake = f"raw.{table}"
    stale: set[Path] = set()
    kept_loads: list[str] = []
    if files:
        parquet = f"read_parquet({_file_list(files)}, filename = true)"
        if _columns(con, f"read_parquet({_file_list(files)}, union_by_name = true)") != _columns(con, lake):
            stale = set(files)  # the table gained a column: every file is written again
        else:
            rows = con.execute(
                f"""
                with p as (select filename, load_id, count(*) as n from {parquet} group by all),
                     total as (select load_id, sum(n) as n from p group by load_id),
                     l as (select load_id, count(*) as n from {lake} group by load_id),
                     off as (select total.load_id from total left join l using (load_id)
                             where l.n is distinct from total.n)
                select filename, load_id, load_id in (select load_id from off) as stale from p
                """).fetchall()
            stale = {Path(f) for f, _, bad in rows if bad}
            kept_loads = sorted({load for f, load, _ in rows if Path(f) not in stale})
    new = con.execute(f"select count(*) from {lake} where load_id not in (select unnest(?::varchar[]))",
                      [kept_loads]).fetchone()[0]
    written = 0
    if new or not files or len(stale) == len(files):
        # a table without rows still gets one (empty) file: it carries the schema readers need
        _write(con, directory, f"select * from {lake} where load_id not in (select unnest(?::varchar[]))",
               [kept_loads])
        written = 1
    for f in stale:
        f.unlink()
    return written + len(stale)


def wanted(settings) -> bool:
    """Whether this home keeps the Parquet copy: on the Spark engine, and wherever one was
    written before (so that erasure and retention keep it equal to the lake after a switch
    back to DuckDB). A DuckDB-only home pays nothing for it (at 1 million statements the
    first copy costs about as much as the whole DuckDB build; docs/scale_out.md)."""
    return settings.engine == "spark" or (Path(settings.home) / RAW_DIR).is_dir()


def sync_parquet(con: duckdb.DuckDBPyConnection, home: Path, tables: Iterable[str] | None = None) -> dict[str, int]:
    """Bring ``home/raw/<table>/`` up to date with the lake for ``tables`` (default: all);
    returns the files written or removed per table (absent: nothing changed)."""
    root = Path(home) / RAW_DIR
    wanted = parquet_tables(con)
    if tables is not None:
        wanted = [t for t in wanted if t in set(tables)]
    changed = {}
    for table in wanted:
        sync = _sync_whole if table in WHOLE_TABLES else _sync_by_load
        n = sync(con, table, root / table)
        if n:
            changed[table] = n
    return changed


def parquet_dir(home: Path, table: str) -> Path:
    """Where table ``table`` of the raw layer's Parquet copy lives."""
    return Path(home) / RAW_DIR / table
