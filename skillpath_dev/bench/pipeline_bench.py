"""Pipeline benchmark (a script, not a timed test): the whole nightly run against DuckDB's own floor.

    skillpath bench --statements 1000000 [--engine spark] [--workdir .bench] [--threads 2] [--memory-limit 3GB] [--no-write]
    .venv/bin/python -m skillpath_dev.bench.pipeline_bench --statements 1000000

Steps (issue 6):

1. generate (or reuse, keyed by N and seed) a landing zone of N statements in the workdir;
2. the fixed overhead: ``skillpath run`` on an EMPTY landing zone;
3. a full run from an empty ``SKILLPATH_HOME``: the real ``skillpath run`` in a subprocess,
   with wall time, CPU time (user + sys of the process tree), peak RSS of the whole
   process tree (``/proc`` sampled every 100 ms) and per-stage times read from the Dagster
   event log (step start / end) and from dbt's ``run_results.json`` (every node);
4. the floor: ``skillpath_dev/bench/floor.sql`` in one DuckDB process with the same threads and memory
   limit, reading the same landing files; its rows must equal the published marts
   (EXCEPT ALL both ways empty);
5. an incremental run: 1 % new statements (20 % of them late, some duplicates) with
   ``generate_increment``, then ``skillpath run`` again;
6. a night with nothing new in the same home: ``skillpath run`` (skipped, as the schedule
   skips it: skillpath/run_inputs.py), then ``skillpath run --force``, the fixed cost of a run
   that the marginal cost of new data is measured above;
7. the figures with the machine's description go to ``docs/benchmarks.md`` (a marked block
   per statement count, the rest of the file is kept) and ``<workdir>/results-<N>.json``.

``--engine spark`` runs the same steps with ``SKILLPATH_ENGINE=spark`` (a local Spark session,
docs/scale_out.md) in homes of their own (``home-spark-<N>``), results in
``results-spark-<N>.json`` and their own block of docs/benchmarks.md; the floor is the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from skillpath.config import REPO_ROOT as ROOT

BIN = Path(sys.executable).parent
DOCS = ROOT / "docs" / "benchmarks.md"
FLOOR_SQL = Path(__file__).with_name("floor.sql")
BENCH_KEY = "skillpath-bench-pseudonym-key"
#: the generated history ends 2026-01-05; the first increment covers that day
AS_OF = "2026-01-06"
#: marts the floor recomputes (published name in schema marts = floor table name)
FLOOR_TABLES = ("fct_attempts", "mart_group_league", "fct_credential_transitions")
#: floor tables compared with a table of the build database instead of the published one: the
#: published fct_credential_transitions holds only consenting recipients (docs/privacy.md), the floor
#: every learner, as int_credentials__transition_facts does
FLOOR_IN_BUILD = {"fct_credential_transitions": ("intermediate", "int_credentials__transition_facts")}
#: the result entries each step writes (kept from the previous results when the step is skipped)
RESULT_KEYS = {"empty": ("empty", "empty_again"), "full": ("full",), "floor": ("floor", "compare"),
               "incremental": ("increment", "incremental"), "idle": ("idle", "idle_forced", "idle_next_day")}


def _say(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- process tree
def descendants(pid: int) -> list[int]:
    """``pid`` and every live descendant (from ``/proc/<pid>/stat``'s parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def rss_bytes(pid: int) -> int:
    """VmRSS of one process in bytes (0 when it is gone or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, summed."""
    return sum(rss_bytes(p) for p in descendants(pid))


class TreeRssSampler(threading.Thread):
    """Samples the RSS of a process tree every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, bytes)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), tree_rss_bytes(self.pid)))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    @property
    def peak(self) -> int:
        return max((b for _, b in self.samples), default=0)


@dataclass
class Measured:
    """One measured subprocess: wall and CPU seconds, peak RSS of its tree, exit code."""

    label: str
    returncode: int
    started_at: float
    ended_at: float
    cpu_user: float
    cpu_sys: float
    peak_tree_rss: int
    maxrss_children: int  # ru_maxrss of the largest process of this run's tree, bytes
    samples: list = field(default_factory=list, repr=False)

    @property
    def wall(self) -> float:
        return self.ended_at - self.started_at

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys

    def peak_between(self, start: float, end: float) -> int:
        return max((b for t, b in self.samples if start <= t <= end), default=0)


#: runs the command and writes its own RUSAGE_CHILDREN ru_maxrss (KiB) to argv[1]: a fresh
#: process per run, since that high-water mark never goes down within one parent
MAXRSS_WRAPPER = """
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)
"""


def run_measured(label: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> Measured:
    """Run ``cmd`` with output to ``log``; CPU from RUSAGE_CHILDREN deltas, RSS sampled from /proc."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.parent.mkdir(parents=True, exist_ok=True)
    maxrss_file = log.with_suffix(".maxrss")
    maxrss_file.unlink(missing_ok=True)
    with open(log, "wb") as out:
        t0 = time.time()
        proc = subprocess.Popen([sys.executable, "-c", MAXRSS_WRAPPER, str(maxrss_file), *cmd],
                                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeRssSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        t1 = time.time()
        sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    maxrss = int(maxrss_file.read_text()) * 1024 if maxrss_file.exists() else 0
    return Measured(label, rc, t0, t1, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime,
                    sampler.peak, maxrss, sampler.samples)


# ----------------------------------------------------------------------------- run metadata
def dagster_steps(dagster_home: Path, run_id: str) -> tuple[dict, list[dict]]:
    """(run start/end, steps with start, end, status) from the run's Dagster event log."""
    import dagster as dg

    # the instance's dagster.yaml places its event log under $DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        stats = instance.get_run_stats(run_id)
        steps = [{"step": s.step_key, "start": s.start_time, "end": s.end_time,
                  "status": s.status.value if s.status else None}
                 for s in instance.get_run_step_stats(run_id)]
    steps.sort(key=lambda s: s["start"] or 0)
    return {"start": stats.start_time, "end": stats.end_time}, steps


def _iso_epoch(value: str) -> float:
    ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)).timestamp()


