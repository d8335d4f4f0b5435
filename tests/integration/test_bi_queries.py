"""docs/bi.md: every example query runs on the published warehouse and answers its question.

The queries are read from the doc (each ```sql block after a ``<!-- query: id -->`` line),
their Metabase-style parameters (``{{account_id}}``, ...) bound to values picked from the
data, and run on ``warehouse.duckdb`` of the shared published demo home, opened
read-only. Every query must be one select on schema ``marts`` (at most one table that is
not a ``dim_*`` label table) and return rows; the ids must cover the questions of
../shared/design/ARCHITECTURE.md. For the key questions the answer is compared with an
independent computation from lower-level marts (fct_attempts, dim_exercises), the build's
complete credential facts (int_credentials__transition_facts, int_credentials__award_facts,
int_credentials__event_facts: every recipient, where the published fct_credential_* hold only
the consenting ones, docs/privacy.md), the raw layer (lake.duckdb) or the nightly CSV export.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bi.md"
DBT_VARS = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())["vars"]

QUERY_RE = re.compile(r"<!-- query: ([a-z0-9-]+) -->\s*```sql\n(.*?)```", re.S)
SNIPPET_RE = re.compile(r"<!-- snippet: plotly-sankey -->\s*```python\n(.*?)```", re.S)
PARAM_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

# One id per question of ARCHITECTURE.md, "The questions the marts answer".
ARCHITECTURE_QUESTIONS = {
    # 1. learner progress
    "account-mastery-overall", "account-mastery-by-chapter",
    "learner-progress", "learner-credentials", "learner-chapter-mastery",
    "learner-exercise-summary", "learner-attempt-history",
    "league-mastered", "league-completed", "league-certified", "league-score",
    "league-points", "league-time-spent", "group-league", "all-courses-overview", "csv-export",
    # 2. learner flow through a collection
    "flow-per-credential", "flow-new-vs-continuing", "flow-advanced-vs-stopped", "flow-sankey",
    # 3. pathways and drift
    "drift-where", "drift-pause", "entry-points", "returners",
    # 4. credential analytics
    "issuance-total", "issuance-by-type", "issuance-trend", "completion-rates",
    "engagement-view-rate", "engagement-share-by-channel", "engagement-profile-add-rate",
    "engagement-re-engagement",
    "verification-volume", "verifier-industry", "verifier-geography", "verification-to-hire",
    "expiry-revocation", "expiring-awards", "revocations",
    "executive-view", "program-manager-view", "recipient-view", "privacy-suppression",
}


def doc_queries() -> dict[str, str]:
    found = QUERY_RE.findall(DOC.read_text())
    ids = [qid for qid, _ in found]
    assert len(ids) == len(set(ids)), f"duplicate query ids: {[i for i, n in Counter(ids).items() if n > 1]}"
    return {qid: sql.strip() for qid, sql in found}


def bind(sql: str, params: dict[str, str]) -> str:
    """Replace Metabase text variables by quoted literals, as Metabase does."""
    def literal(m: re.Match) -> str:
        assert m.group(1) in params, f"unknown parameter {m.group(1)}"
        return "'" + params[m.group(1)].replace("'", "''") + "'"
    return PARAM_RE.sub(literal, sql)


def ast_nodes(tree, wanted: str):
    """Every dict in a json_serialize_sql tree whose 'type' is ``wanted``."""
    if isinstance(tree, dict):
        if tree.get("type") == wanted:
            yield tree
        for value in tree.values():
            yield from ast_nodes(value, wanted)
    elif isinstance(tree, list):
        for value in tree:
            yield from ast_nodes(value, wanted)


def rows_of(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def pick_parameters(con) -> dict[str, str]:
    """Demo values with data behind every parameterised question: the learner holding the
    most credentials among learners with attempts, their most practised course and
    their account, and the collection with the most learners."""
    creds = Counter(r["learner_id"] for r in rows_of(con, "select learner_id from marts.mart_recipient_credentials"))
    attempts = Counter()
    course_attempts = Counter()
    for r in rows_of(con, "select learner_id, course_id from marts.fct_attempts"):
        attempts[r["learner_id"]] += 1
        course_attempts[(r["learner_id"], r["course_id"])] += 1
    learner = max((lid for lid in attempts if creds[lid]), key=lambda lid: (creds[lid], attempts[lid], lid))
    course = max((c for (lid, c) in course_attempts if lid == learner),
                 key=lambda c: (course_attempts[(learner, c)], c))
    account = con.execute("select account_id from marts.dim_learners where learner_id = ?", [learner]).fetchone()[0]
    collection = con.execute(
        "select collection_id from marts.dim_collections order by learners desc, collection_id limit 1").fetchone()[0]
    return {"learner_id": learner, "course_id": course, "account_id": account, "collection_id": collection}


@pytest.fixture(scope="module")
def warehouse(published_home: Path):
    con = duckdb.connect(str(published_home / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def build(published_home: Path):
    """The build database: its complete credential facts are what the aggregates count (every recipient)."""
    con = duckdb.connect(str(published_home / "build.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def params(warehouse) -> dict[str, str]:
    return pick_parameters(warehouse)


@pytest.fixture(scope="module")
def answers(warehouse, params) -> dict[str, list[dict]]:
    return {qid: rows_of(warehouse, bind(sql, params)) for qid, sql in doc_queries().items()}


def by_key(rows: list[dict], *key: str) -> dict:
    out = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        assert k not in out, f"duplicate {key}={k}"
        out[k] = r
    return out


def best_scores(con, course_id: str) -> dict[tuple[str, str], float]:
    """(learner, exercise) -> best scaled score of its attempts (0 when none carries a score)."""
    best: dict[tuple[str, str], float] = {}
    for r in rows_of(con, "select learner_id, exercise_id, score_scaled from marts.fct_attempts where course_id = ?",
                     [course_id]):
        key = (r["learner_id"], r["exercise_id"])
        best[key] = max(best.get(key, 0.0), r["score_scaled"] or 0.0)
    return best


def quantile(values: list[float], p: float) -> float:
    """Continuous percentile with linear interpolation (percentile_cont)."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


