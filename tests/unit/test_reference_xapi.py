"""Every real Open edX xAPI file in the reference data is read: each statement loads or is quarantined."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.lms import ingest_lms
from skillpath.ingest.xapi import ingest_xapi_files
from tests.helpers import REFERENCE_DATA

OPENEDX = REFERENCE_DATA / "xapi" / "openedx"
# the one learner of the Open edX fixtures (actor.account.name of every statement)
OPENEDX_USER = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"


@pytest.mark.skipif(not OPENEDX.is_dir(), reason="reference data not present")
def test_every_openedx_statement_is_loaded_or_quarantined(tmp_path: Path):
    landing = tmp_path / "landing"
    shutil.copytree(OPENEDX, landing / "xapi" / "openedx")
    (landing / "lms").mkdir()
    (landing / "lms" / "users.csv").write_text(
        f"user_id,account_id,email,display_name,role\n{OPENEDX_USER},edx,learner@example.org,Learner,learner\n")
    con = connect_raw(tmp_path / "lake.duckdb")
    try:
        ingest_lms(con, landing)
        results = ingest_xapi_files(con, landing)

        # 77 files; 4 of them are byte-for-byte copies of others (e.g. video_show_cc_menu.json and
        # edx.video.closed_captions.shown.json), noted as duplicate_content and not read again
        assert len(results) == 77
        status = [r["status"] for r in results]
        assert (status.count("loaded"), status.count("duplicate_content")) == (73, 4)
        read = {r["load_id"]: r["records_read"] for r in results if r["status"] == "loaded"}
        copies = con.execute("select detail from raw.load_manifest where status = 'duplicate_content'").fetchall()
        in_copies = sum(read[json.loads(d)["duplicate_of"]] for (d,) in copies)
        assert sum(read.values()) + in_copies == 90

        # of the 86 statements read: 65 distinct ids. The fixtures reuse ids across variants of an
        # event with different payloads (20 duplicate_id_conflict); link_clicked.json repeats
        # link_clicked(anonymous_user).json exactly (1 duplicate); problem_check(browser).required.
        # only.data.json has an Activity object without id (missing_object).
        totals = con.execute(
            "select sum(records_read), sum(records_loaded), sum(records_quarantined), sum(records_duplicate) "
            "from raw.load_manifest where source = 'xapi_file'").fetchall()
        assert totals == [(86, 64, 21, 1)]
        assert con.execute("select reason, count(*) from raw.quarantine group by 1 order by 1").fetchall() == [
            ("duplicate_id_conflict", 20), ("missing_object", 1)]
        assert con.execute("select count(*), count(distinct statement_id) from raw.xapi_statements"
                           ).fetchall() == [(64, 64)]
        assert con.execute("select source_ref from raw.quarantine where reason = 'missing_object'").fetchall() == [
            ("xapi/openedx/problem_check(browser).required.only.data.json",)]
        # every quarantined record says why and keeps its bytes
        assert con.execute("select count(*) from raw.quarantine where detail = '' or raw_record is null"
                           ).fetchall() == [(0,)]
        # Open edX puts the attempt number in the object's attempt-id extension
        assert con.execute(
            "select attempt_id from raw.xapi_statements where source_ref = 'xapi/openedx/problem_check(server).json'"
        ).fetchall() == [("10",)]
        assert con.execute(
            "select result_duration_seconds from raw.xapi_statements "
            "where source_ref = 'xapi/openedx/complete_video.json'").fetchall() == [(195.0,)]
    finally:
        con.close()