def dbt_node_timings(run_results: Path) -> dict:
    """Per-node timing from dbt's ``run_results.json``.

    Returns ``{"elapsed": s, "nodes": [{unique_id, type, name, status, seconds, start, end}]}``:
    ``seconds`` is dbt's ``execution_time``, ``start``/``end`` span the node's compile and
    execute phases (epoch seconds; None when dbt skipped the node).
    """
    data = json.loads(run_results.read_text())
    nodes = []
    for r in data.get("results", []):
        uid = r["unique_id"]
        phases = [t for t in r.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        nodes.append({
            "unique_id": uid,
            "type": uid.split(".", 1)[0],
            "name": uid.split(".")[2] if uid.count(".") >= 2 else uid,
            "status": r.get("status"),
            "seconds": float(r.get("execution_time") or 0.0),
            "start": min((_iso_epoch(t["started_at"]) for t in phases), default=None),
            "end": max((_iso_epoch(t["completed_at"]) for t in phases), default=None),
        })
    return {"elapsed": float(data.get("elapsed_time") or 0.0), "nodes": nodes}


def dbt_summary(timings: dict) -> dict:
    """Totals per node type: count, sum of seconds, wall span (first start to last end)."""
    out = {}
    for kind in sorted({n["type"] for n in timings["nodes"]}):
        nodes = [n for n in timings["nodes"] if n["type"] == kind]
        starts = [n["start"] for n in nodes if n["start"]]
        ends = [n["end"] for n in nodes if n["end"]]
        out[kind] = {"count": len(nodes), "seconds_sum": round(sum(n["seconds"] for n in nodes), 2),
                     "span": round(max(ends) - min(starts), 2) if starts and ends else 0.0}
    return out


# ----------------------------------------------------------------------------- comparison
def compare_tables(left_db: Path, right_db: Path, table: str, right_schema: str = "marts",
                   left_schema: str = "main", digits: int | None = 6, right_table: str | None = None) -> dict:
    """Rows of ``left.<left_schema>.<table>`` vs ``right.<right_schema>.<table>`` on the left's columns.

    EXCEPT ALL both ways (duplicates count); returns row counts and the two differences.
    Every left column must exist on the right (the floor reproduces a subset of a mart's columns).
    Floating-point columns are compared rounded to ``digits`` decimals (None: exactly): a
    parallel ``avg``/``sum`` adds in an order that differs between runs in the last bits.
    ``right_table``: the right side's name when it differs from ``table``.
    """
    import duckdb

    right_table = right_table or table

    con = duckdb.connect()
    try:
        con.execute(f"attach '{left_db}' as l (read_only)")
        con.execute(f"attach '{right_db}' as r (read_only)")
        typed = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'l' and schema_name = ? "
            "and table_name = ? order by column_index", [left_schema, table]).fetchall()
        cols = [c for c, _ in typed]
        right_cols = {c for (c,) in con.execute(
            "select column_name from duckdb_columns() where database_name = 'r' and schema_name = ? "
            "and table_name = ?", [right_schema, right_table]).fetchall()}
        if not cols or not right_cols:
            raise ValueError(f"{table}: missing on the {'left' if not cols else 'right'} side")
        missing = [c for c in cols if c not in right_cols]
        if missing:
            raise ValueError(f"{table}: columns {missing} are not in {right_schema}.{right_table}")
        sel = ", ".join(f'round("{c}", {digits}) as "{c}"' if digits is not None and t in ("DOUBLE", "FLOAT")
                        else f'"{c}"' for c, t in typed)
        lt, rt = f"l.{left_schema}.{table}", f"r.{right_schema}.{right_table}"
        count = lambda sql: con.execute(f"select count(*) from ({sql})").fetchone()[0]  # noqa: E731
        con.execute(f"create temp table l_only as select {sel} from {lt} except all select {sel} from {rt}")
        con.execute(f"create temp table r_only as select {sel} from {rt} except all select {sel} from {lt}")
        left_only, right_only = count("select 1 from l_only"), count("select 1 from r_only")
        floats = {c for c, t in typed if t in ("DOUBLE", "FLOAT")}
        if digits is not None and floats and (left_only or right_only):
            # rounding splits values next to a rounding boundary (here, or already in the mart):
            # a left-over row with a partner on the other side one rounding step away at most
            # in every float column is no difference
            near = " and ".join(
                f'(a."{c}" is not distinct from b."{c}" or abs(a."{c}" - b."{c}") <= {1.5 * 10.0 ** -digits})'
                if c in floats else f'a."{c}" is not distinct from b."{c}"' for c in cols)
            left_only = count(f"select 1 from l_only a where not exists (select 1 from r_only b where {near})")
            right_only = count(f"select 1 from r_only a where not exists (select 1 from l_only b where {near})")
        return {"table": table, "columns": cols, "left_rows": count(f"select 1 from {lt}"),
                "right_rows": count(f"select 1 from {rt}"), "left_only": left_only, "right_only": right_only}
    finally:
        con.close()


