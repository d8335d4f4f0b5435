"""Ingestion drops what belongs to an erased person, and what the retention window has passed,
counting both as ``records_erased``: read = loaded + quarantined + duplicates + erased
(skillpath/ingest/erased.py, docs/privacy.md)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import duckdb

from skillpath.config import settings
from skillpath.ingest.erased import digest
from skillpath.ingest.runner import ingest_landing

KEY = "unit-test-key"


def _settings(home: Path, **changes):
    return dataclasses.replace(settings().with_home(home), pseudonym_key=KEY, **changes)


def _statement(n: int, actor: dict, ts: str = "2026-01-02T10:00:00Z") -> str:
    return json.dumps({"id": f"00000000-0000-4000-8000-{n:012d}", "actor": actor,
                       "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                       "object": {"id": f"https://lms.example.org/a/{n}"}, "timestamp": ts})


ERASED = {"mbox": "mailto:Gone.Person@example.org"}
OTHER = {"account": {"homePage": "https://lms.example.org/", "name": "u2"}}


def _erase(home: Path, pairs: list[tuple[str, str]]) -> None:
    con = duckdb.connect(str(home / "lake.duckdb"))
    for kind, value in pairs:
        con.execute("insert into raw.erased_identities values (?, ?, 'e1', now())", [digest(KEY, kind, value), kind])
    con.close()


def _manifest(home: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select source, sum(records_read), sum(records_loaded), sum(records_quarantined), sum(records_duplicate), "
            "sum(records_erased) from raw.load_manifest group by source").fetchall()}
    finally:
        con.close()


def test_a_later_delivery_of_an_erased_person_is_dropped_and_counted(tmp_path: Path) -> None:
    home = tmp_path
    s = _settings(home)
    (home / "landing" / "xapi").mkdir(parents=True)
    (home / "landing" / "xapi" / "a.ndjson").write_text(_statement(1, OTHER) + "\n")
    ingest_landing(s)  # creates the lake; nobody is erased yet
    sha1 = hashlib.sha1(b"mailto:gone.person@example.org").hexdigest()
    _erase(home, [("mbox_sha1sum", sha1), ("user", "u9"), ("award", "urn:uuid:gone-award")])
    (home / "landing" / "xapi" / "b.ndjson").write_text("\n".join([
        _statement(2, ERASED),                                   # mbox, mixed case: its sha1 matches
        _statement(3, {"mbox_sha1sum": sha1}),
        _statement(4, {"account": {"homePage": "https://other.example.org", "name": "u9"}}),  # user id as name
        _statement(5, OTHER),
        "{not json",
    ]) + "\n")
    (home / "landing" / "lms").mkdir()
    (home / "landing" / "lms" / "users.csv").write_text(
        "user_id,account_id,email,display_name,role\nu9,acc,x@example.org,Gone,learner\n"
        "u3,acc,GONE.PERSON@example.org,Alias,learner\nu4,acc,kept@example.org,Kept,learner\n")
    (home / "landing" / "credential_events").mkdir()
    (home / "landing" / "credential_events" / "e.ndjson").write_text("\n".join(
        json.dumps({"event_id": f"e{i}", "event_type": "viewed", "occurred_at": "2026-01-02T10:00:00+00:00",
                    "credential_id": cid}) for i, cid in enumerate(["urn:uuid:gone-award", "urn:uuid:other"])) + "\n")
    (home / "landing" / "consents").mkdir()
    (home / "landing" / "consents" / "c.csv").write_text(
        "subject,scope,action,at\nu9,detailed_tracking,granted,2026-01-02T09:00:00Z\n"
        "mailto:Gone.Person@example.org,detailed_tracking,granted,2026-01-02T09:00:00Z\n"
        "u4,detailed_tracking,granted,2026-01-02T09:00:00Z\n")
    summary = ingest_landing(s)
    assert summary["problems"] == []
    m = _manifest(home)
    assert m["consents"] == (3, 1, 0, 0, 2)
    # read, loaded, quarantined, duplicate, erased
    assert m["xapi_file"] == (6, 2, 1, 0, 3)
    assert m["lms"] == (3, 1, 0, 0, 2)
    assert m["credential_events"] == (2, 1, 0, 0, 1)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    assert con.execute("select count(*) from raw.xapi_statements").fetchone()[0] == 2
    assert con.execute("select user_id from raw.lms_users").fetchall() == [("u4",)]
    con.close()
    # a run with nothing new changes nothing
    ingest_landing(s)
    assert _manifest(home) == m


def test_without_erasures_nothing_is_checked(tmp_path: Path) -> None:
    (tmp_path / "landing" / "xapi").mkdir(parents=True)
    (tmp_path / "landing" / "xapi" / "a.ndjson").write_text(_statement(1, ERASED) + "\n")
    ingest_landing(_settings(tmp_path))
    con = duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True)
    assert con.execute("select count(*) from raw.erasure_checks").fetchone()[0] == 0
    con.close()
    assert _manifest(tmp_path)["xapi_file"] == (1, 1, 0, 0, 0)


def test_retention_drops_old_records_now_and_when_they_arrive_later(tmp_path: Path) -> None:
    import datetime as dt

    home = tmp_path
    (home / "landing" / "xapi").mkdir(parents=True)
    (home / "landing" / "xapi" / "a.ndjson").write_text("\n".join([
        _statement(1, OTHER, "2025-01-01T00:00:00Z"), _statement(2, OTHER, "2025-12-31T23:00:00Z"),
        _statement(3, OTHER, "2026-01-05T00:00:00Z")]) + "\n")
    ingest_landing(_settings(home))  # no retention: everything stays
    assert _manifest(home)["xapi_file"] == (3, 3, 0, 0, 0)
    s = _settings(home, retention_days=5, as_of_date=dt.date(2026, 1, 6))  # cutoff 2026-01-01 00:00
    (home / "landing" / "xapi" / "b.ndjson").write_text(
        _statement(4, OTHER, "2024-06-01T00:00:00Z") + "\n" + _statement(5, OTHER, "2026-01-04T00:00:00Z") + "\n")
    assert ingest_landing(s)["problems"] == []
    assert _manifest(home)["xapi_file"] == (5, 2, 0, 0, 3)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    assert sorted(r[0][-1] for r in con.execute("select statement_id from raw.xapi_statements").fetchall()) == ["3", "5"]
    log = con.execute("select kind, rows_removed from raw.erasure_log").fetchall()
    con.close()
    assert [k for k, _ in log] == ["retention"]
    assert json.loads(log[0][1]) == {"xapi_statements": 3}
    assert (home / ".rebuild_required").exists()  # the next dbt build is a full refresh


def _ob3(n: int, subject: str) -> str:
    """An Open Badges 3.0 credential whose recipient is known only by a DID."""
    return json.dumps({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "https://issuer.example.org", "type": ["Profile"], "name": "Example"},
        "validFrom": "2025-01-01T00:00:00Z", "name": "Badge",
        "credentialSubject": {"id": subject, "type": ["AchievementSubject"],
                              "achievement": {"id": "https://issuer.example.org/a/1", "type": ["Achievement"],
                                              "name": "A", "description": "d", "criteria": {"narrative": "x"}}}})


def test_a_later_credential_to_an_erased_did_recipient_is_dropped(tmp_path: Path) -> None:
    """``skillpath erase --recipient DID`` lists ``recipient`` = the lower-cased DID + '|': a new
    credential to the same DID (sent in another case) and a consent naming it are dropped."""
    home = tmp_path
    s = _settings(home)
    (home / "landing" / "credentials").mkdir(parents=True)
    (home / "landing" / "credentials" / "a.json").write_text(_ob3(1, "did:key:z6MkOther"))
    ingest_landing(s)
    _erase(home, [("recipient", "did:key:z6mkgone|"), ("recipient_hash", "did:key:z6mkgone")])
    (home / "landing" / "credentials" / "b.json").write_text(_ob3(2, "did:key:z6MkGone"))
    (home / "landing" / "credentials" / "c.json").write_text(_ob3(3, "did:key:z6MkOther"))
    (home / "landing" / "consents").mkdir()
    (home / "landing" / "consents" / "c.csv").write_text(
        "subject,scope,action,at\ndid:key:z6MkGone,detailed_tracking,granted,2026-01-02T09:00:00Z\n"
        "did:key:z6MkOther,detailed_tracking,granted,2026-01-02T09:00:00Z\n")
    assert ingest_landing(s)["problems"] == []
    m = _manifest(home)
    assert m["credentials"] == (3, 2, 0, 0, 1)
    assert m["consents"] == (2, 1, 0, 0, 1)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        assert {r[0] for r in con.execute("select recipient_identity from raw.credential_awards").fetchall()} \
            == {"did:key:z6MkOther"}
        assert con.execute("select subject from raw.consent_events").fetchall() == [("did:key:z6MkOther",)]
    finally:
        con.close()


def test_erase_by_recipient_did_removes_its_credentials_and_audits_the_hash(tmp_path: Path) -> None:
    """``skillpath erase --recipient DID`` end to end on the raw layer (no rebuild): the DID's
    credentials go, another recipient's stay, the audit names the request by its keyed hash only."""
    from skillpath.privacy.erasure import erase, seed_identity

    home = tmp_path
    s = _settings(home)
    (home / "landing" / "credentials").mkdir(parents=True)
    (home / "landing" / "credentials" / "a.json").write_text(_ob3(1, "did:key:z6MkGone"))
    (home / "landing" / "credentials" / "b.json").write_text(_ob3(2, "did:key:z6MkOther"))
    ingest_landing(s)
    record = erase(s, seed_identity(recipient="DID:key:z6MkGone"), requested_by="dpo", reason=None)
    assert record["subject_digest"] == digest(KEY, "recipient", "did:key:z6mkgone|")
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        assert {r[0] for r in con.execute("select recipient_identity from raw.credential_awards").fetchall()} \
            == {"did:key:z6MkOther"}
        log = con.execute("select * from raw.erasure_log").fetchall()
        assert len(log) == 1 and "z6MkGone".lower() not in str(log).lower()
    finally:
        con.close()
    assert not (home / "landing" / "credentials" / "a.json").exists()
    assert (home / "landing" / "credentials" / "b.json").exists()


