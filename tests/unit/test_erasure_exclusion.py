"""An erasure and pipeline runs never overlap (docs/privacy.md, "While it works"): ``skillpath
erase`` holds the run lock, waits for the runs the Dagster daemon started, and marks the home so
that a run started meanwhile (a schedule or the landing sensor) stops before it touches the raw
layer; the erasure's own rebuild (in its process) and stale markers do not stop."""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from skillpath.cli import UserError, wait_for_daemon_runs
from skillpath.config import REPO_ROOT
from skillpath.defs.resources import SkillpathResource
from skillpath.privacy import CLI_RUN_TAG, ERASING_MARKER, erasing, erasing_elsewhere


def test_a_run_stops_while_another_process_erases(tmp_path) -> None:
    resource = SkillpathResource(home=str(tmp_path))
    eraser = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / ERASING_MARKER).write_text(f"{eraser.pid}\n")
        assert erasing_elsewhere(tmp_path) == eraser.pid
        with pytest.raises(dg.Failure, match="skillpath erase"), resource.lake():
            pass
        assert not (tmp_path / "lake.duckdb").exists()  # stopped before opening the raw layer
    finally:
        eraser.kill()
        eraser.wait()
    # the eraser is gone (killed): its marker stops nothing
    assert erasing_elsewhere(tmp_path) is None
    with resource.lake() as con:
        assert con.execute("select 1").fetchone() == (1,)


def test_the_erasures_own_rebuild_runs(tmp_path) -> None:
    with erasing(tmp_path):
        assert (tmp_path / ERASING_MARKER).exists()
        with SkillpathResource(home=str(tmp_path)).lake() as con:
            assert con.execute("select 1").fetchone() == (1,)
    assert not (tmp_path / ERASING_MARKER).exists()


def _run(instance, status: dg.DagsterRunStatus, tags: dict | None = None) -> DagsterRun:
    run = DagsterRun(job_name="nightly", run_id=str(uuid.uuid4()), status=status, tags=tags or {})
    instance.add_run(run)
    return run


def test_erase_waits_for_the_daemons_runs_and_not_for_finished_or_cli_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        _run(instance, dg.DagsterRunStatus.SUCCESS)
        _run(instance, dg.DagsterRunStatus.FAILURE)
        _run(instance, dg.DagsterRunStatus.STARTED, {CLI_RUN_TAG: "1"})  # a crashed `skillpath run`
        wait_for_daemon_runs(timeout=0, poll=0.01)  # nothing to wait for
        daemon = _run(instance, dg.DagsterRunStatus.STARTED)
        with pytest.raises(UserError, match=daemon.run_id):
            wait_for_daemon_runs(timeout=0.2, poll=0.05)
        # the daemon's run ends while the erasure waits: the wait returns
        timer = threading.Timer(0.3, lambda: instance.report_run_failed(daemon))
        timer.start()
        try:
            wait_for_daemon_runs(timeout=30, poll=0.05)
        finally:
            timer.join()
        assert instance.get_run_by_id(daemon.run_id).status == dg.DagsterRunStatus.FAILURE
