"""The Superset bundle (bi/superset, ``make bi-bundle``) against a real Superset.

One Superset (tests/support/superset.py: its own venv, SQLite metadata, 127.0.0.1) imports
the bundle written by ``skillpath.publish.bi_bundle`` for the shared published demo home, with
two connections: the published ``warehouse.duckdb`` (read-only, duckdb-engine) and the
PostgreSQL publication of the same build (a real server, tests/support_pg.py) through the
login of one account manager. Then, through Superset's REST API:

- every chart of the DuckDB dashboards runs (``GET /api/v1/chart/{id}/data``) and returns
  exactly what the same question asked of the marts with duckdb returns (counts and sums
  exact, averages to 1e-9, raw tables in their order); the learner-flow Sankey also per
  collection, as the dashboard's collection filter asks for it;
- every chart of the PostgreSQL dashboard returns only the manager's account, equal to the
  DuckDB answer restricted to that account, and SQL Lab on that connection sees one account
  and is refused the issuer-level marts: row-level security is PostgreSQL's, not Superset's;
- the executive dashboard renders in headless Chromium without errors (screenshot in
  ``test-artifacts/superset.png``; docs/img/superset.png is a copy), and the learner-flow
  dashboard's charts ask for one collection (the Collection filter's first value).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql

from skillpath.publish.bi_bundle import build_bundle, database_files, write_bundle
from skillpath.publish.duckdb_publish import attach_build
from skillpath.publish.postgres import account_role_name, publish_postgres
from tests.support.superset import SupersetClient, start_superset
from tests.support_chromium import chromium_binary, start_chromium
from tests.support_pg import PostgresUnavailable, start_postgres

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
MANAGER_PASSWORD = "manager-pw-for-tests"


def month_ms(col: str) -> str:
    """Superset's month time grain of ``col`` as epoch milliseconds (how the chart API returns it)."""
    return f"epoch_ms(cast(date_trunc('month', {col}) as timestamp))"


