"""The Great Expectations gate on real DuckDB files.

Part one drives the runner with small suites written by the test, so each rule
(value range, null rate, row count vs the previous publication, freshness,
missing table / column, bad suite files) is checked at its boundary. Part two
checks the real suites in ``expectations/``: they load, there is one per mart
of the dbt project, every column they name is in that mart's contract, and they
pass / fail on hand-made marts as they should.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from skillpath.quality.gx_suites import (
    DEFAULT_SUITES_DIR,
    SuiteFileError,
    format_results,
    load_suites,
    run_suites,
)
from tests.helpers import DBT_PROJECT

AS_OF = date(2024, 3, 31)


def make_db(path: Path, tables: dict[str, tuple[str, list[tuple]]]) -> Path:
    """A DuckDB file with ``marts.<name>`` tables: {name: (column DDL, rows)}."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        for name, (ddl, rows) in tables.items():
            con.execute(f"create table marts.{name} ({ddl})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"insert into marts.{name} values ({marks})", rows)
    finally:
        con.close()
    return path


def write_suite(suites_dir: Path, name: str, expectations: list[dict], **meta) -> Path:
    suites_dir.mkdir(parents=True, exist_ok=True)
    path = suites_dir / f"{name}.json"
    path.write_text(json.dumps({"name": name, "meta": {"skillpath": meta}, "expectations": expectations}))
    return path


ROW_COUNT = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": {"$PARAMETER": "min_row_count"}}}
SCORES_DDL = "learner_id varchar, mastery_pct double, score_scaled double, hints integer, last_attempt_at timestamp"
SCORES_SUITE = [
    ROW_COUNT,
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "learner_id"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "score_scaled", "mostly": 0.9}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "mastery_pct", "min_value": 0, "max_value": 100}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score_scaled", "min_value": 0, "max_value": 1}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "hints", "min_value": 0}},
    {"type": "expect_column_max_to_be_between",
     "kwargs": {"column": "last_attempt_at", "min_value": {"$PARAMETER": "fresh_since"}}},
]


def score_rows(n: int = 10, *, newest: datetime = datetime(2024, 3, 30, 12, 0)) -> list[tuple]:
    """n valid rows; the newest last_attempt_at is ``newest``."""
    return [(f"l{i}", 10.0 * (i % 11), (i % 11) / 10, i % 3, newest - timedelta(days=i % 7)) for i in range(n)]


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    d = tmp_path / "suites"
    write_suite(d, "scores", SCORES_SUITE, row_count_tolerance=0.1, max_age_days=30)
    return d


def results_by_key(result) -> dict[tuple[str, str | None], object]:
    return {(e.type, e.column): e for e in result.expectations}


# --------------------------------------------------------------------------- the runner


def test_passing_build_reports_every_expectation_with_observed_values(tmp_path, suites):
    build = make_db(tmp_path / "build.duckdb", {"scores": (SCORES_DDL, score_rows())})
    before = hashlib.sha256(build.read_bytes()).hexdigest()

    [res] = run_suites(build, None, as_of=AS_OF, suites_dir=suites)

    assert res.suite == "scores" and res.table == "marts.scores"
    assert res.success, format_results([res], verbose=True)
    assert res.row_count == 10 and res.previous_row_count is None
    assert [e.type for e in res.expectations] == [e["type"] for e in SCORES_SUITE]
    by = results_by_key(res)
    assert by[("expect_table_row_count_to_be_between", None)].observed == 10
    # first publication: the mart must not be empty, so at least one row
    assert by[("expect_table_row_count_to_be_between", None)].kwargs == {"min_value": 1}
    fresh = by[("expect_column_max_to_be_between", "last_attempt_at")]
    assert fresh.observed == datetime(2024, 3, 30, 12, 0)
    assert fresh.kwargs["min_value"] == datetime(2024, 3, 1)  # 2024-03-31 minus 30 days
    assert by[("expect_column_values_to_not_be_null", "score_scaled")].observed == 0.0
    assert all(e.line.startswith("PASS ") for e in res.expectations)
    # the build file is opened read-only: not a byte changed
    assert hashlib.sha256(build.read_bytes()).hexdigest() == before


