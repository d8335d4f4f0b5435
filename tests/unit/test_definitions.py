"""The Dagster code location: assets, blocking checks, the nightly job, schedule and sensor."""

from __future__ import annotations

import importlib

import dagster as dg
import pytest

REQUIRED_ASSETS = {
    "raw/lms_users", "raw/lms_exercises", "raw/credential_awards", "raw/collections", "raw/xapi_statements",
    "raw/credential_events", "raw/load_manifest", "raw/quarantine",
    "marts/fct_attempts", "marts/mart_exercise_summary", "marts/mart_chapter_mastery",
    "marts/mart_learner_course_progress", "marts/mart_group_league", "marts/mart_course_overview",
    "marts/dim_learners", "marts/dim_groups", "marts/dim_courses", "marts/dim_chapters", "marts/dim_exercises",
    "marts/dim_credentials", "marts/dim_collections", "marts/fct_credential_awards",
    "marts/fct_credential_transitions", "marts/mart_learner_flow", "marts/mart_pathway_progress",
    "marts/fct_credential_events", "marts/mart_credential_engagement", "marts/mart_credential_verification",
    "marts/mart_issuance_trends", "marts/mart_recipient_credentials",
    "warehouse", "postgres_warehouse", "csv_exports", "html_report", "reference/xapi_verbs",
}


@pytest.fixture(scope="module")
def defs():
    from skillpath.transform import ensure_manifest

    ensure_manifest(force=True)
    import skillpath.definitions
    import skillpath.defs.gate
    import skillpath.defs.publish
    import skillpath.defs.transform

    for mod in (skillpath.defs.transform, skillpath.defs.gate, skillpath.defs.publish,
                skillpath.definitions):
        importlib.reload(mod)
    return skillpath.definitions.defs


def test_every_asset_of_the_design_is_defined(defs):
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    missing = REQUIRED_ASSETS - keys
    assert not missing, f"missing assets: {sorted(missing)}"


def test_every_mart_has_a_blocking_gx_check_and_publication_waits_for_it(defs):
    graph = defs.resolve_asset_graph()
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    gx = {}
    for key in graph.asset_check_keys:
        if key.name == "gx_suite":
            gx[key.asset_key] = graph.get_check_spec(key)
    assert set(gx) == marts
    assert all(spec.blocking for spec in gx.values())
    recon = dg.AssetCheckKey(dg.AssetKey(["raw", "load_manifest"]), "ingestion_reconciled")
    assert graph.get_check_spec(recon).blocking
    warehouse_parents = graph.get(dg.AssetKey("warehouse")).parent_keys
    assert marts <= set(warehouse_parents)


def test_dbt_sources_hang_off_the_ingest_assets(defs):
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["staging", "stg_xapi__statements"])).parent_keys
    assert dg.AssetKey(["raw", "xapi_statements"]) in parents


def test_the_dbt_resource_starts_without_a_dbt_subprocess_or_an_in_process_adapter(defs, monkeypatch):
    import importlib.metadata

    import dagster_dbt.core.resource as dbt_core_resource

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"dagster-dbt ran {args}")

    monkeypatch.setattr(dbt_core_resource, "check_output", no_subprocess)
    from skillpath.defs.resources import SkillpathDbtCliResource, dbt_resource

    dbt = dbt_resource()
    assert isinstance(dbt, SkillpathDbtCliResource)
    assert str(dbt._cli_version) == importlib.metadata.version("dbt-core")
    assert dbt._initialize_dbt_core_adapter(["build"]) is None
    # the job runs with this resource (not dagster-dbt's own)
    job = defs.resolve_job_def("nightly")
    assert job.resource_defs["dbt"].configurable_resource_cls.__name__ == "SkillpathDbtCliResource"


def test_nightly_schedule_and_sensor(defs, monkeypatch, tmp_path):
    sched = defs.resolve_schedule_def("nightly_schedule")
    assert sched.cron_schedule == "0 2 * * *" and sched.execution_timezone == "UTC"
    assert sched.job_name == "nightly"
    sensor = defs.resolve_sensor_def("landing_files_sensor")

    landing = tmp_path / "landing"
    monkeypatch.setenv("SKILLPATH_HOME", str(tmp_path))
    monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(landing))
    (landing / "xapi").mkdir(parents=True)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        assert isinstance(sensor(ctx), dg.SkipReason)  # empty landing zone: no run
        (landing / "xapi" / "a.ndjson").write_text("{}\n")
        first = sensor(ctx)
        assert isinstance(first, dg.RunRequest)
        ctx2 = dg.build_sensor_context(instance=instance, cursor=ctx.cursor)
        assert isinstance(sensor(ctx2), dg.SkipReason)  # nothing new since the cursor
        (landing / "xapi" / "b.ndjson").write_text("{}\n")
        ctx3 = dg.build_sensor_context(instance=instance, cursor=ctx.cursor)
        second = sensor(ctx3)
        assert isinstance(second, dg.RunRequest) and second.run_key != first.run_key


