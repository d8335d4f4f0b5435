"""Salted recipient matching alone (issue 14): digest rows and time of a first build of
``int_credentials__recipient_hashes`` (a script, not a test).

    .venv/bin/python skillpath_dev/bench/recipient_match.py --home HOME [--count] [--repeat 3]

HOME is a SKILLPATH_HOME after a pipeline run (``build.duckdb`` with the staging views,
``lake.duckdb``). The model is compiled as a first build (``--vars '{rehash_recipients:
true}'``, so ``is_incremental()`` is false) into a temporary target directory, or read from
``--sql`` (e.g. a file compiled from an older version of the model), and its SELECT runs
read-only in one DuckDB process with the pipeline's threads and memory limit: nothing is
written to the home.

- ``--count``: every ``sha256(`` of the model's SQL is replaced by a Python function that
  hashes with hashlib and counts its rows: the exact number of sha256 computations (digest
  rows) the query evaluates, CTE re-evaluations included. Slow; not timed.
- otherwise the query runs ``--repeat`` times with DuckDB's own sha256 and the wall times
  are printed.
- ``--passes``: the pairs matched and the digest rows of each pass of the current model
  (its final SELECT replaced by counts of its CTEs; hashes as much as a run).
- ``--save FILE``: write (recipient_salt, recipient_identity, matched_email) as Parquet, so
  two versions' matches can be compared.

Also printed: distinct salts x distinct emails (what hashing every email with every salt
costs), the pairs and how many matched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skillpath.config import REPO_ROOT as ROOT

MODEL = "int_credentials__recipient_hashes"
BIN = Path(sys.executable).parent


def compile_model(home: Path) -> str:
    """The model's SQL as a first build, compiled against ``home``'s build.duckdb."""
    with tempfile.TemporaryDirectory(prefix="recipient-match-") as tmp:
        env = {**os.environ, "SKILLPATH_HOME": str(home), "DBT_TARGET_PATH": tmp, "DBT_LOG_PATH": tmp,
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.setdefault("SKILLPATH_PSEUDONYM_KEY", "recipient-match-bench")
        project = ROOT / "dbt_project"
        subprocess.run([str(BIN / "dbt"), "compile", "--quiet", "-s", MODEL, "--vars", "{rehash_recipients: true}",
                        "--project-dir", str(project), "--profiles-dir", str(project)],
                       check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        (path,) = Path(tmp, "compiled").rglob(f"{MODEL}.sql")
        return path.read_text()


def connect(home: Path, threads: int, memory_limit: str):
    import duckdb

    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    con.execute(f"attach '{home / 'lake.duckdb'}' as lake (read_only)")
    con.execute(f"set threads = {int(threads)}")
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute("set preserve_insertion_order = false")
    return con


def count_digests(con, sql: str) -> tuple[int, int, int]:
    """(sha256 computations, matched pairs, pairs) of the model's SELECT ``sql``: each
    ``sha256(`` becomes a Python function (hashlib) that counts the rows it is called with."""
    import pyarrow as pa
    from duckdb.sqltypes import VARCHAR

    calls = {"rows": 0}

    def counted_sha256(values):  # no annotations: DuckDB evaluates them
        calls["rows"] += len(values)
        return pa.array([None if v is None else hashlib.sha256(v.encode()).hexdigest()
                         for v in values.to_pylist()], pa.string())

    con.create_function("counted_sha256", counted_sha256, [VARCHAR], VARCHAR, type="arrow",
                        null_handling="special", side_effects=True)
    try:
        counted_sql, n = re.subn(r"\bsha256\(", "counted_sha256(", sql)
        if not n:
            raise ValueError("no sha256( in the SQL")
        matched, rows = con.execute(f"select count(matched_email), count(*) from ({counted_sql}) as m").fetchall()[0]
    finally:
        con.remove_function("counted_sha256")
    return calls["rows"], matched, rows


PASS_COUNTS = """
select 'pairs to check' as k, count(*) as n from pending_0
union all select 'pairs of a single-pair salt', count(*) from narrow_0
union all select 'pass 1 digest rows', count(*) from candidates_1
union all select 'pass 1 matched', count(*) from found_1
union all select 'pass 2 digest rows', count(*) from candidates_2
union all select 'pass 2 matched', count(*) from found_2
union all select 'pass 3 pairs', count(*) from pending_2
union all select 'pass 3 salts', count(distinct recipient_salt) from pending_2
union all select 'pass 3 digest rows', count(*) from digests_3
union all select 'pass 3 matched', count(*) from found_3
"""


def pass_counts(con, sql: str) -> dict[str, int]:
    """Per pass of the model's SQL: pairs matched and digest rows (its CTEs counted)."""
    head = sql[:sql.rindex("\nselect\n    to_check.recipient_salt")]
    return dict(con.execute(head + PASS_COUNTS).fetchall())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--sql", type=Path, help="compiled SQL of the model (default: compile the current one)")
    ap.add_argument("--count", action="store_true", help="count the sha256 computations (slow, not timed)")
    ap.add_argument("--passes", action="store_true", help="per pass: pairs matched and digest rows")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("SKILLPATH_THREADS", "2")))
    ap.add_argument("--memory-limit", default=os.environ.get("SKILLPATH_MEMORY_LIMIT", "3GB"))
    ap.add_argument("--save", type=Path, help="write the matches to this Parquet file")
    ap.add_argument("--write-sql", type=Path, help="also write the compiled SQL to this file (reuse it with --sql)")
    args = ap.parse_args(argv)

    home = args.home.resolve()
    sql = args.sql.read_text() if args.sql else compile_model(home)
    if args.write_sql:
        args.write_sql.write_text(sql)
    con = connect(home, args.threads, args.memory_limit)
    out: dict = {"home": str(home), "sql": str(args.sql) if args.sql else f"compiled {MODEL}",
                 "threads": args.threads, "memory_limit": args.memory_limit}
    out["pairs"], out["salts"] = con.execute(
        "select count(*), count(distinct recipient_salt) from (select distinct recipient_salt, recipient_identity "
        "from staging.stg_credentials__awards where recipient_identity like 'sha256$%')").fetchall()[0]
    (out["emails"],) = con.execute(
        "select count(distinct email) from staging.stg_lms__users where email is not null").fetchall()[0]
    out["emails_x_salts"] = out["salts"] * out["emails"]

    if args.passes:
        out["passes"] = pass_counts(con, sql)
    elif args.count:
        t0 = time.perf_counter()
        out["digest_rows"], out["matched"], out["rows"] = count_digests(con, sql)
        out["counted_seconds"] = round(time.perf_counter() - t0, 2)
    else:
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            con.execute(f"create or replace temp table matches as {sql}")
            walls.append(round(time.perf_counter() - t0, 2))
        out["seconds"] = walls
        out["matched"], out["rows"] = con.execute("select count(matched_email), count(*) from matches").fetchall()[0]
        if args.save:
            con.execute(f"copy (select recipient_salt, recipient_identity, matched_email from matches "
                        f"order by all) to '{args.save}' (format parquet)")
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    con.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
