"""A real Ralph LRS (fs backend) on 127.0.0.1 for the tests.

Import ``fixture_ralph_credentials`` and ``fixture_ralph_lrs`` into a test module
(or list this module in the root conftest's ``pytest_plugins``); the
``ralph_lrs`` fixture starts a fresh, empty LRS for each test (about a second)
and yields a :class:`RalphLrs` ``(url, username, password)``.

Ralph lives in its own virtualenv (``$RALPH_VENV``, default ``.venv-ralph`` at the
repository root); when it is missing, ``scripts/install_ralph.sh`` is run first.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


class RalphLrs(NamedTuple):
    url: str
    username: str
    password: str


def ralph_venv() -> Path:
    venv = Path(os.environ.get("RALPH_VENV", ".venv-ralph"))
    return venv if venv.is_absolute() else ROOT / venv


def ensure_ralph_installed() -> Path:
    """The Ralph venv's python. The install script returns at once when Ralph is installed,
    installs it when not, and waits for an install under way (``make test`` starts one in
    the background)."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install_ralph.sh")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"scripts/install_ralph.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return ralph_venv() / "bin" / "python"


def _ralph_env(workdir: Path, auth_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALPH_")}
    env.update(RALPH_APP_DIR=str(workdir), RALPH_AUTH_FILE=str(auth_file), RALPH_RUNSERVER_BACKEND="fs")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(name="ralph_credentials", scope="session")
def fixture_ralph_credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """An auth file written by ``ralph auth ... -w``: (auth_file, username, password)."""
    python = ensure_ralph_installed()
    workdir = tmp_path_factory.mktemp("ralph-auth")
    auth_file = workdir / "auth.json"
    username, password = "skillpath-test", secrets.token_urlsafe(16)
    proc = subprocess.run(
        [str(python.parent / "ralph"), "auth", "-u", username, "-p", password, "-s", "all",
         "-M", "mailto:skillpath-test@example.org", "-w"],
        cwd=workdir, env=_ralph_env(workdir, auth_file), capture_output=True, text=True,
    )
    if proc.returncode != 0 or not auth_file.exists():
        pytest.fail(f"ralph auth failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return auth_file, username, password


@pytest.fixture(name="ralph_lrs")
def fixture_ralph_lrs(ralph_credentials: tuple[Path, str, str], tmp_path: Path) -> Iterator[RalphLrs]:
    """A fresh Ralph LRS on a free 127.0.0.1 port, stopped after the test."""
    auth_file, username, password = ralph_credentials
    python = ensure_ralph_installed()
    workdir = tmp_path / "ralph"
    workdir.mkdir()
    port = _free_port()
    log_path = workdir / "ralph.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(python), str(ROOT / "scripts" / "run_ralph.py"), "--port", str(port),
             "--data-dir", str(workdir / "data"), "--auth-file", str(auth_file)],
            cwd=workdir, env=_ralph_env(workdir, auth_file), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url, log_path)
        yield RalphLrs(url, username, password)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Ralph exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/__heartbeat__", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"Ralph did not answer on {url} within {STARTUP_TIMEOUT:.0f}s:\n{log_path.read_text()[-3000:]}")


def post_statements(lrs: RalphLrs, statements: Iterable[dict], batch_size: int = 500) -> list[str]:
    """POST statements in batches; returns the ids Ralph stored, in order."""
    ids: list[str] = []
    batch: list[dict] = []

    def flush() -> None:
        response = requests.post(
            f"{lrs.url}/xAPI/statements", data=orjson.dumps(batch), auth=(lrs.username, lrs.password),
            headers={"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"}, timeout=60,
        )
        assert response.status_code == 200, f"POST to Ralph failed: {response.status_code} {response.text[:500]}"
        ids.extend(response.json())
        batch.clear()

    for statement in statements:
        batch.append(statement)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return ids
