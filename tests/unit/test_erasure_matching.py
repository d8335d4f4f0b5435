"""Erasure selects records by identifiers only, as whole values: a numeric user id is not a
substring of a timestamp or a score, an email matches in any case, a shared display name
selects nothing (skillpath/privacy/erasure.py ``Matcher``, ``rewrite_landing``, ``redact``;
docs/privacy.md, "How identifiers are matched")."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.privacy.erasure import (
    Identity,
    Matcher,
    _erase_raw,
    delete_rows_naming,
    redact,
    redaction_pattern,
    rewrite_landing,
)

KEY = "matching-key"
EMAIL = "ann.lee@example.org"  # as resolve() keeps it: lower-case
SHA1 = hashlib.sha1(f"mailto:{EMAIL}".encode()).hexdigest()


def person() -> Identity:
    return Identity(user_ids={"4711"}, emails={EMAIL}, sha1s={SHA1}, names={"Ann Lee"},
                    accounts={"https://lms.example.org|4711"}, award_ids={"urn:uuid:ann-award"})


def statement(n: int, actor: dict, **extra) -> dict:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "actor": actor, "verb": {"id": "http://x/answered"},
            "object": {"id": f"https://lms.example.org/a/{n}"}, "timestamp": "2026-01-02T10:47:11Z", **extra}


ACCOUNT = {"account": {"homePage": "https://lms.example.org", "name": "4711"}}
OTHER = {"account": {"homePage": "https://lms.example.org", "name": "4712"}}
NAMESAKE = {"name": "Ann Lee", "mbox": "mailto:ann.lee.2@example.org"}  # another person, same name


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    for folder in ("lms", "xapi", "consents", "credential_events", "credentials"):
        (root / folder).mkdir(parents=True)
    (root / "lms" / "users.csv").write_text(
        "user_id,account_id,email,display_name,role\n"
        "4711,acc,Ann.Lee@Example.Org,Ann Lee,learner\n"
        "4712,acc,ann.lee.2@example.org,Ann Lee,learner\n"
        "47110,acc,bo@example.org,Bo 4711,learner\n")
    (root / "lms" / "exercises.csv").write_text(
        "exercise_id,chapter_id,exercise_title,position,activity_id,max_points\n"
        "ex-1,ch-1,Exercise 4711,1,https://lms.example.org/ex/4711,4711\n")
    (root / "lms" / "enrollments.csv").write_text(
        "user_id,course_id,enrolled_at\n4711,crs-1,2026-01-01\n47110,crs-1,2026-01-01\n 4711 ,crs-2,2026-01-01\n")
    lines = [
        json.dumps(statement(1, ACCOUNT)),                                         # theirs: account name = user id
        json.dumps(statement(2, OTHER, result={"score": {"raw": 4711}},            # a score and a time of 4711
                             context={"extensions": {"https://x/ts": 1765114711.25}})),
        json.dumps(statement(3, NAMESAKE)),                                        # same display name only
        json.dumps(statement(4, {"mbox": "mailto:ANN.LEE@Example.ORG"})),          # theirs, any case
        json.dumps(statement(5, {"mbox_sha1sum": SHA1.upper()})),                  # theirs, upper-case hex
        '{"id": "broken", "actor": {"mbox": "mailto:Ann.Lee@Example.Org"}',       # malformed, theirs
        '{"id": "broken-2", "result": {"score": {"raw": 4711}}',                  # malformed, a bare number
    ]
    with gzip.open(root / "xapi" / "s.ndjson.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (root / "xapi" / "page.json").write_text(json.dumps({"statements": [statement(6, OTHER), statement(7, ACCOUNT)]}))
    (root / "consents" / "c.csv").write_text(
        "subject_type,subject,scope,action,at,source\n"
        ",mailto:Ann.Lee@Example.Org,detailed_tracking,granted,2026-01-02T09:00:00Z,wallet\n"
        "user_id,4711,detailed_tracking,granted,2026-01-02T09:00:00Z,lms\n"
        "user_id,4712,detailed_tracking,granted,2026-01-02T09:47:11Z,lms\n")
    (root / "consents" / "c.ndjson").write_text(
        json.dumps({"subject": 4711, "scope": "detailed_tracking", "action": "granted", "at": "2026-01-02T09:00:00Z"})
        + "\n" + json.dumps({"subject": 4712, "scope": "detailed_tracking", "action": "granted",
                             "at": "2026-01-02T09:00:00Z", "source": "4711"}) + "\n")
    (root / "credential_events" / "e.ndjson").write_text(
        json.dumps({"event_id": "e1", "event_type": "viewed", "credential_id": "urn:uuid:ann-award"}) + "\n"
        + json.dumps({"event_id": "e2", "event_type": "viewed", "credential_id": "urn:uuid:other", "count": 4711})
        + "\n")
    salted = "sha256$" + hashlib.sha256(f"{EMAIL}new-salt".encode()).hexdigest()
    payload = base64.urlsafe_b64encode(json.dumps({"vc": {"credentialSubject": {"identifier": [
        {"identityHash": salted, "hashed": True, "salt": "new-salt"}]}}}).encode()).decode().rstrip("=")
    (root / "credentials" / "awards.jwt").write_text(f"eyJhbGciOiJub25lIn0.{payload}.\nnot-a-jwt-line 4711\n")
    return root


def test_the_landing_rewrite_keeps_everything_that_is_not_the_persons(landing: Path, tmp_path: Path) -> None:
    con = connect_raw(tmp_path / "lake.duckdb")
    try:
        out = rewrite_landing(con, landing, person(), "e1")
    finally:
        con.close()
    assert (landing / "lms" / "users.csv").read_text() == (
        "user_id,account_id,email,display_name,role\n"
        "4712,acc,ann.lee.2@example.org,Ann Lee,learner\n"
        "47110,acc,bo@example.org,Bo 4711,learner\n")
    assert "4711\n" in (landing / "lms" / "exercises.csv").read_text()  # max_points 4711: untouched
    assert (landing / "lms" / "enrollments.csv").read_text() == "user_id,course_id,enrolled_at\n47110,crs-1,2026-01-01\n"
    kept = gzip.decompress((landing / "xapi" / "s.ndjson.gz").read_bytes()).decode().splitlines()
    assert [json.loads(x)["id"][-1] if x.startswith('{"id": "0') else x for x in kept] == [
        "2", "3", '{"id": "broken-2", "result": {"score": {"raw": 4711}}']
    assert "1765114711.25" in kept[0] and '"raw": 4711' in kept[0]
    page = json.loads((landing / "xapi" / "page.json").read_text())
    assert [s["id"][-1] for s in page["statements"]] == ["6"]
    assert (landing / "consents" / "c.csv").read_text() == (
        "subject_type,subject,scope,action,at,source\n"
        "user_id,4712,detailed_tracking,granted,2026-01-02T09:47:11Z,lms\n")
    assert [json.loads(x)["subject"] for x in (landing / "consents" / "c.ndjson").read_text().splitlines()] == [4712]
    assert [json.loads(x)["event_id"] for x in
            (landing / "credential_events" / "e.ndjson").read_text().splitlines()] == ["e2"]
    # a credential hashing their email with a salt never seen before is theirs too
    assert (landing / "credentials" / "awards.jwt").read_text() == "not-a-jwt-line 4711\n"
    assert out == {"rewritten": 8, "removed": 0, "records_dropped": 13}


def test_quarantined_records_are_dropped_by_identifier_not_by_bytes_or_name(landing: Path, tmp_path: Path) -> None:
    con = connect_raw(tmp_path / "lake.duckdb")
    rows = [
        ("lms/users.csv", b"4711,acc,Ann.Lee@Example.Org,Ann, Lee,learner", "6 values, the header has 5"),  # theirs
        ("lms/exercises.csv", b"ex-2,ch-1,E,2,https://x/e,4711,extra", "7 values, the header has 6"),
        ("consents/c.csv", b"user_id,4711,detailed_tracking,granted,2026-01-02T09:00:00,lms", "no offset"),  # theirs
        ("xapi/s.ndjson.gz", json.dumps(statement(8, NAMESAKE)).encode(), "bad_timestamp"),
        ("xapi/s.ndjson.gz", json.dumps(statement(9, OTHER, timestamp=1765114711.25)).encode(), "bad_timestamp"),
        ("xapi/s.ndjson.gz", b'{"actor": {"mbox": "mailto:ANN.LEE@EXAMPLE.ORG"', "malformed JSON"),  # theirs
        ("xapi/s.ndjson.gz", b"\xe9 Ann Lee", "not valid UTF-8"),
    ]
    try:
        for n, (ref, raw, detail) in enumerate(rows, 1):
            con.execute("insert into raw.load_manifest (load_id, source, source_ref, status, started_at, "
                        "records_read, records_quarantined) values (?, 'x', ?, 'loaded', now(), 1, 1)", [f"l{n}", ref])
            con.execute("insert into raw.quarantine values (?, 'x', ?, ?, now(), 'r', ?, ?, 'h')",
                        [f"l{n}", ref, n, detail, raw])
        con.begin()
        removed = _erase_raw(con, person(), KEY, "e1", landing)
        con.commit()
        assert removed.rows == {"quarantine": 3}
        assert [r[0] for r in con.execute("select record_no from raw.quarantine order by 1").fetchall()] == [2, 4, 5, 7]
        assert con.execute("select count(*) from raw.load_manifest where records_erased = 1 "
                           "and records_quarantined = 0").fetchone()[0] == 3
    finally:
        con.close()


def test_text_is_redacted_as_whole_values_in_any_case_and_json_stays_json() -> None:
    pattern = redaction_pattern(person().tokens())
    event = json.dumps({"timestamp": 1765114711.25, "user_message": "erased 4711 (Ann.Lee@Example.Org), Ann Lee",
                        "metadata": {"max_points": 4711, "note": "u47110 and 4711.5 and ann leeds"}})
    out = json.loads(redact(event, pattern))
    assert out["timestamp"] == 1765114711.25 and out["metadata"]["max_points"] == 4711
    assert out["user_message"] == "erased [erased] ([erased]), [erased]"
    assert out["metadata"]["note"] == "u47110 and 4711.5 and ann leeds"
    assert redact("sent to MAILTO:ANN.LEE@EXAMPLE.ORG.\n", pattern) == "sent to [erased].\n"
    assert redact(f"sha1 {SHA1.upper()} of 1765114711.25", pattern) == "sha1 [erased] of 1765114711.25"


def test_a_kept_version_loses_rows_by_identifier_in_any_case_never_by_name() -> None:
    con = duckdb.connect()
    con.execute("create table t (user_id varchar, email varchar, display_name varchar, course_id varchar)")
    con.execute("insert into t values ('l1', 'Ann.Lee@Example.Org', 'Ann Lee', '1'), "
                "('l2', 'ann.lee.2@example.org', 'Ann Lee', '4711'), (' 4711', null, 'X', '2'), "
                "('l3', null, 'Y', 'urn:uuid:ann-award'), ('l4', null, 'Z', SHA1)".replace("SHA1", f"'{SHA1.upper()}'"))
    assert delete_rows_naming(con, "memory", ["urn:uuid:ann-award"], folded=[EMAIL, SHA1], ids=["4711"]) == {
        "main.t": 4}
    assert con.execute("select user_id from t").fetchall() == [("l2",)]  # course 4711, another Ann Lee


def test_display_names_select_nothing() -> None:
    m = Matcher(Identity(user_ids={"u1"}, names={"Ann Lee"}))
    assert not m.document(statement(1, NAMESAKE))
    assert not m.record(b"u2,acc,x@example.org,Ann Lee,learner", ["user_id", "account_id", "email", "display_name",
                                                                     "role"])
    assert not m.text(b"a statement of Ann Lee")
