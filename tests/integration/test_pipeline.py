"""The whole pipeline as users run it: `skillpath run` on generated data.

Publication happens only when every blocking check passes; a failed expectation
publishes nothing, says why, and pages the team through the webhook.
"""

from __future__ import annotations

import csv
import http.server
import json
import shutil
import subprocess
import threading

import duckdb
import pytest

from skillpath.transform import REPO_ROOT
from tests.integration.pipeline_support import SKILLPATH, pipeline_env, run, same_marts, sha256

pytestmark = pytest.mark.integration


def test_published_warehouse_holds_marts_only_and_no_personal_data(published_home):
    con = duckdb.connect(str(published_home / "warehouse.duckdb"), read_only=True)
    try:
        schemas = {r[0] for r in con.execute(
            "select distinct table_schema from information_schema.tables").fetchall()}
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns").fetchall()}
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    finally:
        con.close()
    assert schemas <= {"marts", "meta"}
    assert not columns & {"email", "display_name", "actor_mbox", "recipient_identity", "payload"}
    assert {"fct_attempts", "mart_group_league", "fct_credential_transitions", "mart_learner_flow"} <= tables


def test_run_output_reconciles_ingestion_and_lists_checks(published_home):
    out = (published_home / "run_stdout.txt").read_text()
    assert "succeeded" in out and "published warehouse:" in out
    assert "quality gate:" in out and "0 failed" in out
    sources = ("xapi_file", "lms", "credentials", "credential_events")
    rows = [line.split() for line in out.splitlines()
            if line.strip().startswith(sources) and len(line.split()) == 8]
    assert {r[0] for r in rows} == {"xapi_file", "lms", "credentials", "credential_events"}
    for r in rows:
        read, loaded, quarantined, duplicates, erased = (int(x.replace(",", "")) for x in r[2:7])
        assert read == loaded + quarantined + duplicates + erased and erased == 0 and r[7] == "yes"
    con = duckdb.connect(str(published_home / "lake.duckdb"), read_only=True)
    try:
        read, loaded, quarantined, dups = con.execute(
            "select sum(records_read), sum(records_loaded), sum(records_quarantined), sum(records_duplicate) "
            "from raw.load_manifest where source = 'xapi_file'").fetchone()
        raw_rows = con.execute("select count(*) from raw.xapi_statements").fetchone()[0]
        q_rows = con.execute("select count(*) from raw.quarantine where source = 'xapi_file'").fetchone()[0]
    finally:
        con.close()
    assert (loaded, quarantined) == (raw_rows, q_rows)
    assert read == loaded + quarantined + dups
    assert f"{read:,}" in out


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", _Hook.received
    server.shutdown()
    server.server_close()


def test_failed_expectation_blocks_publication_and_alerts(published_home, tmp_path, webhook):
    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    suite_file = suites / "mart_course_overview.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"].append(  # more courses than exist: must fail
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1_000_000}})
    suite_file.write_text(json.dumps(suite))
    before = sha256(home / "warehouse.duckdb")
    versions_before = sorted(p.name for p in (home / "versions").iterdir())

    url, received = webhook
    proc = run(home, SKILLPATH_EXPECTATIONS_DIR=str(suites), SKILLPATH_ALERT_WEBHOOK=url)

    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "did NOT publish" in proc.stdout
    assert "marts/mart_course_overview / gx_suite" in proc.stdout and "1000000" in proc.stdout
    assert sha256(home / "warehouse.duckdb") == before
    assert sorted(p.name for p in (home / "versions").iterdir()) == versions_before
    assert len(received) == 1
    alert = received[0]
    assert alert["status"] == "blocked" and alert["source"] == "skillpath"
    assert [c["asset"] for c in alert["failed_checks"]] == ["marts/mart_course_overview"]


def test_rerun_on_the_same_input_changes_no_mart(published_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    manifest_sql = "select status, count(*) from raw.load_manifest group by 1 order by 1"
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    manifest_before = con.execute(manifest_sql).fetchall()
    con.close()
    proc = run(home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert same_marts(published_home / "warehouse.duckdb", home / "warehouse.duckdb") == []
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    manifest_after = con.execute(manifest_sql).fetchall()
    con.close()
    assert manifest_after == manifest_before  # no landing file was read (or noted) again

    # the command line on the two publications: list, roll back, export
    env = pipeline_env(home)
    listed = subprocess.run([SKILLPATH, "rollback", "--list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == 2
    back = subprocess.run([SKILLPATH, "rollback"], env=env, capture_output=True, text=True)
    assert back.returncode == 0, back.stdout + back.stderr
    assert sha256(home / "warehouse.duckdb") == sha256(published_home / "warehouse.duckdb")
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    account, rows = con.execute("select account_id, count(*) from marts.mart_group_league "
                                "group by 1 order by 2 desc limit 1").fetchone()
    con.close()
    out = home.parent / "league.csv"
    exp = subprocess.run([SKILLPATH, "export", "mart_group_league", "--account", account, "--out", str(out)],
                         env=env, capture_output=True, text=True)
    assert exp.returncode == 0, exp.stdout + exp.stderr
    with open(out, newline="") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == rows and {r["account_id"] for r in records} == {account}


def test_a_run_without_the_pseudonym_key_stops_before_doing_anything(tmp_path):
    home = tmp_path / "home"
    proc = run(home, SKILLPATH_PSEUDONYM_KEY="")
    assert proc.returncode == 2
    assert "SKILLPATH_PSEUDONYM_KEY is not set" in proc.stdout
    assert not (home / "lake.duckdb").exists()


def test_webhook_failure_does_not_hide_the_original_failure(monkeypatch):
    from skillpath.alerts import send_alert

    assert send_alert({"status": "failed"}, url="http://127.0.0.1:9/unreachable", timeout=2) is False
    monkeypatch.delenv("SKILLPATH_ALERT_WEBHOOK", raising=False)
    assert send_alert({"status": "failed"}) is False  # no URL configured: nothing sent
