"""Incremental nightly runs (issue 6) with the real ``skillpath run`` on a generated landing zone.

A copy of the session's published home (conftest.py: 4000 generated statements, one
run) gets an increment with late and duplicate arrivals (``generate_increment``) and
runs again (incremental). A copy of that home is then rebuilt with ``--full-refresh``:
the four incremental facts must hold exactly the same rows (EXCEPT ALL both ways). The
second run must have read only the two new files, and a third run with nothing new
must change no mart and build nothing; a fourth, with nothing new at a later run date, rebuilds
what reads the date and equals the full refresh, made at that date (skillpath/transform/build_plan.py).
Four pipeline runs of its own, shared through one module fixture.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from skillpath_dev.bench.pipeline_bench import compare_tables
from skillpath_dev.generate import generate_increment
from tests.integration.pipeline_support import run, same_marts

FACTS = ("fct_attempts", "fct_credential_awards", "fct_credential_events", "fct_credential_transitions")
#: the complete (every recipient) incremental credential facts of the build; the published ones above are
#: their consent-filtered copies
BUILD_FACTS = ("int_credentials__award_facts", "int_credentials__event_facts", "int_credentials__transition_facts")
NEW_STATEMENTS, DUPLICATES, LATE_SHARE = 300, 25, 0.3
#: a run date at which credentials of the generated world have expired since the first runs' date
LATER_DATE = "2027-09-01"


def _ok(proc, what: str) -> None:
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"


def _manifest(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        return con.execute(
            "select load_id, source, source_ref, status, records_read, records_loaded, records_quarantined, "
            "records_duplicate from raw.load_manifest order by load_id").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, published_home: Path) -> dict:
    """The homes and manifests of: first run (a copy of the session's published home), incremental
    run, full refresh of a copy, run with nothing new."""
    root = tmp_path_factory.mktemp("incremental")
    home = root / "home"
    shutil.copytree(published_home, home)
    manifest_first = _manifest(home)

    increment = generate_increment(home / "landing", statements=NEW_STATEMENTS, seed=5, batch="day1",
                                   late_share=LATE_SHARE, duplicates=DUPLICATES)
    _ok(run(home, "--json", str(home / "run-summary-incremental.json")), "incremental run")
    manifest_second = _manifest(home)

    second_build = _dbt_run(home)

    refreshed = root / "refreshed"
    shutil.copytree(home, refreshed)
    _ok(run(refreshed, "--full-refresh", SKILLPATH_AS_OF_DATE=LATER_DATE), "full refresh at a later date")

    before_idle = root / "warehouse-before-idle-run.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", before_idle)
    idle_json = root / "idle-run.json"
    _ok(run(home, "--json", str(idle_json)), "run with nothing new")
    idle = json.loads(idle_json.read_text())
    # forced, the run happens and its build plan builds nothing
    _ok(run(home, "--force"), "forced run with nothing new")
    manifest_third, third_build = _manifest(home), _dbt_run(home)
    after_idle = root / "warehouse-after-idle-run.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", after_idle)
    # nothing new but a later run date: what reads the date (credential status, consent) is rebuilt
    _ok(run(home, SKILLPATH_AS_OF_DATE=LATER_DATE), "run with nothing new at a later date")
    return {"home": home, "refreshed": refreshed, "increment": increment, "before_idle": before_idle, "idle": idle,
            "after_idle": after_idle, "manifest_first": manifest_first, "manifest_second": manifest_second,
            "manifest_third": manifest_third, "second_build": second_build, "third_build": third_build,
            "later_build": _dbt_run(home)}


def _dbt_run(home: Path) -> dict:
    """The last dbt invocation of the home: its id and the nodes it ran (unique id -> status)."""
    results = json.loads((home / "dbt_target" / "run_results.json").read_text())
    return {"invocation_id": results["metadata"]["invocation_id"],
            "nodes": {r["unique_id"]: r["status"] for r in results["results"]}}


def test_second_run_reads_only_the_new_files(runs):
    first, second = runs["manifest_first"], runs["manifest_second"]
    assert set(first) <= set(second)  # earlier manifest rows untouched
    new = {r[2]: r for r in second if r not in first}
    assert set(new) == {"xapi/increment-day1.ndjson.gz", "credential_events/increment-day1.ndjson"}
    xapi = new["xapi/increment-day1.ndjson.gz"]
    # every new statement loaded (late ones too), the repeated base lines counted as duplicates
    assert xapi[3] == "loaded"
    assert (xapi[4], xapi[5], xapi[6], xapi[7]) == (NEW_STATEMENTS + DUPLICATES, NEW_STATEMENTS, 0, DUPLICATES)
    events = new["credential_events/increment-day1.ndjson"]
    assert events[3] == "loaded" and events[5] == runs["increment"]["events"]
    assert runs["increment"]["late"] == round(NEW_STATEMENTS * LATE_SHARE) > 0


@pytest.mark.parametrize("fact", FACTS)
def test_incremental_facts_equal_a_full_refresh(runs, fact):
    c = compare_tables(runs["home"] / "warehouse.duckdb", runs["refreshed"] / "warehouse.duckdb", fact,
                       left_schema="marts", digits=9)
    assert c["left_rows"] > 0
    assert (c["left_only"], c["right_only"]) == (0, 0), c


@pytest.mark.parametrize("fact", BUILD_FACTS)
def test_complete_incremental_facts_equal_a_full_refresh(runs, fact):
    c = compare_tables(runs["home"] / "build.duckdb", runs["refreshed"] / "build.duckdb", fact,
                       right_schema="intermediate", left_schema="intermediate", digits=9)
    assert c["left_rows"] > 0
    assert (c["left_only"], c["right_only"]) == (0, 0), c


def test_increment_reached_the_facts(runs):
    """Every answered statement of the increment (late ones too) is one attempt in fct_attempts."""
    lines = gzip.decompress((runs["home"] / "landing" / runs["increment"]["xapi_file"]).read_bytes()).splitlines()
    new = [json.loads(x) for x in lines[:NEW_STATEMENTS]]
    keys = {"registration:" + s["context"]["registration"] for s in new if s["verb"]["id"].endswith("/answered")}
    assert len(keys) == runs["increment"]["by_verb"]["answered"]
    con = duckdb.connect(str(runs["home"] / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("create temp table k (attempt_key varchar)")
        con.executemany("insert into k values (?)", [[k] for k in keys])
        found = con.execute("select count(*), count(distinct attempt_key), min(started_at) from marts.fct_attempts "
                            "where attempt_key in (select attempt_key from k)").fetchone()
    finally:
        con.close()
    assert found[:2] == (len(keys), len(keys))
    assert found[2].isoformat() < runs["increment"]["window_start"]  # late attempts are among them


def test_run_with_nothing_new_changes_nothing(runs):
    # skipped without a run (skillpath/run_inputs.py): the published warehouse is the incremental run's
    assert runs["idle"]["skipped"] is True
    assert runs["idle"]["published_run_id"] == json.loads((runs["home"] / "run-summary-incremental.json")
                                                          .read_text())["run_id"]
    # forced, it loads nothing and builds nothing (skillpath/transform/build_plan.py): dbt did not run at all
    assert runs["manifest_third"] == runs["manifest_second"]
    assert runs["third_build"]["invocation_id"] == runs["second_build"]["invocation_id"]
    assert same_marts(runs["before_idle"], runs["after_idle"]) == []


def test_new_statements_and_events_rebuild_only_what_they_touch(runs):
    """The increment brought xAPI statements and credential events: their descendants ran, the
    models of the LMS and of credential documents alone did not."""
    ran = {uid.split(".")[-1] for uid, status in runs["second_build"]["nodes"].items()
           if uid.startswith("model.") and status == "success"}
    assert {"stg_xapi__statements", "fct_attempts", "stg_credential_events__events", "fct_credential_events",
            "mart_group_league"} <= ran
    assert not ran & {"stg_lms__courses", "stg_lms__chapters", "stg_credentials__awards", "dim_groups",
                      "int_credentials__recipient_hashes"}


def test_a_later_run_date_rebuilds_what_reads_the_date_and_equals_a_full_refresh(runs):
    """Nothing new, a later date: the credential models that read it ran, the learning ones did not,
    and every mart equals a full refresh at that date, which differs from the marts before."""
    ran = {uid.split(".")[-1] for uid in runs["later_build"]["nodes"] if uid.startswith("model.")}
    assert {"int_credentials__awards", "fct_credential_awards", "mart_recipient_credentials"} <= ran
    assert not ran & {"stg_xapi__statements", "fct_attempts", "stg_credential_events__events"}
    home, refreshed = runs["home"] / "warehouse.duckdb", runs["refreshed"] / "warehouse.duckdb"
    assert same_marts(home, refreshed) == []
    assert "fct_credential_awards" in same_marts(runs["before_idle"], refreshed)  # the date changed statuses