def test_value_out_of_range_fails_that_expectation_with_the_offending_value(tmp_path, suites):
    rows = score_rows()
    rows[3] = ("l3", 130.0, 0.3, 0, rows[3][4])  # mastery 130 %
    build = make_db(tmp_path / "build.duckdb", {"scores": (SCORES_DDL, rows)})

    [res] = run_suites(build, None, as_of=AS_OF, suites_dir=suites)

    assert not res.success
    [failed] = res.failed
    assert (failed.type, failed.column) == ("expect_column_values_to_be_between", "mastery_pct")
    assert failed.unexpected_count == 1 and failed.element_count == 10
    assert failed.observed == 10.0  # percent of rows outside 0..100
    assert failed.examples == [130.0]
    assert failed.line == "FAIL mastery_pct between 0 and 100: 1 of 10 rows fail (10%), e.g. 130"
    assert "FAIL scores (marts.scores, 10 rows): 6 of 7 expectations met" in format_results([res])


def test_null_rate_above_mostly_fails_and_at_the_limit_passes(tmp_path, suites):
    def with_nulls(k: int) -> list[tuple]:
        return [(lid, m, None if i < k else s, h, t) for i, (lid, m, s, h, t) in enumerate(score_rows())]

    at_limit = make_db(tmp_path / "one.duckdb", {"scores": (SCORES_DDL, with_nulls(1))})
    over = make_db(tmp_path / "two.duckdb", {"scores": (SCORES_DDL, with_nulls(2))})

    [ok] = run_suites(at_limit, None, as_of=AS_OF, suites_dir=suites)
    [bad] = run_suites(over, None, as_of=AS_OF, suites_dir=suites)

    assert ok.success, format_results([ok], verbose=True)  # 1 of 10 null, mostly 0.9
    [failed] = bad.failed
    assert (failed.type, failed.column) == ("expect_column_values_to_not_be_null", "score_scaled")
    assert failed.observed == 20.0 and failed.unexpected_count == 2
    assert failed.line == "FAIL nulls in score_scaled: 20% (2 of 10 rows), allowed <= 10%"

    # learner_id is checked for nulls only (read as a null marker): one null fails it
    rows = score_rows()
    rows[7] = (None, *rows[7][1:])
    [key] = run_suites(make_db(tmp_path / "key.duckdb", {"scores": (SCORES_DDL, rows)}), None,
                       as_of=AS_OF, suites_dir=suites)
    [failed] = key.failed
    assert (failed.column, failed.observed, failed.unexpected_count) == ("learner_id", 10.0, 1)
    assert failed.line == "FAIL nulls in learner_id: 10% (1 of 10 rows), allowed <= 0%"


def test_row_count_is_compared_with_the_previous_publication(tmp_path, suites):
    previous = make_db(tmp_path / "warehouse.duckdb", {"scores": (SCORES_DDL, score_rows(50))})
    dropped = make_db(tmp_path / "dropped.duckdb", {"scores": (SCORES_DDL, score_rows(44))})
    within = make_db(tmp_path / "within.duckdb", {"scores": (SCORES_DDL, score_rows(45))})

    [bad] = run_suites(dropped, previous, as_of=AS_OF, suites_dir=suites)
    [ok] = run_suites(within, previous, as_of=AS_OF, suites_dir=suites)

    assert ok.success and ok.previous_row_count == 50
    [failed] = bad.failed
    assert failed.type == "expect_table_row_count_to_be_between"
    assert failed.observed == 44 and failed.kwargs == {"min_value": 45}  # ceil(0.9 * 50)
    assert failed.line == ("FAIL row count of marts.scores: 44, expected >= 45 "
                           "(previous publication 50 rows, tolerance 10%)")
    # a previous warehouse path that does not exist is a first publication
    [first] = run_suites(dropped, tmp_path / "nothing.duckdb", as_of=AS_OF, suites_dir=suites)
    assert first.success and first.previous_row_count is None


def test_empty_mart_fails_on_first_publication_unless_it_may_be_empty(tmp_path):
    build = make_db(tmp_path / "build.duckdb", {"groups": ("group_id varchar", [])})
    d = tmp_path / "suites"
    notnull = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "group_id"}}
    write_suite(d, "must", [ROW_COUNT, notnull], table="groups")
    write_suite(d, "may", [ROW_COUNT, notnull], table="groups", must_not_be_empty=False)

    res = {r.suite: r for r in run_suites(build, None, as_of=AS_OF, suites_dir=d)}

    assert res["may"].success
    [failed] = res["must"].failed
    assert failed.observed == 0 and failed.kwargs == {"min_value": 1}
    assert failed.line == "FAIL row count of marts.groups: 0, expected >= 1 (no previous publication)"