# The question each chart answers, asked of the marts directly. Keys: chart titles.
# ``ORDERED`` charts (raw tables with a sort order) must also return the rows in this order.
EXPECTED = {
    # executive overview
    "Credentials issued": "select sum(awards_issued) as awards_issued from marts.mart_issuance_trends",
    "Learners with activity": "select count(distinct learner_id) as active_learners from marts.fct_attempts",
    "Verifications": "select sum(verifications) as verifications from marts.mart_credential_verification",
    "Course completions": "select count(*) filter (where is_completed) as completions "
                          "from marts.mart_learner_course_progress",
    "Credentials issued per month by type":
        f"select {month_ms('issue_month')} as issue_month, achievement_type, sum(awards_issued) as awards_issued "
        "from marts.mart_issuance_trends group by all",
    "Active learners per month":
        f"select {month_ms('started_at')} as started_at, count(distinct learner_id) as active_learners "
        "from marts.fct_attempts group by all",
    "Verifications per month":
        f"select {month_ms('event_month')} as event_month, sum(verifications) as verifications "
        "from marts.mart_credential_verification group by all",
    "Course completions per month":
        f"select {month_ms('completed_at')} as completed_at, count(*) as completions "
        "from marts.mart_learner_course_progress where is_completed group by all",
    # learner flow
    "Learner flow (choose a collection)":
        "select source_node, target_node, sum(learners) as flow_learners from marts.mart_learner_flow group by all",
    "Flow edges":
        "select collection_name, source_node, target_node, edge_type, sum(learners) as flow_learners "
        "from marts.mart_learner_flow group by all",
    # pathway drift
    "Drifting learners": "select sum(drifting) as drifting_learners from marts.mart_pathway_progress",
    "Returners": "select sum(returners) as returning_learners from marts.mart_pathway_progress",
    "Credential completions in pathways": "select sum(completed) as completers from marts.mart_pathway_progress",
    "Advanced vs stopped after each credential":
        "select credential_name, sum(advanced) as advanced_learners, sum(stopped) as stopped_learners "
        "from marts.mart_pathway_progress group by all",
    "Pathway progress":
        "select collection_name, position, credential_name, completed, new_entrants, continuing_entrants, "
        "advanced, stopped, advance_rate, stop_rate, median_days_to_next, drifting, returners, is_entry_point "
        "from marts.mart_pathway_progress order by collection_name, position",
    # courses
    "Courses":
        "select o.account_id, c.course_title, o.enrolled_users, o.learners, o.active_learners, o.mastery_pct, "
        "o.completed_learners, o.certified_learners, o.score_pct from marts.mart_course_overview o "
        "join marts.dim_courses c using (course_id) {where_o} order by o.account_id, c.course_title",
    "Chapter mastery (% per course and chapter, account scope)":
        "select 'Chapter ' || lpad(cast(ch.position as varchar), 2, '0') as chapter_label, c.course_title, "
        "max(m.mastery_pct) as mastery from marts.mart_chapter_mastery m "
        "join marts.dim_chapters ch using (chapter_id) join marts.dim_courses c on c.course_id = m.course_id "
        "where m.scope_type = 'account' {and_m} group by all",
    "Learners and active learners per course":
        "select c.course_title, sum(o.learners) as learners_total, sum(o.active_learners) as active_learners_total "
        "from marts.mart_course_overview o join marts.dim_courses c using (course_id) {where_o} group by all",
    # leagues
    "Learner league (by exercises mastered)":
        "select account_id, course_id, rank_mastered, learner_id, exercises_mastered, mastery_pct, points, "
        "rank_points, is_completed, is_certified from marts.mart_learner_course_progress "
        "order by account_id, course_id, rank_mastered, learner_id",
    "Group league":
        "select l.account_id, l.course_id, l.rank_mastery, g.group_name, l.members, l.avg_mastery_pct, "
        "l.completion_rate_pct, l.certification_rate_pct, l.avg_points from marts.mart_group_league l "
        "join marts.dim_groups g using (group_id) {where_l} order by l.account_id, l.course_id, l.rank_mastery, "
        "g.group_name",
    "Average mastery per group":
        "select g.group_name, avg(l.avg_mastery_pct) as avg_mastery from marts.mart_group_league l "
        "join marts.dim_groups g using (group_id) {where_l} group by all",
    # credentials
    "Awards in engagement cohorts":
        "select sum(awards_issued) as engagement_awards from marts.mart_credential_engagement",
    "Accepted, viewed, shared per issue month (small cells suppressed)":
        f"select {month_ms('issue_month')} as issue_month, sum(awards_issued) as engagement_awards, "
        "sum(accepted) as accepted_total, sum(viewed) as viewed_total, sum(shared) as shared_total "
        "from marts.mart_credential_engagement group by all",
    "Verifications and hires by verifier industry":
        "select verifier_industry, sum(verifications) as verifications, sum(hires) as hires "
        "from marts.mart_credential_verification group by all",
    "Verifications by verifier country":
        "select verifier_country, sum(verifications) as verifications "
        "from marts.mart_credential_verification group by all",
}
ORDERED = {"Pathway progress", "Courses", "Learner league (by exercises mastered)", "Group league"}
# PostgreSQL dashboard (a manager's login): the same questions for one account, plus names.
EXPECTED_PG = {
    "Learner league with names (by exercises mastered)":
        "select p.course_id, p.rank_mastered, u.display_name, p.exercises_mastered, p.mastery_pct, p.points, "
        "p.learner_id "
        "from marts.mart_learner_course_progress p join (select distinct learner_id, account_id, display_name "
        "from build.staging.stg_lms__users where learner_id is not null) u "
        "using (learner_id, account_id) where p.account_id = $account "
        "order by p.course_id, p.rank_mastered, u.display_name, p.learner_id",
}
ORDERED_PG = {"Courses", "Group league", "Learner league with names (by exercises mastered)"}


