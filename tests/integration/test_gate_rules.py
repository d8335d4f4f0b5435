"""What blocks publication and what only warns (docs/quality.md), on real pipeline runs.

Blocking: ingestion reconciliation, error-severity dbt tests (keys, nulls, ranges,
relationships), a row count that drops below the previous publication beyond the
suite's share (or SKILLPATH_MAX_ROW_DROP). Each leaves the published warehouse
byte-identical and says what it observed.

Warning (published): freshness of old data, a warn-severity dbt test, and marts left
empty because their sources never delivered (a credentials-only landing zone).

Faults are made in a copy of a published home by changing raw rows in place (the
record counts stay, so the reconciliation still holds) or by removing landing folders.
A raw row changed in place is invisible to the build plan, which finds new input by row
counts and load times (docs/operations.md "What a run builds"): those runs use
``--full-refresh``, as an operator who edits the raw layer by hand must.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.integration.pipeline_support import (
    generate,
    last_gate_results,
    mart_row_counts,
    run,
    sha256,
)

pytestmark = pytest.mark.integration

LEARNING_MARTS = ["dim_chapters", "dim_courses", "dim_exercises", "dim_groups", "dim_learners", "fct_attempts",
                  "mart_chapter_mastery", "mart_course_overview", "mart_exercise_summary", "mart_group_league",
                  "mart_learner_course_progress"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _versions(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "versions").iterdir())


def _lake(home: Path, *statements: str, params: list | None = None) -> None:
    con = duckdb.connect(str(home / "lake.duckdb"))
    try:
        for sql in statements:
            con.execute(sql, params or [])
    finally:
        con.close()



def _check_lines(stdout: str, mark: str) -> dict[str, str]:
    """``[FAIL] asset / check: observed`` lines of the gate summary, by ``asset / check``."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(rf"\s+\[{mark}\] (\S+ / \S+): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _assert_blocked(proc, home: Path, before: str, versions: list[str]) -> None:
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "did NOT publish" in proc.stdout
    assert "the published warehouse is unchanged" in proc.stdout
    assert sha256(home / "warehouse.duckdb") == before
    assert _versions(home) == versions
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Stack Trace:" not in proc.stderr


# ----------------------------------------------------------------------------- blocking


def test_reconciliation_failure_blocks(published_home, tmp_path):
    home = _copy(published_home, tmp_path / "home")
    before, versions = sha256(home / "warehouse.duckdb"), _versions(home)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    loaded = con.execute("select sum(records_loaded) from raw.load_manifest "
                         "where source = 'credential_events'").fetchone()[0]
    con.close()
    # a loaded event goes missing from the raw layer
    _lake(home, "delete from raw.credential_events where event_id = "
                "(select min(event_id) from raw.credential_events)")

    proc = run(home)

    _assert_blocked(proc, home, before, versions)
    failed = _check_lines(proc.stdout, "FAIL")
    assert failed["raw/load_manifest / ingestion_reconciled"] == (
        f"credential_events: manifest says {loaded} loaded but the raw tables hold {loaded - 1} rows")
    assert "blocked by checks: raw/load_manifest:ingestion_reconciled" in proc.stdout


