"""A night with nothing new is not run (skillpath/run_inputs.py): what counts as new, and
that only the record of the run the warehouse now holds lets a run be skipped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from skillpath import run_inputs
from skillpath.config import settings
from skillpath.defs.schedules import INPUTS_TAG, nightly_schedule


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    (home / "landing" / "xapi").mkdir(parents=True)
    (home / "landing" / "xapi" / "a.ndjson").write_text('{"id": "1"}\n')
    shutil.copytree(Path(__file__).resolve().parents[2] / "expectations", tmp_path / "expectations")
    for name in ("SKILLPATH_LRS_URL", "SKILLPATH_AS_OF_DATE", "SKILLPATH_DEFAULT_ACCOUNT", "SKILLPATH_LANDING_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKILLPATH_HOME", str(home))
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", "a-test-key-of-some-length")
    monkeypatch.setenv("SKILLPATH_AS_OF_DATE", "2026-03-01")
    monkeypatch.setenv("SKILLPATH_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    return home


def _publish(home: Path, run_id: str) -> None:
    """A warehouse file whose meta.publication names ``run_id`` (as duckdb_publish writes it)."""
    path = home / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("create schema meta")
    con.execute("create table meta.publication (version_id varchar, run_id varchar)")
    con.execute("insert into meta.publication values ('v1', ?)", [run_id])
    con.close()


def test_the_digest_changes_with_every_input_and_not_with_speed_settings(home, monkeypatch):
    first = run_inputs.inputs_digest(settings())
    assert first == run_inputs.inputs_digest(settings())
    monkeypatch.setenv("SKILLPATH_THREADS", "7")
    monkeypatch.setenv("SKILLPATH_MEMORY_LIMIT", "9GB")
    monkeypatch.setenv("SKILLPATH_LOG_LEVEL", "DEBUG")
    assert run_inputs.inputs_digest(settings()) == first

    seen = {first}

    def changed() -> None:
        digest = run_inputs.inputs_digest(settings())
        assert digest not in seen
        seen.add(digest)

    (home / "landing" / "xapi" / "b.ndjson").write_text('{"id": "2"}\n')  # a new file
    changed()
    path = home / "landing" / "xapi" / "a.ndjson"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a file written again
    changed()
    monkeypatch.setenv("SKILLPATH_AS_OF_DATE", "2026-03-02")  # the run date
    changed()
    monkeypatch.setenv("SKILLPATH_DEFAULT_ACCOUNT", "acme")  # a setting the models read
    changed()
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", "another-test-key-of-length")  # the key
    changed()
    expectations = Path(os.environ["SKILLPATH_EXPECTATIONS_DIR"])
    suite = next(p for p in expectations.rglob("*") if p.is_file())
    suite.write_text(suite.read_text() + "\n")  # a gate rule
    changed()


def test_the_record_holds_neither_the_key_nor_anything_but_digests(home):
    s = settings()
    run_inputs.record(s, run_inputs.inputs_digest(s), "run-1")
    text = (home / run_inputs.RECORD_FILE).read_text()
    assert "a-test-key-of-some-length" not in text and "run-1" in text


def test_an_lrs_is_always_asked(home, monkeypatch):
    monkeypatch.setenv("SKILLPATH_LRS_URL", "http://127.0.0.1:9/xAPI")
    s = settings()
    assert run_inputs.inputs_digest(s) is None
    run_inputs.record(s, None, "run-1")
    assert run_inputs.unchanged_since_publication(s, None) is None


def test_only_the_published_runs_record_lets_a_run_be_skipped(home):
    s = settings()
    digest = run_inputs.inputs_digest(s)
    assert run_inputs.unchanged_since_publication(s, digest) is None  # no record, no warehouse
    _publish(home, "run-1")
    assert run_inputs.unchanged_since_publication(s, digest) is None  # a warehouse, no record
    run_inputs.record(s, digest, "run-1")
    assert run_inputs.unchanged_since_publication(s, digest)["run_id"] == "run-1"
    # new inputs
    assert run_inputs.unchanged_since_publication(s, "0" * 64) is None
    # the warehouse now holds another run (a rollback, an erasure's rebuild)
    _publish(home, "run-0")
    assert run_inputs.unchanged_since_publication(s, digest) is None
    _publish(home, "run-1")
    run_inputs.forget(s)
    assert run_inputs.unchanged_since_publication(s, digest) is None


def test_the_schedule_skips_a_night_with_nothing_new_and_tags_the_others(home):
    s = settings()
    with dg.instance_for_test() as instance:
        request = nightly_schedule(dg.build_schedule_context(instance=instance))
        assert isinstance(request, dg.RunRequest)
        digest = request.tags[INPUTS_TAG]
        assert digest == run_inputs.inputs_digest(s)
        _publish(home, "run-1")
        run_inputs.record(s, digest, "run-1")
        skipped = nightly_schedule(dg.build_schedule_context(instance=instance))
        assert isinstance(skipped, dg.SkipReason) and "run-1" in skipped.skip_message
        (home / "landing" / "xapi" / "b.ndjson").write_text('{"id": "2"}\n')
        assert isinstance(nightly_schedule(dg.build_schedule_context(instance=instance)), dg.RunRequest)
