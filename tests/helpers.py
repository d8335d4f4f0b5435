"""Shared test helpers: run dbt against a throw-away SKILLPATH_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
REFERENCE_DATA = ROOT.parent / "shared" / "reference-data"
VENV_BIN = Path(sys.executable).parent
TEST_KEY = "test-pseudonym-key"


def skillpath_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SKILLPATH_HOME=str(home),
        SKILLPATH_LANDING_DIR=str(home / "landing"),
        SKILLPATH_PSEUDONYM_KEY=TEST_KEY,
        SKILLPATH_THREADS="2",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.update(extra)
    return env


def run_dbt(home: Path, *args: str, vars: dict | None = None, check: bool = True,
            **env_extra: str) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` on the project with its own target/log dirs under ``home``."""
    cmd = [str(VENV_BIN / "dbt"), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    env = skillpath_env(home, **env_extra)
    env["DBT_TARGET_PATH"] = str(home / "dbt_target")
    env["DBT_LOG_PATH"] = str(home / "dbt_logs")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    return proc


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def stop_process_group(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process group a test server was started in (start_new_session), SIGKILL after ``timeout``."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