def expected_sql(title: str, account: str | None = None) -> str:
    text = EXPECTED.get(title) or EXPECTED_PG[title]
    if account is None:
        return text.format(where_o="", and_m="", where_l="")
    return text.format(where_o="where o.account_id = $account", and_m="and m.account_id = $account",
                       where_l="where l.account_id = $account")


def _norm(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value)


def _key(row: tuple) -> tuple:
    return tuple((0, "") if v is None else (1, round(v, 6)) if isinstance(v, float) else (2, str(v)) for v in row)


def assert_same_rows(title: str, got: list[tuple], expected: list[tuple], ordered: bool) -> None:
    got = [tuple(_norm(v) for v in r) for r in got]
    expected = [tuple(_norm(v) for v in r) for r in expected]
    if not ordered:
        got, expected = sorted(got, key=_key), sorted(expected, key=_key)
    if len(got) != len(expected):
        g, e = Counter(got), Counter(expected)
        raise AssertionError(f"{title}: {len(got)} rows from Superset, {len(expected)} in the marts; only in "
                             f"Superset: {list((g - e).elements())[:5]}, only in the marts: {list((e - g).elements())[:5]}")
    for g, e in zip(got, expected, strict=True):
        same = all(a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-9))
                   for a, b in zip(g, e, strict=True))
        assert same, f"{title}: Superset {g} != marts {e}"


def chart_rows(result: dict) -> tuple[list[str], list[tuple]]:
    cols = result["colnames"]
    return cols, [tuple(row[c] for c in cols) for row in result["data"]]


# --- fixtures --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warehouse(published_home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    attach_build(con, published_home / "build.duckdb", published_home / "lake.duckdb")
    con.execute(f"attach '{published_home / 'warehouse.duckdb'}' as w (read_only)")
    con.execute("use w")
    yield con
    con.close()


@pytest.fixture(scope="module")
def manager(warehouse) -> tuple[str, str]:
    """(user_id, account_id) of the manager whose account has the most learner-course rows."""
    return warehouse.execute(
        "select u.user_id, u.account_id from build.staging.stg_lms__users u "
        "join (select account_id, count(*) as n from marts.mart_learner_course_progress group by 1) p "
        "using (account_id) where u.role = 'manager' order by p.n desc, u.user_id limit 1").fetchone()


