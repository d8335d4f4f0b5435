"""Hostile inputs (issue 19): one bad record never crashes a run, takes its neighbours with it,
or reaches the raw tables the marts read. One example test per reported case."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from skillpath.config import settings
from skillpath.ingest import xapi
from skillpath.ingest._credential_formats import parse_datetime
from skillpath.ingest._csv import csv_records, parse_csv_row
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from skillpath.ingest.events import ingest_credential_events
from skillpath.ingest.lms import ingest_lms
from skillpath.ingest.lrs import parse_stored
from skillpath.ingest.rawstore import reconciliation
from skillpath.ingest.runner import format_summary, ingest_landing
from skillpath.ingest.xapi import ingest_xapi_files, parse_timestamp, split_json_array

USERS_HEADER = "user_id,account_id,email,display_name,role\n"
USERS_CSV = USERS_HEADER + "u1,acc1,ann@example.org,Ann,learner\n"


def sid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def stmt(n: int, **over) -> dict:
    s = {"id": sid(n), "actor": {"account": {"homePage": "https://lms.example.org", "name": "u1"}},
         "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
         "object": {"id": f"https://lms.example.org/exercise/{n}"},
         "timestamp": "2024-03-01T10:00:00Z"}
    s.update(over)
    return {k: v for k, v in s.items() if v is not None}


def event(n: int, **over) -> dict:
    e = {"event_id": f"ev-{n}", "event_type": "viewed", "occurred_at": "2024-05-01T12:00:00+02:00",
         "credential_id": "urn:uuid:cred-1"}
    e.update(over)
    return e


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def balanced(con) -> bool:
    return all(r["balanced"] for r in reconciliation(con))


@pytest.fixture
def lake(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / "lms").mkdir(parents=True)
    (landing / "lms" / "users.csv").write_text(USERS_CSV)
    con = connect_raw(tmp_path / "lake.duckdb")
    ingest_lms(con, landing)
    yield con, landing
    con.close()


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def reasons(con, source_ref: str) -> list[tuple[int, str]]:
    return q(con, "select record_no, reason from raw.quarantine where source_ref = ? order by 1", [source_ref])


# --------------------------------------------------------------------------- 1. crashes


def test_timestamps_beyond_utc_and_deep_nesting_are_quarantined_not_raised(lake):
    con, landing = lake
    write(landing / "xapi" / "a.ndjson", b"\n".join([
        line(stmt(1, timestamp="9999-12-31T23:00:00-05:00")),             # 1 overflows in UTC
        line(stmt(2, context={"extensions": {"https://x/e": nested(300)}})),  # 2 orjson cannot write it
        b'{"id": "' + sid(3).encode() + b'", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}",  # 3 nor read it
        line(stmt(4)),                                                    # 4 loads
    ]))
    write(landing / "credential_events" / "e.ndjson", b"\n".join([
        line(event(1, occurred_at="0001-01-01T00:00:00+05:30")),
        line(event(2, extra=nested(300))),
        line(event(3)),
    ]))
    issuer = {"@context": "https://w3id.org/openbadges/v2", "type": "Issuer", "id": "https://org.example/i"}
    write(landing / "credentials" / "deep.json", json.dumps([{**issuer, "deep": nested(300)}]))
    write(landing / "credentials" / "deeper.json", line(issuer)[:-1] + b', "deep": ' + b"[" * 1100 + b"]" * 1100 + b"}")
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_read"], res["records_loaded"], res["records_quarantined"]) == (4, 1, 3)
    assert reasons(con, "xapi/a.ndjson") == [(1, "implausible_timestamp"), (2, "too_deeply_nested"),
                                             (3, "too_deeply_nested")]
    ingest_credential_events(con, landing)
    assert reasons(con, "credential_events/e.ndjson") == [(1, "implausible_timestamp"), (2, "too_deeply_nested")]
    ingest_credentials(con, landing)
    assert reasons(con, "credentials/deep.json") == [(1, "too_deeply_nested")]
    assert reasons(con, "credentials/deeper.json") == [(1, "too_deeply_nested")]
    assert q(con, "select event_id from raw.credential_events") == [("ev-3",)]
    assert balanced(con)


# --------------------------------------------------------------------------- 2. out-of-range values


@pytest.mark.parametrize("result,why", [
    ({"score": {"raw": 1e308}}, "beyond"),
    ({"score": {"raw": 1e13}}, "beyond"),
    ({"score": {"scaled": 1.5}}, "outside [-1, 1]"),
    ({"score": {"scaled": -1.01}}, "outside [-1, 1]"),
    ({"score": {"raw": -5, "min": 0, "max": 4}}, "outside [min"),
    ({"score": {"raw": 5, "min": 0, "max": 4}}, "outside [min"),
    ({"score": {"raw": 1, "min": 4, "max": 0}}, "above max"),
    ({"score": {"scaled": "0.5"}, "success": True}, "not a number"),
    ({"score": {"scaled": 0.5}, "success": "true"}, "not a boolean"),
    ({"completion": 1}, "not a boolean"),
    ({"score": {"raw": True}}, "not a number"),
    ({"score": "full marks"}, "not an object"),
    ({"duration": 41.5}, "not a string"),
    ({"duration": "PT99999999999999S"}, "seconds"),
    ("passed", "not an object"),
])
def test_results_xapi_forbids_are_quarantined_as_invalid_result(lake, result, why):
    con, landing = lake
    write(landing / "xapi" / "r.ndjson", line(stmt(1, result=result)) + b"\n" + line(stmt(2)))
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_loaded"], res["quarantine_reasons"]) == (1, {"invalid_result": 1})
    [(detail,)] = q(con, "select detail from raw.quarantine")
    assert why in detail


@pytest.mark.parametrize("result", [
    {"score": {"scaled": 1, "raw": 4, "min": 0, "max": 4}, "success": True, "completion": True},
    {"score": {"scaled": -1, "raw": -3, "min": -3, "max": 0}},
    {"score": {"raw": 0, "min": 0, "max": 0}},   # Open edX: a problem worth no points (min = max tolerated)
    {"score": {"scaled": None}, "success": None, "duration": "PT1M"},  # null counts as absent
    {"duration": "P1Y"},                            # a valid duration without a length in seconds
    {},
])
def test_valid_results_load(lake, result):
    con, landing = lake
    write(landing / "xapi" / "r.ndjson", line(stmt(1, result=result)))
    [res] = ingest_xapi_files(con, landing)
    assert res["records_loaded"] == 1, q(con, "select detail from raw.quarantine")


def test_implausible_timestamps_window_and_setting(lake, monkeypatch):
    con, landing = lake
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    soon = (now + dt.timedelta(hours=2)).isoformat() + "Z"
    later = (now + dt.timedelta(days=3)).isoformat() + "Z"
    write(landing / "xapi" / "t.ndjson", b"\n".join([
        line(stmt(1, timestamp="9999-12-31T00:00:00Z")),            # 1 implausible: freshness for ever
        line(stmt(2, timestamp="1969-12-31T23:59:59Z")),            # 2 implausible: before the floor
        line(stmt(3, timestamp="1970-01-01T00:30:00+01:00")),       # 3 1969 in UTC: implausible
        line(stmt(4, timestamp=later)),                             # 4 more than 24 h ahead
        line(stmt(5, timestamp=soon)),                              # 5 clock skew: loads
        line(stmt(6, timestamp=None, stored="9999-12-31T00:00:00Z")),  # 6 stored is checked too
        line(stmt(7, timestamp="1970-01-01T00:00:00Z")),            # 7 the floor itself loads
        line(stmt(8, timestamp="2024-03-01T10:00:00-14:00")),       # 8 any offset loads
    ]))
    [res] = ingest_xapi_files(con, landing)
    assert reasons(con, "xapi/t.ndjson") == [(n, "implausible_timestamp") for n in (1, 2, 3, 4, 6)]
    assert res["records_loaded"] == 3
    assert q(con, "select max(statement_timestamp) < ? from raw.xapi_statements", [now + dt.timedelta(days=1)]) \
        == [(True,)]
    # the window is a setting: 100 days ahead is accepted when allowed
    monkeypatch.setenv("SKILLPATH_MAX_FUTURE_HOURS", str(24 * 100))
    write(landing / "xapi" / "t2.ndjson", line(stmt(9, timestamp=later)))
    ingest_xapi_files(con, landing)
    assert q(con, "select count(*) from raw.xapi_statements where statement_id = ?", [sid(9)]) == [(1,)]


# --------------------------------------------------------------------------- 3. CSV and JSON arrays


def test_a_stray_quote_is_one_bad_row_and_rows_are_counted_exactly(lake):
    con, landing = lake
    rows = [f"u{i},acc1,p{i}@example.org,Person {i},learner" for i in range(10, 20)]
    rows[3] = 'u13,acc1,dj@example.org,Dwayne "The Rock Johnson,learner'
    write(landing / "lms" / "users.csv", USERS_HEADER + "\n".join(rows) + "\n")
    [res] = ingest_lms(con, landing)
    assert (res["records_read"], res["records_loaded"], res["records_quarantined"]) == (10, 9, 1)
    assert reasons(con, "lms/users.csv") == [(5, "bad_csv_row")]
    assert q(con, "select raw_record from raw.quarantine") == [(rows[3].encode(),)]


def test_an_unterminated_quoted_value_does_not_absorb_the_rows_after_it(lake):
    con, landing = lake
    write(landing / "lms" / "users.csv", USERS_HEADER
          + "u10,acc1,a@example.org,A,learner\n"
          + 'u11,acc1,b@example.org,"B,learner\n'                 # 3 opens a quoted value never closed
          + "u12,acc1,c@example.org,C,learner\n"
          + 'u13,acc1,d@example.org,"Dee\nSecond line, still Dee",learner\n'  # 5-6 multi-line value: legal
          + "u14,acc1,e@example.org,E,learner\n")
    [res] = ingest_lms(con, landing)
    assert reasons(con, "lms/users.csv") == [(3, "bad_csv_row")]
    assert q(con, "select user_id, record_no, display_name from raw.lms_users where user_id > 'u1' order by 1") == [
        ("u10", 2, "A"), ("u12", 4, "C"), ("u13", 5, "Dee\nSecond line, still Dee"), ("u14", 7, "E")]
    assert (res["records_read"], res["records_loaded"]) == (5, 4)


@pytest.mark.parametrize("text,records", [
    (b'a,b\n1,"x\ny"\n2,z\n', [(1, b"a,b"), (2, b'1,"x\ny"'), (4, b"2,z")]),
    (b'a,b\n1,x"y\n2,z\n', [(1, b"a,b"), (2, b'1,x"y'), (3, b"2,z")]),
    (b'a,b\n1,"x\n2,z\n3,w\n', [(1, b"a,b"), (2, b'1,"x'), (3, b"2,z"), (4, b"3,w")]),
    (b'a,b\r\n1,"he said ""hi"""\r\n', [(1, b"a,b"), (2, b'1,"he said ""hi"""')]),
    (b'\xef\xbb\xbfa,b\n\n1,2', [(1, b"a,b"), (3, b"1,2")]),
])
def test_csv_records_follow_rfc_4180(text, records):
    assert list(csv_records(text)) == records


