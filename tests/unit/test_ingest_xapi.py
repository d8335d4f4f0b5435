"""xAPI statement ingestion from landing files: contract, quarantine, exactly-once, reconciliation."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import uuid
import zlib
from pathlib import Path

import duckdb
import pytest

from skillpath.config import settings
from skillpath.ingest import xapi
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.rawstore import RawLoad, ReconciliationError
from skillpath.ingest.runner import format_summary, ingest_landing
from skillpath.ingest.xapi import ingest_xapi_files, load_xapi_records, parse_duration, split_json_array

USERS_CSV = (
    "user_id,account_id,email,display_name,role\n"
    "u1,acc1,ann@example.org,Ann,learner\n"
    "u2,acc1,Bob@Example.org,Bob,learner\n"
    "u3,acc1,cy@example.org,Cy,manager\n"
)
SHA1_CY = hashlib.sha1(b"mailto:cy@example.org").hexdigest()


def sid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def stmt(n: int, actor: dict | None = None, **over) -> dict:
    s = {
        "id": sid(n),
        "actor": actor or {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": "u1"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {"objectType": "Activity", "id": f"https://lms.example.org/exercise/{n}"},
        "timestamp": "2024-03-01T10:00:00Z",
    }
    s.update(over)
    return {k: v for k, v in s.items() if v is not None}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture
def env(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / "xapi").mkdir(parents=True)
    (landing / "lms").mkdir()
    (landing / "lms" / "users.csv").write_text(USERS_CSV)
    con = connect_raw(tmp_path / "lake.duckdb")
    from skillpath.ingest.lms import ingest_lms

    ingest_lms(con, landing)
    yield con, landing
    con.close()


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def manifest(con, ref):
    return q(con, "select records_read, records_loaded, records_quarantined, records_duplicate "
                  "from raw.load_manifest where source_ref = ? and status = 'loaded'", [ref])


def test_every_kind_of_bad_statement_is_quarantined_with_its_reason(env):
    con, landing = env
    s1 = stmt(1)
    lines = [
        line(s1),                                                                    # 1 loaded (account)
        line(stmt(2, {"mbox": "mailto:BOB@example.org"})),                           # 2 loaded (mbox, any case)
        line(stmt(3, {"mbox_sha1sum": SHA1_CY})),                                    # 3 loaded (sha1)
        b'{"id": "' + sid(4).encode() + b'", "actor": "\xff\xfe"}',                  # 4 invalid_utf8
        b'{"id": "' + sid(5).encode() + b'", "actor": ',                             # 5 malformed_json
        b"[1, 2]",                                                                   # 6 not_a_statement
        line(stmt(7, id=None)),                                                      # 7 missing_id
        line(stmt(8, id="not-a-uuid")),                                              # 8 missing_id
        line(stmt(9, actor={"objectType": "Agent", "name": "nobody"})),              # 9 missing_actor
        line(stmt(10, verb={"display": {"en": "did"}})),                             # 10 missing_verb
        line(stmt(11, object=None)),                                                 # 11 missing_object
        line(stmt(12, timestamp="yesterday")),                                       # 12 bad_timestamp
        line(stmt(13, timestamp=None, stored="2024-03-02T08:00:00+00:00")),          # 13 loaded (stored)
        line(stmt(14, timestamp=None)),                                              # 14 bad_timestamp
        line(stmt(15, {"account": {"homePage": "https://lms.example.org", "name": "ghost"}})),  # 15 loaded (no LMS user needed)
        b"",                                                                         # 16 blank: not a record
        line({**s1, "stored": "2024-03-05T00:00:00Z", "version": "1.0.3"}),         # 17 duplicate of 1
        line(stmt(1, verb={"id": "http://adlnet.gov/expapi/verbs/completed"})),     # 18 duplicate_id_conflict
    ]
    (landing / "xapi" / "bad.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    [res] = ingest_xapi_files(con, landing)

    assert (res["records_read"], res["records_loaded"], res["records_quarantined"], res["records_duplicate"]) \
        == (17, 6, 10, 1)
    assert manifest(con, "xapi/bad.ndjson") == [(17, 6, 10, 1)]
    got = q(con, "select record_no, reason from raw.quarantine order by record_no")
    assert got == [(4, "invalid_utf8"), (5, "malformed_json"), (6, "not_a_statement"),
                   (8, "invalid_id"), (9, "missing_actor"), (10, "missing_verb"), (11, "missing_object"),
                   (12, "bad_timestamp"), (14, "bad_timestamp"), (18, "duplicate_id_conflict")]
    # the raw bytes of each quarantined line are kept exactly
    raws = dict(q(con, "select record_no, raw_record from raw.quarantine"))
    for no in (4, 5, 6, 8, 18):
        assert raws[no] == lines[no - 1]
    # statement 7 came without an id: it gets the version 5 UUID of its canonical form
    canonical = json.dumps(stmt(7, id=None), sort_keys=True, separators=(",", ":")).encode()
    sid7 = str(uuid.UUID(bytes=hashlib.sha1(xapi.ASSIGNED_ID_NAMESPACE.bytes + canonical).digest()[:16],
                         version=5))
    assert sid7 == str(uuid.uuid5(xapi.ASSIGNED_ID_NAMESPACE, canonical.decode()))
    loaded = q(con, "select statement_id, record_no, statement_timestamp, stored_at, id_assigned "
                    "from raw.xapi_statements order by record_no")
    assert loaded == [
        (sid(1), 1, dt.datetime(2024, 3, 1, 10), None, False),
        (sid(2), 2, dt.datetime(2024, 3, 1, 10), None, False),
        (sid(3), 3, dt.datetime(2024, 3, 1, 10), None, False),
        (sid7, 7, dt.datetime(2024, 3, 1, 10), None, True),
        (sid(13), 13, dt.datetime(2024, 3, 2, 8), dt.datetime(2024, 3, 2, 8), False),
        (sid(15), 15, dt.datetime(2024, 3, 1, 10), None, False),  # an actor with no LMS user is a learner
    ]
    assert q(con, "select payload from raw.xapi_statements where record_no = 1") == [(lines[0].decode(),)]


def test_typed_columns_voiding_attempt_id_and_duration(env):
    con, landing = env
    attempt = stmt(
        1,
        object={"id": "https://lms.example.org/exercise/7", "definition": {
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "extensions": {"http://id.tincanapi.com/extension/attempt-id": 10}}},
        result={"score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}, "success": True, "completion": False,
                "duration": "PT1H2M3.5S", "extensions": {"https://x.example/hints": 2}},
        context={"registration": "11111111-2222-4333-8444-555555555555",
                 "contextActivities": {"parent": {"id": "https://lms.example.org/chapter/3"},
                                       "grouping": [{"id": "https://lms.example.org/course/1"},
                                                    {"id": "https://lms.example.org/other"}]},
                 "extensions": {"https://x.example/session": "s1"}},
        timestamp="2024-03-01T12:30:00.250+02:00",
        stored="2024-03-01T10:31:00Z",
    )
    ctx_attempt = stmt(2, context={"extensions": {"http://id.tincanapi.com/extension/attempt-id": "a-2"}})
    res_attempt = stmt(3, result={"extensions": {"http://id.tincanapi.com/extension/attempt-id": 3},
                                  "duration": "P1DT1S"})
    group_attempt = stmt(4, context={"contextActivities": {"grouping": [
        {"id": "urn:attempt", "definition": {"extensions": {"http://id.tincanapi.com/extension/attempt-id": 1}}}]}})
    voiding = stmt(5, verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
                   object={"objectType": "StatementRef", "id": "0000000A-0000-4000-8000-00000000000B"})
    agent_object = stmt(6, object={"objectType": "Agent", "mbox": "mailto:x@example.org"},
                        result={"duration": "P1M"})
    (landing / "xapi" / "typed.ndjson").write_bytes(
        b"\n".join(line(s) for s in (attempt, ctx_attempt, res_attempt, group_attempt, voiding, agent_object)))
    ingest_xapi_files(con, landing)

    row = con.execute("select * from raw.xapi_statements where statement_id = ?", [sid(1)]).fetchall()[0]
    r = dict(zip([d[0] for d in con.description], row, strict=True))
    assert r["actor_account_homepage"] == "https://lms.example.org" and r["actor_account_name"] == "u1"
    assert r["actor_mbox"] is None and r["actor_mbox_sha1sum"] is None
    assert r["verb_id"] == "http://adlnet.gov/expapi/verbs/answered"
    assert (r["object_type"], r["object_id"], r["object_definition_type"]) == (
        "Activity", "https://lms.example.org/exercise/7", "http://adlnet.gov/expapi/activities/cmi.interaction")
    assert r["statement_timestamp"] == dt.datetime(2024, 3, 1, 10, 30, 0, 250000)
    assert r["stored_at"] == dt.datetime(2024, 3, 1, 10, 31)
    assert r["registration"] == "11111111-2222-4333-8444-555555555555"
    assert r["attempt_id"] == "10"
    assert r["parent_activity_id"] == "https://lms.example.org/chapter/3"
    assert r["grouping_activity_id"] == "https://lms.example.org/course/1"
    assert r["has_result"] is True
    assert (r["result_score_scaled"], r["result_score_raw"], r["result_score_min"], r["result_score_max"]) == (
        0.8, 8.0, 0.0, 10.0)
    assert (r["result_success"], r["result_completion"]) == (True, False)
    assert r["result_duration"] == "PT1H2M3.5S" and r["result_duration_seconds"] == 3723.5
    assert json.loads(r["result_extensions"]) == {"https://x.example/hints": 2}
    assert json.loads(r["context_extensions"]) == {"https://x.example/session": "s1"}
    assert r["voided_statement_id"] is None
    canonical = json.dumps({k: v for k, v in attempt.items() if k != "stored"}, sort_keys=True,
                           separators=(",", ":")).encode()
    assert r["payload_sha256"] == hashlib.sha256(canonical).hexdigest()

    got = q(con, "select statement_id, attempt_id, has_result, result_duration_seconds, voided_statement_id, "
                 "object_type, object_id from raw.xapi_statements where statement_id <> ? order by 1", [sid(1)])
    assert got == [
        (sid(2), "a-2", False, None, None, "Activity", "https://lms.example.org/exercise/2"),
        (sid(3), "3", True, 86401.0, None, "Activity", "https://lms.example.org/exercise/3"),
        (sid(4), "1", False, None, None, "Activity", "https://lms.example.org/exercise/4"),
        (sid(5), None, False, None, "0000000a-0000-4000-8000-00000000000b", "StatementRef",
         "0000000A-0000-4000-8000-00000000000B"),
        (sid(6), None, True, None, None, "Agent", None),
    ]


@pytest.mark.parametrize("text,seconds", [
    ("PT1H2M3.5S", 3723.5), ("PT03M15S", 195.0), ("PT0S", 0.0), ("P2W", 1209600.0), ("P1DT2H", 93600.0),
    ("PT1,5S", 1.5), ("P1Y", None), ("P1M", None), ("PT", None), ("P1DT", None), ("1H", None), ("", None),
    (None, None), (5, None),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_split_json_array_keeps_every_byte_in_some_element():
    assert list(split_json_array(b'[{"a": "x,]}[\\"y"}, 1 , "s,t", [1, [2]]]')) == [
        b'{"a": "x,]}[\\"y"}', b"1", b'"s,t"', b"[1, [2]]"]
    assert list(split_json_array(b"[]")) == []
    assert list(split_json_array(b'[{"a": 1}, {"b": 2')) == [b'{"a": 1}', b'{"b": 2']
    assert list(split_json_array(b'[{"a": 1}] trailing')) == [b'{"a": 1}', b"trailing"]
    assert list(split_json_array(b'[{"a": 1},]')) == [b'{"a": 1}']  # a trailing comma holds no record
    assert list(split_json_array(b"[1,,2]")) == [b"1", b"", b"2"]  # the empty one fails as malformed JSON


def test_file_shapes_json_array_page_gz_and_unreadable(env):
    con, landing = env
    x = landing / "xapi"
    (x / "one.json").write_bytes(line(stmt(1)))
    (x / "arr.json").write_bytes(b"[\n" + line(stmt(2)) + b",\n" + line(stmt(3)) + b", 42\n]\n")
    page = {"statements": [stmt(4), stmt(5, timestamp=None)], "more": "/xAPI/statements?cursor=abc"}
    (x / "page.json").write_bytes(line(page))
    (x / "sub").mkdir()
    (x / "sub" / "lines.ndjson.gz").write_bytes(gzip.compress(line(stmt(6)) + b"\n" + line(stmt(7)) + b"\n"))
    (x / "sub" / "lines.jsonl").write_bytes(line(stmt(8)) + b"\r\n")
    (x / "arr.json.gz").write_bytes(gzip.compress(line([stmt(9), stmt(10)])))
    (x / "notes.txt").write_bytes(b"not xapi")
    (x / "broken.json.gz").write_bytes(b"this is not gzip at all")
    (x / ".partial.ndjson").write_bytes(b"ignored while being written")
    # a gzip stream cut in the middle: the complete lines before the cut load, the rest is one record
    many = b"".join(line(stmt(100 + i)) + b"\n" for i in range(400))
    cut = gzip.compress(many)
    cut = cut[: len(cut) // 2]
    complete_lines = zlib.decompressobj(31).decompress(cut).count(b"\n")
    assert 0 < complete_lines < 400
    (x / "cut.ndjson.gz").write_bytes(cut)

    results = {r["source_ref"]: r for r in ingest_xapi_files(con, landing)}
    counts = {ref: (r["records_read"], r["records_loaded"], r["records_quarantined"], r["records_duplicate"])
              for ref, r in results.items()}
    assert counts == {
        "xapi/arr.json": (3, 2, 1, 0),
        "xapi/arr.json.gz": (2, 2, 0, 0),
        "xapi/broken.json.gz": (1, 0, 1, 0),
        "xapi/cut.ndjson.gz": (complete_lines + 1, complete_lines, 1, 0),
        "xapi/notes.txt": (1, 0, 1, 0),
        "xapi/one.json": (1, 1, 0, 0),
        "xapi/page.json": (2, 1, 1, 0),
        "xapi/sub/lines.jsonl": (1, 1, 0, 0),
        "xapi/sub/lines.ndjson.gz": (2, 2, 0, 0),
    }
    reasons = q(con, "select source_ref, record_no, reason from raw.quarantine order by 1, 2")
    assert reasons == [
        ("xapi/arr.json", 3, "not_a_statement"),
        ("xapi/broken.json.gz", 1, "unreadable_file"),
        ("xapi/cut.ndjson.gz", complete_lines + 1, "unreadable_file"),
        ("xapi/notes.txt", 1, "unknown_file"),
        ("xapi/page.json", 2, "bad_timestamp"),
    ]
    assert q(con, "select raw_record from raw.quarantine where reason = 'unknown_file'") == [(b"not xapi",)]
    assert q(con, "select raw_record from raw.quarantine where source_ref = 'xapi/broken.json.gz'") == [
        (b"this is not gzip at all",)]
    ids = [r[0] for r in q(con, "select statement_id from raw.xapi_statements where statement_id < ? order by 1",
                           [sid(100)])]
    assert ids == [sid(n) for n in (1, 2, 3, 4, 6, 7, 8, 9, 10)]
    # array elements keep their own bytes; page statements are stored as compact JSON
    assert q(con, "select payload from raw.xapi_statements where statement_id = ?", [sid(3)]) == [
        (line(stmt(3)).decode(),)]
    assert json.loads(q(con, "select payload from raw.xapi_statements where statement_id = ?",
                        [sid(4)])[0][0]) == stmt(4)


def test_exactly_once_rerun_renamed_copy_and_grown_file(env):
    con, landing = env
    x = landing / "xapi"
    (x / "a.ndjson").write_bytes(b"".join(line(stmt(i)) + b"\n" for i in range(1, 6)))
    (x / "b.json").write_bytes(line([stmt(10), stmt(11)]))
    first = ingest_xapi_files(con, landing)
    assert [(r["status"], r["records_loaded"]) for r in first] == [("loaded", 5), ("loaded", 2)]
    before = q(con, "select count(*) from raw.load_manifest")[0][0]

    # a re-run reads nothing and leaves the manifest as it was
    again = ingest_xapi_files(con, landing)
    assert [(r["status"], r["records_read"]) for r in again] == [("seen_before", 0), ("seen_before", 0)]
    assert q(con, "select count(*) from raw.load_manifest")[0][0] == before
    assert q(con, "select count(*) from raw.xapi_statements")[0][0] == 7

    # the same content under a new name: noted once as duplicate_content, never counted
    (x / "copy-of-a.ndjson").write_bytes((x / "a.ndjson").read_bytes())
    for _ in range(2):
        res = {r["source_ref"]: r for r in ingest_xapi_files(con, landing)}
        assert res["xapi/copy-of-a.ndjson"]["status"] == "duplicate_content"
        assert res["xapi/copy-of-a.ndjson"]["records_read"] == 0
    assert q(con, "select source_ref, status, records_read, detail from raw.load_manifest "
                  "where status = 'duplicate_content'") == [
        ("xapi/copy-of-a.ndjson", "duplicate_content", 0,
         json.dumps({"duplicate_of": first[0]["load_id"]}, separators=(",", ":")))]

    # a file that grew: only the new statements load, the old ones count as duplicates
    (x / "a.ndjson").write_bytes(b"".join(line(stmt(i)) + b"\n" for i in range(1, 8)))
    res = {r["source_ref"]: r for r in ingest_xapi_files(con, landing)}
    grown = res["xapi/a.ndjson"]
    assert (grown["status"], grown["records_read"], grown["records_loaded"], grown["records_duplicate"]) == (
        "loaded", 7, 2, 5)
    assert q(con, "select count(*), count(distinct statement_id) from raw.xapi_statements") == [(9, 9)]


def test_duplicates_within_a_load_and_across_batches(env, monkeypatch):
    con, landing = env
    monkeypatch.setattr(xapi, "ARROW_ROWS", 1)
    monkeypatch.setattr(xapi, "INSERT_ROWS", 2)
    lines = [stmt(1), stmt(2), stmt(1), stmt(3), stmt(3, verb={"id": "urn:other"}), stmt(1), stmt(4), stmt(4)]
    (landing / "xapi" / "d.ndjson").write_bytes(b"\n".join(line(s) for s in lines))
    [r] = ingest_xapi_files(con, landing)
    assert (r["records_read"], r["records_loaded"], r["records_duplicate"], r["records_quarantined"]) == (8, 4, 3, 1)
    assert q(con, "select record_no, reason from raw.quarantine") == [(5, "duplicate_id_conflict")]
    assert q(con, "select record_no from raw.xapi_statements order by 1") == [(1,), (2,), (4,), (7,)]


def test_load_xapi_records_shared_with_the_lrs(env):
    """The LRS client's path: one load per page, records are raw statement bytes."""
    con, landing = env
    (landing / "xapi" / "f.ndjson").write_bytes(line(stmt(1)))
    ingest_xapi_files(con, landing)
    page = [line({**stmt(1), "stored": "2024-03-01T10:00:01Z", "authority": {"mbox": "mailto:lrs@x"}}),
            line(stmt(2, stored="2024-03-01T10:00:02Z")), b"{oops"]
    with RawLoad(con, "xapi_lrs", "http://127.0.0.1:1/xAPI/statements?limit=3", "abc") as load:
        load_xapi_records(con, enumerate(page, 1), load=load)
    assert (load.read, load.loaded, load.duplicate, load.quarantined) == (3, 1, 1, 1)
    assert q(con, "select source, statement_id from raw.xapi_statements order by 2") == [
        ("xapi_file", sid(1)), ("xapi_lrs", sid(2))]