# ----------------------------------------------------------------------------- steps
def landing_for(workdir: Path, statements: int, seed: int) -> tuple[Path, dict, float | None]:
    """The generated landing zone for (N, seed), generated in a child process when absent."""
    landing = workdir / f"landing-{statements}-seed{seed}"
    marker = workdir / f"landing-{statements}-seed{seed}.summary.json"
    if marker.exists() and (landing / "xapi").is_dir():
        return landing, json.loads(marker.read_text()), None
    shutil.rmtree(landing, ignore_errors=True)
    code = ("import json, sys; from pathlib import Path; from skillpath_dev.generate import generate_landing; "
            "s = generate_landing(Path(sys.argv[1]), statements=int(sys.argv[2]), seed=int(sys.argv[3])); "
            "Path(sys.argv[4]).write_text(json.dumps(s, default=str, indent=2))")
    _say(f"generating {statements:,} statements (seed {seed}) into {landing} ...")
    t0 = time.time()
    subprocess.run([sys.executable, "-c", code, str(landing), str(statements), str(seed), str(marker)],
                   check=True, cwd=ROOT)
    return landing, json.loads(marker.read_text()), time.time() - t0


def link_tree(src: Path, dst: Path) -> None:
    """``dst`` as a tree of hard links to ``src``'s files: increments add files, never change one."""
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


#: the engine of this benchmark (``--engine``), set by :func:`main`
ENGINE = ["duckdb"]


def _tag(statements) -> str:
    """The statement count, prefixed by the engine when it is not the default."""
    return f"{statements}" if ENGINE[0] == "duckdb" else f"{ENGINE[0]}-{statements}"


