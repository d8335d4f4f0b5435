"""Late statements against a real Ralph LRS on 127.0.0.1: the look-back window and full re-scans.

Ralph 5.1 compares ``since`` with the statement ``timestamp``, not with ``stored``.
A statement stored after a run but timestamped before ``cursor - overlap`` (an
offline client syncing days later) is therefore only found while its timestamp is
inside the look-back window (``SKILLPATH_LRS_LOOKBACK_DAYS``), and beyond it by a
full re-scan (``SKILLPATH_LRS_FULL_RESCAN_DAYS``, ``SKILLPATH_LRS_FULL_RESCAN``).

Every statement here has an actor of the LMS roster the ``lake`` fixture writes, so
the counts do not depend on how statements of unknown actors are handled.
"""

from __future__ import annotations

import datetime as dt

import pytest

from skillpath.config import settings
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.lrs import LrsError, extract_lrs, read_cursor, read_cursor_state
from skillpath.ingest.rawstore import reconciliation
from tests.integration.test_lrs import (
    OVERLAP,
    FaultProxy,
    add_lms_users,
    batch,
    configure,
    max_stored,
    naive_utc,
    proxied_client,
    statement,
    statement_ids,
    utcnow,
)
from tests.support.ralph import (  # noqa: F401 (fixtures)
    fixture_ralph_credentials,
    fixture_ralph_lrs,
    post_statements,
)

pytestmark = pytest.mark.integration


@pytest.fixture(name="lake")
def fixture_lake(home):
    """The raw layer with the LMS roster every actor below belongs to."""
    con = connect_raw(home / "lake.duckdb")
    add_lms_users(con)
    yield con
    con.close()


def counts(result: dict) -> tuple[int, int, int, int]:
    return result["read"], result["loaded"], result["duplicate"], result["quarantined"]


def age_last_full_scan(con, lrs_url: str, days: int) -> None:
    """Pretend the last complete full re-scan started ``days`` calendar days ago (UTC)."""
    started = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days), dt.time(12))
    con.execute("update raw.lrs_cursor set full_scan_started_at = ?, full_scan_finished_at = ? where lrs_url = ?",
                [started, started + dt.timedelta(minutes=1), lrs_url])


def assert_each_loaded_once(con, ids: set[str]) -> None:
    assert con.execute("select count(*), count(distinct statement_id) from raw.xapi_statements").fetchone() \
        == (len(ids), len(ids))
    assert set(statement_ids(con)) == ids
    assert con.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    [row] = [r for r in reconciliation(con) if r["source"] == "xapi_lrs"]
    assert row["balanced"] and row["records_loaded"] == len(ids)


def test_lookback_finds_a_late_statement_and_the_due_full_rescan_an_older_one(ralph_lrs, lake, monkeypatch):
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    monkeypatch.delenv("SKILLPATH_LRS_LOOKBACK_DAYS")          # the defaults: 3 days, a re-scan every 7
    monkeypatch.delenv("SKILLPATH_LRS_FULL_RESCAN_DAYS", raising=False)
    monkeypatch.delenv("SKILLPATH_LRS_FULL_RESCAN", raising=False)
    assert (settings().lrs_lookback_days, settings().lrs_full_rescan_days) == (3, 7)

    first = batch(250, utcnow() - dt.timedelta(seconds=1))
    post_statements(ralph_lrs, first)
    r1 = extract_lrs(lake, settings())
    assert (r1["full_scan"], r1["full_scan_reason"], r1["since"]) == (True, "first_run", None)
    assert counts(r1) == (250, 250, 0, 0)
    cursor1 = read_cursor(lake, ralph_lrs.url)
    state1 = read_cursor_state(lake, ralph_lrs.url)
    assert state1.full_scan_started_at is not None and state1.full_scan_finished_at >= state1.full_scan_started_at
    assert state1.full_scan_requested_at is None

    # Stored after run 1, timestamped long before its cursor: one 10 days back (outside the
    # look-back window), then one a day back (inside it).
    older = statement(1001, cursor1.replace(tzinfo=dt.UTC) - dt.timedelta(days=10))
    late = statement(1000, cursor1.replace(tzinfo=dt.UTC) - dt.timedelta(days=1))
    post_statements(ralph_lrs, [older])
    post_statements(ralph_lrs, [late])

    # Control: with the overlap alone Ralph does not return the late statement.
    monkeypatch.setenv("SKILLPATH_LRS_LOOKBACK_DAYS", "0")
    since = cursor1 - dt.timedelta(seconds=OVERLAP)
    overlap = sum(naive_utc(s["timestamp"]) > since for s in first)
    assert overlap > 0
    r2 = extract_lrs(lake, settings())
    assert (r2["full_scan"], naive_utc(r2["since"])) == (False, since)
    assert counts(r2) == (overlap, 0, overlap, 0)
    assert late["id"] not in statement_ids(lake)
    assert read_cursor(lake, ralph_lrs.url) == cursor1

    # The 3-day look-back finds it: loaded once, the first batch read again as duplicates.
    monkeypatch.delenv("SKILLPATH_LRS_LOOKBACK_DAYS")
    r3 = extract_lrs(lake, settings())
    assert (r3["full_scan"], naive_utc(r3["since"])) == (False, cursor1 - dt.timedelta(days=3))
    assert counts(r3) == (251, 1, 250, 0)
    assert late["id"] in statement_ids(lake) and older["id"] not in statement_ids(lake)
    cursor3 = read_cursor(lake, ralph_lrs.url)
    assert cursor3 == max_stored(ralph_lrs) > cursor1

    # The statement 10 days back: not found while the last full re-scan is less than 7 days old ...
    r4 = extract_lrs(lake, settings())
    assert (r4["full_scan"], counts(r4)) == (False, (251, 0, 251, 0))
    age_last_full_scan(lake, ralph_lrs.url, days=6)
    r5 = extract_lrs(lake, settings())
    assert (r5["full_scan"], counts(r5)) == (False, (251, 0, 251, 0))
    assert older["id"] not in statement_ids(lake)

    # ... and found by the run on which the re-scan is due (7 calendar days later).
    age_last_full_scan(lake, ralph_lrs.url, days=7)
    r6 = extract_lrs(lake, settings())
    assert (r6["full_scan"], r6["full_scan_reason"], r6["since"]) == (True, "due", None)
    assert counts(r6) == (252, 1, 251, 0)
    state6 = read_cursor_state(lake, ralph_lrs.url)
    assert state6.full_scan_started_at.date() == dt.datetime.now(dt.UTC).date()
    assert state6.last_stored == cursor3

    # Back to incremental runs; the older statement is outside the window, the late one a duplicate.
    r7 = extract_lrs(lake, settings())
    assert (r7["full_scan"], counts(r7)) == (False, (251, 0, 251, 0))
    assert_each_loaded_once(lake, {s["id"] for s in first} | {late["id"], older["id"]})
    assert lake.execute(
        "select sum(records_read), sum(records_loaded), sum(records_duplicate) from raw.load_manifest "
        "where source = 'xapi_lrs'").fetchone() == (250 + overlap + 251 * 4 + 252, 252, overlap + 250 + 251 * 4)


