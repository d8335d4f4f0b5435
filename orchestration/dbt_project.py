"""The one place that builds the dagster-dbt ``DbtProject`` for this repository."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.config import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_run_env() -> dict[str, str]:
    """Variables every dbt build needs; raises ConfigError when the pseudonym key is missing."""
    env = settings().dbt_env()
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


@contextmanager
def _parse_env():
    """Parsing renders models but builds nothing: a placeholder key is fine while it runs."""
    s = settings()
    saved = dict(os.environ)
    os.environ.update(
        SKILLPATH_HOME=str(s.home),
        SKILLPATH_PSEUDONYM_KEY=s.pseudonym_key or "parse-only-placeholder",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        # dagster-dbt's preparer runs "dbt" from PATH: the one beside this interpreter
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project when its manifest is missing (or always under ``dagster dev``)."""
    with _parse_env():
        if force or not dbt_project.manifest_path.exists():
            dbt_project.preparer.prepare(dbt_project)
        else:
            dbt_project.prepare_if_dev()
    return dbt_project.manifest_path