def bench_env(home: Path, landing: Path, threads: int, memory_limit: str) -> dict[str, str]:
    """The runs' environment: this home, the bench key and limits; SKILLPATH_DBT_THREADS passes through."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKILLPATH_", "DAGSTER_")) or k == "SKILLPATH_DBT_THREADS"
           or k.startswith("SKILLPATH_SPARK_")}
    env["SKILLPATH_ENGINE"] = ENGINE[0]
    env.update(
        SKILLPATH_HOME=str(home),
        SKILLPATH_LANDING_DIR=str(landing),
        SKILLPATH_PSEUDONYM_KEY=BENCH_KEY,
        SKILLPATH_THREADS=str(threads),
        SKILLPATH_MEMORY_LIMIT=memory_limit,
        SKILLPATH_AS_OF_DATE=AS_OF,
        SKILLPATH_LOG_LEVEL="WARNING",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def prepare_manifest(env: dict[str, str]) -> None:
    """Parse the dbt project once before timing, as a deployment does (dagster-dbt's
    ``prepare-and-package``): runs reuse the manifest while the project is unchanged."""
    _say("[prepare] dbt manifest ...")
    code = "from skillpath.transform import ensure_manifest; ensure_manifest()"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def pipeline_run(label: str, home: Path, landing: Path, threads: int, memory_limit: str,
                 *extra: str, env: dict[str, str] | None = None) -> dict:
    """One measured ``skillpath run`` with its stages (``env``: settings besides the bench's)."""
    summary_file = home / f"run-{label}.json"
    _say(f"[{label}] skillpath run {' '.join(extra)}(home {home}) ...")
    m = run_measured(label, [str(BIN / "skillpath"), "run", "--json", str(summary_file), *extra],
                     {**bench_env(home, landing, threads, memory_limit), **(env or {})}, home / f"run-{label}.log")
    out = {"label": label, "returncode": m.returncode, "wall": round(m.wall, 2), "cpu": round(m.cpu, 2),
           "cpu_user": round(m.cpu_user, 2), "cpu_sys": round(m.cpu_sys, 2),
           "peak_tree_rss": m.peak_tree_rss, "maxrss_children": m.maxrss_children, "log": str(home / f"run-{label}.log")}
    if not summary_file.exists():
        out["error"] = f"no run summary; see {home / f'run-{label}.log'}"
        return out
    summary = json.loads(summary_file.read_text())
    out.update(published=summary.get("published"), success=summary.get("success"),
               reason=summary.get("reason"), checks=summary.get("checks_total"))
    if summary.get("skipped"):  # nothing new since the publication: no Dagster run (skillpath/run_inputs.py)
        out["skipped"] = True
        _say(f"[{label}] skipped (nothing new), rc {m.returncode}, {m.wall:.1f} s wall")
        return out
    run, steps = dagster_steps(home / "dagster", summary["run_id"])
    for s in steps:
        if s["start"] and s["end"]:
            s["seconds"] = round(s["end"] - s["start"], 2)
            s["peak_rss"] = m.peak_between(s["start"], s["end"])
    timings = summary.get("timings", {})
    entered = timings.get("entered_at")
    out["startup"] = {
        "until_run_start": round(run["start"] - m.started_at, 2),  # process, imports, dbt parse, definitions
        "interpreter": round(entered - m.started_at, 2) if entered else None,  # python, the CLI module, settings
        "imports": timings.get("imports_seconds"),  # dagster
        "dbt_parse": timings.get("dbt_parse_seconds"),
        "definitions": timings.get("definitions_seconds"),  # dagster-dbt, the code location
        "run_launch": round(run["start"] - entered - sum(timings.get(k) or 0 for k in (
            "imports_seconds", "dbt_parse_seconds", "definitions_seconds")), 2) if entered else None,
        "after_run_end": round(m.ended_at - run["end"], 2),  # reports printed, process exit
    }
    out["run_span"] = round(run["end"] - run["start"], 2)
    out["steps"] = steps
    rr = home / "dbt_target" / "run_results.json"
    if rr.exists() and rr.stat().st_mtime >= m.started_at:  # not an earlier run's (dbt may not start)
        t = dbt_node_timings(rr)
        out["dbt"] = {"elapsed": round(t["elapsed"], 2), "by_type": dbt_summary(t),
                      "models": sorted(({"name": n["name"], "seconds": round(n["seconds"], 2),
                                         "status": n["status"]} for n in t["nodes"] if n["type"] == "model"),
                                       key=lambda n: -n["seconds"])}
    _say(f"[{label}] rc {m.returncode}, {m.wall:.1f} s wall, {m.cpu:.1f} s cpu, "
         f"peak tree RSS {m.peak_tree_rss / 2**20:,.0f} MiB")
    return out


FLOOR_RUNNER = """
import sys, duckdb
db, sql, landing, threads, memory_limit, key, as_of = sys.argv[1:]
con = duckdb.connect(db)
con.execute(f"set threads = {int(threads)}")
con.execute(f"set memory_limit = '{memory_limit}'")
con.execute("set preserve_insertion_order = false")
for name, value in (("landing", landing), ("pseudonym_key", key), ("as_of_date", as_of)):
    con.execute(f"set variable {name} = ?", [value])
con.execute(open(sql).read())
con.close()
"""


def floor_run(workdir: Path, landing: Path, threads: int, memory_limit: str, label: str = "floor") -> dict:
    """``skillpath_dev/bench/floor.sql`` in one DuckDB process; results in ``<workdir>/<label>.duckdb``."""
    db = workdir / f"{label}.duckdb"
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    _say(f"[{label}] skillpath_dev/bench/floor.sql on {landing} ...")
    m = run_measured(label, [sys.executable, "-c", FLOOR_RUNNER, str(db), str(FLOOR_SQL), str(landing),
                             str(threads), memory_limit, BENCH_KEY, AS_OF],
                     os.environ.copy(), workdir / f"{label}.log")
    _say(f"[{label}] rc {m.returncode}, {m.wall:.1f} s wall, {m.cpu:.1f} s cpu, "
         f"peak RSS {m.peak_tree_rss / 2**20:,.0f} MiB")
    return {"label": label, "db": str(db), "returncode": m.returncode, "wall": round(m.wall, 2),
            "cpu": round(m.cpu, 2), "peak_tree_rss": m.peak_tree_rss, "maxrss_children": m.maxrss_children,
            "landing": landing_fingerprint(landing)}


def landing_fingerprint(landing: Path) -> dict:
    """What a landing zone holds: its file count and a digest of every file's relative path and size.

    The floor is compared only with a warehouse built from the same landing zone, so the floor can run
    in an earlier call than the pipeline (the generator's files are deterministic: same seed, same bytes).
    """
    digest, files = hashlib.sha256(), 0
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(landing).as_posix()}\t{path.stat().st_size}\n".encode())
        files += 1
    return {"files": files, "digest": digest.hexdigest()}


