"""CSV exports from the published warehouse: content, account filter, suppression, errors, nightly set."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from skillpath.publish.duckdb_publish import publish_duckdb
from skillpath.publish.exports import NIGHTLY_MARTS, ExportError, export_mart, export_nightly

ACCOUNTS = ["acct-1", "acct/ü 2"]
PROGRESS = [  # account_id, course_id, learner_id, mastered, completion_pct, certified, note
    ("acct-1", "c1", "lrn-a", 5, 100.0, True, 'says "hi", twice'),
    ("acct-1", "c1", "lrn-b", 2, 40.5, False, "Zoë\nnew line"),
    ("acct-1", "c2", "lrn-a", 0, 0.0, False, None),
    ("acct/ü 2", "c1", "lrn-c", 3, 60.0, True, ""),
]
LEAGUE = [  # account_id, group_id, learners, mastered (NULL = suppressed), is_suppressed
    ("acct-1", "g1", 12, 7, False),
    ("acct-1", "g2", 3, None, True),
    ("acct/ü 2", "g3", 2, None, True),
]
OVERVIEW = [  # account_id, course_id, users, combined_mastery_pct, certifications, is_suppressed
    ("acct-1", "c1", 8, 61.25, 4, False),
    ("acct-1", "c2", 1, None, None, True),
    ("acct/ü 2", "c1", 6, 50.0, 2, False),
]


def make_warehouse(path: Path) -> Path:
    """A small hand-made published warehouse (schema marts, as publish_duckdb writes it)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute("create table marts.mart_learner_course_progress (account_id varchar, course_id varchar, "
                    "learner_id varchar, mastered_exercises integer, completion_pct double, is_certified boolean, "
                    "note varchar)")
        con.executemany("insert into marts.mart_learner_course_progress values (?, ?, ?, ?, ?, ?, ?)", PROGRESS)
        con.execute("create table marts.mart_group_league (account_id varchar, group_id varchar, learners integer, "
                    "mastered integer, is_suppressed boolean)")
        con.executemany("insert into marts.mart_group_league values (?, ?, ?, ?, ?)", LEAGUE)
        con.execute("create table marts.mart_course_overview (account_id varchar, course_id varchar, users integer, "
                    "combined_mastery_pct double, certifications integer, is_suppressed boolean)")
        con.executemany("insert into marts.mart_course_overview values (?, ?, ?, ?, ?, ?)", OVERVIEW)
        con.execute("create table marts.dim_credential as select 'cred-1' as credential_id, 'badge' as credential_type")
    finally:
        con.close()
    return path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def cell(value) -> str:
    """How a value must look in the CSV: NULL is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return make_warehouse(tmp_path / "warehouse.duckdb")


def test_export_whole_mart(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "progress.csv"
    n = export_mart(warehouse, "mart_learner_course_progress", out)
    header, rows = read_csv(out)
    assert n == len(rows) == len(PROGRESS)
    assert header == ["account_id", "course_id", "learner_id", "mastered_exercises", "completion_pct",
                      "is_certified", "note"]
    assert sorted(rows) == sorted([cell(v) for v in r] for r in PROGRESS)
    assert "Zoë" in out.read_text(encoding="utf-8")
    assert not list(out.parent.glob(".*.tmp"))


def test_export_filtered_by_account(warehouse: Path, tmp_path: Path) -> None:
    for account in ACCOUNTS:
        out = tmp_path / "league.csv"
        n = export_mart(warehouse, "mart_group_league", out, account_id=account)
        _, rows = read_csv(out)
        expected = [[cell(v) for v in r] for r in LEAGUE if r[0] == account]
        assert n == len(rows) == len(expected) > 0
        assert sorted(rows) == sorted(expected)
    assert export_mart(warehouse, "mart_group_league", tmp_path / "none.csv", account_id="nobody") == 0
    assert read_csv(tmp_path / "none.csv") == (["account_id", "group_id", "learners", "mastered", "is_suppressed"], [])


def test_suppressed_cells_stay_empty(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "overview.csv"
    export_mart(warehouse, "mart_course_overview", out)
    header, rows = read_csv(out)
    flag, pct, certs = (header.index(c) for c in ("is_suppressed", "combined_mastery_pct", "certifications"))
    suppressed = [r for r in rows if r[flag] == "true"]
    assert len(suppressed) == sum(1 for r in OVERVIEW if r[-1])
    assert all(r[pct] == "" and r[certs] == "" for r in suppressed)
    assert all(r[pct] != "" and r[certs] != "" for r in rows if r[flag] == "false")

    export_mart(warehouse, "mart_group_league", out, account_id="acct-1")
    header, rows = read_csv(out)
    assert [r[header.index("mastered")] for r in rows if r[header.index("is_suppressed")] == "true"] == [""]


def test_errors_are_clear(warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError) as exc:
        export_mart(warehouse, "mart_nope", tmp_path / "x.csv")
    for name in ("dim_credential", "mart_course_overview", "mart_group_league", "mart_learner_course_progress"):
        assert name in str(exc.value)
    with pytest.raises(ExportError, match="has no account_id column"):
        export_mart(warehouse, "dim_credential", tmp_path / "x.csv", account_id="acct-1")
    with pytest.raises(ExportError, match="no published warehouse"):
        export_mart(tmp_path / "missing.duckdb", "dim_credential", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_export_nightly(warehouse: Path, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    paths = export_nightly(warehouse, exports)
    rel = sorted(str(p.relative_to(exports)) for p in paths)
    per_account = [f"{m}/acct-1.csv" for m in NIGHTLY_MARTS]
    assert len(rel) == 3 * 3 and all(p.exists() for p in paths)
    assert {f"{m}.csv" for m in NIGHTLY_MARTS} | set(per_account) <= set(rel)
    odd = [r for r in rel if r.startswith("mart_group_league/") and r != "mart_group_league/acct-1.csv"]
    assert len(odd) == 1 and "/" not in odd[0].split("/", 1)[1]  # 'acct/ü 2' became one safe file name
    _, rows = read_csv(exports / odd[0])
    assert rows == [[cell(v) for v in r] for r in LEAGUE if r[0] == "acct/ü 2"]
    _, rows = read_csv(exports / "mart_course_overview.csv")
    assert len(rows) == len(OVERVIEW)

    con = duckdb.connect(str(warehouse))
    con.execute("drop table marts.mart_group_league")
    con.close()
    with pytest.raises(ExportError, match="marts not in the published warehouse: mart_group_league"):
        export_nightly(warehouse, exports)


def test_export_reads_the_published_file(tmp_path: Path) -> None:
    """End to end: build -> publish_duckdb -> export from the read-only published file."""
    build = make_warehouse(tmp_path / "build.duckdb")
    home = tmp_path / "home"
    publish_duckdb(build, home)
    n = export_mart(home / "warehouse.duckdb", "mart_course_overview", tmp_path / "o.csv", account_id="acct-1")
    assert n == sum(1 for r in OVERVIEW if r[0] == "acct-1")
