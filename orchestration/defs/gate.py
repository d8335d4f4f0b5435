"""The quality gate: Great Expectations suites (expectations/) as blocking asset checks on the marts.

dbt tests run inside ``dbt build`` (a failing one fails that step); the ingestion
reconciliation is a blocking check on ``raw_ingest_summary`` (defs/ingest.py).
Here every mart gets a blocking ``gx_suite`` check, so a failed expectation stops
publication in the same run.
"""


import dagster as dg

from orchestration.config import settings
from orchestration.defs.transform import mart_keys

CHECK_NAME = "gx_suite"


def _specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name=CHECK_NAME, asset=key, blocking=True,
                          description=f"Great Expectations suite expectations/{key.path[-1]}")
        for key in mart_keys()
    ]


@dg.multi_asset_check(specs=_specs(), can_subset=False, name="gx_gate")
def gx_gate(context: dg.AssetCheckExecutionContext):
    """Run every suite once against the freshly built marts (build.duckdb, read-only)."""
    from orchestration.faults import pause_point
    from orchestration.quality.gx_suites import run_suites
    from orchestration.quality.results_file import save_gate_results

    pause_point("gate")
    s = settings()
    previous = s.warehouse_db if s.warehouse_db.exists() else None
    suite_results = run_suites(s.build_db, previous, as_of=s.as_of_date, suites_dir=s.expectations_dir)
    save_gate_results(suite_results)
    results = {r.suite: r for r in suite_results}
    for key in mart_keys():
        name = key.path[-1]
        res = results.get(name)
        if res is None:
            yield dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=False,
                                      description=f"no Great Expectations suite for {name} in expectations/")
            continue
        failed = [e for e in res.expectations if not e.success]
        lines = [e.line for e in res.expectations]
        if failed:
            context.log.error(f"{name}: " + "; ".join(e.line for e in failed))
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_NAME,
            passed=bool(res.success),
            metadata={
                "expectations": len(res.expectations),
                "failed": len(failed),
                "results": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines) or "none"),
            },
            description=("all expectations met" if not failed
                         else "failed: " + "; ".join(e.line for e in failed))[:2000],
        )


asset_checks = [gx_gate]
