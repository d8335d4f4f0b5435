"""Production settings against a real PostgreSQL server: the documented Dagster instance
(deploy/dagster.postgres.yaml) and publication to PostgreSQL from a pipeline run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dagster as dg
import duckdb
import psycopg
import pytest

from skillpath.transform import REPO_ROOT
from tests.integration.pipeline_support import mart_tables, run
from tests.support_pg import PgServer, start_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


def _create_db(pg: PgServer, name: str) -> str:
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(f'create database "{name}"')
    return pg.url(name)


def test_production_dagster_instance_keeps_runs_in_postgres(pg, tmp_path, monkeypatch):
    _create_db(pg, "dagster")
    for key, value in {"DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_PORT": str(pg.port),
                       "DAGSTER_PG_USERNAME": pg.superuser, "DAGSTER_PG_PASSWORD": pg.password,
                       "DAGSTER_PG_DB": "dagster"}.items():
        monkeypatch.setenv(key, value)
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")

    @dg.asset
    def probe() -> int:
        return 1

    job = dg.Definitions(assets=[probe]).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        result = job.execute_in_process(instance=instance)
        assert result.success
    with psycopg.connect(pg.url("dagster")) as con:
        run_ids = [r[0] for r in con.execute("select run_id from runs").fetchall()]
    assert run_ids == [result.run_id]


def test_a_run_publishes_the_marts_to_postgres(pg, published_home, tmp_path):
    url = _create_db(pg, "warehouse")
    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    proc = run(home, SKILLPATH_POSTGRES_URL=url)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    marts = mart_tables(home / "warehouse.duckdb")
    with psycopg.connect(url) as con:
        published = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'skillpath'").fetchall()}
        pg_rows = con.execute("select count(*) from skillpath.fct_attempts").fetchone()[0]
    duck = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    duck_rows = duck.execute("select count(*) from marts.fct_attempts").fetchone()[0]
    duck.close()
    assert set(marts) <= published and "learner_directory" in published
    assert pg_rows == duck_rows > 0


def test_erasure_scrubs_the_dagster_event_log_in_postgres(pg, tmp_path, monkeypatch):
    """docs/privacy.md: with Dagster's storage in PostgreSQL, an erased person's identifiers
    leave its event log too (a SQLite instance under the home is scrubbed as a file)."""
    from skillpath.privacy.erasure import scrub_dagster_postgres

    _create_db(pg, "dagster_erasure")
    for key, value in {"DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_PORT": str(pg.port),
                       "DAGSTER_PG_USERNAME": pg.superuser, "DAGSTER_PG_PASSWORD": pg.password,
                       "DAGSTER_PG_DB": "dagster_erasure"}.items():
        monkeypatch.setenv(key, value)
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")

    @dg.asset
    def noisy(context) -> int:
        context.log.info("quarantined a statement of ada.gone@example.org (u-erased-7)")
        context.log.info("loaded a statement of bob.kept@example.org")
        return 1

    job = dg.Definitions(assets=[noisy]).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert job.execute_in_process(instance=instance).success

    def count(text: str) -> int:
        with psycopg.connect(pg.url("dagster_erasure")) as con:
            return con.execute("select count(*) from event_logs where strpos(event, %s) > 0", [text]).fetchone()[0]

    assert count("ada.gone@example.org") == 1 and count("u-erased-7") == 1
    assert scrub_dagster_postgres(tmp_path, ["ada.gone@example.org", "u-erased-7"]) >= 1
    assert (count("ada.gone@example.org"), count("u-erased-7"), count("bob.kept@example.org")) == (0, 0, 1)
    assert count("[erased]") == 1