def test_key_null_range_and_relationship_failures_block(published_home, tmp_path):
    """Four error-severity dbt tests fail at once; each is listed with its failing rows."""
    home = _copy(published_home, tmp_path / "home")
    before, versions = sha256(home / "warehouse.duckdb"), _versions(home)
    _lake(
        home,
        # key: two raw statements share one id (the source's unique test)
        "update raw.xapi_statements set statement_id = (select min(statement_id) from raw.xapi_statements) "
        "where statement_id = (select max(statement_id) from raw.xapi_statements)",
        # null: an event without the credential it is about
        "update raw.credential_events set credential_id = '  ' "
        "where event_id = (select min(event_id) from raw.credential_events)",
        # range: negative points
        "update raw.lms_exercises set max_points = '-5' "
        "where exercise_id = (select min(exercise_id) from raw.lms_exercises)",
        # relationship: a chapter of a course that does not exist
        "update raw.lms_chapters set course_id = 'no-such-course' "
        "where chapter_id = (select min(chapter_id) from raw.lms_chapters)",
    )

    proc = run(home, "--full-refresh")

    _assert_blocked(proc, home, before, versions)
    failed = _check_lines(proc.stdout, "FAIL")
    by_test = {key.split(" / ")[1]: (key, value) for key, value in failed.items()}
    assert by_test["not_null_stg_credential_events__events_award_id"] == (
        "staging/stg_credential_events__events / not_null_stg_credential_events__events_award_id",
        "1 failing row, dbt status fail")
    range_test = next(k for k in by_test if k.startswith("accepted_range_stg_lms__exercises_max_points"))
    assert by_test[range_test][1] == "1 failing row, dbt status fail"
    rel_test = next(k for k in by_test if k.startswith("relationships_stg_lms__chapters_course_id"))
    assert by_test[rel_test][1] == "1 failing row, dbt status fail"
    assert "None" not in "".join(failed.values())
    # the source's unique test is no asset check in Dagster: the failed dbt step names it
    assert re.search(r"failed step skillpath_dbt: .*dbt test source_unique_raw_xapi_statements_statement_id "
                     r"fail: 1 failing row", proc.stdout), proc.stdout[-4000:]
    summary_line = next(line for line in proc.stdout.splitlines() if line.startswith("quality gate:"))
    assert re.match(r"quality gate: \d+ checks, 3 failed, 0 warnings", summary_line), summary_line


# ----------------------------------------------------------------------------- one kind of source


@pytest.fixture(scope="module")
def credentials_only_home(tmp_path_factory) -> tuple[Path, object]:
    """A landing zone with credential documents and lifecycle events only (no xAPI, no LMS)."""
    home = tmp_path_factory.mktemp("credentials_only") / "home"
    generate(home, statements=4000)
    for sub in ("xapi", "lms"):
        shutil.rmtree(home / "landing" / sub)
    # without an LMS roster most consent files name nobody the credentials know (user ids, hashed
    # emails): this deployment assumes consent, so every recipient who did not withdraw is published
    proc = run(home, SKILLPATH_CONSENT_DEFAULT="assumed")
    return home, proc


def test_credentials_only_landing_zone_publishes_with_warnings(credentials_only_home):
    home, proc = credentials_only_home
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    counts = mart_row_counts(home / "warehouse.duckdb")
    assert {t for t, n in counts.items() if n == 0} == set(LEARNING_MARTS)
    assert all(counts[t] > 0 for t in counts if t not in LEARNING_MARTS)

    warned = _check_lines(proc.stdout, "WARN")
    assert sorted(k.split(" / ")[0] for k in warned) == [f"marts/{t}" for t in LEARNING_MARTS]
    assert warned["marts/fct_attempts / gx_suite"] == (
        "WARN marts.fct_attempts is empty: its sources (raw.xapi_statements) were never delivered")
    assert warned["marts/dim_courses / gx_suite"] == (
        "WARN marts.dim_courses is empty: its sources (raw.xapi_statements or raw.lms_courses) "
        "were never delivered")
    assert warned["marts/mart_group_league / gx_suite"] == (
        "WARN marts.mart_group_league is empty: its sources (raw.lms_groups) were never delivered")
    assert not _check_lines(proc.stdout, "FAIL")
    assert f"{len(LEARNING_MARTS)} with warnings" in proc.stdout

    # the report hides the accounts section (learning marts only) with a one-line note, and
    # keeps the credential sections
    html = (home / "report.html").read_text()
    assert ('id="accounts-hidden">Hidden: mart_course_overview, mart_learner_course_progress, '
            "mart_group_league, mart_chapter_mastery are empty in this publication") in html
    assert 'id="flow-hidden"' not in html and 'id="engagement-hidden"' not in html
    assert 'id="gate-warnings"' in html and "marts.fct_attempts is empty" in html
    gate = {r["suite"]: r for r in last_gate_results(home)}
    assert gate["fct_attempts"]["delivered"] is False and gate["fct_credential_awards"]["delivered"] is True


