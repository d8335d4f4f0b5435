"""Ingestion benchmark (a script, not a test): statements per second and peak memory.

    .venv/bin/python skillpath_dev/bench/bench_ingest.py --statements 1000000

Generates a landing zone of N statements with ``skillpath_dev.generate.generate_landing``
(in a child process, so its memory is reported apart), ingests it into an empty raw
layer (LMS, credentials, xAPI files, credential events; no LRS), checks that it
reconciles, runs the ingestion a second time (nothing new: every file is skipped by
its content hash) and prints the figures with the machine's cores, memory and versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from skillpath.config import REPO_ROOT as ROOT


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _generate(landing: Path, statements: int, seed: int) -> float:
    code = ("import sys; from pathlib import Path; from skillpath_dev.generate import generate_landing; "
            "generate_landing(Path(sys.argv[1]), statements=int(sys.argv[2]), seed=int(sys.argv[3]))")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(landing), str(statements), str(seed)], check=True, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=100_000, help="statements to generate (default 100000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the landing zone and lake here (a landing zone already there is reused)")
    args = ap.parse_args(argv)

    import duckdb
    import orjson
    import pyarrow

    from skillpath.config import settings
    from skillpath.ingest.contract import connect_raw
    from skillpath.ingest.events import ingest_credential_events
    from skillpath.ingest.lms import ingest_lms
    from skillpath.ingest.runner import format_summary, ingest_landing
    from skillpath.ingest.xapi import ingest_xapi_files

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="skillpath-bench-")
        work = Path(tmp.name)
    else:
        work = args.workdir.resolve()
    landing, home = work / "landing", work / "home"
    gen_seconds = None
    if not (landing / "xapi").is_dir():
        gen_seconds = _generate(landing, args.statements, args.seed)
    # read now: a child started later (by any library) inherits this process's peak
    generator_rss = _maxrss_mib(resource.RUSAGE_CHILDREN)
    lake = home / "lake.duckdb"
    for p in (lake, lake.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    s = replace(settings(), home=home, landing_dir=landing, lrs_url=None)

    stages: dict[str, float] = {}
    stage_cpu: dict[str, float] = {}
    t_all = time.perf_counter()
    cpu0 = time.process_time()
    con = connect_raw(s.raw_db)  # held to SKILLPATH_THREADS and SKILLPATH_MEMORY_LIMIT
    results = {}
    steps = [("lms", ingest_lms), ("xapi_file", ingest_xapi_files), ("credential_events", ingest_credential_events)]
    try:
        from skillpath.ingest.credentials import ingest_credentials
        steps.insert(1, ("credentials", ingest_credentials))
    except ImportError:
        pass
    for name, fn in steps:
        t0, c0 = time.perf_counter(), time.process_time()
        results[name] = fn(con, landing)
        stages[name] = time.perf_counter() - t0
        stage_cpu[name] = time.process_time() - c0
    con.close()
    wall = time.perf_counter() - t_all
    cpu = time.process_time() - cpu0
    t0 = time.perf_counter()
    summary = ingest_landing(s, include_lrs=False)  # nothing new; raises if anything does not reconcile
    rerun = time.perf_counter() - t0

    xapi_read = sum(r["records_read"] for r in results["xapi_file"])
    xapi_loaded = sum(r["records_loaded"] for r in results["xapi_file"])
    xapi_bytes = sum((landing / r["source_ref"]).stat().st_size for r in results["xapi_file"])
    print("skillpath ingestion benchmark")
    print(f"  machine: {os.cpu_count()} cores, {_mem_total_gib() or 0:.1f} GiB memory, {platform.platform()}")
    print(f"  versions: python {platform.python_version()}, duckdb {duckdb.__version__}, "
          f"pyarrow {pyarrow.__version__}, orjson {orjson.__version__}; duckdb threads {s.threads}, "
          f"memory_limit {s.memory_limit}")
    print(f"  generated statements: {args.statements:,}" +
          (f" in {gen_seconds:.1f} s (child process)" if gen_seconds is not None else " (landing zone reused)"))
    print(f"  xapi files: {len(results['xapi_file'])}, {xapi_bytes / 2**20:.1f} MiB on disk")
    for name, sec in stages.items():
        print(f"  stage {name:<18} {sec:8.2f} s wall {stage_cpu[name]:8.2f} s cpu")
    print(f"  ingestion wall {wall:.2f} s, cpu {cpu:.2f} s")
    print(f"  xapi records read {xapi_read:,}, loaded {xapi_loaded:,}: "
          f"{xapi_read / stages['xapi_file']:,.0f} statements/s (xapi stage), "
          f"{xapi_read / wall:,.0f} statements/s (whole ingestion), "
          f"{xapi_read / stage_cpu['xapi_file']:,.0f} statements per cpu-second (xapi stage, all threads)")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} (1 min), on {os.cpu_count()} cores")
    print(f"  re-run with nothing new: {rerun:.2f} s")
    print(f"  peak RSS: ingestion process {_maxrss_mib(resource.RUSAGE_SELF):,.0f} MiB, "
          f"generator child {generator_rss:,.0f} MiB")
    print()
    print(format_summary(summary))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
