"""What a run reads, as one digest, so a night with nothing new is not run at all.

A run's output is a function of its inputs: the landing files, the run date, the
settings, and the code (the package, the dbt project, the expectations, the locked
libraries). When all of them are what they were when the warehouse now published was
built, a new run would publish the same warehouse again, so ``skillpath run`` and the
nightly schedule skip it and say why (docs/operations.md "A night with nothing new").

Never skipped:
- with a Learning Record Store configured: whether it holds new statements is known only
  by asking it, which is the run's own ingestion step;
- when the published warehouse is not the one the recorded run published (a rollback,
  an erasure, a failed or blocked run since, a home without a record);
- with ``--force`` or ``--full-refresh``.

The digest is taken before the run starts and recorded after it published, so a file
that lands during a run makes the next night's digest differ: a skip can cost nothing
that is new.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

from skillpath.config import REPO_ROOT, Settings

RECORD_FILE = "last_published_inputs.json"

#: settings that change how fast a run is, not what it publishes
_VOLATILE_SETTINGS = ("threads", "memory_limit", "log_level", "home", "schedule_cron", "schedule_timezone")
#: the files a run executes besides the dbt project (the libraries are locked in requirements.lock)
_CODE_FILES = ("requirements.lock", "requirements-spark.lock", "dagster.yaml", "pyproject.toml")


def landing_fingerprint(landing: Path) -> tuple[str, int]:
    """A digest of (path, size, mtime) of every landing file, and how many there are."""
    h = hashlib.sha256()
    n = 0
    if landing.exists():
        for p in sorted(landing.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(landing)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
                n += 1
    return h.hexdigest(), n


def _tree_digest(h, root: Path) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "__pycache__" not in rel.parts:
            h.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def project_fingerprint() -> str:
    """A digest of every file dbt parses (models, macros, yml, seeds): the manifest's inputs."""
    h = hashlib.sha256()
    roots = [REPO_ROOT / "dbt_project", REPO_ROOT / "seeds"]
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if path.is_file() and not rel.startswith(("dbt_project/target/", "dbt_project/logs/")):
                h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def code_digest(expectations_dir: Path) -> str:
    """sha256 over the contents of the files a run executes or parses: the package, the dbt
    project and seeds (the fingerprint the manifest is kept by), the expectations, the locks."""
    h = hashlib.sha256()
    h.update(b"[skillpath]")
    _tree_digest(h, REPO_ROOT / "skillpath")
    h.update(f"[dbt project {project_fingerprint()}]".encode())
    h.update(b"[expectations]")
    if expectations_dir.exists():
        _tree_digest(h, expectations_dir)
    for name in _CODE_FILES:
        path = REPO_ROOT / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return h.hexdigest()


def settings_digest(s: Settings) -> str:
    """sha256 of every setting that changes what a run publishes (the engine's among them; the
    key only as its own sha256, so the record never holds it)."""
    fields = {k: v for k, v in dataclasses.asdict(s).items() if k not in _VOLATILE_SETTINGS}
    key = fields.pop("pseudonym_key", None)
    fields["pseudonym_key_sha256"] = hashlib.sha256(key.encode()).hexdigest() if key else None
    return hashlib.sha256(json.dumps(sorted(fields.items()), default=str).encode()).hexdigest()


def inputs_digest(s: Settings) -> str | None:
    """The digest of everything the next run would read, or None when that cannot be known
    without running (a Learning Record Store is configured)."""
    if s.lrs_url:
        return None
    landing, files = landing_fingerprint(s.landing_dir)
    run_date = (s.as_of_date or dt.date.today()).isoformat()
    parts = [f"landing {landing} {files}", f"run date {run_date}", f"settings {settings_digest(s)}",
             f"code {code_digest(s.expectations_dir)}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def record(s: Settings, digest: str | None, run_id: str) -> None:
    """After a run that published: the inputs it was started on (taken before it started)."""
    path = s.home / RECORD_FILE
    if digest is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"inputs_digest": digest, "run_id": run_id,
                               "recorded_at": dt.datetime.now(dt.UTC).isoformat()}))
    tmp.replace(path)


def forget(s: Settings) -> None:
    """Drop the record: the next run runs whatever its inputs. (A rollback or an erasure's
    rebuild needs no call: the warehouse then names another run, which the record does not.)"""
    (s.home / RECORD_FILE).unlink(missing_ok=True)


def unchanged_since_publication(s: Settings, digest: str | None) -> dict | None:
    """The record of the published run whose inputs equal ``digest``, or None when a run is
    needed. Only a record of the run the warehouse now holds counts."""
    from skillpath.publish.duckdb_publish import published_run_id

    if digest is None:
        return None
    path = s.home / RECORD_FILE
    try:
        last = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if last.get("inputs_digest") != digest:
        return None
    if published_run_id(s.warehouse_db) != last.get("run_id"):
        return None
    return last
