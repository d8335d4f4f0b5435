"""The last gate's Great Expectations results, kept beside the warehouse for the report."""

from __future__ import annotations

import dataclasses
import json

from skillpath.config import settings


def save_gate_results(results) -> None:
    """Write this run's suite results (SuiteResult objects) to ``$SKILLPATH_HOME/gate_results.json``."""
    rows = [dataclasses.asdict(r) for r in results]
    settings().gate_results.write_text(json.dumps(rows, default=str, indent=1))


def load_gate_results() -> list[dict] | None:
    path = settings().gate_results
    return json.loads(path.read_text()) if path.exists() else None
