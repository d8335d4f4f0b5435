"""Recipient consent end to end (docs/privacy.md, "Consent"): the real pipeline on the generated demo
world, whose recipients granted, never gave, withdrew, or withdrew and granted again consent for
detailed tracking.

The consenting recipients are computed here from the landing zone itself (``consents/*.csv``,
``*.ndjson`` and ``lms/users.csv``, read with the csv and json modules): the published
recipient-level marts, a CSV export of one and the report's recipient rows hold exactly them,
while the aggregates count every recipient. A withdrawal delivered as a new file (with a bad row,
quarantined) removes the recipient's detail on the next run; a deployment without consent files
and ``SKILLPATH_CONSENT_DEFAULT=assumed`` publishes every recipient.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from skillpath.publish.exports import export_mart
from tests.helpers import TEST_KEY, query
from tests.integration.pipeline_support import generate, run

AS_OF_END = dt.datetime(2026, 1, 7)  # pipeline_env pins SKILLPATH_AS_OF_DATE=2026-01-06: consent at its end
#: published recipient-level marts (docs/privacy.md)
RECIPIENT_LEVEL = ("fct_credential_awards", "fct_credential_events", "fct_credential_transitions",
                   "mart_recipient_credentials", "mart_invalid_credentials")
_OFFSET = re.compile(r".*\d[Tt ]\d.*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)")


def pseudo(user_id: str) -> str:
    return hashlib.sha256(f"{TEST_KEY}|{user_id}".encode()).hexdigest()[:24]


def consenting_users(landing: Path) -> tuple[set[str], set[str]]:
    """(user ids whose detailed_tracking consent holds at AS_OF_END, user ids with any event), from the
    landing files: subjects by user id or email (mailto: and case ignored), the latest event wins and a
    withdrawal wins a tie; a time without an offset is not an event (it is quarantined)."""
    with open(landing / "lms" / "users.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    by_email = {r[2].strip().lower(): r[0] for r in rows if len(r) == 5}
    users = set(by_email.values())
    records = []
    for path in sorted((landing / "consents").rglob("*")):
        if path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                records += list(csv.DictReader(fh))
        elif path.suffix == ".ndjson":
            records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    events = {}
    for r in records:
        subject = str(r["subject"]).strip()
        if r.get("scope", "").strip().lower() != "detailed_tracking" or not _OFFSET.fullmatch(r["at"].strip()):
            continue
        email = subject.lower().removeprefix("mailto:")
        user = by_email.get(email) if "@" in subject else (subject if subject in users else None)
        at = dt.datetime.fromisoformat(r["at"].strip().replace("Z", "+00:00")).astimezone(dt.UTC).replace(tzinfo=None)
        if user is None or at > AS_OF_END:
            continue
        key = (at, r["action"].strip().lower() == "withdrawn")
        events[user] = max(events.get(user, key), key)
    return {u for u, (_, withdrawn) in events.items() if not withdrawn}, set(events)


def learner_ids(db: Path, table: str, schema: str = "marts") -> set[str | None]:
    return {r[0] for r in query(db, f"select distinct learner_id from {schema}.{table}")}


def check_published(home: Path, exports: Path) -> dict:
    """The published recipient-level marts, an export and the report hold exactly the consenting recipients."""
    consenting, decided = consenting_users(home / "landing")
    build, warehouse = home / "build.duckdb", home / "warehouse.duckdb"
    everyone = learner_ids(build, "int_credentials__award_facts", "intermediate")
    expected = {pseudo(u) for u in consenting} & everyone
    assert 0 < len(expected) < len(everyone)
    assert learner_ids(warehouse, "mart_recipient_credentials") == expected
    assert learner_ids(warehouse, "fct_credential_awards") == expected
    for table in RECIPIENT_LEVEL:
        assert learner_ids(warehouse, table) <= expected, table
    # per award: the published awards are exactly the complete fact's awards of consenting recipients
    con = duckdb.connect(str(build), read_only=True)
    try:
        con.execute(f"attach '{warehouse}' as w (read_only)")
        con.execute("create temp table e (learner_id varchar)")
        con.executemany("insert into e values (?)", [[x] for x in expected])
        for table, key in (("fct_credential_awards", "award_id"), ("fct_credential_events", "event_id"),
                           ("fct_credential_transitions", "collection_id || award_id")):
            diff = con.execute(
                f"select count(*) from ((select {key} from intermediate.int_credentials__{table[15:-1]}_facts "
                f"where learner_id in (select learner_id from e)) except all (select {key} from w.marts.{table}))"
            ).fetchone()[0]
            assert diff == 0, table
        # the aggregates count every recipient
        issued, recipients = con.execute("select sum(awards_issued), sum(recipients) "
                                         "from w.marts.mart_issuance_trends").fetchone()
        complete = con.execute("select count(*) from intermediate.int_credentials__award_facts "
                               "where achievement_id is not null").fetchone()[0]
        published = con.execute("select count(*) from w.marts.fct_credential_awards "
                                "where achievement_id is not null").fetchone()[0]
        assert issued == complete > published
        flow = con.execute("select sum(completed) from w.marts.mart_pathway_progress").fetchone()[0]
        assert flow == con.execute("select count(*) from intermediate.int_credentials__transition_facts").fetchone()[0]
    finally:
        con.close()
    # a CSV export of the recipient mart (exports read the published file)
    out = exports / "mart_recipient_credentials.csv"
    n = export_mart(warehouse, "mart_recipient_credentials", out)
    with open(out, newline="", encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert n == len(exported) and {r["learner_id"] for r in exported} == expected
    # the report's recipient rows (invalid credentials): consenting recipients only
    html = (home / "report.html").read_text()
    invalid = re.search(r'id="invalid-credentials-table".*?</table>', html, re.S)
    published_invalid = learner_ids(warehouse, "mart_invalid_credentials")
    invalid_everyone = {r[0] for r in query(build, "select distinct learner_id from intermediate."
                                                   "int_credentials__award_facts where proof_status = 'invalid'")}
    # the demo world has invalid proofs of consenting and of non-consenting recipients
    assert invalid_everyone & expected and invalid_everyone - expected
    assert published_invalid == invalid_everyone & expected
    assert invalid is not None, "the report shows the invalid credentials table"
    shown = set(re.findall(r"\b[0-9a-f]{24}\b", invalid.group(0))) & everyone
    assert shown and shown <= published_invalid
    assert not (invalid_everyone - expected) & shown
    check_learner_progress(home, expected)
    return {"consenting": consenting, "decided": decided, "expected": expected, "everyone": everyone}


CREDENTIAL_COLUMNS = ("is_certified", "certified_at", "credentials_held", "rank_certified")


def report_learner_rows(html: str) -> list[dict[str, str | None]]:
    """Every row of the report's learner league tables, by data-col: the cell's data-v (None: no value)."""
    rows = []
    for table in re.findall(r'<table[^>]*data-mart="mart_learner_course_progress".*?</table>', html, re.S):
        cols = re.findall(r'<th data-col="([^"]+)"', table)
        for tr in re.findall(r"<tr>(<td.*?)</tr>", table, re.S):
            cells = re.findall(r"<td([^>]*)>(.*?)</td>", tr, re.S)
            values = [(re.search(r'data-v="([^"]*)"', attrs) or [None, None])[1] for attrs, _ in cells]
            rows.append(dict(zip(cols, [v if v not in ("", None) else None for v in values], strict=True)))
    return rows


def check_learner_progress(home: Path, expected: set[str]) -> None:
    """The learner progress (warehouse, nightly CSV exports, the report's learner league) shows the
    credential columns exactly for the consenting recipients; every learner keeps their learning rows."""
    warehouse, build = home / "warehouse.duckdb", home / "build.duckdb"
    learners = learner_ids(warehouse, "mart_learner_course_progress")
    assert learners == learner_ids(build, "int_learning__learner_course_progress", "intermediate")
    any_value = " or ".join(f"{c} is not null" for c in CREDENTIAL_COLUMNS)
    shown = {r[0] for r in query(warehouse, f"select learner_id from marts.mart_learner_course_progress "
                                            f"where {any_value}")}
    hidden = {r[0] for r in query(warehouse, f"select learner_id from marts.mart_learner_course_progress "
                                             f"where not ({any_value})")}
    assert shown == expected & learners and shown, "consenting recipients who take part in a course"
    assert hidden == learners - expected and hidden
    # the complete model had values for the hidden ones: certified learners among them too
    certified = {r[0] for r in query(build, "select learner_id from intermediate.int_learning__learner_course_progress "
                                            "where is_certified")}
    assert certified - expected, "a non-consenting learner holds a certifying credential"
    exports = home / "exports"
    for paths in ([exports / "mart_learner_course_progress.csv"],
                  sorted((exports / "mart_learner_course_progress").glob("*.csv"))):  # whole, and per account
        exported = []
        for path in paths:
            with open(path, newline="", encoding="utf-8") as fh:
                exported += list(csv.DictReader(fh))
        assert {r["learner_id"] for r in exported} == learners
        assert {r["learner_id"] for r in exported if any(r[c] for c in CREDENTIAL_COLUMNS)} == shown
    rows = report_learner_rows((home / "report.html").read_text())
    assert rows and {r["learner"] for r in rows} <= learners
    for r in rows:
        detail = (r["is_certified"], r["credentials_held"])
        assert (None not in detail) if r["learner"] in expected else detail == (None, None), r
    assert {r["learner"] for r in rows} - expected, "the report lists non-consenting learners (without detail)"


@pytest.fixture(scope="module")
def first(published_home: Path, tmp_path_factory) -> dict:
    return check_published(published_home, tmp_path_factory.mktemp("exports"))


def test_every_consent_story_is_in_the_demo_world(first, published_home):
    stories = eval((published_home / "generate_summary.txt").read_text())["consents"]["stories"]  # noqa: S307
    assert all(stories[s] > 0 for s in ("granted", "never", "withdrawn", "regranted")), stories
    # withdrawn recipients and those who never consented are left out, those who granted again are in
    assert len(first["decided"]) - len(first["consenting"]) >= stories["withdrawn"]
    assert len(first["expected"]) < len(first["everyone"])


def test_consent_rows_are_loaded_or_quarantined_and_reconcile(published_home):
    lake = published_home / "lake.duckdb"
    summary = eval((published_home / "generate_summary.txt").read_text())  # noqa: S307
    rec = query(lake, "select sum(records_read), sum(records_loaded), sum(records_quarantined), "
                      "sum(records_duplicate) from raw.load_manifest where source = 'consents'")[0]
    assert rec == (summary["consents"]["records"], summary["consents"]["records"] - 1, 1, 0)
    assert query(lake, "select reason, count(*) from raw.quarantine where source = 'consents' group by 1") == [
        ("bad_timestamp", 1)]
    assert query(lake, "select count(*) from raw.consent_events") == [(rec[1],)]


def test_a_withdrawal_delivered_later_removes_the_detail_on_the_next_run(first, published_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    users = {pseudo(u): u for u in first["consenting"]}
    leaving = sorted(users[x] for x in first["expected"])[:2]
    with open(home / "landing" / "lms" / "users.csv", newline="", encoding="utf-8") as fh:
        email = {r[0]: r[2] for r in list(csv.reader(fh))[1:] if len(r) == 5}
    lines = [{"subject": leaving[0], "subject_type": "user_id", "scope": "detailed_tracking",
              "action": "withdrawn", "at": "2026-01-05T12:00:00+01:00", "source": "support-desk"},
             {"subject": "mailto:" + email[leaving[1]].upper(), "scope": "detailed_tracking",
              "action": "withdrawn", "at": "2026-01-06T08:30:00-05:00", "source": "wallet-app"},
             {"subject": leaving[0], "scope": "detailed_tracking", "action": "granted",
              "at": "2026-01-06T09:00:00"}]  # no offset: quarantined, so it grants nothing
    (home / "landing" / "consents" / "2026-01-06.ndjson").write_text("\n".join(map(json.dumps, lines)) + "\n")
    proc = run(home)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    after = check_published(home, tmp_path / "exports")
    assert after["expected"] == first["expected"] - {pseudo(u) for u in leaving}
    assert after["everyone"] == first["everyone"]
    assert query(home / "lake.duckdb", "select reason, detail from raw.quarantine where source = 'consents' "
                 "and source_ref = 'consents/2026-01-06.ndjson'")[0][0] == "bad_timestamp"
    assert re.search(r"consents(\s+[\d,]+){6}\s+yes", proc.stdout), proc.stdout[-3000:]
    # the rollback copy published before the withdrawal lost their detail too, and kept everyone else's
    versions = sorted((home / "versions").glob("warehouse-*.duckdb"))
    assert len(versions) == 2
    gone = {pseudo(u) for u in leaving}
    older = versions[0]
    for table in RECIPIENT_LEVEL:
        assert not learner_ids(older, table) & gone, table
    assert learner_ids(older, "mart_recipient_credentials") == first["expected"] - gone
    assert learner_ids(older, "fct_credential_awards") == first["expected"] - gone
    any_value = " or ".join(f"{c} is not null" for c in CREDENTIAL_COLUMNS)
    shown = {r[0] for r in query(older, f"select learner_id from marts.mart_learner_course_progress where {any_value}")}
    assert shown and not shown & gone
    counts = dict(query(older, "select table_name, row_count from meta.row_counts where table_schema = 'marts'"))
    assert counts["fct_credential_awards"] == query(older, "select count(*) from marts.fct_credential_awards")[0][0]


def test_assumed_consent_without_consent_files_publishes_every_recipient(tmp_path):
    home = tmp_path / "home"
    generate(home, statements=600, seed=3)
    shutil.rmtree(home / "landing" / "consents")
    proc = run(home, SKILLPATH_CONSENT_DEFAULT="assumed")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    everyone = learner_ids(home / "build.duckdb", "int_credentials__award_facts", "intermediate")
    warehouse = home / "warehouse.duckdb"
    assert everyone and learner_ids(warehouse, "fct_credential_awards") == everyone
    assert query(warehouse, "select count(*) from marts.fct_credential_awards") == query(
        home / "build.duckdb", "select count(*) from intermediate.int_credentials__award_facts")
    assert query(warehouse, "select count(*) from marts.fct_credential_events") == query(
        home / "build.duckdb", "select count(*) from intermediate.int_credentials__event_facts")
    recipients = learner_ids(warehouse, "mart_recipient_credentials")
    attributed = {r[0] for r in query(home / "build.duckdb", "select distinct learner_id from "
                                      "intermediate.int_credentials__award_facts where is_attributed "
                                      "and achievement_id is not null")}
    assert recipients == attributed


def test_the_guard_finds_a_leaked_row_of_a_non_consenting_recipient(published_home, tmp_path):
    """The error-severity test behind the gate (docs/privacy.md, "The gate") passes on the published
    build and returns exactly the rows a defect would leak: an award of a recipient who never
    consented, and one of a recipient who withdrew, copied into the recipient-level marts, and a
    non-consenting learner's certification shown in the learner progress."""
    from tests.helpers import run_dbt

    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    guard = ("test", "--select", "assert_no_unconsented_recipient_published")
    as_of = {"as_of_date": "2026-01-06"}
    learner_guard = ("test", "--select", "assert_no_unconsented_credential_detail_in_learner_progress")
    run_dbt(home, *guard, vars=as_of)  # both pass as published
    run_dbt(home, *learner_guard, vars=as_of)
    con = duckdb.connect(str(home / "build.duckdb"))
    try:
        decided = dict(con.execute("select learner_id, consent_action from intermediate.int_credentials__recipient_consent "
                                   "where not has_detailed_tracking").fetchall())
        never = next(x for x, action in sorted(decided.items()) if action is None)
        withdrawn = next(x for x, action in sorted(decided.items()) if action == "withdrawn")
        columns = ", ".join(r[0] for r in con.execute("describe marts.fct_credential_awards").fetchall())
        con.execute(f"insert into marts.fct_credential_awards select {columns} "
                    "from intermediate.int_credentials__award_facts where learner_id = ? limit 1", [never])
        con.execute("insert into marts.mart_recipient_credentials select * from marts.mart_recipient_credentials "
                    "limit 1")
        con.execute("update marts.mart_recipient_credentials set learner_id = ? where rowid = "
                    "(select max(rowid) from marts.mart_recipient_credentials)", [withdrawn])
        # ... and a non-consenting learner's certification in the learner progress
        hidden = con.execute("select min(learner_id) from marts.mart_learner_course_progress "
                             "where is_certified is null").fetchone()[0]
        con.execute("update marts.mart_learner_course_progress set is_certified = true where rowid = "
                    "(select min(rowid) from marts.mart_learner_course_progress where learner_id = ?)", [hidden])
    finally:
        con.close()
    failed = run_dbt(home, *guard, vars=as_of, check=False)
    assert failed.returncode != 0
    assert "Got 2 results" in failed.stdout, failed.stdout[-3000:]
    failed = run_dbt(home, *learner_guard, vars=as_of, check=False)
    assert failed.returncode != 0
    assert "Got 1 result" in failed.stdout, failed.stdout[-3000:]