def test_ingest_landing_reconciles_and_fails_loudly(home: Path):
    landing = home / "landing"
    (landing / "lms").mkdir()
    (landing / "lms" / "users.csv").write_text(USERS_CSV)
    (landing / "xapi").mkdir()
    (landing / "xapi" / "s.ndjson").write_bytes(
        b"\n".join([line(stmt(1)), line(stmt(1)), line(stmt(2, id="statement-2"))]))
    (landing / "credential_events").mkdir()
    (landing / "credential_events" / "e.ndjson").write_bytes(line(
        {"event_id": "e1", "event_type": "viewed", "occurred_at": "2024-03-01T10:00:00Z", "credential_id": "c1"}))
    seen = []
    summary = ingest_landing(settings(), progress=lambda label, done, total: seen.append((label, done, total)))
    by_source = {s["source"]: s for s in summary["sources"]}
    assert {k: (v["records_read"], v["records_loaded"], v["records_quarantined"], v["records_duplicate"],
                v["balanced"]) for k, v in by_source.items() if k != "credentials"} == {
        "lms": (3, 3, 0, 0, True),
        "xapi_file": (3, 1, 1, 1, True),
        "credential_events": (1, 1, 0, 0, True),
    }
    assert summary["quarantine"] == [("xapi_file", "invalid_id", 1)]
    assert ("xapi files", 1, 1) in seen and ("lms files", 1, 1) in seen
    text = format_summary(summary)
    assert "xapi_file" in text and "invalid_id" in text and "NO" not in text

    # a record lost between the manifest and the raw tables makes the run fail loudly
    con = duckdb.connect(str(home / "lake.duckdb"))
    con.execute("delete from raw.xapi_statements where statement_id = ?", [sid(1)])
    con.close()
    with pytest.raises(ReconciliationError, match="xapi_file"):
        ingest_landing(settings())


