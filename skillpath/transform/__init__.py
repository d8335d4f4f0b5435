"""The one place that builds the dagster-dbt ``DbtProject`` for this repository."""

from __future__ import annotations

import hashlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject

from skillpath.config import REPO_ROOT, settings

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


def project_fingerprint() -> str:
    """A digest of every file dbt parses (models, macros, yml, seeds): the manifest's inputs."""
    h = hashlib.sha256()
    roots = [DBT_PROJECT_DIR, REPO_ROOT / "seeds"]
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if path.is_file() and not rel.startswith(("dbt_project/target/", "dbt_project/logs/")):
                h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project when its manifest is missing or stale (and always under ``dagster dev``).

    The manifest is reused while the project's files are unchanged (fingerprint beside
    it), so a run does not pay for a parse that would give the same manifest.
    """
    stamp = dbt_project.manifest_path.with_name("manifest.fingerprint")
    fingerprint = project_fingerprint()
    fresh = dbt_project.manifest_path.exists() and stamp.exists() and stamp.read_text() == fingerprint
    with _parse_env():
        if force or not fresh:
            dbt_project.preparer.prepare(dbt_project)
            stamp.write_text(fingerprint)
        else:
            dbt_project.prepare_if_dev()
    return dbt_project.manifest_path