def spark_table_copy(home: Path, schema: str, name: str) -> Path:
    """A DuckDB file holding ``schema.name`` of the home's Spark warehouse (its Parquet files),
    instants as naive UTC timestamps as the DuckDB build has them."""
    import duckdb

    files = home / "spark" / "warehouse" / f"{schema}.db" / name
    path = home / f"spark-{schema}.{name}.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("set timezone = 'UTC'")
        con.execute(f"create schema {schema}")
        scan = f"read_parquet('{files}/*.parquet')"
        cols = con.execute(f"describe select * from {scan}").fetchall()
        sel = ", ".join(f'cast("{c}" as timestamp) as "{c}"' if t == "TIMESTAMP WITH TIME ZONE" else f'"{c}"'
                        for c, t, *_ in cols)
        con.execute(f"create table {schema}.{name} as select {sel} from {scan}")
    finally:
        con.close()
    return path


def compare_floor(floor: dict, warehouse: Path, landing: Path, after: str) -> list[dict] | None:
    """EXCEPT ALL both ways for each floor table, if the floor read the landing zone this warehouse holds."""
    if not (warehouse.exists() and Path(floor["db"]).exists()):
        return None
    if floor.get("landing") and floor["landing"] != landing_fingerprint(landing):
        _say(f"[compare] not after the {after} run: the floor read another landing zone")
        return None
    out = []
    for table in FLOOR_TABLES:
        try:
            if table in FLOOR_IN_BUILD:
                schema, name = FLOOR_IN_BUILD[table]
                build = warehouse.parent / "build.duckdb"
                if ENGINE[0] == "spark":  # Spark's build.duckdb holds the marts only
                    build = spark_table_copy(warehouse.parent, schema, name)
                c = compare_tables(Path(floor["db"]), build, table, schema, right_table=name)
            else:
                c = compare_tables(Path(floor["db"]), warehouse, table)
        except Exception as exc:  # noqa: BLE001 - reported, and the bench fails
            c = {"table": table, "error": str(exc)[:300]}
        c["after"] = after
        out.append(c)
        _say(f"[compare] {c}")
    return out


