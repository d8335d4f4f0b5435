"""`skillpath` on a user's mistake: one line saying what happened and what to do, no
Python traceback; `--debug` shows the traceback."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.pipeline_support import SKILLPATH, pipeline_env

pytestmark = pytest.mark.integration


def _skillpath(home, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([SKILLPATH, *args], env=pipeline_env(home, **env), capture_output=True, text=True,
                          timeout=300)


def test_unknown_mart_for_export_is_one_line_and_debug_shows_the_traceback(published_home, tmp_path):
    out = tmp_path / "x.csv"
    proc = _skillpath(published_home, "export", "no_such_mart", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stdout.startswith("error: unknown mart 'no_such_mart'; available: dim_chapters, dim_collections, ")
    assert len(proc.stdout.strip().splitlines()) == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()

    debug = _skillpath(published_home, "export", "no_such_mart", "--out", str(out), "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "ExportError: unknown mart" in debug.stderr


def test_missing_or_unusable_landing_directory_stops_the_run_before_anything(tmp_path):
    home = tmp_path / "home"
    missing = tmp_path / "nowhere"
    proc = _skillpath(home, "run", SKILLPATH_LANDING_DIR=str(missing))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == (
        f"error: the landing directory {missing} does not exist; create it and put the source files there, "
        "or set SKILLPATH_LANDING_DIR (skillpath generate writes sample data)\n")
    assert proc.stderr == ""
    assert not (home / "lake.duckdb").exists()

    a_file = tmp_path / "landing.txt"
    a_file.write_text("not a directory")
    proc = _skillpath(home, "run", SKILLPATH_LANDING_DIR=str(a_file))
    assert (proc.returncode, proc.stdout) == (
        2, f"error: the landing directory {a_file} is not a directory; set SKILLPATH_LANDING_DIR\n")

    if os.geteuid() != 0:  # root may read any directory
        unreadable = tmp_path / "locked"
        unreadable.mkdir(mode=0o000)
        proc = _skillpath(home, "run", SKILLPATH_LANDING_DIR=str(unreadable))
        assert proc.returncode == 2 and "is not readable" in proc.stdout and "Traceback" not in proc.stderr


def test_a_home_that_cannot_be_written_stops_the_run_with_one_line(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    # a home whose path is taken by a file cannot be created (works as root too)
    blocked = tmp_path / "home-file"
    blocked.write_text("")
    proc = _skillpath(blocked, "run", SKILLPATH_LANDING_DIR=str(landing))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"error: cannot create SKILLPATH_HOME {blocked}: ")
    assert proc.stdout.rstrip().endswith("point SKILLPATH_HOME at a writable directory")
    assert "Traceback" not in proc.stdout + proc.stderr

    if os.geteuid() != 0:  # root may write anywhere
        home = tmp_path / "read-only-home"
        home.mkdir(mode=0o555)
        proc = _skillpath(home, "run", SKILLPATH_LANDING_DIR=str(landing))
        assert (proc.returncode, proc.stdout) == (
            2, f"error: SKILLPATH_HOME {home} is not writable; point SKILLPATH_HOME at a writable directory "
               "or fix its permissions\n")