@pytest.mark.parametrize("raw,ok", [
    (b'1,"x, y",z', True), (b'1,"a ""b"" c",', True), (b'1,x"y,z', False), (b'1,"x"y,z', False), (b"", True),
])
def test_parse_csv_row_is_strict(raw, ok):
    if ok:
        parse_csv_row(raw)
    else:
        with pytest.raises(Exception, match="RFC 4180"):
            parse_csv_row(raw)


def test_a_key_repeated_with_other_values_in_one_file_is_a_conflict(lake):
    con, landing = lake
    write(landing / "lms" / "users.csv", USERS_HEADER
          + "u10,acc1,a@example.org,A,learner\n"      # 2 conflict with 4
          + "u11,acc1,b@example.org,B,learner\n"      # 3 loads
          + "u10,acc1,a@example.org,A,manager\n"      # 4 conflict with 2
          + "u11,acc1,b@example.org,B,learner\n"      # 5 identical repeat: duplicate
          + "u10,acc1,a@example.org,A,learner\n")     # 6 conflict (the key conflicts)
    [res] = ingest_lms(con, landing)
    assert reasons(con, "lms/users.csv") == [(2, "duplicate_key_conflict"), (4, "duplicate_key_conflict")]
    # row 6 has the bytes of row 2: the quarantine keeps them once and counts it as a duplicate
    assert (res["records_read"], res["records_loaded"], res["records_quarantined"], res["records_duplicate"]) \
        == (5, 1, 2, 2)
    assert q(con, "select user_id from raw.lms_users where user_id <> 'u1'") == [("u11",)]
    # a later delivery may change a key's values: that is an update, not a conflict
    write(landing / "lms" / "users.csv", USERS_HEADER + "u10,acc1,a@example.org,A,manager\n")
    ingest_lms(con, landing)
    assert q(con, "select role from raw.lms_users where user_id = 'u10'") == [("manager",)]
    assert balanced(con)


