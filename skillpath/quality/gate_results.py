"""The gate's Great Expectations results travel as asset-check metadata, and are read back
from the Dagster instance (no side file).

The ``gx_gate`` check (``skillpath/defs/gate.py``) attaches each suite's result (a
``SuiteResult`` as JSON) to its check evaluation under :data:`SUITE_RESULT`. The
report of a run reads the evaluations of that run; ``skillpath report`` reads those of
the run that published the current warehouse (``meta.publication.run_id``), so the
report and the warehouse it describes always come from the same run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

SUITE_RESULT = "suite_result"


def suite_result_metadata(result) -> dict[str, dg.MetadataValue]:
    """Metadata entry holding one suite's result (a ``SuiteResult``)."""
    # observed values may be dates or decimals: stored as their JSON text, as the side file did
    return {SUITE_RESULT: dg.MetadataValue.json(json.loads(json.dumps(dataclasses.asdict(result), default=str)))}


def gate_results_of_run(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """The suite results the gate reported in run ``run_id``, by suite name (empty: no gate ran)."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        value = (evaluation.metadata or {}).get(SUITE_RESULT)
        if value is not None:
            out.append(value.value)
    return sorted(out, key=lambda r: r["suite"])


def last_run_id(instance: dg.DagsterInstance, job_name: str = "nightly") -> str | None:
    """The newest run of ``job_name`` in ``instance`` (whatever its outcome)."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
    return runs[0].run_id if runs else None


def gate_results(dagster_home: Path, run_id: str | None) -> list[dict] | None:
    """The suite results of ``run_id`` from the Dagster instance in ``dagster_home`` (None if unknown)."""
    if not run_id or not (Path(dagster_home) / "dagster.yaml").exists():
        return None
    with open_instance(dagster_home) as instance:
        return gate_results_of_run(instance, run_id) or None


@contextmanager
def open_instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of ``dagster_home`` (its dagster.yaml reads ``DAGSTER_HOME``)."""
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            yield instance
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved
