"""The nightly job, its schedule, the landing-file sensor and the failure alert sensor."""


import hashlib

import dagster as dg

from skillpath.config import settings

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    # one process: the DuckDB files allow a single writer, and steps run one after another
    executor_def=dg.in_process_executor,
    description="Ingest, dbt build, quality gate, publish, export, report",
)

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_schedule",
    job=nightly_job,
    cron_schedule=settings().schedule_cron,
    execution_timezone=settings().schedule_timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def landing_fingerprint() -> tuple[str, int]:
    """A digest of (path, size, mtime) of every landing file, and how many there are."""
    landing = settings().landing_dir
    h = hashlib.sha256()
    n = 0
    if landing.exists():
        for p in sorted(landing.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(landing)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
                n += 1
    return h.hexdigest(), n


@dg.sensor(job=nightly_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_files_sensor(context: dg.SensorEvaluationContext):
    """Start a run when files in the landing zone are added or changed (queued: one run at a time)."""
    digest, n = landing_fingerprint()
    if n == 0 or digest == context.cursor:
        return dg.SkipReason("no new landing files")
    context.update_cursor(digest)
    return dg.RunRequest(run_key=digest, tags={"skillpath/trigger": "landing_files", "files": str(n)})


@dg.run_failure_sensor(name="alert_on_failure", default_status=dg.DefaultSensorStatus.RUNNING)
def alert_on_failure(context: dg.RunFailureSensorContext):
    from skillpath.alerts import send_alert

    send_alert({
        "status": "failed",
        "job": context.dagster_run.job_name,
        "run_id": context.dagster_run.run_id,
        "error": context.failure_event.message,
    })


schedules = [nightly_schedule]
sensors = [landing_files_sensor, alert_on_failure]
jobs = [nightly_job]