def test_schedule_cron_and_timezone_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SKILLPATH_SCHEDULE_CRON", "30 3 * * 1-5")
    monkeypatch.setenv("SKILLPATH_SCHEDULE_TIMEZONE", "Europe/Zurich")
    import skillpath.defs.schedules as schedules

    mod = importlib.reload(schedules)
    try:
        assert mod.nightly_schedule.cron_schedule == "30 3 * * 1-5"
        assert mod.nightly_schedule.execution_timezone == "Europe/Zurich"
    finally:
        monkeypatch.undo()
        importlib.reload(schedules)


def test_run_queue_allows_one_run_at_a_time(tmp_path, monkeypatch):
    import shutil

    from skillpath.transform import REPO_ROOT

    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the event log lives there (dagster.yaml)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        # one WAL-mode SQLite event log for all runs, not a file per run (docs/benchmarks.md)
        assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"
        assert (tmp_path / "event_log.db").exists()


def test_event_log_uses_one_engine_per_process_and_other_processes_read_it(tmp_path, monkeypatch):
    import os
    import shutil
    import subprocess
    import sys

    import skillpath.defs.dagster_storage as storage
    from skillpath.transform import REPO_ROOT

    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    engines = []
    real_create_engine = storage.create_engine
    monkeypatch.setattr(storage, "create_engine", lambda *a, **k: engines.append(a) or real_create_engine(*a, **k))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        for i in range(25):
            instance.report_runless_asset_event(dg.AssetMaterialization("pooled", metadata={"i": i}))
        latest = instance.get_latest_materialization_event(dg.AssetKey("pooled"))
        assert latest.asset_materialization.metadata["i"].value == 24
    assert len(engines) == 1  # the parent class made one engine per statement batch (~4 per event)
    # the file is Dagster's own: another process (e.g. the webserver) reads what this one wrote
    code = ("import dagster as dg, sys; i = dg.DagsterInstance.from_config(sys.argv[1]); "
            "print(len(i.fetch_materializations(dg.AssetKey('pooled'), limit=100).records))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, check=True)
    assert out.stdout.strip() == "25"


def test_ingest_steps_open_the_lake_with_the_configured_threads_and_memory_limit(home, monkeypatch):
    """DuckDB's default is 80 % of the machine's memory: ingestion must be held to the setting."""
    from skillpath.defs.resources import SkillpathResource

    lake = SkillpathResource().lake
    monkeypatch.setenv("SKILLPATH_THREADS", "1")
    monkeypatch.setenv("SKILLPATH_MEMORY_LIMIT", "1GiB")
    with lake() as con:
        threads, limit = con.execute(
            "select current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert (int(threads), limit) == (1, "1.0 GiB")
    monkeypatch.setenv("SKILLPATH_MEMORY_LIMIT", "512MiB")
    with lake() as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "512.0 MiB"


def test_the_skillpath_resource_points_every_raw_asset_at_its_home(tmp_path, monkeypatch):
    """SkillpathResource(home=...) overrides SKILLPATH_HOME for the assets that take it."""
    import dagster as dg

    from skillpath.defs import ingest
    from skillpath.defs.resources import SkillpathResource
    from skillpath.ingest.contract import connect_raw

    env_home, other = tmp_path / "env-home", tmp_path / "other"
    monkeypatch.setenv("SKILLPATH_HOME", str(env_home))
    monkeypatch.delenv("SKILLPATH_LANDING_DIR", raising=False)
    (other / "landing" / "lms").mkdir(parents=True)
    (other / "landing" / "lms" / "accounts.csv").write_text("account_id,account_name\na1,Acme\n")
    result = dg.materialize([ingest.raw_lms], resources={"skillpath": SkillpathResource(home=str(other))})
    assert result.success
    assert not env_home.exists()
    con = connect_raw(other / "lake.duckdb", read_only=True)
    try:
        assert con.execute("select account_id, account_name from raw.lms_accounts").fetchall() == [("a1", "Acme")]
    finally:
        con.close()
