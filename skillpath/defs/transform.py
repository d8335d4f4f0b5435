"""dbt models, seeds and tests as Dagster assets and asset checks (``dbt build``, streamed)."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from skillpath.defs.resources import SkillpathResource
from skillpath.privacy import REBUILD_MARKER
from skillpath.transform import dbt_env, dbt_project, ensure_manifest


class SkillpathTranslator(DagsterDbtTranslator):
    """Keys and groups follow the dbt folders: ``marts/fct_attempts`` in group ``marts_learning``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        rtype = dbt_resource_props["resource_type"]
        if rtype == "source":
            return super().get_asset_key(dbt_resource_props)
        if rtype == "seed":
            return dg.AssetKey(["reference", dbt_resource_props["name"]])
        fqn = dbt_resource_props["fqn"]
        layer = fqn[1] if len(fqn) > 2 else "models"
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props["fqn"]
        return "_".join(fqn[1:-1]) or "models"


TRANSLATOR = SkillpathTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
)
def skillpath_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig,
                  skillpath: SkillpathResource):
    """``dbt build``: seeds, models and their tests; a failing test fails the step (nothing downstream runs)."""
    from skillpath.quality.gx_suites import preload

    s = skillpath.settings()
    preload()  # the gate's imports load while dbt works in its own process
    # dbt unit tests check the models' logic on fixed rows: they run in the test suite
    # (tests/integration), not in every production build
    args = ["build", "--exclude-resource-type", "unit_test"]
    # an erasure or the retention deleted raw rows: incremental models must forget them too
    marker = s.home / REBUILD_MARKER
    rebuild = marker.exists()
    dbt_vars: dict = {}
    if s.engine == "spark":
        # Spark rebuilds incremental models in full (Parquet tables have no DELETE;
        # dbt_project/macros/spark_engine.sql), the recipient hash cache included
        args.append("--full-refresh")
        dbt_vars["rehash_recipients"] = True
    elif config.full_refresh or rebuild:
        args.append("--full-refresh")
    if s.as_of_date:
        dbt_vars["as_of_date"] = s.as_of_date.isoformat()
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    # dagster-dbt hands dbt this process's environment and takes no other: the build's
    # variables (absolute home, resolved key, limits) are set for the build and restored after it
    target_path = s.home / "dbt_target"
    if s.engine == "spark":
        import shutil

        # the build's export is what publication reads: none is left from an earlier build
        shutil.rmtree(s.spark_export_dir, ignore_errors=True)
    with dbt_env(s):
        yield from dbt.cli(args, context=context, target_path=target_path).stream()
    if s.engine == "spark":
        from skillpath.transform.spark_marts import load_spark_exports

        # the gate and publication read build.duckdb whatever the engine
        counts = load_spark_exports(s, target_path / "manifest.json")
        context.log.info(f"Spark marts loaded into {s.build_db}: {len(counts)} relations")
    if rebuild:
        marker.unlink(missing_ok=True)


def mart_keys() -> list[dg.AssetKey]:
    """Asset keys of every model in the marts folder (what publication reads)."""
    return [k for k in skillpath_dbt.keys if k.path[0] == "marts"]


assets = [skillpath_dbt]
