"""``skillpath run`` that stops at a chosen stage, for the crash tests (tests/integration/test_kill.py).

    python -m tests.support.paused_run STAGE [skillpath arguments...]

Before the run starts, one function of the stage is wrapped (the production modules
know nothing of this): on reaching the stage the run writes
``$SKILLPATH_HOME/.paused-<stage>`` and sleeps, so that the test can ``kill -9`` the
process group at a known place.

- ``ingest``: after the first landing file is loaded, before the others;
- ``dbt``: after the first event of ``dbt build`` (the build half-way through);
- ``gate``: before the Great Expectations suites run;
- ``publish``: the new warehouse version written, not yet swapped in.
"""

from __future__ import annotations

import functools
import os
import sys
import time

STAGES = ("ingest", "dbt", "gate", "publish")


def _pause(stage: str) -> None:
    from skillpath.config import settings

    (settings().home / f".paused-{stage}").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("SKILLPATH_PAUSE_SECONDS", "600")))


def _after(module, name: str, stage: str) -> None:
    """Pause once the wrapped function has returned (the first time it is called)."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        _pause(stage)
        return result

    setattr(module, name, wrapper)


def install(stage: str) -> None:
    if stage == "ingest":
        from skillpath.ingest import landing

        _after(landing, "load_file_once", stage)
    elif stage == "dbt":
        from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

        original = DbtCliInvocation.stream

        def stream(self, *args, **kwargs):
            for n, event in enumerate(original(self, *args, **kwargs)):
                yield event
                if n == 0:
                    _pause(stage)

        DbtCliInvocation.stream = stream
    elif stage == "gate":
        from skillpath.quality import gx_suites

        original = gx_suites.run_suites

        def run_suites(*args, **kwargs):
            _pause(stage)
            return original(*args, **kwargs)

        gx_suites.run_suites = run_suites
    elif stage == "publish":
        from skillpath.publish import duckdb_publish

        _after(duckdb_publish, "_write_version", stage)
    else:
        raise SystemExit(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")


if __name__ == "__main__":
    install(sys.argv[1])
    from skillpath.cli import main

    sys.exit(main(sys.argv[2:] or ["run"]))
