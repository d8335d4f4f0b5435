"""Valid records plus hostile ones publish the same marts as the valid records alone.

Two landing zones: a generated one, and the same one plus every hostile case of issue 19
(tests/unit/test_ingest_properties.py builds them): out-of-range and unrepresentable
timestamps, invalid results, nesting beyond what JSON libraries take, broken JSON, bad
credential documents and events, and malformed CSV rows appended to users.csv. Both go
through ``skillpath run`` (ingestion, dbt, the gate, publication); the published marts must
be equal row for row (EXCEPT ALL both ways, load times left out), and every hostile record
must be accounted for in the quarantine.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.integration.pipeline_support import generate, run, same_marts
from tests.unit.test_ingest_properties import (
    _bad_credentials,
    _bad_events,
    _bad_statements,
    _bad_user_rows,
)

pytestmark = pytest.mark.integration


def test_hostile_records_change_no_published_mart(tmp_path):
    valid = tmp_path / "valid" / "home"
    generate(valid, statements=1500, seed=5)
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

    for home in (valid, hostile):
        proc = run(home)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert same_marts(valid / "warehouse.duckdb", hostile / "warehouse.duckdb") == []

    def quarantined(home) -> dict[str, int]:
        con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
        try:
            return dict(con.execute("select source, count(*) from raw.quarantine group by 1").fetchall())
        finally:
            con.close()

    before, after = quarantined(valid), quarantined(hostile)
    added = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    assert added == {"xapi_file": len(bad_statements), "credential_events": len(bad_events),
                     "credentials": len(bad_credentials), "lms": len(bad_rows)}
