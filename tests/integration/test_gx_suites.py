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

from orchestration.quality.gx_suites import (
    SuiteFileError,
    format_results,
    load_suites,
    run_suites,
)

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
    ],
)
def test_invalid_suite_files_are_refused_naming_file_and_expectation(tmp_path, expectations, meta, message):
    path = write_suite(tmp_path / "suites", "bad", expectations, **meta)
    with pytest.raises(SuiteFileError, match=message) as err:
        load_suites(tmp_path / "suites")
    assert str(path) in str(err.value)
