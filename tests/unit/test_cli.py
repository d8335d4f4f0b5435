"""The `skillpath` command line: every command answers --help; settings errors are clear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SKILLPATH = str(Path(sys.executable).parent / "skillpath")
COMMANDS = ["generate", "run", "demo", "export", "rollback", "report", "bench", "bi-bundle"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command):
    args = [SKILLPATH, *([command] if command else []), "--help"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: skillpath{' ' + command if command else ''}")
    if command is None:
        assert all(c in proc.stdout for c in COMMANDS)


def test_a_bad_as_of_date_is_a_clear_error(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "SKILLPATH_HOME": str(tmp_path),
           "SKILLPATH_PSEUDONYM_KEY": "k", "SKILLPATH_AS_OF_DATE": "5 Jan"}
    proc = subprocess.run([SKILLPATH, "run"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "SKILLPATH_AS_OF_DATE must be YYYY-MM-DD" in proc.stdout
