"""The nightly job, its schedule, the landing-file sensor, the sensor recording what a
published run read, and the failure alert sensor."""


import dagster as dg

from skillpath import run_inputs
from skillpath.config import settings

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    # one process: the DuckDB files allow a single writer, and steps run one after another
    executor_def=dg.in_process_executor,
    description="Ingest, dbt build, quality gate, publish, export, report",
)

#: run tag: the digest of the inputs a scheduled run was started on (skillpath/run_inputs.py)
INPUTS_TAG = "skillpath/inputs_digest"


@dg.schedule(name="nightly_schedule", job=nightly_job, cron_schedule=settings().schedule_cron,
             execution_timezone=settings().schedule_timezone, default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    """The nightly run, skipped when nothing it reads changed since the warehouse now
    published was built (docs/operations.md "A night with nothing new")."""
    s = settings()
    digest = run_inputs.inputs_digest(s)
    last = run_inputs.unchanged_since_publication(s, digest)
    if last is not None:
        return dg.SkipReason(f"nothing new since run {last['run_id']}: the same landing files, run date, "
                             "settings and code; the published warehouse stands")
    return dg.RunRequest(tags={INPUTS_TAG: digest} if digest else {})


def landing_fingerprint() -> tuple[str, int]:
    """A digest of (path, size, mtime) of every landing file, and how many there are."""
    return run_inputs.landing_fingerprint(settings().landing_dir)


@dg.sensor(job=nightly_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_files_sensor(context: dg.SensorEvaluationContext):
    """Start a run when files in the landing zone are added or changed (queued: one run at a time)."""
    digest, n = landing_fingerprint()
    if n == 0 or digest == context.cursor:
        return dg.SkipReason("no new landing files")
    context.update_cursor(digest)
    inputs = run_inputs.inputs_digest(settings())
    tags = {"skillpath/trigger": "landing_files", "files": str(n), **({INPUTS_TAG: inputs} if inputs else {})}
    return dg.RunRequest(run_key=digest, tags=tags)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[nightly_job],
                      name="record_published_inputs", default_status=dg.DefaultSensorStatus.RUNNING)
def record_published_inputs(context: dg.RunStatusSensorContext):
    """After a scheduled or sensor-started run: if it published, the inputs it was started
    on, so that a later night with nothing new is skipped (``skillpath run`` records its own)."""
    from skillpath.publish.duckdb_publish import published_run_id

    s = settings()
    run = context.dagster_run
    digest = run.tags.get(INPUTS_TAG)
    if digest and published_run_id(s.warehouse_db) == run.run_id:
        run_inputs.record(s, digest, run.run_id)


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
sensors = [landing_files_sensor, record_published_inputs, alert_on_failure]
jobs = [nightly_job]
