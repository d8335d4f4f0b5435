"""The ``skillpath`` command line: generate, run, demo, export, rollback, report, bench."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from skillpath import run_inputs
from skillpath.config import REPO_ROOT, ConfigError, connect_duckdb, settings
from skillpath.privacy import CLI_RUN_TAG, erasing
from skillpath.publish import bi_bundle


class UserError(RuntimeError):
    """Something the user can fix (a setting, a path, an argument): one line, no traceback."""


def _writable_home(home: Path) -> None:
    """SKILLPATH_HOME exists (created if need be) and this user may write there."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create SKILLPATH_HOME {home}: {exc.strerror or exc}; "
                        "point SKILLPATH_HOME at a writable directory") from exc
    if not os.access(home, os.W_OK | os.X_OK):
        raise UserError(f"SKILLPATH_HOME {home} is not writable; "
                        "point SKILLPATH_HOME at a writable directory or fix its permissions")


def _readable_landing(s) -> None:
    """The landing directory exists and can be listed (unless an LRS is the only source)."""
    landing = s.landing_dir
    if not landing.exists():
        if s.lrs_url:
            return
        raise UserError(f"the landing directory {landing} does not exist; create it and put the source "
                        "files there, or set SKILLPATH_LANDING_DIR (skillpath generate writes sample data)")
    if not landing.is_dir():
        raise UserError(f"the landing directory {landing} is not a directory; set SKILLPATH_LANDING_DIR")
    if not os.access(landing, os.R_OK | os.X_OK):
        raise UserError(f"the landing directory {landing} is not readable; fix its permissions "
                        "or set SKILLPATH_LANDING_DIR")


class _HideStackTraces:
    """Standard error without the stack traces Dagster's console log appends to an error
    event (a blocked gate, a failed step); ``--debug`` keeps them."""

    def __init__(self, stream):
        self._stream = stream
        self._skipping = False
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if line.startswith(("Stack Trace:", "The above exception")):
            if not self._skipping:
                self._stream.write("(stack trace hidden; skillpath --debug shows it)\n")
            self._skipping = True
            return
        if self._skipping and (not line.strip() or line[:1].isspace()):
            return
        self._skipping = False
        self._stream.write(line + "\n")

    def flush(self) -> None:
        if self._pending and not self._skipping:
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _progress(label: str, done: int, total: int) -> None:
    if total:
        pct = 100 * done // total
        end = "\n" if done >= total else "\r"
        print(f"  {label}: {done:,}/{total:,} ({pct}%)", end=end, flush=True)


