"""CSV exports of published marts for spreadsheets.

Exports read the PUBLISHED warehouse (read-only), never the build, so they show
exactly what BI tools show. Small-cell suppression is the marts' job: suppressed
cells are published as NULL with a flag column, and an export writes them as
empty cells; nothing is re-derived here.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import duckdb

from skillpath.config import connect_duckdb
from skillpath.publish.duckdb_publish import PUBLISHED_SCHEMA

NIGHTLY_MARTS = ("mart_learner_course_progress", "mart_group_league", "mart_course_overview")


class ExportError(ValueError):
    """The export request cannot be served (unknown mart, no account column, ...)."""


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _open(warehouse_db: Path) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with the warehouse attached read-only as ``w``.

    (Attaching, rather than ``duckdb.connect(path)``, never reuses a cached instance that
    still points at a file replaced by a later publication.)
    """
    if not Path(warehouse_db).exists():
        raise ExportError(f"no published warehouse at {warehouse_db}: publish first")
    con = connect_duckdb()
    con.execute(f"attach {_lit(str(warehouse_db))} as w (read_only)")
    return con


def _marts(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    cols: dict[str, list[str]] = {}
    for t, c in con.execute(
            "select table_name, column_name from information_schema.columns where table_catalog = 'w' "
            "and table_schema = ? order by table_name, ordinal_position", [PUBLISHED_SCHEMA]).fetchall():
        cols.setdefault(t, []).append(c)
    return cols


def _write_csv(con: duckdb.DuckDBPyConnection, select_sql: str, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con.execute(f"copy ({select_sql}) to {_lit(str(tmp))} (format csv, header true, delimiter ',')")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return con.execute(f"select count(*) from ({select_sql})").fetchone()[0]


def _export(con: duckdb.DuckDBPyConnection, marts: dict[str, list[str]], mart: str, out: Path,
            account_id: str | None) -> int:
    if mart not in marts:
        raise ExportError(f"unknown mart {mart!r}; available: {', '.join(sorted(marts)) or '(none)'}")
    where = ""
    if account_id is not None:
        if "account_id" not in marts[mart]:
            raise ExportError(f"mart {mart!r} has no account_id column, so it cannot be filtered by account")
        where = f" where account_id = {_lit(account_id)}"
    return _write_csv(con, f"select * from w.{_q(PUBLISHED_SCHEMA)}.{_q(mart)}{where} order by all", Path(out))


def export_mart(warehouse_db: Path, mart: str, out: Path, account_id: str | None = None) -> int:
    """Write ``mart`` of the published warehouse to ``out`` as CSV (header, UTF-8); return rows.

    With ``account_id`` only that account's rows are written (the mart must have an
    ``account_id`` column). Rows are ordered by all columns so files are reproducible.
    """
    con = _open(Path(warehouse_db))
    try:
        return _export(con, _marts(con), mart, Path(out), account_id)
    finally:
        con.close()


def _safe_name(value: str) -> str:
    """A file name for an account id (with a hash suffix when characters had to be replaced)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._")
    if safe == value:
        return safe
    return f"{safe or 'account'}_{hashlib.sha1(value.encode()).hexdigest()[:8]}"


def export_nightly(warehouse_db: Path, exports_dir: Path, marts: tuple[str, ...] = NIGHTLY_MARTS) -> list[Path]:
    """The nightly spreadsheets: per mart ``<mart>.csv`` (all accounts) and ``<mart>/<account_id>.csv``.

    All files come from one opened version of the warehouse, even if a publication
    happens meanwhile. Raises :class:`ExportError` naming the missing marts.
    """
    exports_dir = Path(exports_dir)
    con = _open(Path(warehouse_db))
    try:
        available = _marts(con)
        missing = [m for m in marts if m not in available]
        if missing:
            raise ExportError(f"marts not in the published warehouse: {', '.join(missing)}; "
                              f"available: {', '.join(sorted(available)) or '(none)'}")
        written = []
        for m in marts:
            target = exports_dir / f"{m}.csv"
            _export(con, available, m, target, None)
            written.append(target)
            if "account_id" not in available[m]:
                continue
            accounts = con.execute(f"select distinct cast(account_id as varchar) from "
                                   f"w.{_q(PUBLISHED_SCHEMA)}.{_q(m)} where account_id is not null order by 1"
                                   ).fetchall()
            for (account,) in accounts:
                target = exports_dir / m / f"{_safe_name(account)}.csv"
                _export(con, available, m, target, account)
                written.append(target)
        return written
    finally:
        con.close()
