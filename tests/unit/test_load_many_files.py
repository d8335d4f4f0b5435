"""Credential files loaded a batch at a time (skillpath.ingest.landing.load_many_files) give the raw
layer that one transaction per file gives, and a file that fails inside a batch is quarantined
whole while the rest of its batch loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skillpath.ingest import credentials, landing
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.runner import summarize

AWARD_COLUMNS = ", ".join(c for c in credentials.TABLE_COLUMNS["credential_awards"]
                          if c not in ("load_id", "loaded_at"))


@pytest.fixture(scope="module")
def one_document_per_file(tmp_path_factory) -> Path:
    """The generator's credential documents, one JSON file each (as issuing platforms export them),
    plus its badge classes, issuer and revocation list and a collections.csv."""
    from skillpath_dev.generate import generate_landing

    src = tmp_path_factory.mktemp("gen")
    generate_landing(src / "landing", statements=12000, seed=5)
    out = tmp_path_factory.mktemp("split") / "landing"
    (out / "credentials").mkdir(parents=True)
    shutil.copytree(src / "landing" / "credentials" / "ob2", out / "credentials" / "ob2")
    shutil.copy(src / "landing" / "credentials" / "collections.csv", out / "credentials")
    n = 0
    for path in sorted((src / "landing" / "credentials" / "awards").glob("*.ndjson")):
        for line in path.read_text().splitlines():
            if line.strip():
                n += 1
                (out / "credentials" / f"cred-{n:05d}.json").write_text(json.dumps(json.loads(line), indent=1))
    assert n > 60, n
    return out


def _ingest(landing_dir: Path, home: Path, monkeypatch, per_commit: int) -> tuple[list[dict], list, dict]:
    monkeypatch.setattr(landing, "FILES_PER_COMMIT", per_commit)
    con = connect_raw(home / "lake.duckdb")
    try:
        results = credentials.ingest_credentials(con, landing_dir)
        awards = con.execute(f"select {AWARD_COLUMNS} from raw.credential_awards order by all").fetchall()
        manifest = {r[0]: r[1:] for r in con.execute(
            "select source_ref, status, records_read, records_loaded, records_quarantined, records_duplicate "
            "from raw.load_manifest").fetchall()}
        assert summarize(con)["problems"] == []
    finally:
        con.close()
    return results, awards, manifest


def test_batches_load_what_one_transaction_per_file_loads(one_document_per_file, tmp_path, monkeypatch):
    one, awards_one, manifest_one = _ingest(one_document_per_file, tmp_path / "a", monkeypatch, per_commit=1)
    many, awards_many, manifest_many = _ingest(one_document_per_file, tmp_path / "b", monkeypatch, per_commit=25)
    assert len(awards_many) > 60
    assert awards_many == awards_one
    assert manifest_many == manifest_one
    strip = [{k: v for k, v in r.items() if k != "load_id"} for r in one]
    assert [{k: v for k, v in r.items() if k != "load_id"} for r in many] == strip


def test_a_file_failing_inside_a_batch_is_quarantined_whole_and_the_batch_loads(
        one_document_per_file, tmp_path, monkeypatch):
    _, awards_all, _ = _ingest(one_document_per_file, tmp_path / "a", monkeypatch, per_commit=500)
    original = credentials._load_document_file

    def failing(load, path, *args, **kwargs):
        if path.name == "cred-00003.json":
            raise RuntimeError("disk hiccup")
        return original(load, path, *args, **kwargs)

    monkeypatch.setattr(credentials, "_load_document_file", failing)
    results, awards, manifest = _ingest(one_document_per_file, tmp_path / "b", monkeypatch, per_commit=500)
    failed = [r for r in results if r.get("error")]
    assert [(r["source_ref"], r["error"], r["quarantine_reasons"]) for r in failed] == [
        ("credentials/cred-00003.json", "RuntimeError: disk hiccup", {"ingest_error": 1})]
    lost = json.loads((one_document_per_file / "credentials" / "cred-00003.json").read_text())["id"]
    assert len(awards) == len(awards_all) - 1
    at = AWARD_COLUMNS.split(", ").index("award_id")
    assert lost not in {row[at] for row in awards} and lost in {row[at] for row in awards_all}
    assert all(v[0] == "loaded" for v in manifest.values())
