"""LMS CSV exports and credential lifecycle events into the raw layer."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.events import ingest_credential_events
from skillpath.ingest.lms import ingest_lms

ALL_LMS = {
    "accounts.csv": "account_id,account_name\nacc1,Acme\nacc2,Globex\n",
    "users.csv": "user_id,account_id,email,display_name,role\n"
                 'u1,acc1,ann@example.org,"Lee, Ann",learner\n'
                 'u2,acc1,bob@example.org,"Bob ""the builder""\nSmith",manager\n'
                 "u3,acc2,cy@example.org,Cy,executive\n",
    "groups.csv": "group_id,account_id,group_name\ng1,acc1,Team A\n",
    "group_members.csv": "group_id,user_id\ng1,u1\ng1,u2\n",
    "courses.csv": "course_id,account_id,course_title,activity_id\nc1,acc1,Algebra,https://lms.example.org/course/1\n",
    "chapters.csv": "chapter_id,course_id,chapter_title,position,activity_id\n"
                    "ch1,c1,Basics,1,https://lms.example.org/chapter/1\n"
                    "ch2,c1,More,2,https://lms.example.org/chapter/2\n",
    # columns in another order than the contract: accepted
    "exercises.csv": "exercise_id,exercise_title,chapter_id,position,activity_id,max_points\n"
                     "e1,Add,ch1,1,https://lms.example.org/exercise/1,10\n",
    "enrollments.csv": "user_id,course_id,enrolled_at\r\nu1,c1,2024-01-02T09:00:00Z\r\nu2,c1,2024-01-03\r\n",
}


@pytest.fixture
def lake(tmp_path: Path):
    con = connect_raw(tmp_path / "lake.duckdb")
    yield con, tmp_path / "landing"
    con.close()


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def counts(results):
    return {r["source_ref"]: (r["records_read"], r["records_loaded"], r["records_quarantined"],
                              r["records_duplicate"]) for r in results}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())


def test_lms_contract_files_load_as_text_with_verbatim_lines(lake):
    con, landing = lake
    write(landing / "lms", ALL_LMS)
    res = ingest_lms(con, landing)
    assert counts(res) == {
        "lms/accounts.csv": (2, 2, 0, 0), "lms/chapters.csv": (2, 2, 0, 0), "lms/courses.csv": (1, 1, 0, 0),
        "lms/enrollments.csv": (2, 2, 0, 0), "lms/exercises.csv": (1, 1, 0, 0), "lms/group_members.csv": (2, 2, 0, 0),
        "lms/groups.csv": (1, 1, 0, 0), "lms/users.csv": (3, 3, 0, 0),
    }
    assert q(con, "select record_no, user_id, account_id, email, display_name, role, raw_line from raw.lms_users "
                  "order by record_no") == [
        (2, "u1", "acc1", "ann@example.org", "Lee, Ann", "learner", 'u1,acc1,ann@example.org,"Lee, Ann",learner'),
        (3, "u2", "acc1", "bob@example.org", 'Bob "the builder"\nSmith', "manager",
         'u2,acc1,bob@example.org,"Bob ""the builder""\nSmith",manager'),
        (5, "u3", "acc2", "cy@example.org", "Cy", "executive", "u3,acc2,cy@example.org,Cy,executive"),
    ]
    assert q(con, "select exercise_id, chapter_id, exercise_title, position, activity_id, max_points "
                  "from raw.lms_exercises") == [("e1", "ch1", "Add", "1", "https://lms.example.org/exercise/1", "10")]
    assert q(con, "select enrolled_at, raw_line from raw.lms_enrollments order by 1") == [
        ("2024-01-02T09:00:00Z", "u1,c1,2024-01-02T09:00:00Z"), ("2024-01-03", "u2,c1,2024-01-03")]
    assert q(con, "select distinct source, source_ref from raw.lms_chapters") == [("lms", "lms/chapters.csv")]


def test_lms_bad_rows_headers_and_files_are_quarantined(lake):
    con, landing = lake
    write(landing / "lms", {
        "users.csv": b"\xef\xbb\xbfuser_id,account_id,email,display_name,role\n"    # BOM dropped
                     b"u1,acc1,ann@example.org,Ann,learner\n"                       # 2 loaded
                     b"u2,acc1,bob@example.org,Bob\n"                               # 3 bad_csv_row (4 values)
                     b"u3,acc1,cy@example.org,Cy,learner,extra\n"                   # 4 bad_csv_row (6 values)
                     b" ,acc1,dee@example.org,Dee,learner\n"                        # 5 missing_key
                     b"u5,acc1,\xff@example.org,Eve,learner\n"                      # 6 invalid_utf8
                     b"\n"                                                          # blank: no record
                     b'u6,acc1,f@example.org,"unclosed,learner\n',                  # 8 bad_csv_row
        "group_members.csv": "group_id,user_id\ng1,\n,u1\ng1,u1\n",  # missing_key twice (any key column)
        "groups.csv": "group_id,account_id,name\ng1,acc1,Team A\ng2,acc1,Team B\n",  # wrong header
        "2024/grades.csv": "user_id,grade\nu1,A\n",                                   # unknown file
    })
    res = ingest_lms(con, landing)
    assert counts(res) == {
        "lms/2024/grades.csv": (1, 0, 1, 0),
        "lms/group_members.csv": (3, 1, 2, 0),
        "lms/groups.csv": (2, 0, 2, 0),
        "lms/users.csv": (6, 1, 5, 0),
    }
    assert q(con, "select source_ref, record_no, reason from raw.quarantine order by 1, 2") == [
        ("lms/2024/grades.csv", 1, "unknown_file"),
        ("lms/group_members.csv", 2, "missing_key"),
        ("lms/group_members.csv", 3, "missing_key"),
        ("lms/groups.csv", 2, "bad_header"),
        ("lms/groups.csv", 3, "bad_header"),
        ("lms/users.csv", 3, "bad_csv_row"),
        ("lms/users.csv", 4, "bad_csv_row"),
        ("lms/users.csv", 5, "missing_key"),
        ("lms/users.csv", 6, "invalid_utf8"),
        ("lms/users.csv", 8, "bad_csv_row"),
    ]
    assert q(con, "select raw_record from raw.quarantine where source_ref = 'lms/users.csv' and record_no = 6") == [
        (b"u5,acc1,\xff@example.org,Eve,learner",)]
    assert q(con, "select raw_record from raw.quarantine where reason = 'unknown_file'") == [
        (b"user_id,grade\nu1,A\n",)]
    assert q(con, "select group_id, user_id from raw.lms_group_members") == [("g1", "u1")]
    assert q(con, "select count(*) from raw.lms_groups") == [(0,)]


def test_lms_exactly_once_and_changed_export_loads_again(lake):
    con, landing = lake
    write(landing / "lms", {"accounts.csv": ALL_LMS["accounts.csv"]})
    assert counts(ingest_lms(con, landing)) == {"lms/accounts.csv": (2, 2, 0, 0)}
    assert [r["status"] for r in ingest_lms(con, landing)] == ["seen_before"]
    write(landing / "lms", {"old/accounts.csv": ALL_LMS["accounts.csv"]})
    res = {r["source_ref"]: r["status"] for r in ingest_lms(con, landing)}
    assert res == {"lms/accounts.csv": "seen_before", "lms/old/accounts.csv": "duplicate_content"}
    write(landing / "lms", {"accounts.csv": ALL_LMS["accounts.csv"] + "acc3,Initech\n"})
    assert counts(ingest_lms(con, landing))["lms/accounts.csv"] == (3, 3, 0, 0)
    # rows are appended; staging keeps the latest per key
    assert q(con, "select account_id, count(*) from raw.lms_accounts group by 1 order by 1") == [
        ("acc1", 2), ("acc2", 2), ("acc3", 1)]


def event(n: int, **over) -> dict:
    e = {"event_id": f"ev-{n}", "event_type": "shared", "occurred_at": "2024-05-01T12:00:00+02:00",
         "credential_id": "urn:uuid:cred-1", "channel": "linkedin",
         "verifier": {"organization_id": "org-9", "industry": "Finance", "country": "DE", "consented": True}}
    e.update(over)
    return {k: v for k, v in e.items() if v is not None}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def test_credential_events_load_and_every_bad_event_is_quarantined(lake):
    con, landing = lake
    lines = [
        line(event(1)),                                          # 1 loaded
        line(event(2, event_type="verified", channel=None,
                   occurred_at="2024-05-01T10:00:00Z")),         # 2 loaded
        b'{"event_id": "ev-3", "event_type": "\xff"}',           # 3 invalid_utf8
        b'{"event_id": "ev-4",',                                 # 4 malformed_json
        b'"just a string"',                                      # 5 malformed_json (not an object)
        line(event(6, event_id=None)),                           # 6 missing_id
        line(event(7, event_type=None)),                         # 7 missing_field
        line(event(8, credential_id="")),                        # 8 missing_field
        line(event(9, event_type="liked")),                      # 9 unknown_event_type
        line(event(10, occurred_at="May 1st")),                  # 10 bad_timestamp
        line(event(11, occurred_at=None)),                       # 11 bad_timestamp
        line(event(1)),                                          # 12 duplicate
        line(event(1, channel="email")),                         # 13 duplicate_id_conflict
        line(event(14, verifier=None, event_type="viewed")),     # 14 loaded, no verifier
    ]
    write(landing / "credential_events", {"a.ndjson": b"\n".join(lines)})
    write(landing / "credential_events", {"b.ndjson.gz": gzip.compress(line(event(1)) + b"\n" + line(event(15)))})
    write(landing / "credential_events", {"c.json": line([event(16)])})
    res = ingest_credential_events(con, landing)
    assert counts(res) == {
        "credential_events/a.ndjson": (14, 3, 10, 1),
        "credential_events/b.ndjson.gz": (2, 1, 0, 1),
        "credential_events/c.json": (1, 0, 1, 0),
    }
    assert q(con, "select source_ref, record_no, reason from raw.quarantine order by 1, 2") == [
        ("credential_events/a.ndjson", 3, "invalid_utf8"),
        ("credential_events/a.ndjson", 4, "malformed_json"),
        ("credential_events/a.ndjson", 5, "malformed_json"),
        ("credential_events/a.ndjson", 6, "missing_id"),
        ("credential_events/a.ndjson", 7, "missing_field"),
        ("credential_events/a.ndjson", 8, "missing_field"),
        ("credential_events/a.ndjson", 9, "unknown_event_type"),
        ("credential_events/a.ndjson", 10, "bad_timestamp"),
        ("credential_events/a.ndjson", 11, "bad_timestamp"),
        ("credential_events/a.ndjson", 13, "duplicate_id_conflict"),
        ("credential_events/c.json", 1, "unknown_file"),
    ]
    assert q(con, "select event_id, event_type, occurred_at, credential_id, channel, verifier_organization_id, "
                  "verifier_industry, verifier_country, verifier_consented, payload from raw.credential_events "
                  "order by event_id") == [
        ("ev-1", "shared", dt.datetime(2024, 5, 1, 10), "urn:uuid:cred-1", "linkedin", "org-9", "Finance", "DE",
         True, lines[0].decode()),
        ("ev-14", "viewed", dt.datetime(2024, 5, 1, 10), "urn:uuid:cred-1", "linkedin", None, None, None, None,
         lines[13].decode()),
        ("ev-15", "shared", dt.datetime(2024, 5, 1, 10), "urn:uuid:cred-1", "linkedin", "org-9", "Finance", "DE",
         True, line(event(15)).decode()),
        ("ev-2", "verified", dt.datetime(2024, 5, 1, 10), "urn:uuid:cred-1", None, "org-9", "Finance", "DE",
         True, lines[1].decode()),
    ]
    # a re-run loads nothing
    assert [r["status"] for r in ingest_credential_events(con, landing)] == ["seen_before"] * 3
    assert q(con, "select count(*) from raw.credential_events") == [(4,)]
