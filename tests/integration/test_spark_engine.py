"""The same job on Apache Spark (``SKILLPATH_ENGINE=spark``, issue 15, docs/scale_out.md): the
demo landing zone built on a real local Spark session (dbt-spark's session method, on
127.0.0.1) publishes the same marts as the DuckDB build of the shared published home:
``EXCEPT ALL`` empty both ways for every mart, floats at the published precision (the marts
round them, macros/stable_round.sql).

One Spark run for the module (one Spark session, inside its dbt process); the DuckDB side is
the session's shared published home, built from the same landing zone with the same
settings. ``make test`` installs Spark in the background (scripts/install_spark.sh); the
fixture runs the script again, which waits for that install.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.integration.pipeline_support import (
    LOAD_TIME_COLUMNS,
    last_gate_results,
    mart_row_counts,
    mart_tables,
    run,
)

#: the module's one Spark run (and the shared published home it may have to build first) takes
#: 10 to 15 minutes on a shared 2-core machine, more than the suite's default --timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
SPARK_ENV = {
    "SKILLPATH_ENGINE": "spark",
    "SKILLPATH_SPARK_DRIVER_MEMORY": "768m",
    "SKILLPATH_SPARK_SHUFFLE_PARTITIONS": "2",
    "SKILLPATH_SPARK_BIND_ADDRESS": "127.0.0.1",
}


@pytest.fixture(scope="module")
def spark_home(published_home: Path, tmp_path_factory) -> tuple[Path, float]:
    """The shared published home's landing zone, run once on Spark; (home, seconds the run took)."""
    install = subprocess.run(["bash", str(ROOT / "scripts" / "install_spark.sh")], capture_output=True, text=True,
                             timeout=1800)
    assert install.returncode == 0, f"scripts/install_spark.sh failed:\n{install.stderr[-4000:]}"
    home = tmp_path_factory.mktemp("spark") / "home"
    shutil.copytree(published_home / "landing", home / "landing")
    started = time.monotonic()
    proc = run(home, timeout=1800, **SPARK_ENV)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"skillpath run on Spark failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return home, seconds


#: decimals floating-point columns are compared at: the marts' published precision
#: (macros/stable_round.sql rounds published metrics to 6)
FLOAT_DECIMALS = 6


