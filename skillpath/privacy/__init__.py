"""Personal data: erasure of one person everywhere, and retention of raw records (docs/privacy.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: a file in the home: raw rows were deleted (erasure, retention), so the next dbt build is a
#: --full-refresh (incremental models would keep the rows otherwise); removed after that build
REBUILD_MARKER = ".rebuild_required"
#: a file in the home while ``skillpath erase`` works, holding its process id: a pipeline run
#: started by anyone else (the Dagster daemon's schedule or sensor) stops before it reads anything
ERASING_MARKER = ".erasing"
#: the tag of the runs ``skillpath run`` starts in its own process (they hold the home's run lock,
#: so an erasure holding that lock knows they are over, also when one crashed in state STARTED)
CLI_RUN_TAG = "skillpath/cli_run"


def erasing_elsewhere(home: Path) -> int | None:
    """The process id of another live process erasing in ``home``, else None."""
    try:
        pid = int((Path(home) / ERASING_MARKER).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left behind by an erasure that was killed
    except PermissionError:
        pass
    return pid


@contextmanager
def erasing(home: Path) -> Iterator[None]:
    """Mark ``home`` as being erased by this process for the duration of the block."""
    marker = Path(home) / ERASING_MARKER
    marker.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)