def test_collections_csv_stray_quote_and_key_conflict(home):
    con = connect_raw(home / "lake.duckdb")
    landing = home / "landing"
    write(landing / "credentials" / "collections.csv",
          "collection_id,collection_name,position,achievement_id\n"
          "c1,One,1,urn:a\n"
          'c1,The "best" one,2,urn:b\n'     # 3 bad_csv_row (RFC 4180)
          "c1,One,3,urn:c\n"
          "c1,One,4,urn:c\n"                # 4-5 duplicate_key_conflict
          "c1,One,1,urn:a\n")               # 6 identical: duplicate
    ingest_credentials(con, landing)
    assert q(con, "select record_no, reason from raw.quarantine order by 1") == [
        (3, "bad_csv_row"), (4, "duplicate_key_conflict"), (5, "duplicate_key_conflict")]
    assert q(con, "select achievement_id from raw.collections") == [("urn:a",)]
    assert balanced(con)
    con.close()


def test_json_array_with_a_bom_and_one_unbalanced_element(lake):
    con, landing = lake
    elements = [line(stmt(1)), b'{"id": "' + sid(2).encode() + b'", "actor": {"x": [1}',
                line(stmt(3)), b'{"id": "x"}}', line(stmt(4)), b'{"id": {"y": 1', line(stmt(5))]
    write(landing / "xapi" / "arr.json", b"\xef\xbb\xbf[\n" + b",\n".join(elements) + b"\n]\n")
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_read"], res["records_loaded"]) == (7, 4)
    assert reasons(con, "xapi/arr.json") == [(2, "malformed_json"), (4, "malformed_json"), (6, "malformed_json")]
    assert q(con, "select raw_record from raw.quarantine order by record_no") == [
        (elements[1],), (elements[3],), (elements[5],)]


