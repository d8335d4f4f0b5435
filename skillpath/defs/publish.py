"""Publication: the atomic DuckDB warehouse, PostgreSQL for BI, CSV exports, the HTML report."""


import dataclasses

import dagster as dg

from skillpath.defs.resources import SkillpathResource
from skillpath.defs.transform import mart_keys

GROUP = "publish"


def _jsonable(obj) -> dict:
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    out = {}
    for k, v in dict(obj or {}).items():
        if isinstance(v, int | float | bool | str) or v is None:
            out[k] = v
        else:
            out[k] = dg.MetadataValue.json(v) if isinstance(v, dict | list) else str(v)
    return out


# publication waits for every mart (and their blocking GX checks) and for the blocking
# ingestion reconciliation check on raw/load_manifest
@dg.asset(group_name=GROUP, deps=[*mart_keys(), dg.AssetKey(["raw", "load_manifest"])],
          description="warehouse.duckdb: marts only, written to a new file and renamed into place")
def warehouse(context: dg.AssetExecutionContext, skillpath: SkillpathResource) -> dg.MaterializeResult:
    from skillpath.privacy.withdrawal import withdraw_from_kept_versions
    from skillpath.publish.duckdb_publish import publish_duckdb

    s = skillpath.settings()
    result = publish_duckdb(s.build_db, s.home, keep_versions=s.keep_versions, run_id=context.run_id)
    context.log.info(f"published {s.warehouse_db}")
    # the rollback copies lose the detail of recipients whose consent no longer holds
    withdrawn = withdraw_from_kept_versions(s.home, s.build_db, s)
    for version_id, rows in withdrawn.items():
        context.log.info(f"kept version {version_id}: consent withdrawn, rows removed or blanked {rows}")
    return dg.MaterializeResult(metadata={**_jsonable(result), "kept_versions_withdrawn": len(withdrawn)})


@dg.asset(group_name=GROUP, deps=[warehouse],
          description="The marts in PostgreSQL (schema swapped in one transaction), per-account RLS")
def postgres_warehouse(context: dg.AssetExecutionContext, skillpath: SkillpathResource) -> dg.MaterializeResult:
    s = skillpath.settings()
    if not s.postgres_url:
        context.log.info("SKILLPATH_POSTGRES_URL not set: PostgreSQL publication skipped")
        return dg.MaterializeResult(metadata={"skipped": True})
    from skillpath.publish.postgres import publish_postgres

    return dg.MaterializeResult(metadata=_jsonable(publish_postgres(s.build_db, s.postgres_url, run_id=context.run_id)))


@dg.asset(group_name=GROUP, deps=[warehouse],
          description="Nightly CSV exports of the league tables and the course overview")
def csv_exports(context: dg.AssetExecutionContext, skillpath: SkillpathResource) -> dg.MaterializeResult:
    from skillpath.publish.exports import export_nightly

    s = skillpath.settings()
    paths = export_nightly(s.warehouse_db, s.exports_dir)
    return dg.MaterializeResult(metadata={"files": dg.MetadataValue.json([str(p) for p in paths])})


@dg.asset(group_name=GROUP, deps=[warehouse],
          description="Self-contained HTML report (report.html next to the warehouse)")
def html_report(context: dg.AssetExecutionContext, skillpath: SkillpathResource) -> dg.MaterializeResult:
    from skillpath.quality.gate_results import gate_results_of_run
    from skillpath.report import build_report

    s = skillpath.settings()
    out = s.home / "report.html"
    build_report(s.warehouse_db, out, gate_summary=gate_results_of_run(context.instance, context.run_id) or None)
    return dg.MaterializeResult(metadata={"path": str(out)})


assets = [warehouse, postgres_warehouse, csv_exports, html_report]
