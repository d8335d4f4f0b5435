"""The raw layer's Parquet copy (skillpath/ingest/parquet_raw.py): after every sync each table's
files hold exactly the lake's rows, whether loads were added, rows deleted (erasure, retention),
the manifest updated, a copy left half done by a crash, or a column added."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from skillpath.ingest.contract import INGESTION_ONLY_TABLES, connect_raw
from skillpath.ingest.parquet_raw import parquet_dir, parquet_tables, sync_parquet

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def _load(con, load_id: str, accounts: list[str]) -> None:
    con.executemany("insert into raw.lms_accounts values (?, 'lms', 'lms/accounts.csv', ?, ?, ?, ?, ?)",
                    [[load_id, i + 1, T0, a, f"Account {a}", f"{a},Account {a}"] for i, a in enumerate(accounts)])
    con.execute("insert into raw.load_manifest (load_id, source, source_ref, status, started_at, records_read, "
                "records_loaded) values (?, 'lms', 'lms/accounts.csv', 'loaded', ?, ?, ?)",
                [load_id, T0, len(accounts), len(accounts)])


def _differences(con, home: Path, table: str) -> int:
    files = sorted(str(p) for p in parquet_dir(home, table).glob("part-*.parquet"))
    assert files, table
    pq = f"read_parquet({files!r}, union_by_name = true)"
    return con.execute(f"select (select count(*) from (select * from raw.{table} except all select * from {pq})) "
                       f"+ (select count(*) from (select * from {pq} except all select * from raw.{table}))"
                       ).fetchone()[0]


@pytest.fixture
def lake(home: Path):
    con = connect_raw(home / "lake.duckdb")
    yield con
    con.close()


def test_every_dbt_source_table_and_only_those(lake, home):
    sync_parquet(lake, home)
    written = {p.name for p in (home / "raw").iterdir()}
    assert written == set(parquet_tables(lake))
    assert not written & set(INGESTION_ONLY_TABLES)
    assert {"xapi_statements", "load_manifest", "quarantine", "lms_accounts"} <= written
    for t in written:  # an empty table still has a file: it carries the schema
        assert _differences(lake, home, t) == 0


def test_loads_append_files_and_a_second_sync_changes_nothing(lake, home):
    sync_parquet(lake, home)
    _load(lake, "l1", ["a1", "a2"])
    assert sync_parquet(lake, home) == {"lms_accounts": 1, "load_manifest": 2}
    files = sorted(parquet_dir(home, "lms_accounts").glob("part-*.parquet"))
    _load(lake, "l2", ["a3"])
    assert sync_parquet(lake, home, ["lms_accounts", "load_manifest"]) == {"lms_accounts": 1, "load_manifest": 2}
    after = sorted(parquet_dir(home, "lms_accounts").glob("part-*.parquet"))
    assert set(files) < set(after)  # the earlier files are kept as they were
    assert sync_parquet(lake, home) == {}
    assert _differences(lake, home, "lms_accounts") == 0 and _differences(lake, home, "load_manifest") == 0


def test_deleted_rows_leave_the_files(lake, home):
    """An erasure or the retention window deletes raw rows: the files holding them are rewritten."""
    _load(lake, "l1", ["a1", "secret-account"])
    _load(lake, "l2", ["a3"])
    sync_parquet(lake, home)
    lake.execute("delete from raw.lms_accounts where account_id = 'secret-account'")
    lake.execute("update raw.load_manifest set records_erased = 1 where load_id = 'l1'")
    sync_parquet(lake, home)
    assert _differences(lake, home, "lms_accounts") == 0 and _differences(lake, home, "load_manifest") == 0
    for path in (home / "raw").rglob("*"):
        if path.is_file():
            assert b"secret-account" not in path.read_bytes(), path
    lake.execute("delete from raw.lms_accounts")  # every row of every load
    sync_parquet(lake, home)
    assert _differences(lake, home, "lms_accounts") == 0


def test_a_crashed_copy_is_repaired(lake, home):
    """A file written twice (a crash after the new file, before the old one was removed) is
    found by its loads' row counts and replaced."""
    _load(lake, "l1", ["a1", "a2"])
    sync_parquet(lake, home)
    (only,) = parquet_dir(home, "lms_accounts").glob("part-*.parquet")
    shutil.copy(only, only.with_name("part-copy.parquet"))
    assert _differences(lake, home, "lms_accounts") != 0
    sync_parquet(lake, home)
    assert _differences(lake, home, "lms_accounts") == 0


def test_a_new_column_rewrites_the_table(lake, home):
    _load(lake, "l1", ["a1"])
    sync_parquet(lake, home)
    lake.execute("alter table raw.lms_accounts add column region varchar")
    _load_with_region = "insert into raw.lms_accounts values ('l2', 'lms', 'x', 1, ?, 'a2', 'A2', 'a2,A2', 'eu')"
    lake.execute(_load_with_region, [T0])
    sync_parquet(lake, home)
    files = sorted(str(p) for p in parquet_dir(home, "lms_accounts").glob("part-*.parquet"))
    cols = [r[0] for r in lake.execute(f"describe select * from read_parquet({files!r})").fetchall()]
    assert cols[-1] == "region" and _differences(lake, home, "lms_accounts") == 0