def test_split_json_array_keeps_neighbours_of_a_broken_element():
    assert list(split_json_array(b'[{"a": [1}, {"b": 2}]')) == [b'{"a": [1}', b'{"b": 2}']
    assert list(split_json_array(b'[{"a": 1}}, {"b": 2}]')) == [b'{"a": 1}}', b'{"b": 2}']
    assert list(split_json_array(b'[{"a": {"x": 1, {"b": 2}]')) == [b'{"a": {"x": 1', b'{"b": 2}']
    assert list(split_json_array(b'[{"a": "open,\n{"b": 2}]')) == [b'{"a": "open', b'{"b": 2}']


def test_credentials_json_array_with_one_broken_element(home):
    con = connect_raw(home / "lake.duckdb")
    issuer = {"@context": "https://w3id.org/openbadges/v2", "type": "Issuer", "id": "https://org.example/i"}
    other = {**issuer, "id": "https://org.example/j"}
    write(home / "landing" / "credentials" / "issuers.json",
          b"\xef\xbb\xbf[" + line(issuer) + b',\n{"type": "Issuer", "id": [}},\n' + line(other) + b"]")
    [res] = ingest_credentials(con, home / "landing")
    assert (res["records_read"], res["records_loaded"], res["quarantine_reasons"]) == (3, 2, {"malformed_json": 1})
    con.close()