def test_erase_by_did_takes_the_subject_whose_recipient_is_its_email(tmp_path: Path) -> None:
    """The 1EdTech reference credential ``ob30/complete.json`` names its subject by a DID and by
    email identifiers; the award's recipient is the email. Erasing the DID erases that award (and
    so the email), and another recipient's credential stays."""
    from skillpath.privacy.erasure import erase, seed_identity
    from tests.helpers import REFERENCE_DATA

    home = tmp_path
    s = _settings(home)
    (home / "landing" / "credentials").mkdir(parents=True)
    shutil.copyfile(REFERENCE_DATA / "credentials" / "ob30" / "complete.json",
                    home / "landing" / "credentials" / "complete.json")
    (home / "landing" / "credentials" / "b.json").write_text(_ob3(2, "did:key:z6MkOther"))
    ingest_landing(s)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    assert con.execute("select recipient_identity from raw.credential_awards where award_id = "
                       "'http://1edtech.edu/credentials/3732'").fetchall() == [("student@1edtech.edu",)]
    con.close()
    erase(s, seed_identity(recipient="did:example:ebfeb1f712ebc6f1c276e12ec21"), requested_by="dpo", reason=None)
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        assert {r[0] for r in con.execute("select recipient_identity from raw.credential_awards").fetchall()} \
            == {"did:key:z6MkOther"}
        assert con.execute("select count(*) from raw.credential_documents where lower(payload) like "
                           "'%ebfeb1f712ebc6f1c276e12ec21%'").fetchone()[0] == 0
    finally:
        con.close()
    assert not (home / "landing" / "credentials" / "complete.json").exists()
