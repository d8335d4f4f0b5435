"""What a build rebuilds (skillpath/transform/build_plan.py), on the project's real dbt manifest
and a real raw layer: nothing when nothing changed, the descendants of the changed raw tables,
the models that read the run date when it moved, everything when the project or settings
changed. The pipeline runs that check the marts equal a full refresh are in
tests/integration/test_incremental.py."""

from __future__ import annotations

import json

import duckdb
import pytest

from skillpath.transform import build_plan as bp


@pytest.fixture(scope="module")
def manifest() -> dict:
    from skillpath.transform import dbt_project, ensure_manifest

    ensure_manifest()
    return json.loads(dbt_project.manifest_path.read_text())


def _model(manifest: dict, name: str) -> str:
    return next(uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model" and n["name"] == name)


def _names(manifest: dict, nodes) -> set[str]:
    return {manifest["nodes"][uid]["name"] for uid in nodes if uid.startswith("model.")}


def _state(manifest: dict, **changes) -> dict:
    sources = {t: [10, "2026-01-05T00:00:00"] for t in bp.source_tables(manifest)}
    state = {"version": bp.STATE_VERSION, "project": "p1", "settings": "s1", "as_of_date": "2026-01-06",
             "sources": sources}
    for t, fp in changes.pop("sources", {}).items():
        sources[t] = fp
    state.update(changes)
    return state


def test_nothing_changed_builds_nothing(manifest):
    plan = bp.plan_build(manifest, _state(manifest), _state(manifest))
    assert not plan.full and plan.nothing and plan.nodes == frozenset()
    assert plan.reason == "nothing new since the last build"


@pytest.mark.parametrize("changes, reason", [
    ({"project": "p2"}, "the dbt project changed"),
    ({"settings": "s2"}, "the settings dbt reads changed"),
    ({"version": 0}, "no earlier build of this home to compare with"),
])
def test_a_changed_project_or_settings_builds_everything(manifest, changes, reason):
    plan = bp.plan_build(manifest, _state(manifest, **changes), _state(manifest))
    assert plan.full and plan.reason == reason
    assert bp.plan_build(manifest, None, _state(manifest)).full
    assert bp.plan_build(manifest, _state(manifest), _state(manifest), force_full="a full refresh").full


def test_new_credential_events_rebuild_their_descendants_only(manifest):
    now = _state(manifest, sources={"credential_events": [12, "2026-01-06T02:00:00"]})
    plan = bp.plan_build(manifest, _state(manifest), now)
    models = _names(manifest, plan.nodes)
    assert {"stg_credential_events__events", "fct_credential_events", "mart_credential_engagement"} <= models
    assert not models & {"stg_xapi__statements", "fct_attempts", "stg_lms__users", "stg_credentials__awards",
                         "int_credentials__recipient_hashes"}
    # exactly the nodes below the source in dbt's graph, tests included
    below = bp.descendants(manifest, ["source.skillpath.raw.credential_events"]) & set(manifest["nodes"])
    assert plan.nodes == frozenset(below)
    assert any(uid.startswith("test.") for uid in plan.nodes)
    # what dbt is told to leave out is every other model, seed and test
    left_out = set(plan.excludes(manifest))
    assert "stg_xapi__statements" in left_out and "fct_credential_events" not in left_out
    assert {manifest["nodes"][u]["name"] for u in plan.nodes}.isdisjoint(left_out)


def test_a_new_load_with_the_same_count_is_still_new(manifest):
    """Count and newest load time together: a load that replaced as many rows as an erasure removed
    (an erasure sets the rebuild marker anyway) still changes the newest load time."""
    now = _state(manifest, sources={"xapi_statements": [10, "2026-01-06T02:00:00"]})
    assert "fct_attempts" in _names(manifest, bp.plan_build(manifest, _state(manifest), now).nodes)


def test_a_later_run_date_rebuilds_the_models_that_read_it(manifest):
    dated = _names(manifest, bp.date_models(manifest))
    # the models that call the run-date macros (credential status, consent), found through the macros
    assert {"int_credentials__awards", "int_credentials__recipient_consent", "mart_pathway_progress"} <= dated
    assert not dated & {"stg_xapi__statements", "fct_attempts", "int_credentials__recipient_hashes"}
    plan = bp.plan_build(manifest, _state(manifest), _state(manifest, as_of_date="2026-01-07"))
    models = _names(manifest, plan.nodes)
    assert dated <= models and {"fct_credential_awards", "mart_recipient_credentials"} <= models
    assert not models & {"stg_xapi__statements", "fct_attempts", "stg_credentials__awards"}
    assert "run date 2026-01-06 -> 2026-01-07" in plan.reason


def test_a_model_calling_a_date_macro_through_another_macro_counts():
    manifest = {
        "macros": {"macro.p.as_of": {"macro_sql": "{{ var('as_of_date') }}", "depends_on": {"macros": []}},
                   "macro.p.status": {"macro_sql": "case when x < {{ as_of() }}", "depends_on":
                                      {"macros": ["macro.p.as_of"]}},
                   "macro.p.plain": {"macro_sql": "lower(x)", "depends_on": {"macros": []}}},
        "nodes": {"model.p.a": {"resource_type": "model", "raw_code": "select {{ status() }}",
                                "depends_on": {"macros": ["macro.p.status"]}},
                  "model.p.b": {"resource_type": "model", "raw_code": "select {{ plain() }}",
                                "depends_on": {"macros": ["macro.p.plain"]}},
                  "model.p.c": {"resource_type": "model", "raw_code": "select current_date",
                                "depends_on": {"macros": []}}},
    }
    assert bp.date_models(manifest) == {"model.p.a", "model.p.c"}


def test_topological_order_puts_every_node_after_its_parents(manifest):
    order = bp.topological(manifest)
    assert sorted(order) == sorted(manifest["nodes"])
    at = {uid: i for i, uid in enumerate(order)}
    for uid, node in manifest["nodes"].items():
        for parent in node.get("depends_on", {}).get("nodes", []):
            if parent in at:
                assert at[parent] < at[uid], (parent, uid)


def test_source_fingerprints_read_count_and_newest_load(tmp_path):
    con = duckdb.connect(str(tmp_path / "lake.duckdb"))
    con.execute("create schema raw")
    con.execute("create table raw.xapi_statements (loaded_at timestamp, statement_id varchar)")
    con.execute("insert into raw.xapi_statements values ('2026-01-05 01:00:00', 'a'), ('2026-01-05 02:00:00', 'b')")
    fp = bp.source_fingerprints(con, ["xapi_statements", "consent_events"])
    assert fp == {"xapi_statements": [2, "2026-01-05T02:00:00"], "consent_events": [0, None]}
    con.execute("insert into raw.xapi_statements values ('2026-01-06 01:00:00', 'c')")
    assert bp.source_fingerprints(con, ["xapi_statements"]) == {"xapi_statements": [3, "2026-01-06T01:00:00"]}


def test_settings_digest_ignores_speed_and_date_and_never_holds_the_key():
    env = {"SKILLPATH_HOME": "/h", "SKILLPATH_PSEUDONYM_KEY": "secret-key", "SKILLPATH_THREADS": "2",
           "SKILLPATH_MEMORY_LIMIT": "3GB", "SKILLPATH_AS_OF_DATE": "2026-01-06"}
    digest = bp.settings_digest(env, {"as_of_date": "2026-01-06"})
    assert digest == bp.settings_digest({**env, "SKILLPATH_THREADS": "8", "SKILLPATH_AS_OF_DATE": "2027-01-01",
                                         "SKILLPATH_HOME": "/copy/of/h"}, {"as_of_date": "2027-01-01"})
    assert digest != bp.settings_digest({**env, "SKILLPATH_PSEUDONYM_KEY": "other"}, {})
    assert digest != bp.settings_digest(env, {"rehash_recipients": True})
    assert "secret-key" not in digest


def test_state_round_trip_and_forget(tmp_path):
    assert bp.load_state(tmp_path) is None
    bp.save_state(tmp_path, {"project": "p", "sources": {}}, {"a:b": {"passed": True}}, "run-1")
    state = bp.load_state(tmp_path)
    assert (state["project"], state["run_id"], state["checks"], state["version"]) == (
        "p", "run-1", {"a:b": {"passed": True}}, bp.STATE_VERSION)
    bp.forget_state(tmp_path)
    assert bp.load_state(tmp_path) is None