# --------------------------------------------------------------------------- 4. silent or unclear


def test_lower_case_t_and_z_are_valid_everywhere(lake):
    con, landing = lake
    write(landing / "xapi" / "s.ndjson", line(stmt(1, timestamp="2024-03-01t10:00:00z", stored="2024-03-01t10:00:01z")))
    write(landing / "credential_events" / "e.ndjson", line(event(1, occurred_at="2024-05-01t10:00:00z")))
    ingest_xapi_files(con, landing)
    ingest_credential_events(con, landing)
    assert q(con, "select statement_timestamp, stored_at from raw.xapi_statements") == [
        (dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 10, 0, 1))]
    assert q(con, "select occurred_at from raw.credential_events") == [(dt.datetime(2024, 5, 1, 10),)]
    assert parse_timestamp("2024-03-01t10:00:00.5z") == dt.datetime(2024, 3, 1, 10, 0, 0, 500000)
    assert parse_stored("2024-03-01t10:00:00z") == dt.datetime(2024, 3, 1, 10)
    assert parse_datetime("2024-01-15t09:30:00.5z") == dt.datetime(2024, 1, 15, 9, 30, 0, 500000)  # credentials
    # an implausible stored never moves the LRS cursor
    assert parse_stored("9999-12-31T00:00:00Z") is None and parse_stored("9999-12-31T23:00:00-05:00") is None


def test_dotfiles_in_credentials_are_ignored(home):
    con = connect_raw(home / "lake.duckdb")
    issuer = {"@context": "https://w3id.org/openbadges/v2", "type": "Issuer", "id": "https://org.example/i"}
    write(home / "landing" / "credentials" / ".issuer.json.part", json.dumps(issuer))
    write(home / "landing" / "credentials" / ".hidden" / "issuer.json", json.dumps(issuer))
    assert ingest_credentials(con, home / "landing") == []
    con.close()


def test_dangling_links_and_a_missing_landing_dir_are_noted(home, monkeypatch):
    landing = home / "landing"
    write(landing / "lms" / "users.csv", USERS_CSV)
    (landing / "xapi").mkdir()
    os.symlink(landing / "xapi" / "gone.ndjson", landing / "xapi" / "today.ndjson")
    summary = ingest_landing(settings(), include_lrs=False)
    assert summary["notes"] == ["xapi/today.ndjson: a dangling symbolic link, skipped"]
    assert "note: xapi/today.ndjson: a dangling symbolic link, skipped" in format_summary(summary)

    monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(home / "nowhere"))
    summary = ingest_landing(settings(), include_lrs=False)
    assert len(summary["notes"]) == 1 and "does not exist" in summary["notes"][0]


# --------------------------------------------------------------------------- 5. no file crashes a run


def test_a_file_whose_load_raises_is_quarantined_and_the_run_goes_on(home, monkeypatch):
    landing = home / "landing"
    write(landing / "lms" / "users.csv", USERS_CSV)
    write(landing / "xapi" / "a.json", line(stmt(1)))
    write(landing / "xapi" / "b.ndjson", line(stmt(2)))
    write(landing / "credential_events" / "e.ndjson", line(event(1)))

    def boom(data):
        raise RuntimeError("parser bug")
        yield  # pragma: no cover

    monkeypatch.setattr(xapi, "_json_file_records", boom)
    summary = ingest_landing(settings(), include_lrs=False)
    assert summary["notes"] == ["xapi_file: xapi/a.json quarantined as ingest_error: RuntimeError: parser bug"]
    assert ("xapi_file", "ingest_error", 1) in summary["quarantine"]
    assert all(s["balanced"] for s in summary["sources"])
    con = connect_raw(home / "lake.duckdb")
    try:
        assert q(con, "select source_ref, record_no, raw_record from raw.quarantine") == [
            ("xapi/a.json", 1, line(stmt(1)))]
        assert q(con, "select statement_id from raw.xapi_statements") == [(sid(2),)]
        assert q(con, "select count(*) from raw.credential_events") == [(1,)]
        # the file's content is not recorded as loaded: once the bug is fixed, it loads
        monkeypatch.undo()
        monkeypatch.setenv("SKILLPATH_HOME", str(home))
        monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(landing))
        con.close()
        summary = ingest_landing(settings(), include_lrs=False)
        con = connect_raw(home / "lake.duckdb")
        assert q(con, "select statement_id from raw.xapi_statements order by 1") == [(sid(1),), (sid(2),)]
        assert summary["notes"] == []
    finally:
        con.close()