def test_statements_without_id_load_once_and_a_repeat_delivery_is_a_duplicate(env):
    con, landing = env
    no_id = [stmt(n, id=None, stored=f"2024-03-0{n}T12:00:00Z") for n in (1, 2, 3)]
    (landing / "xapi" / "night1.ndjson").write_bytes(b"\n".join(line(s) for s in no_id))
    [first] = ingest_xapi_files(con, landing)
    assert (first["records_read"], first["records_loaded"], first["records_duplicate"]) == (3, 3, 0)
    # the same statements again, as another export would deliver them: other key order, another
    # 'stored' and 'version' (set by an LRS), in a JSON array instead of lines
    again = [{"version": "1.0.3", "stored": "2025-01-01T00:00:00Z",
              **dict(reversed(list(s.items())))} for s in no_id]
    (landing / "xapi" / "night2.json").write_bytes(json.dumps(again).encode())
    [_, second] = ingest_xapi_files(con, landing)
    assert (second["records_read"], second["records_loaded"], second["records_duplicate"],
            second["records_quarantined"]) == (3, 0, 3, 0)
    rows = q(con, "select count(*), count(distinct statement_id), bool_and(id_assigned) from raw.xapi_statements")
    assert rows == [(3, 3, True)]


def test_actor_kinds_names_and_context_types_are_kept(env):
    con, landing = env
    course = {"id": "https://lms.example.org/course/7", "objectType": "Activity",
              "definition": {"type": "http://adlnet.gov/expapi/activities/course",
                             "name": {"fr": "Cours", "en": "Course seven"}}}
    group = {"objectType": "Group", "member": [{"mbox": "mailto:ann@example.org"}]}
    statements = [
        stmt(1, {"mbox_sha1sum": SHA1_CY.upper()},
             object={"id": "https://lms.example.org/q/1",
                     "definition": {"name": {"de": "Frage", "en-US": "Question one"}}},
             context={"contextActivities": {"parent": course}}),
        stmt(2, group, context={"contextActivities": {"grouping": [course]}}),
        stmt(3, {"openid": "https://id.example.org/ann"}),
    ]
    (landing / "xapi" / "kinds.ndjson").write_bytes(b"\n".join(line(s) for s in statements))
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_loaded"], res["records_quarantined"]) == (3, 0)
    rows = q(con, "select statement_id, actor_object_type, actor_mbox_sha1sum, actor_openid, object_name, "
                  "parent_activity_id, parent_activity_type, parent_activity_name, grouping_activity_id, "
                  "grouping_activity_name from raw.xapi_statements order by 1")
    assert rows == [
        (sid(1), "Agent", SHA1_CY.upper(), None, "Question one", course["id"],
         "http://adlnet.gov/expapi/activities/course", "Course seven", None, None),
        (sid(2), "Group", None, None, None, None, None, None, course["id"], "Course seven"),
        (sid(3), "Agent", None, "https://id.example.org/ann", None, None, None, None, None, None),
    ]


def test_the_course_typed_context_activity_is_found_in_parents_and_groupings(env):
    """Moodle's logstore_xapi puts the site first and the course second in grouping."""
    con, landing = env
    site = {"id": "https://moodle.example.org", "definition": {"type": "http://id.tincanapi.com/activitytype/lms"}}
    course = {"id": "https://moodle.example.org/course/view.php?id=2",
              "definition": {"type": "http://id.tincanapi.com/activitytype/lms/course", "name": {"en": "Algebra"}}}
    quiz = {"id": "https://moodle.example.org/mod/quiz/view.php?id=7"}
    statements = [stmt(1, context={"contextActivities": {"grouping": [site, course], "parent": [quiz]}}),
                  stmt(2, context={"contextActivities": {"grouping": [site]}})]
    (landing / "xapi" / "moodle.ndjson").write_bytes(b"\n".join(line(s) for s in statements))
    ingest_xapi_files(con, landing)
    assert q(con, "select statement_id, course_activity_id, course_activity_name, parent_activity_id, "
                  "grouping_activity_id from raw.xapi_statements order by 1") == [
        (sid(1), course["id"], "Algebra", quiz["id"], site["id"]),
        (sid(2), None, None, None, site["id"])]
