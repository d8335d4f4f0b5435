"""A real Apache Superset on 127.0.0.1 for the tests, with a throw-away SQLite metadata database.

Superset lives in its own virtualenv (``$SUPERSET_VENV``, default ``.venv-superset`` at the
repository root); when it (or its metadata template) is missing, ``scripts/install_superset.sh``
is run first. The install script leaves a migrated and initialised metadata database
(``superset db upgrade`` + ``superset init``, no users, no examples) in the venv;
:func:`start_superset` copies it, creates an admin with a random password
(``superset fab create-admin``) and starts ``superset run`` (Flask's threaded server) on a
free port with a random ``SECRET_KEY``. :class:`SupersetClient` logs in like a browser
(the login form and its CSRF token) and talks to the REST API with the session cookie and
an ``X-CSRFToken`` header.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import stop_process_group

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0
TEMPLATE_NAME = "skillpath-metadata-template.db"


def superset_venv() -> Path:
    venv = Path(os.environ.get("SUPERSET_VENV", ".venv-superset"))
    return venv if venv.is_absolute() else ROOT / venv


def ensure_superset_installed() -> Path:
    """The Superset venv's ``superset`` command. scripts/install_superset.sh returns at once when
    Superset is installed, installs it when not, and waits for an install under way (``make
    test`` starts one in the background)."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install_superset.sh")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"scripts/install_superset.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return superset_venv() / "bin" / "superset"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Superset:
    url: str
    username: str
    password: str
    workdir: Path
    log_path: Path

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


@dataclass
class SupersetClient:
    """A logged-in session on the REST API (cookie + CSRF token, as Superset's own frontend does)."""

    superset: Superset
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        base = self.superset.url
        html = self.session.get(f"{base}/login/", timeout=60).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
        assert token, "no CSRF token on Superset's login page"
        r = self.session.post(f"{base}/login/", data={"username": self.superset.username,
                                                      "password": self.superset.password,
                                                      "csrf_token": token.group(1)},
                              allow_redirects=False, timeout=60)
        assert r.status_code == 302 and "session" in self.session.cookies, f"login failed: {r.status_code}"
        csrf = self.get("/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": base})

    def _check(self, r: requests.Response) -> Any:
        if r.status_code >= 400:
            raise AssertionError(f"{r.request.method} {r.url} -> {r.status_code}: {r.text[:3000]}\n"
                                 f"server log:\n{self.superset.log_tail(3000)}")
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.session.get(self.superset.url + path, params=params or None, timeout=300))

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._check(self.session.post(self.superset.url + path, timeout=300, **kwargs))

    def import_dashboards(self, bundle_zip: Path, passwords: dict[str, str] | None = None) -> Any:
        """``POST /api/v1/dashboard/import/`` (overwrite), passwords keyed by the bundle's database files."""
        with open(bundle_zip, "rb") as fh:
            return self.post("/api/v1/dashboard/import/",
                             files={"formData": (bundle_zip.name, fh, "application/zip")},
                             data={"overwrite": "true", "passwords": json.dumps(passwords or {})})

    def list(self, resource: str, **rison: str) -> list[dict]:
        q = "(page_size:100" + "".join(f",{k}:{v}" for k, v in rison.items()) + ")"
        return self.get(f"/api/v1/{resource}/", q=q)["result"]

    def cookies_for_browser(self) -> list[dict]:
        host = re.sub(r"^https?://", "", self.superset.url).split(":")[0]
        return [{"name": c.name, "value": c.value, "domain": host, "path": c.path or "/"}
                for c in self.session.cookies]


def _superset_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERSET_", "FLASK_"))}
    env.update(SUPERSET_CONFIG_PATH=str(workdir / "superset_config.py"), FLASK_APP="superset",
               SUPERSET_HOME=str(workdir), PYTHONDONTWRITEBYTECODE="1")
    return env


@contextmanager
def start_superset(workdir: Path) -> Iterator[Superset]:
    """Superset on a free 127.0.0.1 port with its own metadata DB in ``workdir``; stopped on exit."""
    superset = ensure_superset_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    metadata = workdir / "metadata.db"
    shutil.copyfile(superset_venv() / TEMPLATE_NAME, metadata)
    (workdir / "superset_config.py").write_text(
        f"SECRET_KEY = {secrets.token_hex(32)!r}\n"
        f"SQLALCHEMY_DATABASE_URI = {'sqlite:///' + str(metadata)!r}\n"
        f"DATA_DIR = {str(workdir)!r}\n"
        "SQLALCHEMY_EXAMPLES_URI = None\n"
        "RATELIMIT_ENABLED = False\n"
        "AUTH_RATE_LIMITED = False\n"
    )
    env = _superset_env(workdir)
    password = secrets.token_urlsafe(16)
    proc = subprocess.run([str(superset), "fab", "create-admin", "--username", "admin", "--firstname", "Skillpath",
                           "--lastname", "Test", "--email", "admin@example.org", "--password", password],
                          cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or "created" not in (proc.stdout + proc.stderr):
        pytest.fail(f"superset fab create-admin failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    log_path = workdir / "superset.log"
    proc_server = None
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        with open(log_path, "ab") as log:
            proc_server = subprocess.Popen(
                [str(superset), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        if _wait_until_up(proc_server, url, log_path):
            break
        _stop(proc_server)
        proc_server = None
    if proc_server is None:
        pytest.fail(f"Superset did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
    try:
        yield Superset(url, "admin", password, workdir, log_path)
    finally:
        _stop(proc_server)


def _stop(proc: subprocess.Popen) -> None:
    stop_process_group(proc)


def _wait_until_up(proc: subprocess.Popen, url: str, log_path: Path) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(f"{url}/health", timeout=2).text.strip() == "OK":
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"Superset did not answer on {url} within {STARTUP_TIMEOUT:.0f}s:\n"
                f"{log_path.read_text(errors='replace')[-3000:]}")
