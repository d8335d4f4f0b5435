"""Fault-injection points for the crash tests (``tests/integration/test_kill.py``).

When ``SKILLPATH_PAUSE_AT`` names a stage, the run writes
``$SKILLPATH_HOME/.paused-<stage>`` on reaching that point and sleeps, so a test
can ``kill -9`` the process group at a known place. Unset (always, in
production) this is a no-op.
"""

from __future__ import annotations

import os
import time

from orchestration.config import settings

STAGES = ("ingest", "dbt", "gate", "publish")


def pause_point(stage: str) -> None:
    if os.environ.get("SKILLPATH_PAUSE_AT") != stage:
        return
    marker = settings().home / f".paused-{stage}"
    marker.write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("SKILLPATH_PAUSE_SECONDS", "600")))