def test_row_count_drop_beyond_the_share_blocks(credentials_only_home, published_home, tmp_path):
    """The previous publication had learning data; a build without it is a drop beyond
    SKILLPATH_MAX_ROW_DROP (here 50 %), so it blocks although those sources never delivered here."""
    source_home, first = credentials_only_home
    assert first.returncode == 0
    home = _copy(source_home, tmp_path / "home")
    shutil.copyfile(published_home / "warehouse.duckdb", home / "warehouse.duckdb")
    previous = mart_row_counts(home / "warehouse.duckdb")
    before, versions = sha256(home / "warehouse.duckdb"), _versions(home)

    proc = run(home, SKILLPATH_MAX_ROW_DROP="0.5")

    _assert_blocked(proc, home, before, versions)
    failed = _check_lines(proc.stdout, "FAIL")
    assert sorted(k.split(" / ")[0] for k in failed) == sorted(
        f"marts/{t}" for t in LEARNING_MARTS if previous[t] > 0)
    n = previous["fct_attempts"]
    assert failed["marts/fct_attempts / gx_suite"].startswith(
        f"failed: FAIL row count of marts.fct_attempts: 0, expected >= {-(-n // 2)} "
        f"(previous publication {n} rows, tolerance 50%)")


# ----------------------------------------------------------------------------- warnings that publish


def test_old_data_and_a_warn_dbt_test_publish_with_warnings(published_home, tmp_path):
    """Data whose newest statement is years old (a backfill) and a failing warn-severity dbt
    test: the run publishes and lists both as warnings (issue 19: only errors block)."""
    home = _copy(published_home, tmp_path / "home")
    before, versions = sha256(home / "warehouse.duckdb"), _versions(home)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    newest = {t: con.execute(f"select max({c}) from raw.{t}").fetchone()[0] for t, c in
              [("xapi_statements", "statement_timestamp"), ("credential_awards", "issued_at"),
               ("credential_events", "occurred_at")]}
    victim = con.execute(
        "select statement_id from raw.xapi_statements where verb_id <> 'http://adlnet.gov/expapi/verbs/voided' "
        "and statement_id not in (select voided_statement_id from raw.xapi_statements "
        "where voided_statement_id is not null) order by statement_id limit 1").fetchone()[0]
    con.close()
    # a statement whose actor matches no LMS user although a roster is loaded: it is a learner all
    # the same, and the warn test learning_unlinked_actors counts the actor
    _lake(home, "update raw.xapi_statements set actor_account_name = 'nobody-known', actor_mbox = null, "
                "actor_mbox_sha1sum = null, actor_openid = null where statement_id = ?", params=[victim])

    proc = run(home, "--full-refresh", SKILLPATH_AS_OF_DATE="2031-01-01")

    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout and "did NOT publish" not in proc.stdout
    assert sha256(home / "warehouse.duckdb") != before and len(_versions(home)) == len(versions) + 1
    assert not _check_lines(proc.stdout, "FAIL")
    warned = _check_lines(proc.stdout, "WARN")
    dbt_warn = {k: v for k, v in warned.items() if "learning_unlinked_actors" in k}
    assert list(dbt_warn.values()) == ["1 failing row, dbt status warn"], warned
    assert next(iter(dbt_warn)).startswith("intermediate/int_learning__actors / ")
    x = newest["xapi_statements"]
    assert warned["marts/fct_attempts / gx_suite"] == (
        f"WARN newest delivered data (raw.xapi_statements.statement_timestamp): {x:%Y-%m-%d %H:%M:%S}, "
        "expected >= 2030-12-02 (as of 2031-01-01, max age 30 days)")
    a = newest["credential_awards"]
    assert warned["marts/fct_credential_awards / gx_suite"] == (
        f"WARN newest delivered data (raw.credential_awards.issued_at): {a:%Y-%m-%d %H:%M:%S}, "
        "expected >= 2030-10-03 (as of 2031-01-01, max age 90 days)")
    assert sorted(k for k in warned if k.endswith("gx_suite")) == [
        "marts/fct_attempts / gx_suite", "marts/fct_credential_awards / gx_suite",
        "marts/fct_credential_events / gx_suite", "marts/mart_exercise_summary / gx_suite",
        "marts/mart_learner_course_progress / gx_suite"]
    # the marts' own freshness is measured against the newest delivered data: it passes
    gate = {r["suite"]: r for r in last_gate_results(home)}
    fresh = [e for e in gate["fct_attempts"]["expectations"] if e["type"] == "expect_column_max_to_be_between"]
    assert [e["success"] for e in fresh] == [True]
    assert f"newest delivered raw.xapi_statements {x:%Y-%m-%d %H:%M:%S}" in fresh[0]["line"]