# ----------------------------------------------------------------------------- generate
def cmd_generate(args: argparse.Namespace) -> int:
    from skillpath_dev.generate import generate_landing

    s = settings()
    out = Path(args.out).resolve() if args.out else s.landing_dir
    if out.exists() and any(out.rglob("*")):
        if not args.force:
            _say(f"{out} is not empty; use --force to replace the generated folders")
            return 2
        from skillpath_dev.generate import LANDING_DIRS

        for sub in LANDING_DIRS:  # a fresh, consistent data set: never mix two generations
            shutil.rmtree(out / sub, ignore_errors=True)
    _say(f"generating {args.statements:,} statements (seed {args.seed}) into {out}")
    summary = generate_landing(out, statements=args.statements, seed=args.seed,
                               defects=not args.no_defects, progress=_progress)
    (s.home).mkdir(parents=True, exist_ok=True)
    (s.home / "generate_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _say(json.dumps(summary, indent=2, default=str)[:3000])
    return 0


# ----------------------------------------------------------------------------- run
@contextmanager
def _single_writer(home: Path):
    """Queue runs of this home: DuckDB allows one writer process."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".run.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say("another run of this SKILLPATH_HOME is in progress; waiting for it to finish ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def prepare_dagster_home() -> Path:
    s = settings()
    dh = s.dagster_home
    dh.mkdir(parents=True, exist_ok=True)
    target = dh / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", target)
    os.environ["DAGSTER_HOME"] = str(dh)
    return dh


def run_pipeline(full_refresh: bool = False) -> dict:
    """One in-process run of the nightly job; returns a summary (also when it failed)."""
    entered = time.time()
    import dagster as dg

    from skillpath.transform import ensure_manifest

    s = settings()
    s.require_pseudonym_key()
    prepare_dagster_home()
    t0 = time.time()
    _say("preparing the dbt project ...")
    ensure_manifest()
    t_parsed = time.time()
    from skillpath.definitions import defs

    job = defs.resolve_job_def("nightly")
    t_loaded = time.time()
    run_config = {
        "ops": {"skillpath_dbt": {"config": {"full_refresh": full_refresh}}},
        "loggers": {"console": {"config": {"log_level": settings().log_level}}},
    }
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False,
                                        tags={CLI_RUN_TAG: "1"})
        summary = summarise_run(result, instance)
    summary["seconds"] = round(time.time() - t0, 1)
    # start-up costs for the benchmark (skillpath_dev/bench/pipeline_bench.py)
    summary["timings"] = {"entered_at": entered, "imports_seconds": round(t0 - entered, 2),
                          "dbt_parse_seconds": round(t_parsed - t0, 2),
                          "definitions_seconds": round(t_loaded - t_parsed, 2)}
    return summary


def summarise_run(result, instance) -> dict:
    """Which steps failed or were skipped, every check's outcome, and why the run stopped."""
    import dagster as dg

    failed_steps, skipped_steps, checks = [], [], []
    for ev in result.all_events:
        if ev.event_type == dg.DagsterEventType.STEP_FAILURE:
            err = ev.event_specific_data.error
            failed_steps.append({"step": ev.step_key, "error": (err.message if err else "")[:1500]})
        elif ev.event_type == dg.DagsterEventType.STEP_SKIPPED:
            skipped_steps.append(ev.step_key)
        elif ev.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            d = ev.event_specific_data
            md = {k: getattr(v, "value", v) for k, v in (d.metadata or {}).items()}
            severity = getattr(d.severity, "value", str(d.severity or "ERROR"))
            check = {
                "asset": d.asset_key.to_user_string(),
                "check": d.check_name,
                "passed": bool(d.passed),
                "severity": severity,
                # docs/quality.md: only a failed ERROR check blocks; a WARN one (dbt severity
                # warn, a GX warning) is reported and the warehouse is still published
                "blocking": not d.passed and severity == "ERROR",
                "description": d.description,
                "metadata": md,
            }
            check["observed"] = observed_value(check)
            checks.append(check)
    published = any(
        ev.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and ev.asset_key == dg.AssetKey("warehouse")
        for ev in result.all_events
    )
    dbt_failures = dbt_failed_nodes() if any(f["step"] == "skillpath_dbt" for f in failed_steps) else []
    for f in failed_steps:
        if f["step"] == "skillpath_dbt" and dbt_failures:
            f["dbt_failures"] = dbt_failures
            f["error"] = "; ".join(dbt_failures) + "\n" + f["error"]
    failed_checks = [c for c in checks if c["blocking"]]
    warned_checks = [c for c in checks if not c["passed"] and not c["blocking"]]
    reason = None
    if failed_checks:  # a failed blocking check also fails its step: the checks are the reason
        reason = "blocked by checks: " + ", ".join(f"{c['asset']}:{c['check']}" for c in failed_checks)
    elif failed_steps:
        reason = "; ".join(f"{f['step']}: {f['error'].splitlines()[0] if f['error'] else 'failed'}"
                           for f in failed_steps)
    elif not published:
        reason = "nothing was published"
    return {
        "run_id": result.run_id,
        "success": bool(result.success) and published and not failed_checks,
        "published": published,
        "failed_steps": failed_steps,
        "skipped_steps": skipped_steps,
        "checks_total": len(checks),
        "checks": checks,
        "checks_failed": failed_checks,
        "checks_warned": warned_checks,
        "reason": reason,
    }


def dbt_failed_nodes() -> list[str]:
    """What failed in the last ``dbt build`` (its run_results.json): each failed test with
    its failing rows, each model that errored (a violated contract constraint) with dbt's message."""
    path = settings().home / "dbt_target" / "run_results.json"
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    out = []
    for r in results:
        if r.get("status") not in ("fail", "error"):
            continue
        uid = r.get("unique_id", "")
        name = uid.split(".")[2] if uid.count(".") >= 2 else uid
        if uid.startswith("test."):
            failures = r.get("failures")
            what = (f"{failures} failing row{'' if failures == 1 else 's'}" if r["status"] == "fail"
                    else (r.get("message") or "error").splitlines()[0])
            out.append(f"dbt test {name} {r['status']}: {what}")
        else:
            out.append(f"dbt {uid.split('.')[0]} {name} error: {(r.get('message') or '').splitlines()[0][:300]}")
    return out


def observed_value(check: dict) -> str:
    """What a check observed, in one line: a dbt test's failing rows, a suite's results, ..."""
    md = check.get("metadata") or {}
    if "dagster_dbt/failed_row_count" in md or "status" in md:
        rows = md.get("dagster_dbt/failed_row_count")
        status = md.get("status")
        parts = []
        if rows is not None:
            parts.append(f"{rows} failing row{'' if rows == 1 else 's'}")
        if status is not None:
            parts.append(f"dbt status {status}")
        return ", ".join(parts) or "no result from dbt"
    if check.get("description"):
        return str(check["description"])
    if md.get("problems") not in (None, "none"):
        return str(md["problems"])
    return "no observed value reported"


def print_checks(summary: dict) -> None:
    """The gate in a few lines: every GX suite, the reconciliation, and each failure in full."""
    checks = summary.get("checks", [])
    if not checks:
        return
    failed = [c for c in checks if c.get("blocking", not c["passed"])]
    warned = [c for c in checks if not c["passed"] and c not in failed]
    dbt_tests = [c for c in checks if c["check"] not in ("gx_suite", "ingestion_reconciled")]
    _say(f"quality gate: {len(checks)} checks, {len(failed)} failed, {len(warned)} warnings "
         f"({len(dbt_tests)} dbt tests, {sum(c['check'] == 'gx_suite' for c in checks)} GX suites, "
         f"ingestion reconciliation)")

    def rank(c):
        return (0 if c in failed else 1 if c in warned else 2, c["asset"], c["check"])

    for c in sorted(checks, key=rank):
        if c["passed"] and c in dbt_tests:
            continue
        mark = "FAIL" if c in failed else "WARN" if c in warned else "pass"
        line = f"  [{mark}] {c['asset']} / {c['check']}"
        if not c["passed"]:
            line += f": {c.get('observed') or observed_value(c)}"
        elif c["check"] == "gx_suite":
            line += f" ({c['metadata'].get('expectations', '?')} expectations)"
        _say(line[:1500])


def print_run_summary(summary: dict) -> None:
    s = settings()
    _say("")
    print_checks(summary)
    _say("=" * 72)
    if summary["success"]:
        warned = summary.get("checks_warned") or []
        _say(f"run {summary['run_id'][:8]} succeeded in {summary['seconds']} s; "
             f"{summary['checks_total'] - len(warned)} checks passed, {len(warned)} with warnings")
        for c in warned:
            _say(f"  warning {c['asset']} / {c['check']}: {c.get('observed') or observed_value(c)}"[:1500])
        _say(f"published warehouse: {s.warehouse_db}")
    else:
        _say(f"run {summary['run_id'][:8]} did NOT publish ({summary['seconds']} s)")
        _say(f"why: {summary['reason']}")
        for c in summary["checks_failed"]:
            _say(f"  failed check {c['asset']} / {c['check']}: {c.get('observed') or observed_value(c)}"[:1500])
        for f in summary["failed_steps"]:
            _say(f"  failed step {f['step']}: {f['error'][:800]}")
        if s.warehouse_db.exists():
            _say(f"the published warehouse is unchanged: {s.warehouse_db}")
    _say("=" * 72)


def _ingest_report() -> None:
    s = settings()
    if not s.raw_db.exists():
        return
    from skillpath.ingest.runner import format_summary, summarize

    con = connect_duckdb(s.raw_db, read_only=True)
    try:
        summary = summarize(con)
    finally:
        con.close()
    _say("ingestion (all loads so far):")
    _say(format_summary(summary))


def _marts_report() -> None:
    s = settings()
    if not s.warehouse_db.exists():
        return
    con = connect_duckdb(s.warehouse_db, read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = 'marts' order by table_name"
        ).fetchall()
        _say("published marts (rows):")
        for schema, name in tables:
            n = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            _say(f"  {name:<36}{n:>10,}")
    finally:
        con.close()


def _notify_failure(summary: dict) -> None:
    from skillpath.alerts import send_alert

    send_alert({
        "status": "blocked" if summary["checks_failed"] else "failed",
        "job": "nightly",
        "run_id": summary["run_id"],
        "reason": summary["reason"],
        "failed_checks": [
            {"asset": c["asset"], "check": c["check"], "description": c.get("observed") or c["description"]}
            for c in summary["checks_failed"]
        ],
        "failed_steps": summary["failed_steps"],
    })


def cmd_run(args: argparse.Namespace) -> int:
    s = settings()
    try:
        s.require_pseudonym_key()
    except ConfigError as exc:
        _say(f"error: {exc}")
        return 2
    _writable_home(s.home)
    _readable_landing(s)
    debug = getattr(args, "debug", False)
    stderr = sys.stderr
    if not debug:
        sys.stderr = _HideStackTraces(stderr)
    try:
        with _single_writer(s.home):
            from skillpath.publish.duckdb_publish import published_run_id

            forced = args.full_refresh or getattr(args, "force", False)
            digest = run_inputs.inputs_digest(s)  # before the run: what lands meanwhile is new next time
            last = None if forced else run_inputs.unchanged_since_publication(s, digest)
            if last is not None:
                return _skipped_run(args, last)
            summary = run_pipeline(full_refresh=args.full_refresh)
            if summary.get("published") and published_run_id(s.warehouse_db) == summary.get("run_id"):
                run_inputs.record(s, digest, summary["run_id"])
    finally:
        if not debug:
            sys.stderr.flush()
            sys.stderr = stderr
    _ingest_report()
    print_run_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    if not summary["success"]:
        _notify_failure(summary)
        return 1
    _marts_report()
    return 0


def _skipped_run(args: argparse.Namespace, last: dict) -> int:
    """Nothing a run reads changed since the published warehouse was built: no run."""
    reason = (f"nothing new since run {last['run_id']}, which published the warehouse: the same landing "
              "files, run date, settings and code")
    _say(f"{reason}.\nNo run: the published warehouse stands. `skillpath run --force` runs anyway.")
    if args.json:
        Path(args.json).write_text(json.dumps({"skipped": True, "success": True, "published": False,
                                               "published_run_id": last["run_id"], "reason": reason}, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    os.environ["SKILLPATH_DEMO"] = "1"
    s = settings()
    if not s.landing_dir.exists() or not any(s.landing_dir.rglob("*")):
        rc = cmd_generate(argparse.Namespace(out=None, statements=args.statements, seed=args.seed,
                                             no_defects=False, force=False))
        if rc:
            return rc
    else:
        _say(f"using the existing landing zone {s.landing_dir}")
    summary_file = s.home / "generate_summary.json"
    if not os.environ.get("SKILLPATH_AS_OF_DATE") and summary_file.exists():
        # the sample data ends on its base date: statuses and freshness are judged as of then
        base = json.loads(summary_file.read_text()).get("base_date", "")[:10]
        if base:
            os.environ["SKILLPATH_AS_OF_DATE"] = base
            _say(f"demo: as-of date {base} (the sample data's last day)")
    rc = cmd_run(argparse.Namespace(full_refresh=False, force=False, json=None, debug=getattr(args, "debug", False)))
    if rc == 0:
        _say(f"\nwarehouse: {s.warehouse_db}\nreport:    {s.home / 'report.html'}\n"
             f"exports:   {s.exports_dir}\n"
             "query it:  .venv/bin/python -c \"import duckdb; print(duckdb.connect("
             f"'{s.warehouse_db}', read_only=True).sql('from marts.mart_course_overview'))\"\n"
             "           or connect a BI tool (docs/bi.md); CSV: skillpath export MART --out FILE")
    return rc


# ----------------------------------------------------------------------------- others
def cmd_export(args: argparse.Namespace) -> int:
    from skillpath.publish.exports import export_mart

    n = export_mart(settings().warehouse_db, args.mart, Path(args.out), account_id=args.account)
    _say(f"wrote {n:,} rows to {args.out}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from skillpath.publish.duckdb_publish import list_versions, rollback

    s = settings()
    if args.list:
        for v in list_versions(s.home):
            _say(str(v))
        return 0
    restored = rollback(s.home, to=args.to)
    _say(f"warehouse.duckdb is now {restored}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from skillpath.publish.duckdb_publish import published_run_id
    from skillpath.quality.gate_results import gate_results
    from skillpath.report import build_report

    s = settings()
    out = Path(args.out) if args.out else s.home / "report.html"
    # the gate's results of the run that published this warehouse (asset-check metadata)
    build_report(s.warehouse_db, out, gate_summary=gate_results(s.dagster_home, published_run_id(s.warehouse_db)))
    _say(f"report written to {out}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Forget one person everywhere in the home (skillpath/privacy/erasure.py, docs/privacy.md)."""
    import getpass

    from skillpath.privacy.erasure import erase, seed_identity

    s = settings()
    s.require_pseudonym_key()
    _writable_home(s.home)
    ident = seed_identity(args.user_id, email=args.email, mbox=args.mbox, mbox_sha1sum=args.mbox_sha1sum,
                          account=args.account, openid=args.openid, recipient=args.recipient)
    requested_by = args.requested_by or os.environ.get("USER") or getpass.getuser()
    prepare_dagster_home()  # the report and the log scrub read the instance, with or without a rebuild
    debug = getattr(args, "debug", False)
    stderr = sys.stderr
    if not debug:
        sys.stderr = _HideStackTraces(stderr)
    try:
        # the pipeline's lock: never while a `skillpath run` writes; the marker stops runs the Dagster
        # daemon starts from now on, and the ones it started before are waited for
        with _single_writer(s.home), erasing(s.home):
            wait_for_daemon_runs()
            record = erase(s, ident, requested_by=requested_by, reason=args.reason,
                           run_pipeline=lambda: run_pipeline())
    finally:
        if not debug:
            sys.stderr.flush()
            sys.stderr = stderr
    detail = json.loads(record["detail"] or "{}")
    rows = json.loads(record["rows_removed"] or "{}")
    _say(f"erasure {record['erasure_id']}: {sum(rows.values()):,} raw rows removed "
         f"({', '.join(f'{t} {n:,}' for t, n in sorted(rows.items())) or 'none'}), "
         f"{record['files_rewritten']} landing files rewritten")
    rebuild = detail.get("rebuild")
    if rebuild:
        _say("warehouse rebuilt and published" if rebuild.get("published")
             else f"warehouse NOT republished ({rebuild.get('reason')}); every kept version was scrubbed")
    _say(f"published versions scrubbed: {len(detail.get('versions', {}))}; other files scrubbed: "
         f"{detail.get('files_scrubbed', 0)}")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2, default=str))
    return 0 if not rebuild or rebuild.get("published") else 1


def wait_for_daemon_runs(timeout: float = 3600, poll: float = 5) -> None:
    """Wait until no run of this home's Dagster instance is in progress, but for the ones
    ``skillpath run`` started (tagged; the caller holds the run lock, so they are over).

    Raises UserError after ``timeout`` seconds, naming the runs still in progress."""
    import dagster as dg

    active = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.get() as instance:
        while True:
            runs = [r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=list(active)))
                    if CLI_RUN_TAG not in r.tags]
            if not runs:
                return
            if time.monotonic() >= deadline:
                raise UserError(f"Dagster runs of this home are still in progress ({', '.join(runs)}): "
                                "let them finish (or cancel them in the Dagster UI) and erase again")
            _say(f"waiting for {len(runs)} Dagster run(s) of this home to finish before erasing ...")
            time.sleep(poll)


def cmd_bench(args: argparse.Namespace) -> int:
    from skillpath_dev.bench.pipeline_bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="skillpath",
        description="Learning and credential analytics warehouse. Settings come from SKILLPATH_* "
                    "environment variables (SKILLPATH_HOME, default ./.skillpath).",
    )
    p.add_argument("--debug", action="store_true",
                   help="show Python tracebacks (by default an error is one line saying what to do)")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a realistic sample landing zone",
                       description="Write a deterministic sample landing zone (xAPI, LMS CSV, credentials, "
                                   "events) with a small share of realistic defects.")
    g.add_argument("--statements", type=int, default=20_000, help="xAPI statements to generate (default 20000)")
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    g.add_argument("--out", help="landing directory (default $SKILLPATH_LANDING_DIR)")
    g.add_argument("--no-defects", action="store_true", help="write no defective records")
    g.add_argument("--force", action="store_true",
                   help="delete the landing zone's xapi/, lms/, credentials/, credential_events/ and consents/ first")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="one pipeline run (the nightly job), in-process",
                       description="Ingest new landing files (and the LRS when configured), build the dbt "
                                   "models, run the quality gate and publish only if every blocking check "
                                   "passes. Exit code 1 when nothing was published. When nothing it reads "
                                   "changed since the published warehouse was built (landing files, run date, "
                                   "settings, code; no LRS configured), it does not run and exits 0.")
    r.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    r.add_argument("--force", action="store_true", help="run even when nothing is new since the last publication")
    r.add_argument("--json", help="also write the run summary to this file")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate sample data (if none) and run the whole pipeline",
                       description="Demo mode (SKILLPATH_DEMO=1, a fixed demo pseudonym key): generates a "
                                   "landing zone when there is none, runs the pipeline, prints a summary.")
    d.add_argument("--statements", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=42)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("export", help="export a published mart to CSV",
                       description="Export one mart of the published warehouse to CSV (small cells stay suppressed).")
    e.add_argument("mart")
    e.add_argument("--account", help="only this account's rows")
    e.add_argument("--out", required=True)
    e.set_defaults(func=cmd_export)

    rb = sub.add_parser("rollback", help="put a previous warehouse version back",
                        description="Atomically restore the previous (or a named) published warehouse version.")
    rb.add_argument("--to", help="version file name (default: the one before the current)")
    rb.add_argument("--list", action="store_true", help="list the kept versions")
    rb.set_defaults(func=cmd_rollback)

    rp = sub.add_parser("report", help="write the HTML report from the published marts",
                        description="Write the self-contained HTML report from the published warehouse.")
    rp.add_argument("--out", help="output file (default $SKILLPATH_HOME/report.html)")
    rp.set_defaults(func=cmd_report)

    er = sub.add_parser("erase", help="forget one person in every layer and file of the home",
                        description="Remove a learner (by LMS user id, email or xAPI actor identifier) from the "
                                    "raw layer, the landing files, every mart and published version, PostgreSQL, "
                                    "exports, the report and the logs, and drop their later deliveries "
                                    "(docs/privacy.md). Takes the run lock.")
    er.add_argument("user_id", nargs="?", help="the LMS user id")
    er.add_argument("--email", help="an email address of the person")
    er.add_argument("--mbox", help="an xAPI mbox (mailto:...)")
    er.add_argument("--mbox-sha1sum", help="an xAPI mbox_sha1sum")
    er.add_argument("--account", help="an xAPI account as HOMEPAGE|NAME")
    er.add_argument("--openid", help="an xAPI openid")
    er.add_argument("--recipient", help="a credential recipient identity that is no email: the DID, URL or URN an "
                                        "Open Badges 3.0 / CLR 2.0 credential names its subject by, or an Open "
                                        "Badges 2.0 hashed identity sha256$<hex>")
    er.add_argument("--reason", help="why (kept in the audit log: no personal data, please)")
    er.add_argument("--requested-by", help="who asked (default: the operating-system user)")
    er.add_argument("--json", help="also write the audit record to this file")
    er.set_defaults(func=cmd_erase)

    b = sub.add_parser("bench", help="benchmark the pipeline against a hand-written DuckDB floor",
                       description="Generate N statements, time a full and an incremental run and the "
                                   "single-process DuckDB floor; write docs/benchmarks.md.")
    b.add_argument("--statements", type=int, default=1_000_000)
    b.add_argument("--workdir", help="where to keep the generated landing zone and homes")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--memory-limit", default="3GB")
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="the engine dbt builds with (SKILLPATH_ENGINE; spark needs make spark, docs/scale_out.md)")
    b.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    b.add_argument("--skip", action="append", default=[], choices=["empty", "full", "floor", "incremental", "idle"],
                   help="leave a step out and keep its previous figures (repeatable)")
    b.set_defaults(func=cmd_bench)
    bi_bundle.add_subcommand(sub)
    for command in sub.choices.values():  # `skillpath run --debug` as well as `skillpath --debug run`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show Python tracebacks")
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that describe a user's mistake, not a bug: reported in one line."""
    from skillpath.privacy.erasure import ErasureError
    from skillpath.publish.duckdb_publish import PublishError
    from skillpath.publish.exports import ExportError
    from skillpath.report import ReportError

    return ConfigError, UserError, ExportError, PublishError, ReportError, ErasureError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.func(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            _say(f"error: {exc}")
            return 2
        if isinstance(exc, PermissionError):
            _say(f"error: permission denied: {exc.filename or exc}; check the permissions of SKILLPATH_HOME "
                 "and the landing directory (skillpath --debug shows the traceback)")
            return 2
        if isinstance(exc, FileNotFoundError):
            _say(f"error: no such file or directory: {exc.filename or exc} (skillpath --debug shows the traceback)")
            return 2
        _say(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
             "(an unexpected failure; skillpath --debug shows the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
