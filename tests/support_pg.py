"""A real, throw-away PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` on 127.0.0.1.

PostgreSQL refuses to run as root, and the tests (and CI) run as root here: the
server then runs as an unprivileged system user (``postgres`` when it exists,
else ``skillpath-pg``, created with ``useradd``) in a private directory under
the system temp dir owned by that user. Non-root users run it as themselves.

Binaries are found on PATH or under ``/usr/lib/postgresql/<version>/bin`` (Debian's
layout); ``scripts/install_postgres.sh`` installs them on a fresh machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

RUN_AS_CANDIDATES = ("postgres", "skillpath-pg")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found on PATH nor under /usr/lib/postgresql/*/bin: "
                              "run scripts/install_postgres.sh (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as_user() -> str | None:
    """None when not root; else an unprivileged user to run the server as (created if needed)."""
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    name = RUN_AS_CANDIDATES[-1]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    return name


@dataclass
class PgServer:
    base: Path
    port: int
    password: str
    run_as: str | None
    host: str = "127.0.0.1"
    superuser: str = "postgres"

    def url(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        user = user or self.superuser
        password = self.password if password is None and user == self.superuser else password
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def stop(self) -> None:
        data = self.base / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(self._cmd(pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
                           capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def start_postgres() -> PgServer:
    """initdb a fresh cluster (scram-sha-256 over TCP) and start it on a free local port."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    run_as = _run_as_user()
    base = Path(tempfile.mkdtemp(prefix="skillpath-pg-"))
    password = secrets.token_hex(12)
    server = PgServer(base=base, port=0, password=password, run_as=run_as)
    try:
        (base / "sock").mkdir()
        (base / "pwfile").write_text(password + "\n")
        if run_as:
            entry = pwd.getpwnam(run_as)
            for p in (base, base / "sock", base / "pwfile"):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        os.chmod(base, 0o700)
        proc = subprocess.run(server._cmd(initdb, "-D", str(base / "data"), "-U", "postgres", "-E", "UTF8",
                                          "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                                          f"--pwfile={base / 'pwfile'}"), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{proc.stdout}\n{proc.stderr}")
        last = ""
        for _ in range(3):  # a free port can be taken between probing and binding
            server.port = _free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {base / 'sock'} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    "-c shared_buffers=32MB -c max_connections=50")
            proc = subprocess.run(server._cmd(pg_ctl, "-D", str(base / "data"), "-l", str(base / "log"),
                                              "-w", "-t", "60", "-o", opts, "start"),
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                return server
            last = proc.stdout + proc.stderr + (base / "log").read_text(errors="replace")
        raise RuntimeError(f"pg_ctl start failed:\n{last}")
    except BaseException:
        server.stop()
        raise