@pytest.fixture(scope="module")
def postgres(published_home: Path, manager) -> Iterator[tuple[str, str]]:
    """The build published to a real PostgreSQL; yields (server URL, manager login)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    try:
        with psycopg.connect(server.url(), autocommit=True) as con:
            con.execute("create database skillpath")
        url = server.url("skillpath")
        publish_postgres(published_home / "build.duckdb", url)
        login = account_role_name(manager[0])
        with psycopg.connect(url, autocommit=True) as con:  # what the administrator does (docs/publishing.md)
            con.execute(sql.SQL("alter role {} login password {}").format(sql.Identifier(login),
                                                                         sql.Literal(MANAGER_PASSWORD)))
        yield url, login
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bundle(published_home: Path, postgres, tmp_path_factory) -> tuple[Path, dict]:
    url, login = postgres
    files = build_bundle(published_home / "warehouse.duckdb", url, login)
    return write_bundle(files, tmp_path_factory.mktemp("bundle") / "skillpath_superset.zip"), files


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    with start_superset(tmp_path_factory.mktemp("superset")) as server:
        yield server


@pytest.fixture(scope="module")
def client(superset, bundle) -> SupersetClient:
    path, files = bundle
    c = SupersetClient(superset)
    pg_files = [name for name, db in database_files(files).items() if "PostgreSQL" in db]
    assert len(pg_files) == 1
    assert c.import_dashboards(path, passwords={pg_files[0]: MANAGER_PASSWORD}) == {"message": "OK"}
    return c


def charts_by_dashboard(client: SupersetClient) -> dict[str, list[dict]]:
    out = {}
    for d in client.list("dashboard"):
        out[d["dashboard_title"]] = client.get(f"/api/v1/dashboard/{d['id']}/charts")["result"]
    return out


def chart_data(client: SupersetClient, chart_id: int) -> dict:
    body = client.get(f"/api/v1/chart/{chart_id}/data/")
    assert len(body["result"]) == 1
    return body["result"][0]


# --- tests -----------------------------------------------------------------------------------------------

def test_bundle_imports_every_dashboard_chart_and_connection(client, bundle):
    _, files = bundle
    titles = {d["dashboard_title"] for d in client.list("dashboard")}
    assert titles == {c["dashboard_title"] for n, c in files.items() if n.startswith("dashboards/")}
    assert len(titles) == 7
    charts = client.list("chart")
    assert len(charts) == sum(n.startswith("charts/") for n in files)
    dbs = {d["database_name"]: d for d in client.list("database")}
    duck = next(d for name, d in dbs.items() if "DuckDB" in name)
    detail = client.get(f"/api/v1/database/{duck['id']}/connection")["result"]
    assert json.loads(detail["extra"])["engine_params"]["connect_args"]["read_only"] is True
    assert detail["sqlalchemy_uri"].startswith("duckdb:////") and detail["sqlalchemy_uri"].endswith("/warehouse.duckdb")


def test_every_duckdb_chart_equals_the_marts(client, warehouse):
    seen = set()
    for dashboard, charts in charts_by_dashboard(client).items():
        if "PostgreSQL" in dashboard:
            continue
        for chart in charts:
            title = chart["slice_name"]
            assert title in EXPECTED, f"chart {title!r} of {dashboard!r} has no expected answer in this test"
            cols, got = chart_rows(chart_data(client, chart["id"]))
            cur = warehouse.execute(expected_sql(title))
            assert [d[0] for d in cur.description] == cols, title
            expected = cur.fetchall()
            assert expected, f"{title}: the demo marts hold no rows for it"
            assert_same_rows(title, got, expected, ordered=title in ORDERED)
            seen.add(title)
    assert seen == set(EXPECTED)


def test_sankey_per_collection_as_the_dashboard_filter_asks(client, warehouse):
    chart = next(c for c in client.list("chart") if c["slice_name"] == "Learner flow (choose a collection)")
    query_context = json.loads(client.get(f"/api/v1/chart/{chart['id']}")["result"]["query_context"])
    collections = [r[0] for r in warehouse.execute("select distinct collection_name from marts.mart_learner_flow")
                   .fetchall()]
    assert len(collections) >= 2
    for name in collections:
        qc = json.loads(json.dumps(query_context))
        qc["queries"][0]["filters"].append({"col": "collection_name", "op": "IN", "val": [name]})
        _, got = chart_rows(client.post("/api/v1/chart/data", json=qc)["result"][0])
        expected = warehouse.execute(
            "select source_node, target_node, sum(learners) from marts.mart_learner_flow "
            "where collection_name = ? group by all", [name]).fetchall()
        assert_same_rows(f"Sankey of {name}", got, expected, ordered=False)


def test_manager_connection_sees_their_account_only(client, warehouse, manager):
    _, account = manager
    others = warehouse.execute("select count(distinct account_id) from marts.mart_course_overview "
                               "where account_id <> ?", [account]).fetchone()[0]
    assert others >= 1, "the demo needs a second account for this test to mean anything"
    pg_dashboards = [d for d in charts_by_dashboard(client).items() if "PostgreSQL" in d[0]]
    assert len(pg_dashboards) == 1
    _, charts = pg_dashboards[0]
    assert len(charts) == 6
    for chart in charts:
        title = chart["slice_name"]
        cols, got = chart_rows(chart_data(client, chart["id"]))
        cur = warehouse.execute(expected_sql(title, account).replace("$account", "?"),
                                [account] * expected_sql(title, account).count("$account"))
        assert [d[0] for d in cur.description] == cols, title
        expected = cur.fetchall()
        assert expected, title
        assert_same_rows(f"{title} (PostgreSQL)", got, expected, ordered=title in ORDERED_PG)
        if "account_id" in cols:
            assert {r[cols.index("account_id")] for r in got} == {account}, title

    # SQL Lab on the manager's connection: one account, and no issuer-level marts
    pg_db = next(d for d in client.list("database") if "PostgreSQL" in d["database_name"])
    res = client.post("/api/v1/sqllab/execute/", json={
        "database_id": pg_db["id"], "schema": "skillpath", "runAsync": False,
        "sql": "select account_id, count(*) as n from skillpath.mart_learner_course_progress group by 1"})
    expected_n = warehouse.execute("select count(*) from marts.mart_learner_course_progress where account_id = ?",
                                   [account]).fetchone()[0]
    assert [(r["account_id"], r["n"]) for r in res["data"]] == [(account, expected_n)]
    refused = client.session.post(client.superset.url + "/api/v1/sqllab/execute/", timeout=120, json={
        "database_id": pg_db["id"], "schema": "skillpath", "runAsync": False,
        "sql": "select count(*) from skillpath.mart_issuance_trends"})
    assert refused.status_code >= 400 and "permission denied" in refused.text, refused.text[:500]


CHART_STATE = (
    "(() => JSON.stringify({charts: document.querySelectorAll('.dashboard-chart').length,"
    " drawn: document.querySelectorAll('.dashboard-chart canvas, .dashboard-chart .header-line, "
    ".dashboard-chart table').length,"
    " loading: document.querySelectorAll('.dashboard-chart .loading').length,"
    " errors: document.querySelectorAll('.dashboard-chart .alert-danger, .dashboard-chart .ant-alert-error')"
    ".length}))()")


@pytest.fixture(scope="module")
def browser(client, tmp_path_factory):
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (scripts/install_system_deps.sh)")
    with start_chromium(tmp_path_factory.mktemp("chromium") / "profile") as chromium:
        page = chromium.open(width=1400, height=1000)
        for cookie in client.cookies_for_browser():
            page.send("Network.setCookie", **cookie)
        yield page


def open_dashboard(client: SupersetClient, page, title: str) -> list[dict]:
    """Load a dashboard until every chart is drawn; returns the bodies of its chart-data requests."""
    dashboard = next(d for d in client.list("dashboard") if d["dashboard_title"] == title)
    n_charts = len(client.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"])
    page.navigate(client.superset.url + dashboard["url"])
    page.wait_for(f"(() => {{ const s = JSON.parse({CHART_STATE}); return s.charts === {n_charts} && "
                  f"s.loading === 0 && s.drawn >= {n_charts}; }})()", timeout=90)
    time.sleep(1.5)  # ECharts animates the series in
    final = json.loads(page.evaluate(CHART_STATE))
    assert final["errors"] == 0, final
    # Superset 5.0's menu always requests a telemetry pixel from *.scarf.sh (no internet here)
    errors = [e for e in page.errors() if "scarf.sh" not in json.dumps(e)]
    assert errors == [], errors
    bodies = [json.loads(ev["params"]["request"].get("postData") or "{}") for ev in page.events
              if ev["method"] == "Network.requestWillBeSent"
              and "/api/v1/chart/data" in ev["params"]["request"]["url"]]
    assert len(bodies) >= n_charts
    return bodies


def test_executive_dashboard_renders_in_chromium(client, browser):
    open_dashboard(client, browser, "Skillpath: executive overview")
    shot = browser.screenshot(ARTIFACTS / "superset.png")
    assert shot.stat().st_size > 20_000


def test_learner_flow_dashboard_shows_one_collection(client, browser, warehouse):
    bodies = open_dashboard(client, browser, "Skillpath: learner flow per collection")
    first = warehouse.execute("select min(collection_name) from marts.mart_learner_flow").fetchone()[0]
    filters = [f for b in bodies if b for q in b.get("queries", []) for f in q.get("filters", [])
               if f.get("col") == "collection_name"]
    assert filters and all(f["val"] == [first] for f in filters), filters