def test_a_record_whose_parsing_raises_is_quarantined_as_ingest_error(lake, monkeypatch):
    con, landing = lake
    real = xapi.check_result

    def flaky(result):
        if result == {"boom": True}:
            raise KeyError("unexpected")
        real(result)

    monkeypatch.setattr(xapi, "check_result", flaky)
    write(landing / "xapi" / "s.ndjson", line(stmt(1, result={"boom": True})) + b"\n" + line(stmt(2)))
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_loaded"], res["quarantine_reasons"]) == (1, {"ingest_error": 1})
    assert "KeyError" in q(con, "select detail from raw.quarantine")[0][0]


def test_load_file_once_notes_are_per_source(home, monkeypatch):
    """Credentials and events go through load_file_once too."""
    landing = home / "landing"
    write(landing / "credential_events" / "e.ndjson", line(event(1)))

    def broken(con):
        def body(load, path):
            raise ValueError("broken body")
        return body

    import skillpath.ingest.events as events

    monkeypatch.setattr(events, "_body", broken)
    summary = ingest_landing(settings(), include_lrs=False)
    assert summary["notes"] == ["credential_events: credential_events/e.ndjson quarantined as ingest_error: "
                                "ValueError: broken body"]


def test_numbers_beyond_what_staging_and_the_marts_hold_are_quarantined(home):
    con = connect_raw(home / "lake.duckdb")
    landing = home / "landing"
    write(landing / "lms" / "exercises.csv",
          "exercise_id,chapter_id,exercise_title,position,activity_id,max_points\n"
          "e1,ch1,A,1,urn:e1,10\n"
          "e2,ch1,B,2,urn:e2,1e308\n"              # 3 max_points beyond 1e12
          "e3,ch1,C,99999999999,urn:e3,1\n"        # 4 position beyond an integer
          "e4,ch1,D,x,urn:e4,nan\n"                # 5 nan is not a number the marts hold
          "e5,ch1,E,first,urn:e5,ten\n")           # 6 text: left to staging (null there)
    write(landing / "credentials" / "collections.csv",
          "collection_id,collection_name,position,achievement_id\nc1,One,99999999999,urn:a\nc1,One,1,urn:b\n")
    ingest_lms(con, landing)
    ingest_credentials(con, landing)
    assert q(con, "select source_ref, record_no, reason from raw.quarantine order by 1, 2") == [
        ("credentials/collections.csv", 2, "value_out_of_range"),
        ("lms/exercises.csv", 3, "value_out_of_range"), ("lms/exercises.csv", 4, "value_out_of_range"),
        ("lms/exercises.csv", 5, "value_out_of_range")]
    assert q(con, "select exercise_id from raw.lms_exercises order by 1") == [("e1",), ("e5",)]
    assert balanced(con)
    con.close()


def test_lrs_page_file_with_a_statement_too_deep_to_reserialise(lake):
    con, landing = lake
    deep = line(stmt(2))[:-1] + b', "deep": ' + b"[" * 300 + b"]" * 300 + b"}"
    page = b'{"more": "statements", "statements": [' + line(stmt(1)) + b", " + deep + b", " + line(stmt(3)) + b"]}"
    write(landing / "xapi" / "page.json", page)
    [res] = ingest_xapi_files(con, landing)
    assert (res["records_read"], res["records_loaded"], res["quarantine_reasons"]) == (
        3, 2, {"too_deeply_nested": 1})
    assert q(con, "select raw_record from raw.quarantine") == [(deep,)]
