"""One published demo home per test session, shared (read-only) by the integration tests
and by the pytest-xdist workers.

Tests that change a home copy it first (``shutil.copytree``); a pipeline run costs a
minute or more on a small machine, so it is made once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline_support import generate, run


@pytest.fixture(scope="session")
def published_home(tmp_path_factory, worker_id) -> Path:
    """Built once per test session, also under pytest-xdist: the first worker that needs it
    builds it under a lock in the session's shared temporary directory, the others wait
    and reuse it."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base  # the directory all workers share
    home = root / "published-shared" / "home"
    done = root / "published-shared.ok"
    with FileLock(str(root / "published-shared.lock")):
        if not done.exists():
            summary = generate(home, statements=4000)
            proc = run(home)
            assert proc.returncode == 0, f"skillpath run failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
            assert (home / "warehouse.duckdb").exists()
            (home / "run_stdout.txt").write_text(proc.stdout)
            (home / "generate_summary.txt").write_text(repr(summary))
            done.touch()
    return home
