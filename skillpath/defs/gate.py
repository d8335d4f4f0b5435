"""The quality gate: Great Expectations suites (expectations/) as blocking asset checks on the marts.

dbt tests run inside ``dbt build`` (a failing error-severity one fails that step;
a warn-severity one is a WARN check result); the ingestion reconciliation is a
blocking check on ``raw_ingest_summary`` (defs/ingest.py). Here every mart gets a
blocking ``gx_suite`` check: a failed critical expectation is an ERROR result and
stops publication in the same run; when only warning expectations fail (freshness,
an empty mart whose sources never delivered) the result is failed with severity
WARN, which Dagster does not block on, and the warehouse is published.
"""


import dagster as dg

from skillpath.defs.resources import SkillpathResource
from skillpath.defs.transform import mart_keys

CHECK_NAME = "gx_suite"


def _specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name=CHECK_NAME, asset=key, blocking=True,
                          description=f"Great Expectations suite expectations/{key.path[-1]}")
        for key in mart_keys()
    ]


@dg.multi_asset_check(specs=_specs(), can_subset=False, name="gx_gate")
def gx_gate(context: dg.AssetCheckExecutionContext, skillpath: SkillpathResource):
    """Run every suite once against the freshly built marts (build.duckdb, read-only)."""
    from skillpath.quality.gate_results import suite_result_metadata
    from skillpath.quality.gx_suites import run_suites

    s = skillpath.settings()
    previous = s.warehouse_db if s.warehouse_db.exists() else None
    suite_results = run_suites(s.build_db, previous, as_of=s.as_of_date, suites_dir=s.expectations_dir,
                               raw_db=s.raw_db, freshness_days=s.freshness_days, max_row_drop=s.max_row_drop)
    results = {r.suite: r for r in suite_results}
    for key in mart_keys():
        name = key.path[-1]
        res = results.get(name)
        if res is None:
            yield dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=False,
                                      description=f"no Great Expectations suite for {name} in expectations/")
            continue
        blocking, warnings = res.blocking_failures, res.warnings
        lines = [e.line for e in res.expectations]
        if blocking:
            context.log.error(f"{name}: " + "; ".join(e.line for e in blocking))
        if warnings:
            context.log.warning(f"{name}: " + "; ".join(e.line for e in warnings))
        if blocking:
            description = "failed: " + "; ".join(e.line for e in blocking)
            if warnings:
                description += "; warnings: " + "; ".join(e.line for e in warnings)
        elif warnings:
            description = "; ".join(e.line for e in warnings)
        else:
            description = "all expectations met"
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_NAME,
            # a warning fails the check with WARN severity: shown in the UI, not blocking
            passed=not blocking and not warnings,
            severity=dg.AssetCheckSeverity.ERROR if blocking or not warnings else dg.AssetCheckSeverity.WARN,
            metadata={
                "expectations": len(res.expectations),
                "failed": len(blocking),
                "warnings": len(warnings),
                **({"rows": res.row_count} if res.row_count is not None else {}),
                "sources_delivered": "unknown" if res.delivered is None else ("yes" if res.delivered else "no"),
                "results": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines) or "none"),
                **suite_result_metadata(res),  # read back by the report (skillpath/quality/gate_results.py)
            },
            description=description[:2000],
        )


asset_checks = [gx_gate]
