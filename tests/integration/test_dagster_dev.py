"""`dagster dev` on the project shows every asset, the gate checks, the schedule and the sensors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from skillpath.transform import REPO_ROOT
from tests.integration.pipeline_support import pipeline_env

pytestmark = pytest.mark.integration

QUERY = """
{
  assetNodes { assetKey { path } hasAssetChecks }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { name schedules { name cronSchedule scheduleState { status } }
              sensors { name sensorState { status } } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(tmp_path: Path):
    port = _free_port()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = pipeline_env(tmp_path / "home", DAGSTER_HOME=str(dagster_home))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.time() + 240
        while True:
            assert proc.poll() is None, "dagster dev exited"
            try:
                data = requests.post(url, json={"query": QUERY}, timeout=10).json()["data"]
                if data["assetNodes"] and data["repositoriesOrError"].get("nodes"):
                    break
            except (requests.RequestException, KeyError, TypeError):
                pass
            assert time.time() < deadline, "dagster dev did not answer"
            time.sleep(2)
        yield data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_dagster_dev_shows_assets_checks_schedule_and_sensors(dagster_dev):
    keys = {"/".join(n["assetKey"]["path"]) for n in dagster_dev["assetNodes"]}
    for key in ("raw/xapi_statements", "raw/load_manifest", "staging/stg_xapi__statements",
                "marts/fct_attempts", "marts/mart_group_league", "marts/fct_credential_transitions",
                "marts/mart_learner_flow", "warehouse", "postgres_warehouse", "csv_exports", "html_report"):
        assert key in keys, key
    with_checks = {"/".join(n["assetKey"]["path"]) for n in dagster_dev["assetNodes"] if n["hasAssetChecks"]}
    assert {"marts/fct_attempts", "raw/load_manifest"} <= with_checks
    repo = dagster_dev["repositoriesOrError"]["nodes"][0]
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["nightly_schedule"]["cronSchedule"] == "0 2 * * *"
    assert schedules["nightly_schedule"]["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors == {"landing_files_sensor": "RUNNING", "record_published_inputs": "RUNNING",
                       "alert_on_failure": "RUNNING"}
