"""Running the real pipeline (``skillpath run``) in a subprocess on a throw-away home."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.helpers import TEST_KEY

SKILLPATH = str(Path(sys.executable).parent / "skillpath")


def pipeline_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKILLPATH_", "DAGSTER_"))}
    env.update(
        SKILLPATH_HOME=str(home),
        SKILLPATH_PSEUDONYM_KEY=TEST_KEY,
        SKILLPATH_THREADS="2",
        SKILLPATH_LOG_LEVEL="WARNING",
        SKILLPATH_AS_OF_DATE="2026-01-06",  # the generated data ends 2026-01-05 (+ increments)
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def generate(home: Path, statements: int = 4000, seed: int = 11) -> dict:
    from skillpath_dev.generate import generate_landing

    return generate_landing(home / "landing", statements=statements, seed=seed)


def run(home: Path, *args: str, timeout: int = 900, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([SKILLPATH, "run", *args], env=pipeline_env(home, **env),
                          capture_output=True, text=True, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mart_tables(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()]
    finally:
        con.close()


# When a row was (re)loaded differs between two runs on the same input by design:
# these incremental watermarks are left out of "same rows".
LOAD_TIME_COLUMNS = {"last_loaded_at", "changed_at", "loaded_at"}


def mart_row_counts(db: Path) -> dict[str, int]:
    """Mart -> its row count in the warehouse ``db``."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0] for t in mart_tables(db)}
    finally:
        con.close()


def same_marts(db_a: Path, db_b: Path) -> list[str]:
    """Names of the mart tables whose rows differ (EXCEPT ALL both ways) between two warehouses."""
    tables = mart_tables(db_a)
    assert tables == mart_tables(db_b)
    con = duckdb.connect()
    con.execute(f"attach '{db_a}' as a (read_only)")
    con.execute(f"attach '{db_b}' as b (read_only)")
    diff = []
    for t in tables:
        cols = ", ".join(f'"{c}"' for (c,) in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'a' "
            "and table_schema = 'marts' and table_name = ? order by ordinal_position", [t]).fetchall()
            if c not in LOAD_TIME_COLUMNS)
        a, b = f"select {cols} from a.marts.{t}", f"select {cols} from b.marts.{t}"
        n = con.execute(
            f"select (select count(*) from ({a} except all {b})) + (select count(*) from ({b} except all {a}))"
        ).fetchone()[0]
        if n:
            diff.append(t)
    con.close()
    return diff


def last_gate_results(home: Path) -> list[dict]:
    """The suite results of the newest run in ``home``'s Dagster instance (asset-check metadata)."""
    from skillpath.quality.gate_results import gate_results_of_run, last_run_id, open_instance

    with open_instance(home / "dagster") as instance:
        return gate_results_of_run(instance, last_run_id(instance))
