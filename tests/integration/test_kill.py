"""kill -9 at every stage leaves the published warehouse as it was; the next run finishes clean.

Each case: a home with a published warehouse (first run on the sample data), a new
landing file arrives, a run is started and killed (SIGKILL to its whole process
group, dbt included) once it reaches the stage (tests/support/paused_run.py), the
published file is byte-identical, and a new run publishes marts equal to those of
an uninterrupted run on the same input.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.pipeline_support import pipeline_env, run, same_marts, sha256

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def baseline(published_home, tmp_path_factory) -> dict:
    """A published home (first run), the increment to add, and the marts of a clean second run."""
    from skillpath_dev.generate import generate_increment

    root = tmp_path_factory.mktemp("kill")
    base = published_home
    # the increment is generated against the published landing zone; only its new files are added
    scratch = root / "scratch"
    shutil.copytree(base / "landing", scratch)
    existing = {p for p in scratch.rglob("*") if p.is_file()}
    generate_increment(scratch, statements=300, seed=99, batch="late")
    increment = {p.relative_to(scratch): p for p in scratch.rglob("*") if p.is_file() and p not in existing}
    assert increment
    clean = root / "clean"
    shutil.copytree(base, clean)
    _add_increment(increment, clean)
    second = run(clean)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return {"base": base, "increment": increment, "clean": clean}


def _add_increment(increment: dict[Path, Path], home: Path) -> None:
    for rel, src in increment.items():
        (home / "landing" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, home / "landing" / rel)


@pytest.mark.parametrize("stage", ["ingest", "dbt", "gate", "publish"])
def test_kill_minus_nine_at_each_stage(baseline, tmp_path, stage):
    home = tmp_path / "home"
    shutil.copytree(baseline["base"], home)
    _add_increment(baseline["increment"], home)
    published = home / "warehouse.duckdb"
    before = sha256(published)

    proc = subprocess.Popen([sys.executable, "-m", "tests.support.paused_run", stage, "run"],
                            env=pipeline_env(home), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = home / f".paused-{stage}"
    deadline = time.time() + 600
    while not marker.exists():
        assert proc.poll() is None, f"run ended (rc={proc.returncode}) before reaching stage {stage}"
        assert time.time() < deadline, f"stage {stage} not reached"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    marker.unlink()

    assert sha256(published) == before, "the published warehouse changed after a crash"
    again = run(home)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert same_marts(published, baseline["clean"] / "warehouse.duckdb") == []
