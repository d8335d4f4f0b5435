"""The Dagster resources of the code location: this deployment's settings and its DuckDB files, and dbt.

Assets ask for them by parameter name (``skillpath: SkillpathResource``, ``dbt:
DbtCliResource``) instead of reading the environment or opening files themselves,
so a test or another deployment can hand in its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from skillpath.config import Settings, settings
from skillpath.transform import dbt_project


class SkillpathResource(dg.ConfigurableResource):
    """This deployment's settings (``SKILLPATH_*`` variables, README "Configuration") and DuckDB files.

    ``home`` and ``landing_dir`` override ``SKILLPATH_HOME`` / ``SKILLPATH_LANDING_DIR``
    (e.g. ``SkillpathResource(home=dg.EnvVar("NIGHTLY_HOME"))``); unset, the environment
    decides, read when a step runs (not when the code location loads).
    """

    home: str | None = None
    landing_dir: str | None = None

    def settings(self) -> Settings:
        s = settings()
        if self.home:
            home = Path(self.home).expanduser().resolve()
            landing = Path(self.landing_dir).expanduser().resolve() if self.landing_dir else home / "landing"
            return s.with_home(home, landing)
        if self.landing_dir:
            return s.with_home(s.home, Path(self.landing_dir).expanduser().resolve())
        return s

    @contextmanager
    def lake(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection to the raw layer, closed before dbt (another process) runs."""
        from skillpath.ingest.contract import connect_raw
        from skillpath.privacy import erasing_elsewhere

        s = self.settings()
        pid = erasing_elsewhere(s.home)
        if pid is not None:
            raise dg.Failure(description=f"skillpath erase (process {pid}) is forgetting a person in {s.home}: "
                                         "this run stops before it reads or writes anything; the next run "
                                         "loads what it would have loaded (docs/privacy.md)")
        con = connect_raw(s.raw_db, settings=s)
        try:
            yield con
        finally:
            con.close()


class SkillpathDbtCliResource(DbtCliResource):
    """``DbtCliResource`` without two start-up costs that every run paid for nothing.

    dagster-dbt offers no setting for either, hence the two overrides of its private
    methods (measured, and checked by tests/unit/test_definitions.py):

    - dagster-dbt learns dbt's version by running ``dbt --version`` in a subprocess
      (1.5-2.6 s, including a request to PyPI for the latest release). The dbt that
      runs is the one installed beside this interpreter (:func:`dbt_resource`; the
      install puts it there), so the dbt-core package version is the answer.
    - dagster-dbt builds a dbt adapter inside the Dagster process (importing dbt,
      loading the project and profile), used only by ``fetch_row_counts`` and
      ``fetch_column_metadata``, which these assets do not call.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        import importlib.metadata

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


def resources() -> dict:
    return {"dbt": dbt_resource(), "skillpath": SkillpathResource()}
