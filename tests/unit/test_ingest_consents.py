"""Recipient consent events (landing/consents) into raw.consent_events: parsing, normalisation,
quarantine with reasons, duplicates, exactly once per file, reconciliation."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from skillpath.ingest.consents import infer_subject_type, ingest_consents
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.rawstore import reconciliation


@pytest.fixture
def lake(tmp_path: Path):
    con = connect_raw(tmp_path / "lake.duckdb")
    yield con, tmp_path / "landing"
    con.close()


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def counts(results):
    return {r["source_ref"]: (r["records_read"], r["records_loaded"], r["records_quarantined"],
                              r["records_duplicate"]) for r in results}


GOOD_CSV = (
    "subject_type,subject,scope,action,at,source\n"
    "user_id,u0000001,detailed_tracking,granted,2025-01-02T09:00:00+01:00,lms-privacy\n"
    "email,MAILTO:Ann.Lee@Example.ORG ,detailed_tracking,Granted,2025-01-03T00:00:00Z,wallet\n"
    ",bob@example.org,detailed_tracking,withdrawn,2025-01-04T10:00:00-05:00,\n"
    "recipient_identity,SHA256$" + "AB" * 32 + ",share_with_employers,granted,2025-01-05T10:00:00+00:00,wallet\n"
    "recipient_identity,mailto:cy@example.org,detailed_tracking,granted,2025-01-05T10:00:00+00:00,wallet\n"
    ",did:example:123,marketing_emails,granted,2025-01-06T10:00:00.5+02:00,wallet\n"
    ",u0000002,detailed_tracking,granted,2025-01-07t10:00:00z,lms\n"
)


def test_contract_rows_load_normalised(lake):
    con, landing = lake
    write(landing / "consents" / "2025-01.csv", GOOD_CSV)
    assert counts(ingest_consents(con, landing)) == {"consents/2025-01.csv": (7, 7, 0, 0)}
    rows = q(con, "select record_no, subject_type, subject, subject_type_given, scope, action, occurred_at, "
                  "consent_source from raw.consent_events order by record_no")
    assert rows == [
        (2, "user_id", "u0000001", True, "detailed_tracking", "granted", dt.datetime(2025, 1, 2, 8), "lms-privacy"),
        (3, "email", "ann.lee@example.org", True, "detailed_tracking", "granted", dt.datetime(2025, 1, 3), "wallet"),
        (4, "email", "bob@example.org", False, "detailed_tracking", "withdrawn", dt.datetime(2025, 1, 4, 15), None),
        (5, "recipient_identity", "sha256$" + "ab" * 32, True, "share_with_employers", "granted",
         dt.datetime(2025, 1, 5, 10), "wallet"),
        # a recipient identity that is an email is stored as the email (one namespace with the credentials)
        (6, "email", "cy@example.org", True, "detailed_tracking", "granted", dt.datetime(2025, 1, 5, 10), "wallet"),
        # an unknown scope loads (staging marks it unknown; nothing uses it)
        (7, "recipient_identity", "did:example:123", False, "marketing_emails", "granted",
         dt.datetime(2025, 1, 6, 8, 0, 0, 500000), "wallet"),
        (8, "user_id", "u0000002", False, "detailed_tracking", "granted", dt.datetime(2025, 1, 7, 10), "lms"),
    ]
    payloads = [r[0] for r in q(con, "select payload from raw.consent_events order by record_no")]
    assert payloads[1] == "email,MAILTO:Ann.Lee@Example.ORG ,detailed_tracking,Granted,2025-01-03T00:00:00Z,wallet"
    assert q(con, "select count(*) from raw.consent_events where event_key <> payload_sha256") == [(0,)]


def test_inference():
    assert infer_subject_type("u0000001") == "user_id"
    assert infer_subject_type("Ann@x.org") == "email"
    assert infer_subject_type("mailto:ann@x.org") == "email"
    assert infer_subject_type("sha256$abc") == "recipient_identity"
    assert infer_subject_type("did:key:z6Mk") == "recipient_identity"
    assert infer_subject_type("https://example.org/people/1") == "recipient_identity"
    assert infer_subject_type("https://example.org/@ann") == "recipient_identity"


def test_hostile_rows_are_quarantined_with_reasons_and_reconcile(lake):
    con, landing = lake
    lines = [
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00+01:00"},
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00"},  # no offset
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02"},  # a date only
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "yesterday+01:00"},
        {"subject": "u1", "scope": "detailed_tracking", "action": "revoked", "at": "2025-01-02T09:00:00Z"},
        {"subject": "", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00Z"},
        {"scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00Z"},
        {"subject": "u1", "action": "granted", "at": "2025-01-02T09:00:00Z"},
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted"},
        {"subject": "u1", "subject_type": "person", "scope": "detailed_tracking", "action": "granted",
         "at": "2025-01-02T09:00:00Z"},
        {"subject": "not-an-email", "subject_type": "email", "scope": "detailed_tracking", "action": "granted",
         "at": "2025-01-02T09:00:00Z"},
        {"subject": "sha256$abc", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00Z"},
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "2999-01-02T09:00:00Z"},
        {"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "1960-01-02T09:00:00Z"},
        ["not", "an", "object"],
    ]
    data = b"\n".join(json.dumps(x).encode() for x in lines)
    data += b'\n{"subject": "u\xff", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T09:00:00Z"}'
    data += b"\n{not json"
    # the first event again, spelt differently: a duplicate, not a second row
    data += b'\n{"at": "2025-01-02T08:00:00Z", "action": "GRANTED", "scope": "Detailed_Tracking", "subject": " u1 "}\n'
    write(landing / "consents" / "hostile.ndjson", data)
    csv_data = (b"subject,scope,action,at\n"
                b"u2,detailed_tracking,granted,2025-01-02T09:00:00Z\n"
                b"u2,detailed_tracking,granted\n"
                b'u3,"detailed_tracking,granted,2025-01-02T09:00:00Z\n'
                b"u4,detailed_tracking,granted,2025-01-02T09:00:00\n") + b"u\xfe,detailed_tracking,granted,2025-01-02T09:00:00Z\n"
    write(landing / "consents" / "b.csv", csv_data)
    write(landing / "consents" / "c.csv", "who,scope,action,at\nu5,detailed_tracking,granted,2025-01-02T09:00:00Z\n")
    write(landing / "consents" / "notes.txt", "call Ann about consent")
    results = ingest_consents(con, landing)
    assert counts(results) == {
        "consents/b.csv": (5, 1, 4, 0),
        "consents/c.csv": (1, 0, 1, 0),
        "consents/hostile.ndjson": (18, 1, 16, 1),
        "consents/notes.txt": (1, 0, 1, 0),
    }
    reasons = dict(((ref, reason), n) for ref, reason, n in q(
        con, "select source_ref, reason, count(*) from raw.quarantine group by all"))
    assert reasons == {
        ("consents/hostile.ndjson", "bad_timestamp"): 3,
        ("consents/hostile.ndjson", "unknown_action"): 1,
        ("consents/hostile.ndjson", "missing_field"): 4,
        ("consents/hostile.ndjson", "invalid_subject"): 3,
        ("consents/hostile.ndjson", "implausible_timestamp"): 2,
        ("consents/hostile.ndjson", "malformed_json"): 2,
        ("consents/hostile.ndjson", "invalid_utf8"): 1,
        ("consents/b.csv", "bad_csv_row"): 2,
        ("consents/b.csv", "bad_timestamp"): 1,
        ("consents/b.csv", "invalid_utf8"): 1,
        ("consents/c.csv", "bad_header"): 1,
        ("consents/notes.txt", "unknown_file"): 1,
    }
    no_offset = q(con, "select detail from raw.quarantine where source_ref = 'consents/hostile.ndjson' "
                       "and record_no = 2")[0][0]
    assert "with an offset" in no_offset
    assert q(con, "select raw_record from raw.quarantine where source_ref = 'consents/b.csv' and record_no = 6") == [
        (b"u\xfe,detailed_tracking,granted,2025-01-02T09:00:00Z",)]
    (rec,) = [r for r in reconciliation(con) if r["source"] == "consents"]
    assert rec["balanced"] and rec["records_read"] == 25 and rec["records_loaded"] == 2
    assert q(con, "select count(*) from raw.consent_events") == [(2,)]


def test_exactly_once_per_file_gzip_and_duplicates_across_files(lake):
    con, landing = lake
    first = ("subject,scope,action,at\n"
             "u1,detailed_tracking,granted,2025-01-02T09:00:00Z\n"
             "u2,detailed_tracking,granted,2025-01-02T09:00:00Z\n")
    write(landing / "consents" / "a.csv", first)
    assert counts(ingest_consents(con, landing)) == {"consents/a.csv": (2, 2, 0, 0)}
    # the same file again, and under another name: nothing read
    write(landing / "consents" / "copy.csv", first)
    results = ingest_consents(con, landing)
    assert {r["source_ref"]: r["status"] for r in results} == {"consents/a.csv": "seen_before",
                                                                "consents/copy.csv": "duplicate_content"}
    # a later NDJSON delivery (gzip) repeating u1's grant and withdrawing u2's consent
    later = [{"subject": "u1", "scope": "detailed_tracking", "action": "granted", "at": "2025-01-02T10:00:00+01:00"},
             {"subject": "u2", "scope": "detailed_tracking", "action": "withdrawn", "at": "2025-02-01T00:00:00Z",
              "source": "support desk"}]
    write(landing / "consents" / "later.ndjson.gz", gzip.compress("\n".join(json.dumps(x) for x in later).encode()))
    assert counts(ingest_consents(con, landing))["consents/later.ndjson.gz"] == (2, 1, 0, 1)
    assert q(con, "select subject, action from raw.consent_events order by occurred_at, subject") == [
        ("u1", "granted"), ("u2", "granted"), ("u2", "withdrawn")]
    (rec,) = [r for r in reconciliation(con) if r["source"] == "consents"]
    assert rec["balanced"] and (rec["records_read"], rec["records_loaded"], rec["records_duplicate"]) == (4, 3, 1)
