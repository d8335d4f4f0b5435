"""Real inputs through ``skillpath run``: what other systems emit publishes.

Night 1: an xAPI-only landing zone (no ``lms/``, no credentials), the 77 Open edX reference
files from 2020-2023 (more than a year before the run date) plus a plugin export whose
statements carry no ``id``. The learning marts publish; the credential marts publish empty
with a warning, because no credential was ever delivered.
Night 2: the same plugin export delivered again under another name (as another JSON shape,
keys in another order) and the LMS roster: the repeats count as duplicates, nothing is
re-ingested, and the published learners move to the roster's account.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import duckdb
import pytest

from tests.helpers import REFERENCE_DATA, TEST_KEY
from tests.integration.pipeline_support import run

pytestmark = pytest.mark.integration

OPENEDX = REFERENCE_DATA / "xapi" / "openedx"
EDX_USER = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"
PROBLEM = "http://localhost:18000/xblock/block-v1:edX+DemoX+Demo_Course+type@problem+block@3fc5461f86764ad7bdbdf6cbdde61e66"


def pseudonym(value: str) -> str:
    return hashlib.sha256(f"{TEST_KEY}|{value}".encode()).hexdigest()[:24]


def plugin_statements() -> list[dict]:
    """Three answers by a learner known only by email, without ids, as an LMS plugin exports them."""
    return [{"actor": {"objectType": "Agent", "mbox": "mailto:Pat@Example.org"},
             "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
             "object": {"objectType": "Activity", "id": PROBLEM},
             "result": {"score": {"raw": raw, "min": 0, "max": 4}, "success": raw == 4},
             "timestamp": f"2021-05-0{day}T10:00:00+02:00"}
            for day, raw in ((1, 1), (2, 3), (3, 4))]


def published(home, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def lake(home, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_xapi_only_backfill_publishes_and_a_late_roster_links_it(tmp_path):
    home = tmp_path / "home"
    xapi = home / "landing" / "xapi"
    shutil.copytree(OPENEDX, xapi / "openedx")
    (xapi / "plugin-export.ndjson").write_text("\n".join(json.dumps(s) for s in plugin_statements()) + "\n")

    first = run(home)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]
    assert (home / "warehouse.duckdb").exists()
    # the id-less statements loaded once each, with assigned ids
    assert lake(home, "select count(*), count(distinct statement_id) from raw.xapi_statements "
                      "where id_assigned") == [(3, 3)]
    # learning marts: Open edX's learner (5 problem checks on 2 problems) and the plugin's learner
    pat = pseudonym("mbox_sha1sum:" + hashlib.sha1(b"mailto:pat@example.org").hexdigest())
    edx = pseudonym(f"account:http://localhost:18000|{EDX_USER}")
    assert sorted(published(home, "select learner_id, account_id, count(*) from marts.fct_attempts group by 1, 2")) \
        == sorted([(edx, "localhost:18000", 5), (pat, "unassigned", 3)])
    # Pat's three answers on one exercise: best score 4/4 -> mastery 100
    assert published(home, "select attempts, mastery_pct from marts.mart_exercise_summary "
                           f"where learner_id = '{pat}'") == [(3, 100)]
    assert published(home, "select count(*) from marts.mart_chapter_mastery where scope_type = 'learner'") == [(2,)]
    assert published(home, "select count(*) from marts.mart_learner_course_progress") == [(2,)]
    # no credential was ever delivered: those marts publish empty, and the run says so
    assert published(home, "select count(*) from marts.fct_credential_awards") == [(0,)]
    assert "fct_credential_awards" in first.stdout and "WARN" in first.stdout

    # night 2: the plugin export again (a JSON array, keys reordered, an LRS's 'stored' added)
    # and the roster
    again = [{"stored": "2021-06-01T00:00:00Z", **dict(reversed(list(s.items())))} for s in plugin_statements()]
    (xapi / "plugin-export-resent.json").write_text(json.dumps(again))
    lms = home / "landing" / "lms"
    lms.mkdir()
    (lms / "accounts.csv").write_text("account_id,account_name\nacme,Acme Corp\nbeta,Beta Ltd\n")
    (lms / "users.csv").write_text("user_id,account_id,email,display_name,role\n"
                                   f"{EDX_USER},acme,edx@example.org,Ed X,learner\n"
                                   "pat,beta,pat@example.org,Pat,learner\n")
    loaded_before = lake(home, "select count(*), max(loaded_at) from raw.xapi_statements")
    second = run(home)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-3000:]
    assert lake(home, "select count(*), max(loaded_at) from raw.xapi_statements") == loaded_before
    assert lake(home, "select records_read, records_loaded, records_duplicate from raw.load_manifest "
                      "where source_ref = 'xapi/plugin-export-resent.json'") == [(3, 0, 3)]
    assert sorted(published(home, "select learner_id, account_id, count(*) from marts.fct_attempts group by 1, 2")) \
        == sorted([(pseudonym(EDX_USER), "acme", 5), (pseudonym("pat"), "beta", 3)])
    assert sorted(published(home, "select account_id, count(*) from marts.dim_learners group by 1")) == [
        ("acme", 1), ("beta", 1)]
