"""Valid records plus hostile ones publish the same marts as the valid records alone.

The generated landing zone published once (the shared ``published_home``), then the same
zone plus every hostile case of issue 19 (tests/unit/test_ingest_properties.py builds them): out-of-range and unrepresentable
timestamps, invalid results, nesting beyond what JSON libraries take, broken JSON, bad
credential documents and events, and malformed CSV rows appended to users.csv. Both go
through ``skillpath run`` (ingestion, dbt, the gate, publication) in a copy of that home;
the published marts must be equal row for row (EXCEPT ALL both ways, load times left out), and every hostile record
must be accounted for in the quarantine.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.integration.pipeline_support import run, same_marts
from tests.unit.test_ingest_properties import (
    _bad_credentials,
    _bad_events,
    _bad_statements,
    _bad_user_rows,
)

pytestmark = pytest.mark.integration


def test_hostile_records_change_no_published_mart(published_home, tmp_path):
    valid = published_home
    hostile = tmp_path / "hostile" / "home"
    shutil.copytree(valid, hostile)
    landing = hostile / "landing"
    bad_statements = [make() for make in _bad_statements()]
    bad_events = [make() for make in _bad_events()]
    bad_credentials = [make() for make in _bad_credentials()]
    bad_rows = [make() for make in _bad_user_rows()]
    (landing / "xapi" / "zz-hostile.ndjson").write_bytes(b"\n".join(bad_statements) + b"\n")
    (landing / "credential_events" / "zz-hostile.ndjson").write_bytes(b"\n".join(bad_events) + b"\n")
    for i, doc in enumerate(bad_credentials):
        (landing / "credentials" / f"zz-hostile-{i}.json").write_bytes(doc)
    users = landing / "lms" / "users.csv"
    data = users.read_bytes()
    users.write_bytes(data + (b"" if data.endswith(b"\n") else b"\n") + b"\n".join(bad_rows) + b"\n")

    proc = run(hostile)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert same_marts(valid / "warehouse.duckdb", hostile / "warehouse.duckdb") == []

    def quarantined(home) -> dict[str, int]:
        con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
        try:
            return dict(con.execute("select source, count(*) from raw.quarantine group by 1").fetchall())
        finally:
            con.close()

    before, after = quarantined(valid), quarantined(hostile)
    added = {s: after.get(s, 0) - before.get(s, 0) for s in after if after.get(s, 0) != before.get(s, 0)}
    assert added == {"xapi_file": len(bad_statements), "credential_events": len(bad_events),
                     "credentials": len(bad_credentials), "lms": len(bad_rows)}
