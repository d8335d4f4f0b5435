"""The one place that builds the dagster-dbt ``DbtProject`` for this repository."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject

from skillpath.config import REPO_ROOT, Settings, settings
from skillpath.run_inputs import project_fingerprint

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@contextmanager
def dbt_env(s: Settings | None = None, *, parse_only: bool = False) -> Iterator[None]:
    """The environment a dbt subprocess reads (profiles.yml, macros), set for the block and restored after.

    dagster-dbt starts dbt with this process's environment and takes no other, so the
    variables of ``s`` (absolute home, resolved pseudonym key, DuckDB limits, default
    account) are set only while the block runs. Parsing renders models but builds
    nothing: with ``parse_only`` a placeholder key is fine. Raises ConfigError when a
    build has no pseudonym key.
    """
    s = s or settings()
    if parse_only:
        env = {"SKILLPATH_HOME": str(s.home),
               "SKILLPATH_PSEUDONYM_KEY": s.pseudonym_key or "parse-only-placeholder"}
    else:
        env = s.dbt_env()
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # dagster-dbt's preparer runs "dbt" from PATH: the one beside this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def manifest_fingerprint() -> str:
    """The fingerprint of the project files the manifest was parsed from (written by
    :func:`ensure_manifest`, which every process runs when it loads the definitions)."""
    return dbt_project.manifest_path.with_name("manifest.fingerprint").read_text()


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project when its manifest is missing or stale (and always under ``dagster dev``).

    The manifest is reused while the project's files are unchanged (fingerprint beside
    it), so a run does not pay for a parse that would give the same manifest.
    """
    stamp = dbt_project.manifest_path.with_name("manifest.fingerprint")
    fingerprint = project_fingerprint()
    fresh = dbt_project.manifest_path.exists() and stamp.exists() and stamp.read_text() == fingerprint
    with dbt_env(parse_only=True):
        if force or not fresh:
            dbt_project.preparer.prepare(dbt_project)
            stamp.write_text(fingerprint)
        else:
            dbt_project.prepare_if_dev()
    return dbt_project.manifest_path
