"""LRS re-scan benchmark (a script, not a test): a full re-scan of N statements against a real Ralph.

    .venv/bin/python skillpath_dev/bench/bench_lrs_rescan.py --statements 20000 [--page-size 100]

Starts Ralph 5.1 (``fs`` backend, ``scripts/run_ralph.py``, from ``.venv-ralph``:
run ``scripts/install_ralph.sh`` first) on a free 127.0.0.1 port, posts N statements
of known LMS users with timestamps spread over the last 30 days, then times with
``extract_lrs``:

1. the first run (reads and loads everything);
2. a forced full re-scan (``SKILLPATH_LRS_FULL_RESCAN=1``: everything read again, all duplicates);
3. an incremental run with the default 3-day look-back (about a tenth of N read again);
4. the HTTP part alone: the same full read with ``LrsClient`` and nothing loaded.

``--history H`` first fills ``raw.xapi_statements`` with H synthetic rows of another
source (random ids), so that each page's duplicate check runs against a raw layer of
H + N statements, as it would in a warehouse with a long history.

Prints the figures with the machine's cores and memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from skillpath.config import REPO_ROOT as ROOT
from skillpath_dev.bench.bench_ingest import _mem_total_gib

N_USERS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _statements(n: int, now: dt.datetime) -> list[dict]:
    span = 30 * 86400
    out = []
    for i in range(n):
        ts = now - dt.timedelta(seconds=span * (n - 1 - i) / max(n - 1, 1))
        st = {
            "id": str(uuid.uuid4()),
            "actor": {"objectType": "Agent", "mbox": f"mailto:learner.{i % N_USERS}@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("completed" if i % 4 == 0 else "attempted")},
            "object": {"objectType": "Activity", "id": f"https://lms.example.org/exercise/{i % 37}"},
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if i % 2:
            st["result"] = {"success": i % 5 != 0, "score": {"scaled": (i % 10) / 10}}
        out.append(st)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=20_000)
    ap.add_argument("--page-size", type=int, default=100,
                    help="Ralph's RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT and SKILLPATH_LRS_PAGE_LIMIT (default 100)")
    ap.add_argument("--history", type=int, default=0,
                    help="synthetic statements already in raw.xapi_statements (default 0)")
    ap.add_argument("--ralph-venv", type=Path, default=ROOT / ".venv-ralph")
    args = ap.parse_args(argv)

    import duckdb
    import orjson
    import requests

    from skillpath.config import settings
    from skillpath.ingest.contract import connect_raw
    from skillpath.ingest.lrs import LrsClient, extract_lrs
    from skillpath.ingest.rawstore import reconciliation

    ralph = args.ralph_venv / "bin"
    if not (ralph / "ralph").exists():
        print(f"Ralph is not installed in {args.ralph_venv}: run scripts/install_ralph.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="skillpath-lrs-bench-") as tmp:
        work = Path(tmp)
        auth = work / "auth.json"
        user, password = "bench", secrets.token_urlsafe(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RALPH_", "SKILLPATH_"))}
        env.update(RALPH_APP_DIR=str(work), RALPH_AUTH_FILE=str(auth), RALPH_RUNSERVER_BACKEND="fs")
        subprocess.run([str(ralph / "ralph"), "auth", "-u", user, "-p", password, "-s", "all",
                        "-M", "mailto:bench@example.org", "-w"], cwd=work, env=env, check=True,
                       capture_output=True)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(work / "ralph.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([str(ralph / "python"), str(ROOT / "scripts" / "run_ralph.py"), "--port", str(port),
                                 "--data-dir", str(work / "data"), "--auth-file", str(auth),
                                 "--max-page-size", str(args.page_size)],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    if requests.get(f"{url}/__heartbeat__", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("Ralph did not start: " + (work / "ralph.log").read_text()[-2000:])

            t0 = time.perf_counter()
            statements = _statements(args.statements, dt.datetime.now(dt.UTC))
            for i in range(0, len(statements), 1000):
                r = requests.post(f"{url}/xAPI/statements", data=orjson.dumps(statements[i:i + 1000]),
                                  auth=(user, password), timeout=300,
                                  headers={"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"})
                r.raise_for_status()
            post_s = time.perf_counter() - t0

            os.environ.update(SKILLPATH_HOME=str(work / "home"), SKILLPATH_LRS_URL=url,
                              SKILLPATH_LRS_USERNAME=user, SKILLPATH_LRS_PASSWORD=password,
                              SKILLPATH_LRS_PAGE_LIMIT=str(args.page_size))
            for name in ("LOOKBACK_DAYS", "FULL_RESCAN_DAYS", "FULL_RESCAN", "OVERLAP_SECONDS"):
                os.environ.pop(f"SKILLPATH_LRS_{name}", None)
            s = settings()
            con = connect_raw(s.raw_db, settings=s)
            con.executemany(
                "insert into raw.lms_users (load_id, source, source_ref, record_no, loaded_at, user_id, account_id, "
                "email, display_name, role, raw_line) values ('bench', 'lms', 'lms/users.csv', ?, now()::timestamp, "
                "?, 'acme', ?, ?, 'learner', '')",
                [(i + 1, f"u{i:04d}", f"learner.{i}@example.org", f"Learner {i}") for i in range(N_USERS)])

            if args.history:
                con.execute(
                    "insert into raw.xapi_statements (load_id, source, source_ref, record_no, loaded_at, "
                    "statement_id, payload, payload_sha256, verb_id, statement_timestamp, has_result) "
                    "select 'history', 'xapi_file', 'xapi/history.ndjson', i, now()::timestamp, uuid()::varchar, "
                    "'{}', md5(i::varchar), 'http://adlnet.gov/expapi/verbs/attempted', "
                    "now()::timestamp - to_seconds(i), false from range(?) t(i)", [args.history])
                con.execute("checkpoint")

            def timed(label: str, **env_vars: str) -> dict:
                os.environ.update(env_vars)
                t = time.perf_counter()
                result = extract_lrs(con, settings())
                result["seconds"] = time.perf_counter() - t
                for k in env_vars:
                    os.environ.pop(k)
                print(f"{label:<28} {result['seconds']:7.1f} s  pages {result['pages']:4d}  read {result['read']:6d}  "
                      f"loaded {result['loaded']:6d}  duplicate {result['duplicate']:6d}  "
                      f"({result['read'] / result['seconds']:,.0f} statements/s)", flush=True)
                return result

            print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, "
                  f"memory {_mem_total_gib() or 0:.1f} GiB, Python {platform.python_version()}, "
                  f"DuckDB {duckdb.__version__}; Ralph 5.1 fs backend, page size {args.page_size}; "
                  f"SKILLPATH_THREADS {s.threads}, SKILLPATH_MEMORY_LIMIT {s.memory_limit}; "
                  f"history {args.history} synthetic rows in raw.xapi_statements")
            print(f"posted {args.statements} statements (timestamps over 30 days) in {post_s:.1f} s")
            first = timed("first run (full, loads)")
            full = timed("forced full re-scan", SKILLPATH_LRS_FULL_RESCAN="1")
            incr = timed("incremental, 3-day look-back")
            assert first["loaded"] == args.statements and full["duplicate"] == args.statements
            assert all(r["balanced"] for r in reconciliation(con))
            t = time.perf_counter()
            with LrsClient(url, user, password, limit=args.page_size) as client:
                read = sum(len(p.statements) for p in client.statements())
            http_s = time.perf_counter() - t
            print(f"{'HTTP only (nothing loaded)':<28} {http_s:7.1f} s  read {read:6d}  "
                  f"({read / http_s:,.0f} statements/s)")
            print(f"loading share of the full re-scan: {full['seconds'] - http_s:.1f} s; "
                  f"look-back read {incr['read'] / args.statements:.0%} of N")
            con.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
