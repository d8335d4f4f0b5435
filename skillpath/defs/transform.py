"""dbt models, seeds and tests as Dagster assets and asset checks (``dbt build``, streamed)."""


import datetime as dt
import json
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from skillpath.defs.resources import SkillpathResource
from skillpath.privacy import REBUILD_MARKER
from skillpath.transform import build_plan, dbt_env, dbt_project, ensure_manifest, manifest_fingerprint


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
    # only what new input or a new run date touches (skillpath/transform/build_plan.py)
    manifest = json.loads(dbt_project.manifest_path.read_text())
    reading, plan = _plan(context, s, manifest, dbt_vars,
                          full=s.engine == "spark" or config.full_refresh or rebuild)
    context.log.info(f"dbt build plan: {'everything' if plan.full else f'{len(plan.nodes)} nodes'} ({plan.reason})")
    if not plan.full and not plan.nothing:
        args += ["--exclude", " ".join(plan.excludes(manifest))]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    # dagster-dbt hands dbt this process's environment and takes no other: the build's
    # variables (absolute home, resolved key, limits) are set for the build and restored after it
    target_path = s.home / "dbt_target"
    if s.engine == "spark":
        import shutil

        # the build's export is what publication reads: none is left from an earlier build
        shutil.rmtree(s.spark_export_dir, ignore_errors=True)
    built: set[str] = set()
    checks: dict[str, dict] = {}
    previous = build_plan.load_state(s.home) if not plan.full else None
    # what this build does not rebuild: its table is the one the last build left (yielded first:
    # nothing rebuilt lies upstream of it, and a multi-asset yields in topological order)
    yield from _unchanged_outputs(context, manifest, plan, built, previous)
    if not plan.nothing:
        preload()  # the gate's imports load while dbt works in its own process
        with dbt_env(s):
            for event in dbt.cli(args, context=context, target_path=target_path).stream():
                if isinstance(event, dg.Output):
                    built.add(event.output_name)
                elif isinstance(event, dg.AssetCheckResult):
                    checks[_check_id(event)] = _recorded(event, context.run_id)
                yield event
    # the tests not run this time: their last results stand
    yield from _unchanged_checks(context, checks, previous, plan)
    if reading is None:
        build_plan.forget_state(s.home)  # a subset was built: the next build builds everything
    else:
        build_plan.save_state(s.home, reading, {**((previous or {}).get("checks") or {}), **checks}, context.run_id)
    if s.engine == "spark":
        from skillpath.transform.spark_marts import load_spark_exports

        # the gate and publication read build.duckdb whatever the engine
        counts = load_spark_exports(s, target_path / "manifest.json")
        context.log.info(f"Spark marts loaded into {s.build_db}: {len(counts)} relations")
    if rebuild:
        marker.unlink(missing_ok=True)


def _plan(context: dg.AssetExecutionContext, s, manifest: dict, dbt_vars: dict, *,
          full: bool) -> tuple[dict | None, build_plan.BuildPlan]:
    """(what this build reads, the build it needs); docs/benchmarks.md "What a night rebuilds".

    A subset of the dbt assets (a Dagster selection) is built as asked, and leaves no state
    (None): the models it leaves out were not brought up to date."""
    as_of = s.as_of_date or dt.date.today()
    with duckdb_ro(s.raw_db) as con:
        sources = build_plan.source_fingerprints(con, build_plan.source_tables(manifest)) if con else {}
    reading = {"project": manifest_fingerprint(), "settings": build_plan.settings_digest(s.dbt_env(), dbt_vars),
               "as_of_date": as_of.isoformat(), "sources": sources}
    every_output = {context.assets_def.get_output_name_for_asset_key(k) for k in context.assets_def.keys}
    if set(context.selected_output_names) < every_output:
        return None, build_plan.BuildPlan(True, "a subset of the dbt assets was asked for")
    force = ("a full refresh (Spark, --full-refresh, or raw rows deleted)" if full
             else "no build.duckdb yet" if not s.build_db.exists() else None)
    return reading, build_plan.plan_build(manifest, build_plan.load_state(s.home), reading, force_full=force)


@contextmanager
def duckdb_ro(path):
    """A read-only connection to ``path`` (None when the file does not exist), closed after."""
    from skillpath.config import connect_duckdb

    if not path.exists():
        yield None
        return
    con = connect_duckdb(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def _check_id(event: dg.AssetCheckResult) -> str:
    """The key a dbt test's result is kept under: its Dagster check key (asset and check name)."""
    return f"{event.asset_key.to_user_string()}:{event.check_name}"


def _recorded(event: dg.AssetCheckResult, run_id: str) -> dict:
    """A dbt test's check result as the build state keeps it."""
    meta = {k: v.value if isinstance(v, dg.MetadataValue) else v for k, v in (event.metadata or {}).items()}
    return {"asset": event.asset_key.path, "check": event.check_name, "passed": event.passed,
            "severity": event.severity.value, "description": event.description, "run_id": run_id,
            "metadata": {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool) or v is None}}


def _unchanged_outputs(context: dg.AssetExecutionContext, manifest: dict, plan: build_plan.BuildPlan,
                       built: set[str], previous: dict | None):
    """Outputs, in topological order, for the models and seeds this build leaves as they are, so
    the gate and publication run on the tables build.duckdb holds; their names go into ``built``."""
    if plan.full:
        return
    since = (previous or {}).get("run_id") or ""
    for uid in build_plan.topological(manifest):
        node = manifest["nodes"][uid]
        if uid in plan.nodes or node["resource_type"] != "model":
            continue
        key = TRANSLATOR.get_asset_key(node)
        # only what the steps after this one read (the marts: gate and publication): every event
        # costs a write to Dagster's storage, and the staging and intermediate models keep their
        # last materialization in Dagster, which is what they hold
        if key not in context.assets_def.keys or key.path[0] != "marts":
            continue
        name = context.assets_def.get_output_name_for_asset_key(key)
        if name not in context.selected_output_names:
            continue
        built.add(name)
        yield dg.Output(None, output_name=name, metadata={"skillpath/rebuilt": False,
                                                         "skillpath/unchanged_since_run": since,
                                                         "skillpath/why": plan.reason})


def _unchanged_checks(context: dg.AssetExecutionContext, checks: dict[str, dict], previous: dict | None,
                      plan: build_plan.BuildPlan):
    """The last result of each dbt test this build did not run (its inputs are unchanged) that did
    not pass, so a warning stays in the run's gate summary; tests that passed are not restated
    (each result is a write to Dagster's storage, and nothing downstream waits for them)."""
    if plan.full:
        return
    selected = set(context.selected_asset_check_keys)
    for uid, rec in ((previous or {}).get("checks") or {}).items():
        key = dg.AssetCheckKey(dg.AssetKey(rec["asset"]), rec["check"])
        if uid in checks or key not in selected:
            continue
        if rec["passed"]:
            checks[uid] = rec  # kept in the state for the next build
            continue
        checks[uid] = rec
        yield dg.AssetCheckResult(
            asset_key=key.asset_key, check_name=key.name, passed=rec["passed"],
            severity=dg.AssetCheckSeverity(rec["severity"]), description=rec.get("description"),
            metadata={**rec["metadata"], "skillpath/rerun": False, "skillpath/result_of_run": rec["run_id"]})


def mart_keys() -> list[dg.AssetKey]:
    """Asset keys of every model in the marts folder (what publication reads)."""
    return [k for k in skillpath_dbt.keys if k.path[0] == "marts"]


assets = [skillpath_dbt]