# ----------------------------------------------------------------------------- machine
def machine() -> dict:
    import dagster
    import dagster_dbt
    import duckdb
    from dbt.version import __version__ as dbt_version

    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        dbt_duckdb = __import__("importlib.metadata").metadata.version("dbt-duckdb")
    except Exception:  # noqa: BLE001 - only a label
        dbt_duckdb = "?"
    return {
        "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1), "cpu_model": cpu_model,
        "os": platform.platform(), "python": platform.python_version(), "duckdb": duckdb.__version__,
        "dbt_core": str(dbt_version), "dbt_duckdb": dbt_duckdb, "dagster": dagster.__version__,
        "dagster_dbt": dagster_dbt.__version__, "load_average": [round(x, 1) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- report
def _mib(b: int | None) -> str:
    return f"{(b or 0) / 2**20:,.0f}"


def _stage_rows(full: dict, incr: dict | None) -> list[str]:
    """Stage table rows: start-up, each Dagster step, dbt's own split, tail."""
    inc_steps = {s["step"]: s for s in (incr or {}).get("steps", [])}
    rows = []

    def row(name: str, a, b, rss=None) -> None:
        fa = f"{a:.1f}" if isinstance(a, int | float) else "-"
        fb = f"{b:.1f}" if isinstance(b, int | float) else "-"
        rows.append(f"| {name} | {fa} | {fb} | {_mib(rss) if rss else '-'} |")

    su, isu = full.get("startup", {}), (incr or {}).get("startup", {})
    row("process start-up until the run starts (imports, dbt parse, definitions)",
        su.get("until_run_start"), isu.get("until_run_start"))
    for key, what in (("interpreter", "Python start-up and the CLI module"), ("imports", "importing dagster"),
                      ("dbt_parse", "dbt parse (only when the project changed)"),
                      ("definitions", "loading the Dagster definitions"),
                      ("run_launch", "Dagster run launch (instance, run storage) until RUN_START")):
        row(f"&nbsp;&nbsp;of which {what}", su.get(key), isu.get(key))
    for s in full.get("steps", []):
        other = inc_steps.get(s["step"], {})
        row(f"step `{s['step']}`", s.get("seconds"), other.get("seconds"), s.get("peak_rss"))
        if s["step"] == "skillpath_dbt" and "dbt" in full:
            d, di = full["dbt"], (incr or {}).get("dbt", {})
            dbt_step, dbt_step_i = s.get("seconds") or 0, other.get("seconds") or 0
            row("&nbsp;&nbsp;dbt start-up, partial parse, event streaming (step - dbt elapsed)",
                dbt_step - d["elapsed"], (dbt_step_i - di["elapsed"]) if di else None)
            for kind in ("seed", "model", "test", "unit_test"):
                if kind in d["by_type"]:
                    k, ki = d["by_type"][kind], di.get("by_type", {}).get(kind, {}) if di else {}
                    row(f"&nbsp;&nbsp;dbt {kind}s ({k['count']}), sum of node times", k["seconds_sum"],
                        ki.get("seconds_sum"))
    row("after the run (summary printed, process exit)", su.get("after_run_end"), isu.get("after_run_end"))
    return rows


def render(res: dict) -> str:
    """The markdown block of one benchmark result."""
    n, mc = res["statements"], res["machine"]
    full, incr, empty, floor = res.get("full"), res.get("incremental"), res.get("empty"), res.get("floor")
    again = res.get("empty_again")
    engine = res.get("engine", "duckdb")
    engine_title = "" if engine == "duckdb" else f", {engine.capitalize()} engine"
    engine_arg = "" if engine == "duckdb" else f" --engine {engine}"
    lines = [
        f"## Pipeline benchmark: {n:,} statements{engine_title} ({res['date']})",
        "",
        f"`skillpath bench --statements {n}{engine_arg}` (skillpath_dev/bench/pipeline_bench.py); seed {res['seed']}, "
        f"DuckDB threads {res['threads']}, memory_limit {res['memory_limit']}, "
        f"dbt threads (nodes at once) {res.get('dbt_threads', res['threads'])}.",
        "",
        f"Machine: {mc['cores']} cores ({mc['cpu_model']}), {mc['memory_gib']} GiB, {mc['os']}; "
        f"Python {mc['python']}, duckdb {mc['duckdb']}, dbt-core {mc['dbt_core']}, "
        f"dbt-duckdb {mc['dbt_duckdb']}, dagster {mc['dagster']}, dagster-dbt {mc['dagster_dbt']}. "
        f"Load average before the benchmark: {mc['load_average']} (the machine is shared).",
        "",
    ]
    if res.get("generated_seconds"):
        lines += [f"Landing zone generated in {res['generated_seconds']:.0f} s.", ""]
    lines += ["| run | wall s | CPU s (user+sys) | peak RSS, process tree MiB | largest process MiB | published |",
              "|---|---|---|---|---|---|"]
    for name, r in (("empty landing zone, first run of a new home", empty),
                    ("empty landing zone again, same home", again),
                    ("full, from an empty home", full),
                    ("incremental, +1 % statements", incr),
                    ("nothing new since the publication (fixed overhead)", res.get("idle")),
                    ("nothing new, `--force` (the fixed cost of a run)", res.get("idle_forced")),
                    ("nothing new, the next run date (a nightly schedule's night with nothing new)",
                     res.get("idle_next_day")),
                    ("floor (skillpath_dev/bench/floor.sql)", floor)):
        if r:
            reason = str(r.get("reason"))[:60]
            pub = "-" if name.startswith("floor") else (
                "yes" if r.get("published") else "skipped: nothing new" if r.get("skipped") else f"no: {reason}")
            lines.append(f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {_mib(r['peak_tree_rss'])} | "
                         f"{_mib(r.get('maxrss_children')) if r.get('maxrss_children') else '-'} | {pub} |")
    inc = res.get("increment")
    if inc:
        lines += ["", f"The increment: {inc['statements']:,} new statements ({inc['late']:,} of them late, "
                      f"timestamped up to 3 days before {inc['window_start']}), {inc['duplicates']:,} repeated "
                      f"lines of an earlier file, {inc['events']:,} credential events."]
    lines.append("")
    t = res.get("targets", {})
    if t:
        lines += ["| target (issue 14) | measured | met |", "|---|---|---|"]
        for row in t.values():
            lines.append(f"| {row['target']} | {row['measured']} | {'yes' if row['met'] else '**no**'} |")
        lines.append("")
    if full and full.get("steps"):
        lines += ["Stages (seconds; peak RSS = process tree during the step):", "",
                  "| stage | full | incremental | peak RSS MiB (full) |", "|---|---|---|---|"]
        lines += _stage_rows(full, incr)
        lines.append("")
    if full and full.get("dbt"):
        inc_models = {m["name"]: m["seconds"] for m in (incr or {}).get("dbt", {}).get("models", [])}
        lines += ["dbt models, slowest first (dbt's execution_time; full run vs incremental):", "",
                  "| model | full s | incremental s |", "|---|---|---|"]
        for m in full["dbt"]["models"][:25]:
            lines.append(f"| {m['name']} | {m['seconds']:.1f} | {inc_models.get(m['name'], '-')} |")
        rest = full["dbt"]["models"][25:]
        if rest:
            lines.append(f"| {len(rest)} more models | {sum(m['seconds'] for m in rest):.1f} | |")
        lines.append("")
    if floor and not res.get("compare"):
        lines += ["The floor was not compared with the marts: no warehouse of this call was built from "
                  "the landing zone it read.", ""]
    if res.get("compare"):
        after = res["compare"][0].get("after", "full")
        lines += [f"Floor vs published marts after the {after} run, over the same landing zone "
                  "(EXCEPT ALL both ways on the floor's columns):", "",
                  "| table | floor rows | mart rows | only in floor | only in mart |", "|---|---|---|---|---|"]
        for c in res["compare"]:
            if "error" in c:
                lines.append(f"| {c['table']} | error: {c['error']} | | | |")
            else:
                lines.append(f"| {c['table']} | {c['left_rows']:,} | {c['right_rows']:,} | {c['left_only']:,} | "
                             f"{c['right_only']:,} |")
        lines.append("")
    return "\n".join(lines)


def write_docs(block: str, statements: int, path: Path = DOCS) -> None:
    """Replace (or append) the marked block for this statement count; keep the rest of the file."""
    start, end = f"<!-- bench:pipeline:{_tag(statements)}:start -->", f"<!-- bench:pipeline:{_tag(statements)}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    new = f"{start}\n{block.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + new + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    path.write_text(text)


#: issue 14's bound on a full run from an empty home, by statement count (2 cores)
FULL_RUN_TARGET_S = {1_000_000: 35.0, 10_000_000: 300.0}


def targets(res: dict) -> dict:
    """Issue 14's targets against the measured figures (docs/benchmarks.md)."""
    out = {}
    full, incr, floor = res.get("full"), res.get("incremental"), res.get("floor")
    # the fixed overhead: a night with nothing new in an existing home (skipped, skillpath/run_inputs.py)
    idle = res.get("idle") or res.get("empty_again") or res.get("empty")
    # what a night with new data pays besides the data: one run that builds nothing
    empty = res.get("idle_forced") or res.get("empty_again") or res.get("empty")
    bound = FULL_RUN_TARGET_S.get(res["statements"])
    if full and bound:
        out["full"] = {"target": f"full run from an empty home, {res['statements']:,} statements <= {bound:.0f} s",
                       "measured": f"{full['wall']:.1f} s", "met": full["wall"] <= bound}
    xapi = next((s.get("seconds") for s in (full or {}).get("steps", []) if s["step"] == "raw_xapi"), None)
    if xapi:
        rate = res["statements"] / xapi
        out["ingestion"] = {"target": "ingestion throughput (xAPI stage) >= 300,000 statements/s",
                            "measured": f"{rate:,.0f} statements/s ({xapi:.1f} s)", "met": rate >= 300_000}
    if idle:
        how = " (skipped: nothing new)" if idle.get("skipped") else ""
        measured, met = f"{idle['wall']:.1f} s{how}", idle["wall"] <= 8
        next_day = res.get("idle_next_day")
        if next_day:  # a nightly schedule's date moves every night: that night counts too
            measured += f"; the next run date: {next_day['wall']:.1f} s"
            met = met and next_day["wall"] <= 8
        out["overhead"] = {"target": "fixed overhead (run with nothing new, existing home) <= 8 s",
                           "measured": measured, "met": met}
    if full and incr and empty and full["wall"] > empty["wall"]:
        share = max(incr["wall"] - empty["wall"], 0) / (full["wall"] - empty["wall"])
        out["incremental"] = {"target": "marginal cost of new data: (incremental - fixed) / (full - fixed), "
                                        "+1 % <= 3 % (fixed: a forced run with nothing new)",
                              "measured": f"({incr['wall']:.1f} - {empty['wall']:.1f}) / ({full['wall']:.1f} - "
                                          f"{empty['wall']:.1f}) = {100 * share:.1f} %",
                              "met": share <= 0.03}
    if full:
        peak = max(r["peak_tree_rss"] for r in (full, incr) if r)
        out["memory"] = {"target": "peak memory, whole process tree <= 2 GB (issue: at 10 million statements)",
                         "measured": f"{peak / 1e9:.2f} GB (process tree, {res['statements']:,} statements)",
                         "met": peak <= 2e9}
    if full and floor:
        ratio = full["wall"] / floor["wall"]
        equal = bool(res.get("compare")) and all(
            "error" not in c and c["left_only"] == 0 and c["right_only"] == 0 for c in res["compare"])
        out["floor"] = {"target": "pipeline / floor on the same landing zone <= 1.3x, and the floor's marts "
                                  "equal the pipeline's",
                        "measured": f"{full['wall']:.1f} s / {floor['wall']:.1f} s = {ratio:.2f}x; marts "
                                    f"{'equal' if equal else 'not compared or not equal'}",
                        "met": ratio <= 1.3 and equal}
    return out


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                    help="the engine dbt builds with (SKILLPATH_ENGINE; spark: docs/scale_out.md)")
    ap.add_argument("--workdir", default=None, help="default .bench/ at the repository root")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--skip", action="append", default=[], choices=["empty", "full", "floor", "incremental", "idle"],
                    help="leave a step out (repeatable)")
    return ap.parse_args(argv)


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """``skillpath bench``: returns 0 when every run succeeded and the floor equals the marts."""
    if not isinstance(args, argparse.Namespace):
        args = parse_args(args)
    statements, seed = int(args.statements), int(getattr(args, "seed", 42))
    ENGINE[0] = getattr(args, "engine", None) or "duckdb"
    threads, memory_limit = int(args.threads), str(args.memory_limit)
    skip = set(getattr(args, "skip", []) or [])
    workdir = Path(args.workdir or ROOT / ".bench").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / ".gitignore").exists():
        (workdir / ".gitignore").write_text("*\n")  # nothing generated here goes to git
    results_file = workdir / f"results-{_tag(statements)}.json"
    # a skipped step keeps its figures from the previous benchmark of this N
    previous = json.loads(results_file.read_text()) if skip and results_file.exists() else {}
    res: dict = {k: previous[k] for step in skip for k in RESULT_KEYS[step] if k in previous}
    res.update({"statements": statements, "engine": ENGINE[0], "seed": seed, "threads": threads, "memory_limit": memory_limit,
                "dbt_threads": int(os.environ.get("SKILLPATH_DBT_THREADS") or threads),
                "date": dt.date.today().isoformat(), "machine": machine()})
    landing, gen_summary, gen_seconds = landing_for(workdir, statements, seed)
    res["generated_seconds"] = gen_seconds
    ok = True

    prepare_manifest(bench_env(workdir, landing, threads, memory_limit))
    if "empty" not in skip:
        home = workdir / ("home-empty" if ENGINE[0] == "duckdb" else f"home-{ENGINE[0]}-empty")
        shutil.rmtree(home, ignore_errors=True)
        (home / "landing").mkdir(parents=True)
        res["empty"] = pipeline_run("empty", home, home / "landing", threads, memory_limit)
        # the same home again (the first run of a home also creates its databases and has dbt
        # parse the project in full); skipped when the first run published
        res["empty_again"] = pipeline_run("empty_again", home, home / "landing", threads, memory_limit)

    home = workdir / f"home-{_tag(statements)}"
    if "full" not in skip:
        shutil.rmtree(home, ignore_errors=True)
        link_tree(landing, home / "landing")
        res["full"] = pipeline_run("full", home, home / "landing", threads, memory_limit)
        ok &= res["full"]["returncode"] == 0

    if "floor" not in skip:
        # the floor reads the home's landing zone: the same input as the published warehouse
        if not (home / "landing").exists():  # floor first, the pipeline in a later call
            link_tree(landing, home / "landing")
        res["floor"] = floor_run(workdir, home / "landing", threads, memory_limit, label=f"floor-{statements}")
        ok &= res["floor"]["returncode"] == 0
    warehouse = home / "warehouse.duckdb"
    floor_ok = res.get("floor", {}).get("returncode") == 0

    def compare(after: str) -> bool:
        """Compare the floor with the warehouse when both read the same landing zone; False on a difference."""
        found = compare_floor(res["floor"], warehouse, home / "landing", after) if floor_ok else None
        if found is None:
            return True
        res["compare"] = found
        return all(c.get("left_only") == 0 and c.get("right_only") == 0 for c in found)

    if "full" not in skip:
        res.pop("compare", None)  # an earlier call's comparison was with another warehouse
    if "floor" not in skip or "full" not in skip:
        ok &= compare("full" if "full" not in skip else "last")

    if "incremental" not in skip and (home / "warehouse.duckdb").exists():
        from skillpath_dev.generate import generate_increment

        n_prev = len(list((home / "landing" / "xapi").glob("increment-*")))
        inc = generate_increment(home / "landing", statements=max(statements // 100, 1), seed=seed,
                                 batch=f"bench{n_prev + 1}", late_share=0.2,
                                 duplicates=max(statements // 10_000, 1))
        res["increment"] = {k: v for k, v in inc.items() if isinstance(v, int | float | str)}
        res["incremental"] = pipeline_run("incremental", home, home / "landing", threads, memory_limit)
        ok &= res["incremental"]["returncode"] == 0
        ok &= compare("incremental")  # a floor from an earlier call may have read this input

    if "idle" not in skip and (home / "warehouse.duckdb").exists():
        # a night with nothing new: skipped as the nightly schedule skips it; then forced, the
        # fixed cost every night with new data pays (one Dagster run, the build plan, the gate)
        res["idle"] = pipeline_run("idle", home, home / "landing", threads, memory_limit)
        res["idle_forced"] = pipeline_run("idle_forced", home, home / "landing", threads, memory_limit, "--force")
        ok &= res["idle"]["returncode"] == 0 and res["idle_forced"]["returncode"] == 0
        # the night a schedule really has: nothing new, but the run date one day later (the
        # models that read it are rebuilt); on a copy, so the home stays at the bench's date
        next_day = workdir / f"home-{_tag(statements)}-next-day"
        shutil.rmtree(next_day, ignore_errors=True)
        shutil.copytree(home, next_day, symlinks=True)
        later = (dt.date.fromisoformat(AS_OF) + dt.timedelta(days=1)).isoformat()
        res["idle_next_day"] = pipeline_run("idle_next_day", next_day, next_day / "landing", threads, memory_limit,
                                            env={"SKILLPATH_AS_OF_DATE": later})
        ok &= res["idle_next_day"]["returncode"] == 0
        shutil.rmtree(next_day, ignore_errors=True)

    res["targets"] = targets(res)
    res["generate_summary"] = {k: gen_summary.get(k) for k in ("statements", "users", "learners") if k in gen_summary}
    results_file.write_text(json.dumps(res, indent=2, default=str))
    block = render(res)
    print(block)
    if not getattr(args, "no_write", False):
        write_docs(block, statements)
        _say(f"wrote {DOCS}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

