"""An xAPI-only deployment (no LMS export): real Open edX statements reach the learning marts,
and a roster delivered on a later night links the actors on that run.

The landing zone holds the 77 Open edX reference files (``REFERENCE_DATA/xapi/openedx``)
and nothing else. Everything expected here is computed from the JSON files themselves:
which statements are attempts (verb seed is_attempt, a result, an activity object whose
context parent is not itself an attempted activity), the course each problem sits in
(the parent activity of type .../activities/course), the learner keys (the keyed hash of
the actor's account key) and the account (the host of the actor's account.homePage).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from skillpath.config import settings
from skillpath.ingest.runner import ingest_landing
from tests.helpers import REFERENCE_DATA, ROOT, TEST_KEY, run_dbt

pytestmark = pytest.mark.integration

OPENEDX = REFERENCE_DATA / "xapi" / "openedx"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"


def pseudonym(value: str) -> str:
    return hashlib.sha256(f"{TEST_KEY}|{value}".encode()).hexdigest()[:24]


def actor_key(actor: dict) -> str | None:
    account = actor.get("account")
    if account:
        return f"account:{account['homePage'].rstrip('/')}|{account['name']}"
    if actor.get("mbox"):
        return "mbox_sha1sum:" + hashlib.sha1(actor["mbox"].lower().encode()).hexdigest()
    if actor.get("mbox_sha1sum"):
        return "mbox_sha1sum:" + actor["mbox_sha1sum"].lower()
    return f"openid:{actor['openid']}" if actor.get("openid") else None


def reference_statements() -> dict[str, dict]:
    """Statements by id, the first copy in path order (as ingestion keeps it: a later copy with
    another payload is a duplicate_id_conflict)."""
    out: dict[str, dict] = {}
    for path in sorted(OPENEDX.glob("*.json")):
        doc = json.loads(path.read_text())
        for st in doc if isinstance(doc, list) else [doc]:
            if st.get("object", {}).get("id"):  # the one statement without an object id is quarantined
                out.setdefault(st["id"], st)
    return out


def first(activities):
    return (activities[0] if activities else None) if isinstance(activities, list) else activities


def expected_attempts() -> tuple[Counter, dict[str, str]]:
    """(attempts per problem activity, course activity per problem) from the JSON files."""
    verbs = list(csv.DictReader(open(ROOT / "seeds" / "xapi_verbs.csv")))
    attempt_verbs = {v["verb_id"] for v in verbs if v["is_attempt"] == "true"}
    attempts = [st for st in reference_statements().values()
                if st["verb"]["id"] in attempt_verbs and "result" in st
                and st["object"].get("objectType", "Activity") not in ("Agent", "Group", "StatementRef",
                                                                      "SubStatement")]
    attempted = {st["object"]["id"] for st in attempts}
    counts: Counter = Counter()
    courses: dict[str, str] = {}
    for st in attempts:
        parent = first(st.get("context", {}).get("contextActivities", {}).get("parent"))
        if parent and parent["id"] in attempted:
            continue  # a sub-question of an attempted problem
        counts[st["object"]["id"]] += 1
        assert parent and parent["definition"]["type"] == COURSE_TYPE
        courses[st["object"]["id"]] = parent["id"]
    return counts, courses


def build(home: Path, *extra: str) -> None:
    run_dbt(home, "build", "--select", "+path:models/marts/learning", "--indirect-selection", "cautious",
            "--exclude", "test_type:unit", *extra)


def marts(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        con.execute(f"attach '{home / 'lake.duckdb'}' as lake (read_only)")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_openedx_statements_without_a_roster_publish_learning_marts(home: Path):
    shutil.copytree(OPENEDX, home / "landing" / "xapi")
    summary = ingest_landing(settings(), include_lrs=False)
    # no actor is refused: the reference files reuse ids across events (20 conflicts) and one
    # statement has no object id, as tests/unit/test_reference_xapi.py spells out
    assert [(r, n) for s, r, n in summary["quarantine"] if s == "xapi_file"] == [
        ("duplicate_id_conflict", 20), ("missing_object", 1)]
    build(home)

    counts, courses = expected_attempts()
    learners = {actor_key(st["actor"]) for st in reference_statements().values()}
    assert len(counts) == 2 and sum(counts.values()) == 5  # two problems, five checks
    got = Counter(dict(marts(home, "select exercise_id, count(*) from marts.fct_attempts group by 1")))
    assert got == counts
    # the exercises, their course and the course's account come from the statements
    assert sorted(marts(home, "select exercise_id, course_id, account_id from marts.dim_exercises")) == sorted(
        (ex, courses[ex], "localhost:18000") for ex in counts)
    [(course_id, title, chapters, exercises)] = marts(
        home, "select course_id, course_title, chapter_count, exercise_count from marts.dim_courses")
    assert (course_id, title, chapters, exercises) == (next(iter(courses.values())), "Demonstration Course", 1, 2)
    # every actor is a learner of the homePage's account, pseudonymised from its actor key
    assert sorted(marts(home, "select learner_id, account_id from marts.dim_learners")) == sorted(
        (pseudonym(k), "localhost:18000") for k in learners)
    learner = pseudonym("account:http://localhost:18000|32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb")
    assert {r[0] for r in marts(home, "select learner_id from marts.fct_attempts")} == {learner}
    # exercise summary, chapter mastery and the learner league
    summary_rows = dict(marts(home, "select exercise_id, attempts from marts.mart_exercise_summary"))
    assert summary_rows == dict(counts)
    # chapter mastery: the mean over the chapter's two problems of the best score (raw / max)
    best = {ex: max(st["result"]["score"]["raw"] / st["result"]["score"]["max"]
                    for st in reference_statements().values()
                    if st["object"]["id"] == ex and "result" in st and st["verb"]["id"].endswith("/evaluated"))
            for ex in counts}
    mastery = 100 * sum(best.values()) / len(best)
    rows = marts(home, "select scope_type, scope_id, account_id, mastery_pct from marts.mart_chapter_mastery "
                       "order by scope_type")
    assert [(t, i, a) for t, i, a, _ in rows] == [("account", "localhost:18000", "localhost:18000"),
                                                  ("learner", learner, "localhost:18000")]
    assert all(abs(m - mastery) < 1e-9 for *_, m in rows) and 0 < mastery < 100
    assert marts(home, "select learner_id, exercises_attempted, rank_points from marts.mart_learner_course_progress "
                       "where learner_id = ?".replace("?", f"'{learner}'")) == [(learner, 2, 1)]


def test_a_roster_delivered_the_next_night_links_the_statements_on_that_run(home: Path):
    shutil.copytree(OPENEDX, home / "landing" / "xapi")
    counts, _ = expected_attempts()
    # a second learner, known by an email address only (mixed case), answers one problem,
    # in a statement without an id (as some LMS plugins send them)
    problem = next(ex for ex in counts if counts[ex] == 1)
    (home / "landing" / "xapi" / "plugin.ndjson").write_text(json.dumps({
        "actor": {"mbox": "mailto:Other@Example.org", "name": "Other"},
        "verb": {"id": "https://w3id.org/xapi/acrossx/verbs/evaluated"},
        "object": {"id": problem},
        "result": {"score": {"raw": 1, "min": 0, "max": 1}, "success": True},
        "timestamp": "2020-07-15T09:00:00Z"}) + "\n")
    ingest_landing(settings(), include_lrs=False)
    build(home)
    edx_user = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"
    before = dict(marts(home, "select account_id, count(*) from marts.dim_learners group by 1"))
    # an account actor belongs to its homePage's host, an mbox actor to 'unassigned'
    assert before == {"localhost:18000": 1, "unassigned": 1}
    other = pseudonym("mbox_sha1sum:" + hashlib.sha1(b"mailto:other@example.org").hexdigest())
    assert sorted(marts(home, "select learner_id, count(*) from marts.fct_attempts group by 1")) == sorted([
        (pseudonym(f"account:http://localhost:18000|{edx_user}"), sum(counts.values())), (other, 1)])
    lake = home / "lake.duckdb"
    con = duckdb.connect(str(lake), read_only=True)
    statements_before = con.execute("select count(*), max(loaded_at) from raw.xapi_statements").fetchone()
    con.close()

    # night 2: the LMS roster arrives (the same learner, by account name; another user by email)
    lms = home / "landing" / "lms"
    lms.mkdir()
    (lms / "users.csv").write_text(
        "user_id,account_id,email,display_name,role\n"
        f"{edx_user},acme,learner@example.org,Demo Learner,learner\n"
        "u-other,acme,other@example.org,Other,learner\n")
    (lms / "accounts.csv").write_text("account_id,account_name\nacme,Acme Corp\n")
    ingest_landing(settings(), include_lrs=False)
    build(home)  # incremental: fct_attempts re-derives the pairs of the linked actor
    con = duckdb.connect(str(lake), read_only=True)
    assert con.execute("select count(*), max(loaded_at) from raw.xapi_statements").fetchone() == statements_before
    con.close()

    after = dict(marts(home, "select account_id, count(*) from marts.dim_learners group by 1"))
    assert after == {"acme": 2}  # both actors linked: one by account name, one by email
    assert sorted(marts(home, "select learner_id, account_id, count(*) from marts.fct_attempts group by 1, 2")) == \
        sorted([(pseudonym(edx_user), "acme", sum(counts.values())), (pseudonym("u-other"), "acme", 1)])
    incremental = marts(home, "select * exclude (last_loaded_at) from marts.fct_attempts order by attempt_sk")

    build(home, "--full-refresh")
    assert marts(home, "select * exclude (last_loaded_at) from marts.fct_attempts order by attempt_sk") == incremental