def test_stale_newest_event_fails_freshness(tmp_path, suites):
    fresh = make_db(tmp_path / "fresh.duckdb", {"scores": (SCORES_DDL, score_rows(newest=datetime(2024, 3, 1)))})
    stale = make_db(tmp_path / "stale.duckdb",
                    {"scores": (SCORES_DDL, score_rows(newest=datetime(2024, 2, 29, 23, 59, 59)))})

    [ok] = run_suites(fresh, None, as_of=AS_OF, suites_dir=suites)
    [bad] = run_suites(stale, None, as_of=AS_OF, suites_dir=suites)

    assert ok.success  # exactly 30 days before as_of is still fresh
    [failed] = bad.failed
    assert (failed.type, failed.column) == ("expect_column_max_to_be_between", "last_attempt_at")
    assert failed.observed == datetime(2024, 2, 29, 23, 59, 59)
    assert failed.line == ("FAIL freshness of last_attempt_at: newest 2024-02-29 23:59:59, expected >= 2024-03-01 "
                           "(as of 2024-03-31, max age 30 days)")
    # the same data is fresh when the run's as-of date is the newest landing date
    [pinned] = run_suites(stale, None, as_of=date(2024, 3, 1), suites_dir=suites)
    assert pinned.success


def test_timestamptz_columns_are_compared_in_utc(tmp_path):
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    con.execute("set timezone = 'Europe/Paris'; create schema marts; "
                "create table marts.ev (occurred_at timestamptz); "
                "insert into marts.ev values ('2024-03-01 00:30:00+01:00')")  # 2024-02-29 23:30 UTC
    con.close()
    d = tmp_path / "suites"
    write_suite(d, "ev", [{"type": "expect_column_max_to_be_between",
                           "kwargs": {"column": "occurred_at", "min_value": {"$PARAMETER": "fresh_since"}}}],
                max_age_days=30)

    [res] = run_suites(tmp_path / "build.duckdb", None, as_of=AS_OF, suites_dir=d)

    assert not res.success
    assert res.expectations[0].observed == datetime(2024, 2, 29, 23, 30)


def test_missing_table_and_missing_column_fail_with_a_clear_message(tmp_path, suites):
    build = make_db(tmp_path / "build.duckdb", {"other": ("x integer", [(1,)])})
    [res] = run_suites(build, None, as_of=AS_OF, suites_dir=suites)
    assert not res.success
    assert res.error == "table marts.scores does not exist in the build"
    assert [e.line for e in res.expectations] == ["FAIL table marts.scores does not exist in the build"]

    ddl = "learner_id varchar, mastery_pct double, hints integer, last_attempt_at timestamp"
    build2 = make_db(tmp_path / "build2.duckdb", {"scores": (ddl, [(r[0], r[1], r[3], r[4]) for r in score_rows()])})
    [res2] = run_suites(build2, None, as_of=AS_OF, suites_dir=suites)
    assert {(e.type, e.column) for e in res2.failed} == {
        ("expect_column_values_to_not_be_null", "score_scaled"),
        ("expect_column_values_to_be_between", "score_scaled"),
    }
    assert all(e.line.endswith("column(s) score_scaled not in marts.scores") for e in res2.failed)


def test_only_selects_suites_and_unknown_names_are_refused(tmp_path, suites):
    write_suite(suites, "other", [ROW_COUNT])
    build = make_db(tmp_path / "build.duckdb", {"scores": (SCORES_DDL, score_rows())})
    assert [r.suite for r in run_suites(build, None, as_of=AS_OF, suites_dir=suites, only=["scores"])] == ["scores"]
    with pytest.raises(SuiteFileError, match=r"no suite named \['nope'\]"):
        run_suites(build, None, as_of=AS_OF, suites_dir=suites, only=["nope"])