# --- the doc itself ------------------------------------------------------------------


def test_doc_answers_every_architecture_question():
    ids = set(doc_queries())
    assert not ARCHITECTURE_QUESTIONS - ids, f"questions without a query: {sorted(ARCHITECTURE_QUESTIONS - ids)}"
    assert SNIPPET_RE.search(DOC.read_text()), "the Plotly Sankey snippet is missing"


def test_every_query_is_one_select_on_the_published_marts(warehouse, params):
    marts = {r[0] for r in warehouse.execute(
        "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    for qid, sql in doc_queries().items():
        tree = json.loads(warehouse.execute("select json_serialize_sql(?)", [bind(sql, params)]).fetchone()[0])
        assert not tree["error"], f"{qid}: not a select: {tree.get('error_message')}"
        assert len(tree["statements"]) == 1, f"{qid}: more than one statement"
        assert len(list(ast_nodes(tree, "SELECT_NODE"))) == 1, f"{qid}: subqueries or CTEs, not one select"
        assert not list(ast_nodes(tree, "SET_OPERATION_NODE")), f"{qid}: set operation"
        assert not list(ast_nodes(tree, "TABLE_FUNCTION")), f"{qid}: reads a table function"
        tables = {(t["catalog_name"], t["schema_name"], t["table_name"]) for t in ast_nodes(tree, "BASE_TABLE")}
        assert tables, f"{qid}: reads no table"
        for catalog, schema, table in tables:
            assert (catalog, schema) == ("", "marts") and table in marts, f"{qid}: reads {schema}.{table}"
        facts = {t for _, _, t in tables if not t.startswith("dim_")}
        assert len(facts) <= 1, f"{qid}: more than one mart: {sorted(facts)}"


def test_every_query_returns_rows(answers, params):
    empty = sorted(qid for qid, rows in answers.items() if not rows)
    assert not empty, f"no rows for {empty} with parameters {params}"


# --- learner progress ----------------------------------------------------------------


def test_league_by_points_matches_points_recomputed_from_attempts(warehouse, answers, params):
    best = best_scores(warehouse, params["course_id"])
    max_points = dict(warehouse.execute("select exercise_id, max_points from marts.dim_exercises where course_id = ?",
                                        [params["course_id"]]).fetchall())
    points: dict[str, float] = defaultdict(float)
    for (lid, eid), score in best.items():
        points[lid] += max_points[eid] * score
    league = answers["league-points"]
    mine = {r["learner_id"]: round(points.get(r["learner_id"], 0.0), 6) for r in league}
    assert league[0]["points"] == pytest.approx(max(mine.values()))
    assert league[0]["learner_id"] in {lid for lid, p in mine.items() if p == max(mine.values())}
    for r in league:
        assert r["points"] == pytest.approx(mine[r["learner_id"]], abs=1e-6), r["learner_id"]
        assert r["rank_points"] == 1 + sum(p > mine[r["learner_id"]] for p in mine.values()), r["learner_id"]
    assert [r["rank_points"] for r in league] == sorted(r["rank_points"] for r in league)


def test_account_mastery_overall_and_by_chapter_match_attempts(warehouse, answers, params):
    best = best_scores(warehouse, params["course_id"])
    exercises = rows_of(warehouse, "select exercise_id, chapter_id from marts.dim_exercises where course_id = ?",
                        [params["course_id"]])
    participants = [r["learner_id"] for r in answers["league-points"]]  # the course's learners in the account

    def mastery(lid: str, exs: list[dict]) -> float:
        return sum(100 * best.get((lid, e["exercise_id"]), 0.0) for e in exs) / len(exs)

    overall = by_key(answers["account-mastery-overall"], "course_id")[(params["course_id"],)]
    assert overall["learners"] == len(participants)
    assert overall["mastery_pct"] == pytest.approx(statistics.mean(mastery(lid, exercises) for lid in participants))

    chapters = defaultdict(list)
    for e in exercises:
        chapters[e["chapter_id"]].append(e)
    answered = by_key(answers["account-mastery-by-chapter"], "chapter_id")
    assert set(answered) == {(c,) for c in chapters}
    for chapter, exs in chapters.items():
        row = answered[(chapter,)]
        assert row["learner_count"] == len(participants) and row["exercise_count"] == len(exs)
        assert row["mastery_pct"] == pytest.approx(statistics.mean(mastery(lid, exs) for lid in participants)), chapter
    mastery_order = [r["mastery_pct"] for r in answers["account-mastery-by-chapter"]]
    assert mastery_order == sorted(mastery_order), "weakest chapter first"


def test_learner_detail_adds_up(warehouse, answers, params):
    history = answers["learner-attempt-history"]
    assert len(history) == sum(r["attempts"] for r in answers["learner-exercise-summary"])
    assert len(history) == sum(r["attempts"] for r in answers["learner-progress"])
    assert len(history) == warehouse.execute("select count(*) from marts.fct_attempts where learner_id = ?",
                                             [params["learner_id"]]).fetchone()[0]
    held = warehouse.execute(
        "select count(distinct achievement_id) from marts.fct_credential_awards"
        " where learner_id = ? and achievement_id is not null", [params["learner_id"]]).fetchone()[0]
    assert len(answers["learner-credentials"]) == len(answers["recipient-view"]) == held > 0


def test_csv_export_query_equals_the_nightly_account_export(published_home, answers, params):
    path = published_home / "exports" / "mart_learner_course_progress" / f"{params['account_id']}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, exported = reader.fieldnames, list(reader)
    rows = answers["csv-export"]
    assert header == list(rows[0])
    assert len(exported) == len(rows)
    assert [(r["learner_id"], r["course_id"]) for r in exported] == [(r["learner_id"], r["course_id"]) for r in rows]


# --- learner flow, pathways and drift ------------------------------------------------


def test_learner_flow_balances_and_matches_transitions(warehouse, build, answers):
    transitions = rows_of(build, "select collection_id, achievement_id, entry_type, exit_type"
                                 " from intermediate.int_credentials__transition_facts")
    published = warehouse.execute("select count(*) from marts.fct_credential_transitions").fetchone()[0]
    assert 0 < published < len(transitions), "the published transitions are the consenting recipients'"
    count = Counter()
    for t in transitions:
        key = (t["collection_id"], t["achievement_id"])
        count[key, "completed"] += 1
        count[key, t["entry_type"]] += 1
        count[key, t["exit_type"]] += 1
    into, out_of = Counter(), Counter()
    for e in answers["flow-new-vs-continuing"]:
        into[(e["collection_id"], e["achievement_id"])] += e["learners"]
    for e in answers["flow-advanced-vs-stopped"]:
        out_of[(e["collection_id"], e["achievement_id"])] += e["learners"]

    per_credential = answers["flow-per-credential"]
    assert sum(r["completed"] for r in per_credential) == len(transitions) > 0
    for r in per_credential:
        key = (r["collection_id"], r["achievement_id"])
        assert r["completed"] == r["new_entrants"] + r["continuing_entrants"] == r["advanced"] + r["stopped"], key
        assert (r["completed"], r["new_entrants"], r["continuing_entrants"], r["advanced"], r["stopped"]) == (
            count[key, "completed"], count[key, "new"], count[key, "continuing"],
            count[key, "advanced"], count[key, "stopped"]), key
        assert into[key] == out_of[key] == r["completed"], key


def test_sankey_query_and_plotly_snippet_draw_the_collection(published_home, warehouse, answers, params):
    edges = answers["flow-sankey"]
    expected = warehouse.execute("select count(*), sum(learners) from marts.mart_learner_flow where collection_id = ?",
                                 [params["collection_id"]]).fetchone()
    assert (len(edges), sum(e["learners"] for e in edges)) == expected
    namespace: dict = {}
    exec(SNIPPET_RE.search(DOC.read_text()).group(1), namespace)  # noqa: S102 - our own doc's snippet
    fig = namespace["learner_flow_sankey"](str(published_home / "warehouse.duckdb"), params["collection_id"])
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    drawn = Counter()
    for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True):
        drawn[(labels[s], labels[t])] += v
    assert drawn == Counter({(e["source_node"], e["target_node"]): e["learners"] for e in edges})
    assert labels[0] == "New learners" and labels[-1] == "Stopped"


def test_pauses_entry_points_and_returners_match_transitions(build, answers):
    pause_days = DBT_VARS["drift_pause_days"]
    days_to_next, returners, entrants = defaultdict(list), Counter(), Counter()
    for t in rows_of(build, "select collection_id, achievement_id, entry_type, exit_type, days_since_previous,"
                            " days_to_next from intermediate.int_credentials__transition_facts"):
        key = (t["collection_id"], t["achievement_id"])
        if t["exit_type"] == "advanced":
            days_to_next[key].append(t["days_to_next"])
        if t["days_since_previous"] is not None and t["days_since_previous"] > pause_days:
            returners[key] += 1
        if t["entry_type"] == "new":
            entrants[key] += 1
    ids = {(r["collection_name"], r["credential_name"]): (r["collection_id"], r["achievement_id"])
           for r in answers["flow-per-credential"]}

    assert len(answers["drift-pause"]) == len(days_to_next)
    for r in answers["drift-pause"]:
        key = ids[(r["collection_name"], r["credential_name"])]
        assert r["median_days_to_next"] == pytest.approx(statistics.median(days_to_next[key])), key
        assert r["p90_days_to_next"] == pytest.approx(quantile(days_to_next[key], 0.9)), key
    assert len(answers["returners"]) == len(answers["flow-per-credential"])
    for r in answers["returners"]:
        assert r["returners"] == returners[ids[(r["collection_name"], r["credential_name"])]]
    assert {ids[(r["collection_name"], r["credential_name"])] for r in answers["entry-points"]} == set(entrants)
    shares = Counter()
    for r in answers["entry-points"]:
        shares[ids[(r["collection_name"], r["credential_name"])][0]] += r["entry_share"]
    for collection, share in shares.items():
        assert share == pytest.approx(1.0), collection


# --- credential analytics ------------------------------------------------------------


def test_credentials_issued_equals_awards_and_raw_layer(published_home, warehouse, build, answers):
    total = answers["issuance-total"][0]["credentials_issued"]
    awards = build.execute("select count(*) from intermediate.int_credentials__award_facts"
                           " where achievement_id is not null and issued_at is not null").fetchone()[0]
    lake = duckdb.connect(str(published_home / "lake.duckdb"), read_only=True)
    try:
        raw = lake.execute("select count(distinct award_id) from raw.credential_awards"
                           " where achievement_id is not null and issued_at is not null").fetchone()[0]
    finally:
        lake.close()
    assert total == awards == raw > 0
    assert sum(r["credentials_issued"] for r in answers["issuance-by-type"]) == total
    assert sum(r["credentials_issued"] for r in answers["issuance-trend"]) == total
    status = Counter(s for (s,) in build.execute(
        "select status from intermediate.int_credentials__award_facts"
        " where achievement_id is not null and issued_at is not null").fetchall())
    for column in ("active", "expired", "revoked"):
        assert sum(r[column] for r in answers["expiry-revocation"]) == status[column], column
    # the list of revoked awards is recipient-level: the consenting recipients' only
    published = warehouse.execute(
        "select count(*) from marts.fct_credential_awards where is_revoked and achievement_id is not null").fetchone()[0]
    assert len(answers["revocations"]) == published <= sum(r["revoked"] for r in answers["expiry-revocation"])


def test_verification_totals_bound_the_events(build, answers):
    k = DBT_VARS["small_cell_k"]
    events = build.execute("select count(*) from intermediate.int_credentials__event_facts"
                           " where event_type = 'verified' and has_award and achievement_id is not null").fetchone()[0]
    totals = set()
    for qid in ("verification-volume", "verifier-industry", "verifier-geography"):
        published = sum(r["verifications_published"] or 0 for r in answers[qid])
        hidden_cells = sum(r["suppressed_cells"] for r in answers[qid])
        totals.add((published, hidden_cells))
        assert published <= events <= published + (k - 1) * hidden_cells, qid
    assert len(totals) == 1, "the same cells, grouped three ways"
    published, hidden_cells = totals.pop()
    cells = answers["verification-to-hire"]
    assert (sum(r["verifications"] or 0 for r in cells), sum(r["verifications"] is None for r in cells)) == (
        published, hidden_cells)


def test_suppressed_cells_are_empty_and_counted(answers):
    views = answers["engagement-view-rate"]
    for r in views:
        assert (r["viewed"] is None) == r["is_viewed_suppressed"]
        if r["is_viewed_suppressed"]:
            assert r["view_rate"] is None
    summary = answers["privacy-suppression"][0]
    assert summary["cells"] == len(views) == len(answers["engagement-share-by-channel"])
    assert summary["viewed_suppressed"] == sum(r["is_viewed_suppressed"] for r in views)
    assert summary["added_to_profile_suppressed"] == sum(
        r["added_to_profile"] is None for r in answers["engagement-profile-add-rate"])
    for r in answers["verification-to-hire"]:
        if r["is_hires_suppressed"]:
            assert r["hires"] is None and r["verification_to_hire_rate"] is None
