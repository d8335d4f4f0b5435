"""When an LRS run re-scans everything, and the raw.lrs_cursor columns that remember it."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from skillpath.config import ConfigError, settings
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.lrs import CursorState, full_scan_reason, read_cursor_state, read_window

NOW = dt.datetime(2026, 12, 10, 2, 0, 0)


def state(started: dt.datetime | None, requested: dt.datetime | None = None) -> CursorState:
    return CursorState(dt.datetime(2026, 12, 9, 23, 0), started, started, requested)


@pytest.fixture
def lrs_env(monkeypatch):
    monkeypatch.setenv("SKILLPATH_LRS_URL", "http://127.0.0.1:1")
    for name in ("LOOKBACK_DAYS", "FULL_RESCAN_DAYS", "FULL_RESCAN", "OVERLAP_SECONDS"):
        monkeypatch.delenv(f"SKILLPATH_LRS_{name}", raising=False)
    return monkeypatch


def test_defaults_and_window(lrs_env):
    s = settings()
    assert (s.lrs_lookback_days, s.lrs_full_rescan_days, s.lrs_full_rescan, s.lrs_overlap_seconds) == (3, 7, False, 300)
    assert read_window(s) == dt.timedelta(days=3)
    lrs_env.setenv("SKILLPATH_LRS_LOOKBACK_DAYS", "0")
    assert read_window(settings()) == dt.timedelta(seconds=300)
    lrs_env.setenv("SKILLPATH_LRS_LOOKBACK_DAYS", "0.5")
    assert read_window(settings()) == dt.timedelta(hours=12)
    lrs_env.setenv("SKILLPATH_LRS_FULL_RESCAN_DAYS", "-1")
    with pytest.raises(ConfigError, match="SKILLPATH_LRS_FULL_RESCAN_DAYS must be 0 or more"):
        settings()


def test_full_scan_is_due_on_calendar_days(lrs_env):
    s = settings()
    assert full_scan_reason(None, s, NOW) == "first_run"
    assert full_scan_reason(state(None)._replace(last_stored=None), s, NOW) == "first_run"
    # never on record (a lake from before these columns): due
    assert full_scan_reason(state(None), s, NOW) == "due"
    # last one started 7 calendar days ago, even if a few seconds less than 7 x 24 h
    assert full_scan_reason(state(dt.datetime(2026, 12, 3, 2, 0, 5)), s, NOW) == "due"
    assert full_scan_reason(state(dt.datetime(2026, 12, 4, 0, 0, 0)), s, NOW) is None
    assert full_scan_reason(state(NOW), s, NOW) is None
    # a request left by an interrupted forced re-scan, or the variable itself
    assert full_scan_reason(state(NOW, requested=NOW), s, NOW) == "forced"
    lrs_env.setenv("SKILLPATH_LRS_FULL_RESCAN", "1")
    assert full_scan_reason(state(NOW), settings(), NOW) == "forced"


def test_periodic_rescans_can_be_switched_off(lrs_env):
    lrs_env.setenv("SKILLPATH_LRS_FULL_RESCAN_DAYS", "0")
    s = settings()
    assert full_scan_reason(state(None), s, NOW) is None
    assert full_scan_reason(state(dt.datetime(2020, 1, 1)), s, NOW) is None
    assert full_scan_reason(state(NOW, requested=NOW), s, NOW) == "forced"


def test_an_older_lake_gets_the_new_cursor_columns(tmp_path):
    path = tmp_path / "lake.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema raw; create table raw.lrs_cursor (lrs_url varchar primary key, "
                "last_stored timestamp, updated_at timestamp not null)")
    con.execute("insert into raw.lrs_cursor values ('http://lrs', '2026-12-01 10:00:00', '2026-12-01 10:00:01')")
    con.close()
    con = connect_raw(path)
    try:
        assert read_cursor_state(con, "http://lrs/") == CursorState(dt.datetime(2026, 12, 1, 10), None, None, None)
    finally:
        con.close()
    con = connect_raw(path)   # idempotent
    con.close()