@pytest.mark.parametrize(
    ("expectations", "meta", "message"),
    [
        ([{"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "x", "min_value": 0}}], {},
         r"expectation #0 \(expect_column_values_to_be_betwen\) is invalid"),
        ([{"type": "expect_column_values_to_be_between", "kwargs": {"colum": "x", "min_value": 0}}], {},
         r"expectation #0 \(expect_column_values_to_be_between\) is invalid"),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": {"$PARAMETER": "rows"}}}], {},
         r"unknown suite parameter\(s\) \['rows'\]"),
        ([{"type": "expect_column_max_to_be_between",
           "kwargs": {"column": "t", "min_value": {"$PARAMETER": "fresh_since"}}}], {},
         r"max_age_days is not set"),
        ([ROW_COUNT], {"row_count_tolerance": 1.5}, r"row_count_tolerance must be a number from 0 to 1"),
        ([{"type": "expect_column_values_to_not_be_null",
           "kwargs": {"column": "x", "row_condition": "y > 0", "condition_parser": "pandas"}}], {},
         r"row_condition is not supported"),
    ],
)
def test_invalid_suite_files_are_refused_naming_file_and_expectation(tmp_path, expectations, meta, message):
    path = write_suite(tmp_path / "suites", "bad", expectations, **meta)
    with pytest.raises(SuiteFileError, match=message) as err:
        load_suites(tmp_path / "suites")
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------- the real suites


def mart_contracts() -> dict[str, list[str]]:
    """Mart model name -> contract column names, from dbt_project/models/marts/**/*.yml."""
    contracts: dict[str, list[str]] = {}
    for path in sorted((DBT_PROJECT / "models" / "marts").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            contracts[model["name"]] = [c["name"] for c in model.get("columns") or []]
    return contracts


def mart_models() -> set[str]:
    return {p.stem for p in (DBT_PROJECT / "models" / "marts").rglob("*.sql")}


#: the published recipient-level credential marts, which hold only consenting recipients (docs/privacy.md)
RECIPIENT_LEVEL = {"fct_credential_awards", "fct_credential_events", "fct_credential_transitions",
                   "mart_recipient_credentials", "mart_invalid_credentials"}


def test_every_mart_has_exactly_one_suite_and_suites_name_only_contract_columns():
    specs = load_suites(DEFAULT_SUITES_DIR)
    contracts = mart_contracts()
    models = mart_models()
    assert models, "no mart models found"
    assert {s.name for s in specs} == models
    for spec in specs:
        assert spec.path.name == f"{spec.name}.json"
        assert (spec.schema, spec.table) == ("marts", spec.name)
        assert spec.name in contracts, f"{spec.name} has no contract in a marts yml"
        unknown = set(spec.columns() or []) - set(contracts[spec.name])
        assert not unknown, f"{spec.path.name} names columns not in the {spec.name} contract: {sorted(unknown)}"
        types = [e["type"] for e in spec.expectations]
        # every suite compares its row count with the previous publication
        assert types[0] == "expect_table_row_count_to_be_between"
        assert spec.expectations[0]["kwargs"] == {"min_value": {"$PARAMETER": "min_row_count"}}
        if spec.name in RECIPIENT_LEVEL:
            # consent (docs/privacy.md): a withdrawal may remove any share of the rows, nobody may have
            # consented yet, and the newest row says who consented, not how fresh the data is
            assert spec.row_count_tolerance is None and not spec.must_not_be_empty
            assert not any("fresh_since" in json.dumps(e["kwargs"]) for e in spec.expectations)
        else:
            assert spec.row_count_tolerance is not None
        # a freshness expectation needs its window, and only non-empty marts have one
        if any("fresh_since" in json.dumps(e["kwargs"]) for e in spec.expectations):
            assert spec.max_age_days is not None and spec.must_not_be_empty
    # the facts with an event time carry a freshness check
    fresh = {s.name: s.max_age_days for s in specs if s.max_age_days is not None}
    assert {"fct_attempts", "fct_credential_awards", "fct_credential_events"} <= set(fresh)


ATTEMPTS_DDL = """attempt_sk varchar, learner_id varchar, account_id varchar, course_id varchar, exercise_id varchar,
    attempt_number bigint, started_at timestamp, duration_seconds double, duration_seconds_raw double,
    correct_answers double, incorrect_answers double, score_scaled double, hints_taken bigint,
    points_earned double"""
SUMMARY_DDL = """learner_id varchar, account_id varchar, exercise_id varchar, mastery_pct double,
    last_attempt_at timestamp, score_pct double, attempts bigint, hints_taken bigint,
    avg_seconds_per_attempt double, time_spent_seconds double, points double"""


def attempts_rows() -> list[tuple]:
    """Eight attempts by two learners on two exercises; the newest started 2024-03-30 09:00."""
    rows = []
    for i in range(8):
        learner, exercise = f"L{i % 2}", f"E{i % 4 // 2}"
        started = datetime(2024, 3, 23, 9, 0) + timedelta(days=i)
        score = [0.25, 1.0, 0.5, 0.0, 0.75, 0.0, 1.0, 0.5][i]
        rows.append((f"a{i}", learner, "acc1", "C1", exercise, i // 4 + 1, started, 60.0 * i, 60.0 * i,
                     2.0, 1.0, score, i % 2, 10 * score))
    return rows


def summary_rows() -> list[tuple]:
    return [
        ("L0", "acc1", "E0", 75.0, datetime(2024, 3, 29, 9), 62.5, 2, 0, 120.0, 240.0, 7.5),
        ("L1", "acc1", "E0", 100.0, datetime(2024, 3, 30, 9), 50.0, 2, 2, 300.0, 600.0, 10.0),
        ("L0", "acc1", "E1", 50.0, datetime(2024, 3, 27, 9), None, 2, 0, 60.0, 120.0, 5.0),
        ("L1", "acc1", "E1", 0.0, datetime(2024, 3, 28, 9), None, 1, 1, 30.0, 30.0, 0.0),
    ]


def test_real_suites_pass_on_sound_marts_and_fail_on_broken_ones(tmp_path):
    only = ["fct_attempts", "mart_exercise_summary"]
    sound = make_db(tmp_path / "sound.duckdb", {
        "fct_attempts": (ATTEMPTS_DDL, attempts_rows()),
        "mart_exercise_summary": (SUMMARY_DDL, summary_rows()),
    })
    results = {r.suite: r for r in run_suites(sound, None, as_of=AS_OF, only=only)}
    assert all(r.success for r in results.values()), format_results(list(results.values()), verbose=True)
    attempts = results_by_key(results["fct_attempts"])
    assert attempts[("expect_column_max_to_be_between", "started_at")].observed == datetime(2024, 3, 30, 9, 0)
    assert attempts[("expect_table_row_count_to_be_between", None)].observed == 8
    summary = results_by_key(results["mart_exercise_summary"])
    assert summary[("expect_column_values_to_not_be_null", "score_pct")].observed == 50.0  # 2 of 4, mostly 0.5

    # mastery 130 %, an attempt's score 1.5 and a missing scaled score in 2 of 8 attempts
    bad_summary = summary_rows()
    bad_summary[1] = ("L1", "acc1", "E0", 130.0, *bad_summary[1][4:])
    bad_attempts = attempts_rows()
    bad_attempts[0] = (*bad_attempts[0][:11], 1.5, *bad_attempts[0][12:])
    bad_attempts[2] = (*bad_attempts[2][:11], None, *bad_attempts[2][12:])
    bad_attempts[5] = (*bad_attempts[5][:11], None, *bad_attempts[5][12:])
    broken = make_db(tmp_path / "broken.duckdb", {
        "fct_attempts": (ATTEMPTS_DDL, bad_attempts),
        "mart_exercise_summary": (SUMMARY_DDL, bad_summary),
    })
    results = {r.suite: r for r in run_suites(broken, None, as_of=AS_OF, only=only)}
    [mastery] = results["mart_exercise_summary"].failed
    assert (mastery.column, mastery.examples, mastery.unexpected_count) == ("mastery_pct", [130.0], 1)
    failed = {(e.type, e.column): e for e in results["fct_attempts"].failed}
    assert set(failed) == {("expect_column_values_to_be_between", "score_scaled"),
                           ("expect_column_values_to_not_be_null", "score_scaled")}
    assert failed[("expect_column_values_to_be_between", "score_scaled")].examples == [1.5]
    assert failed[("expect_column_values_to_not_be_null", "score_scaled")].observed == 25.0

    # the previous publication had 16 attempts, and a month later the newest attempt is 31 days old
    previous = make_db(tmp_path / "warehouse.duckdb", {"fct_attempts": (ATTEMPTS_DDL, attempts_rows() * 2)})
    [res] = run_suites(sound, previous, as_of=date(2024, 4, 30), only=["fct_attempts"])
    failed = {(e.type, e.column): e for e in res.failed}
    assert set(failed) == {("expect_table_row_count_to_be_between", None),
                           ("expect_column_max_to_be_between", "started_at")}
    assert failed[("expect_table_row_count_to_be_between", None)].kwargs == {"min_value": 16}  # ceil(0.95 * 16)
    assert failed[("expect_column_max_to_be_between", "started_at")].kwargs == {
        "column": "started_at", "min_value": datetime(2024, 3, 31)}


# --------------------------------------------------------------------------- sources, severities, overrides


def make_raw(path: Path, tables: dict[str, list[datetime]]) -> Path:
    """A raw layer (lake.duckdb) with ``raw.<table>`` holding one row per event time given."""
    from skillpath.quality.gx_suites import RAW_SOURCES

    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists raw")
        for name, times in tables.items():
            col = RAW_SOURCES[name] or "loaded_at"
            con.execute(f"create table raw.{name} ({col} timestamp)")
            if times:
                con.executemany(f"insert into raw.{name} values (?)", [(t,) for t in times])
    finally:
        con.close()
    return path


FRESH_WARNING = {"type": "expect_column_max_to_be_between", "severity": "warning",
                 "kwargs": {"column": "last_attempt_at", "min_value": {"$PARAMETER": "fresh_since"}}}


def test_an_empty_mart_warns_when_its_sources_never_delivered_and_blocks_when_they_did(tmp_path):
    build = make_db(tmp_path / "build.duckdb", {"scores": (SCORES_DDL, [])})
    d = tmp_path / "suites"
    write_suite(d, "scores", [ROW_COUNT, FRESH_WARNING], max_age_days=30,
                sources=[["xapi_statements", "lms_courses"]])
    never = make_raw(tmp_path / "never.duckdb", {"xapi_statements": [], "lms_courses": []})
    did = make_raw(tmp_path / "did.duckdb", {"xapi_statements": [], "lms_courses": [datetime(2024, 1, 1)]})

    [warned] = run_suites(build, None, as_of=AS_OF, suites_dir=d, raw_db=never)
    [blocked] = run_suites(build, None, as_of=AS_OF, suites_dir=d, raw_db=did)

    assert warned.success and warned.delivered is False and not warned.blocking_failures
    assert [e.line for e in warned.expectations] == [
        "PASS row count of marts.scores: 0, expected >= 0 (no previous publication) (its sources delivered nothing)",
        "PASS freshness of last_attempt_at: no rows, its sources delivered nothing",
        "WARN marts.scores is empty: its sources (raw.xapi_statements or raw.lms_courses) were never delivered",
    ]
    assert [e.type for e in warned.warnings] == ["empty_mart"]
    assert "WARN scores (marts.scores, 0 rows): 2 of 3 expectations met" in format_results([warned])
    assert not blocked.success and blocked.delivered is True
    assert [e.line for e in blocked.blocking_failures] == [
        "FAIL row count of marts.scores: 0, expected >= 1 (no previous publication)"]
    # with no raw layer given, every source counts as delivered (the strict, earlier behaviour)
    [strict] = run_suites(build, None, as_of=AS_OF, suites_dir=d)
    assert not strict.success and strict.delivered is None


def test_freshness_is_measured_from_the_newest_delivered_data_and_only_warns(tmp_path):
    """A backfill of 2015 data run in 2024: the mart is as fresh as what was delivered (pass);
    that the delivered data is old is a warning, and the suite passes."""
    d = tmp_path / "suites"
    write_suite(d, "scores", [ROW_COUNT, FRESH_WARNING], max_age_days=30, sources=["xapi_statements"])
    raw = make_raw(tmp_path / "lake.duckdb", {"xapi_statements": [datetime(2015, 6, 30, 18, 0),
                                                                 datetime(2015, 1, 2)]})
    current = make_db(tmp_path / "current.duckdb",
                      {"scores": (SCORES_DDL, score_rows(newest=datetime(2015, 6, 30, 12, 0)))})
    lagging = make_db(tmp_path / "lagging.duckdb",
                      {"scores": (SCORES_DDL, score_rows(newest=datetime(2015, 5, 30, 23, 0)))})

    [ok] = run_suites(current, None, as_of=AS_OF, suites_dir=d, raw_db=raw)
    [lag] = run_suites(lagging, None, as_of=AS_OF, suites_dir=d, raw_db=raw)

    assert ok.success and lag.success
    assert [e.line for e in ok.expectations[1:]] == [
        "PASS freshness of last_attempt_at: newest 2015-06-30 12:00:00, expected >= 2015-05-31 "
        "(newest delivered raw.xapi_statements 2015-06-30 18:00:00, max age 30 days)",
        "WARN newest delivered data (raw.xapi_statements.statement_timestamp): 2015-06-30 18:00:00, "
        "expected >= 2024-03-01 (as of 2024-03-31, max age 30 days)",
    ]
    assert [(e.type, e.severity) for e in ok.warnings] == [("source_freshness", "warning")]
    # the mart lags a month behind what was delivered: a warning too, not a block
    assert [e.line for e in lag.warnings] == [
        "WARN freshness of last_attempt_at: newest 2015-05-30 23:00:00, expected >= 2015-05-31 "
        "(newest delivered raw.xapi_statements 2015-06-30 18:00:00, max age 30 days)",
        ok.warnings[0].line,
    ]
    # SKILLPATH_FRESHNESS_DAYS replaces max_age_days: 3500 days back from 2024-03-31 reaches 2014
    [wide] = run_suites(current, None, as_of=AS_OF, suites_dir=d, raw_db=raw, freshness_days=3500)
    assert wide.success and not wide.warnings


def test_max_row_drop_replaces_the_suites_tolerance(tmp_path, suites):
    previous = make_db(tmp_path / "warehouse.duckdb", {"scores": (SCORES_DDL, score_rows(50))})
    build = make_db(tmp_path / "build.duckdb", {"scores": (SCORES_DDL, score_rows(40))})

    [default] = run_suites(build, previous, as_of=AS_OF, suites_dir=suites)  # 10 %: >= 45
    [loose] = run_suites(build, previous, as_of=AS_OF, suites_dir=suites, max_row_drop=0.2)  # >= 40
    [tight] = run_suites(build, previous, as_of=AS_OF, suites_dir=suites, max_row_drop=0.19)  # >= 41

    assert [e.line for e in default.blocking_failures] == [
        "FAIL row count of marts.scores: 40, expected >= 45 (previous publication 50 rows, tolerance 10%)"]
    assert loose.success
    assert [e.line for e in tight.blocking_failures] == [
        "FAIL row count of marts.scores: 40, expected >= 41 (previous publication 50 rows, tolerance 19%)"]


@pytest.mark.parametrize(
    ("expectations", "meta", "message"),
    [
        ([{**ROW_COUNT, "severity": "fatal"}], {}, r"severity must be one of \['critical', 'warning', 'info'\]"),
        ([ROW_COUNT], {"sources": ["xapi_statement"]}, r"unknown raw table\(s\) \['xapi_statement'\]"),
        ([ROW_COUNT], {"sources": "xapi_statements"}, r"sources must be a list"),
    ],
)
def test_invalid_severity_and_sources_are_refused(tmp_path, expectations, meta, message):
    write_suite(tmp_path / "suites", "bad", expectations, **meta)
    with pytest.raises(SuiteFileError, match=message):
        load_suites(tmp_path / "suites")


def test_real_suites_name_their_sources_and_freshness_only_warns():
    specs = {s.name: s for s in load_suites(DEFAULT_SUITES_DIR)}
    assert all(s.sources for s in specs.values())
    assert specs["dim_groups"].sources == specs["mart_group_league"].sources == (("lms_groups",),)
    assert specs["dim_courses"].sources == (("xapi_statements", "lms_courses"),)
    assert specs["fct_credential_events"].sources == (("credential_events",),)
    for spec in specs.values():
        for e in spec.expectations:
            fresh = "fresh_since" in json.dumps(e["kwargs"])
            assert e["severity"] == ("warning" if fresh else "critical"), (spec.name, e)
