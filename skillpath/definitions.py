"""The Dagster code location: ``dagster dev`` (pyproject [tool.dagster]) loads ``defs``."""

from __future__ import annotations

import dagster as dg

from skillpath.defs import gate, ingest, publish, schedules, transform
from skillpath.defs.resources import resources

defs = dg.Definitions(
    assets=[*ingest.assets, *transform.assets, *publish.assets],
    asset_checks=[*ingest.asset_checks, *gate.asset_checks],
    jobs=schedules.jobs,
    schedules=schedules.schedules,
    sensors=schedules.sensors,
    resources=resources(),
)