def differing_marts(db_a: Path, db_b: Path) -> dict[str, int]:
    """Mart -> rows in one warehouse and not the other (EXCEPT ALL both ways), floats rounded to
    FLOAT_DECIMALS, the load-time columns (when a row was loaded) left out; empty when equal."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{db_a}' as a (read_only)")
        con.execute(f"attach '{db_b}' as b (read_only)")
        out = {}
        for t in mart_tables(db_a):
            cols = con.execute("select column_name, data_type from information_schema.columns where table_catalog = 'a' "
                               "and table_schema = 'marts' and table_name = ? order by ordinal_position", [t]).fetchall()
            select = ", ".join(f'round("{c}", {FLOAT_DECIMALS})' if kind in ("DOUBLE", "FLOAT") else f'"{c}"'
                               for c, kind in cols if c not in LOAD_TIME_COLUMNS)
            a, b = f"select {select} from a.marts.{t}", f"select {select} from b.marts.{t}"
            n = con.execute(f"select (select count(*) from ({a} except all {b})) + "
                            f"(select count(*) from ({b} except all {a}))").fetchone()[0]
            if n:
                out[t] = n
        return out
    finally:
        con.close()



def test_spark_publishes_the_same_marts(spark_home, published_home):
    home, seconds = spark_home
    print(f"skillpath run on Spark: {seconds:.0f} s")
    spark_db, duck_db = home / "warehouse.duckdb", published_home / "warehouse.duckdb"
    assert mart_tables(spark_db) == mart_tables(duck_db)
    assert mart_row_counts(spark_db) == mart_row_counts(duck_db)
    assert sum(1 for n in mart_row_counts(duck_db).values() if n) >= len(mart_tables(duck_db)) - 1  # the marts hold rows
    assert differing_marts(spark_db, duck_db) == {}
    # the same column types as well (the contracts' DuckDB types, skillpath/transform/spark_marts.py)
    types = "select table_name, column_name, data_type from information_schema.columns " \
            "where table_schema = 'marts' order by 1, ordinal_position"
    with duckdb.connect(str(spark_db), read_only=True) as a, duckdb.connect(str(duck_db), read_only=True) as b:
        assert a.execute(types).fetchall() == b.execute(types).fetchall()


def test_marts_are_tables_of_the_spark_warehouse(spark_home):
    """BI tools that read the Spark warehouse see the same marts (Parquet tables of schema marts)."""
    home, _ = spark_home
    warehouse = home / "spark" / "warehouse" / "marts.db"
    published = mart_row_counts(home / "warehouse.duckdb")
    con = duckdb.connect()
    try:
        for t, n in published.items():
            files = sorted(str(p) for p in (warehouse / t).glob("*.parquet"))
            assert files, f"no Spark table marts.{t} under {warehouse}"
            assert con.execute(f"select count(*) from read_parquet({files!r})").fetchone()[0] == n, t
    finally:
        con.close()


def test_the_gate_ran_on_sparks_marts(spark_home, published_home):
    """Every mart's Great Expectations suite ran on the Spark build, with the DuckDB build's outcome."""
    home, _ = spark_home

    def outcomes(h: Path) -> dict[str, list]:
        return {r["suite"]: [(e["type"], e["column"], e["success"]) for e in r["expectations"]]
                for r in last_gate_results(h)}

    spark = outcomes(home)
    assert set(spark) == set(mart_tables(home / "warehouse.duckdb"))
    assert all(spark.values())
    assert spark == outcomes(published_home)


def test_raw_parquet_copy_equals_the_lake(spark_home):
    """What Spark read is what ingestion loaded: every Parquet table equals its lake table."""
    home, _ = spark_home
    con = duckdb.connect()
    try:
        con.execute(f"attach '{home / 'lake.duckdb'}' as lake (read_only)")
        tables = sorted(p.name for p in (home / "raw").iterdir())
        assert "xapi_statements" in tables and "load_manifest" in tables
        for t in tables:
            pq = f"read_parquet('{home / 'raw' / t}/*.parquet')"
            n = con.execute(f"select (select count(*) from (select * from lake.raw.{t} except all select * from {pq}))"
                            f" + (select count(*) from (select * from {pq} except all select * from lake.raw.{t}))"
                            ).fetchone()[0]
            assert n == 0, t
    finally:
        con.close()


def test_postgres_publication_is_the_same(spark_home, published_home):
    """The PostgreSQL schema published from the Spark build equals the one from the DuckDB build
    (marts and learner directory; floats at the published precision)."""
    import psycopg
    from psycopg import sql

    from skillpath.publish.postgres import PUBLICATION_META, publish_postgres
    from tests.support_pg import start_postgres

    home, _ = spark_home
    server = start_postgres()
    try:
        tables = {}
        for name, h in (("from_spark", home), ("from_duckdb", published_home)):
            with psycopg.connect(server.url(), autocommit=True) as con:
                con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            publish_postgres(h / "build.duckdb", server.url(name), accounts_roles=False, run_id=name)
            with psycopg.connect(server.url(name)) as con:
                names = [r[0] for r in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'skillpath' order by 1")]
                tables[name] = {t: _pg_rows(con, t) for t in names}
        assert set(tables["from_spark"]) == set(tables["from_duckdb"]) >= set(mart_tables(home / "warehouse.duckdb"))
        # publication_meta: the same tables and row counts; its publish time and run id differ
        # between any two publications (table_name, row_count, published_at, run_id)
        meta = {name: tables[name].pop(PUBLICATION_META) for name in tables}
        assert [r[:2] for r in meta["from_spark"]] == [r[:2] for r in meta["from_duckdb"]] != []
        assert {name: {r[3] for r in rows} for name, rows in meta.items()} == {n: {n} for n in meta}
        for t, rows in tables["from_duckdb"].items():
            assert tables["from_spark"][t] == rows, t
    finally:
        server.stop()


def _pg_rows(con, table: str) -> list[tuple]:
    cols = [r[0] for r in con.execute("select column_name from information_schema.columns where table_schema = "
                                      "'skillpath' and table_name = %s order by ordinal_position", [table])
            if r[0] not in LOAD_TIME_COLUMNS]
    rows = con.execute(f'select {", ".join(chr(34) + c + chr(34) for c in cols)} from skillpath."{table}"').fetchall()
    return sorted((tuple(round(v, FLOAT_DECIMALS) if isinstance(v, float) else v for v in r) for r in rows), key=repr)
