"""dbt models, seeds and tests as Dagster assets and asset checks (``dbt build``, streamed)."""


import importlib.metadata
import json
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from packaging import version

from skillpath.config import settings
from skillpath.transform import dbt_project, dbt_run_env, ensure_manifest


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
def skillpath_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    """``dbt build``: seeds, models and their tests; a failing test fails the step (nothing downstream runs)."""
    from skillpath.quality.gx_suites import preload

    os.environ.update(dbt_run_env())
    preload()  # the gate's imports load while dbt works in its own process
    # dbt unit tests check the models' logic on fixed rows: they run in the test suite
    # (tests/integration), not in every production build
    args = ["build", "--exclude-resource-type", "unit_test"]
    if config.full_refresh:
        args.append("--full-refresh")
    as_of = settings().as_of_date
    if as_of:
        args += ["--vars", json.dumps({"as_of_date": as_of.isoformat()})]
    target = settings().home / "dbt_target"
    yield from dbt.cli(args, context=context, target_path=target).stream()


class SkillpathDbtCliResource(DbtCliResource):
    """``DbtCliResource`` without two start-up costs that every run paid for nothing.

    - dagster-dbt learns dbt's version by running ``dbt --version`` in a subprocess
      (1.5-2.6 s, including a request to PyPI for the latest release). The dbt that
      runs is the one installed beside this interpreter (:func:`dbt_resource`; the
      install puts it there), so the dbt-core package version is the answer.
    - dagster-dbt builds a dbt adapter inside the Dagster process (importing dbt,
      loading the project and profile), used only by ``fetch_row_counts`` and
      ``fetch_column_metadata``, which these assets do not call.
    tests/unit/test_definitions.py checks both.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    """dbt from this interpreter's environment (works without the venv's bin on PATH)."""
    venv_dbt = Path(sys.executable).parent / "dbt"
    return SkillpathDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=os.fspath(dbt_project.profiles_dir),
        dbt_executable=os.fspath(venv_dbt) if venv_dbt.exists() else "dbt",
    )


def mart_keys() -> list[dg.AssetKey]:
    """Asset keys of every model in the marts folder (what publication reads)."""
    return [k for k in skillpath_dbt.keys if k.path[0] == "marts"]


assets = [skillpath_dbt]