def test_a_forced_full_rescan_interrupted_half_way_is_redone(ralph_lrs, lake, monkeypatch):
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    monkeypatch.setenv("SKILLPATH_LRS_LOOKBACK_DAYS", "3")
    monkeypatch.setenv("SKILLPATH_LRS_FULL_RESCAN_DAYS", "7")
    first = batch(250, utcnow() - dt.timedelta(seconds=1))
    post_statements(ralph_lrs, first)
    assert counts(extract_lrs(lake, settings())) == (250, 250, 0, 0)
    done1 = read_cursor_state(lake, ralph_lrs.url).full_scan_started_at
    older = statement(1001, utcnow() - dt.timedelta(days=10))
    post_statements(ralph_lrs, [older])                       # stored last: on the third page

    # Forced; the LRS dies after the first page.
    monkeypatch.setenv("SKILLPATH_LRS_FULL_RESCAN", "1")
    with FaultProxy(ralph_lrs.url, fail_from=1) as proxy:
        with pytest.raises(LrsError, match="failed after 1 attempts"):
            extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs, max_retries=0))
    assert "since" not in proxy.query(0)
    state = read_cursor_state(lake, ralph_lrs.url)
    assert state.full_scan_started_at == done1                # not marked complete
    assert state.full_scan_requested_at is not None           # still asked for
    assert lake.execute("select count(*), sum(records_duplicate) from raw.load_manifest "
                        "where detail like '%\"full_scan\":\"forced\"%'").fetchone() == (1, 100)

    # The variable is gone, the request is not: the next run re-scans from the start.
    monkeypatch.delenv("SKILLPATH_LRS_FULL_RESCAN")
    r = extract_lrs(lake, settings())
    assert (r["full_scan"], r["full_scan_reason"], r["since"], r["pages"]) == (True, "forced", None, 3)
    assert counts(r) == (251, 1, 250, 0)
    state = read_cursor_state(lake, ralph_lrs.url)
    assert state.full_scan_requested_at is None and state.full_scan_started_at > done1

    # A due periodic re-scan interrupted the same way stays due.
    age_last_full_scan(lake, ralph_lrs.url, days=7)
    aged = read_cursor_state(lake, ralph_lrs.url).full_scan_started_at
    with FaultProxy(ralph_lrs.url, fail_from=2) as proxy:
        with pytest.raises(LrsError):
            extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs, max_retries=0))
    assert read_cursor_state(lake, ralph_lrs.url).full_scan_started_at == aged
    r = extract_lrs(lake, settings())
    assert (r["full_scan_reason"], counts(r)) == ("due", (251, 0, 251, 0))

    # Nothing due any more: the 250 recent statements are the look-back; the older one is not re-read.
    r = extract_lrs(lake, settings())
    assert (r["full_scan"], counts(r)) == (False, (250, 0, 250, 0))
    assert_each_loaded_once(lake, {s["id"] for s in first} | {older["id"]})


def test_a_full_rescan_can_be_requested_in_sql_and_disabled(ralph_lrs, lake, monkeypatch):
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)   # look-back 0: overlap only
    monkeypatch.setenv("SKILLPATH_LRS_FULL_RESCAN_DAYS", "0")                      # never periodic
    first = batch(120, utcnow() - dt.timedelta(seconds=1))
    post_statements(ralph_lrs, first)
    assert counts(extract_lrs(lake, settings())) == (120, 120, 0, 0)
    late = statement(7, utcnow() - dt.timedelta(days=30))
    post_statements(ralph_lrs, [late])

    age_last_full_scan(lake, ralph_lrs.url, days=365)          # periodic re-scans are off
    r = extract_lrs(lake, settings())
    assert (r["full_scan"], r["loaded"]) == (False, 0)

    lake.execute("update raw.lrs_cursor set full_scan_requested_at = now() where lrs_url = ?", [ralph_lrs.url])
    r = extract_lrs(lake, settings())
    assert (r["full_scan_reason"], counts(r)) == ("forced", (121, 1, 120, 0))
    r = extract_lrs(lake, settings())
    assert r["full_scan"] is False and r["loaded"] == 0
    assert_each_loaded_once(lake, {s["id"] for s in first} | {late["id"]})
