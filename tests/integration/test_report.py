"""The HTML report, rendered in a real headless Chromium from a warehouse the real pipeline published.

The warehouse comes from ``generate`` (4000 statements) + ``skillpath run``; the report
from ``skillpath report --out``. Chromium (Debian's ``chromium``) loads the file over
``file://`` and the DevTools protocol gives the proof: no exception, no console
error, no request to the network; Plotly drew the Sankeys with the nodes and link
values of ``mart_learner_flow``; every table holds the marts' numbers (read here with
DuckDB); a header click sorts; a screenshot lands in ``test-artifacts/report.png``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.integration.pipeline_support import SKILLPATH, last_gate_results, pipeline_env
from tests.support_chromium import chromium_binary, start_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed "
                                "(scripts/install_system_deps.sh installs it)")


@pytest.fixture(scope="module")
def home(published_home) -> Path:
    """The session's published demo home (tests/integration/conftest.py)."""
    return published_home


@pytest.fixture(scope="module")
def warehouse(home) -> Path:
    return home / "warehouse.duckdb"


@pytest.fixture(scope="module")
def report(home) -> Path:
    out = home.parent / "report-out" / "report.html"
    proc = subprocess.run([SKILLPATH, "report", "--out", str(out)], env=pipeline_env(home),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    with start_chromium(tmp_path_factory.mktemp("chromium") / "profile") as chromium:
        pg = chromium.open(width=1400, height=1000)
        pg.navigate(report.as_uri())
        pg.wait_for("document.body.dataset.charts", timeout=120)
        yield pg
        pg.close()


def mart(warehouse: Path, sql: str, params: list | None = None) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


TABLE_JS = """(sel => Array.from(document.querySelectorAll(sel)).map(t => {
  const cols = Array.from(t.tHead.rows[0].cells).map(th => th.dataset.col);
  return {id: t.id, mart: t.dataset.mart, rows: Array.from(t.tBodies[0].rows)
    .filter(tr => !tr.querySelector('td.empty'))
    .map(tr => Object.fromEntries(Array.from(tr.cells).map((td, i) => [cols[i], {v: td.dataset.v, t: td.textContent}])))};
}))(%s)"""


SORT_HELPERS_JS = """(() => {
  const header = (id, col) => Array.from(document.getElementById(id).tHead.rows[0].cells)
    .find(th => th.dataset.col === col);
  window.testCells = (id, col) => {
    const t = document.getElementById(id), i = header(id, col).cellIndex;
    return Array.from(t.tBodies[0].rows).map(r => r.cells[i].dataset.v);
  };
  window.testClick = (id, col) => { header(id, col).click(); return header(id, col).getAttribute('aria-sort'); };
})()"""


def tables(page, selector: str) -> list[dict]:
    return page.evaluate(TABLE_JS % json.dumps(selector))


def within(attr: str, value: str, inner: str) -> str:
    """A CSS selector for ``inner`` inside the element whose ``attr`` is ``value``."""
    return f'[{attr}={json.dumps(value)}] {inner}'


def same(cell: dict, value) -> bool:
    """The cell's raw value equals the mart value (numbers exactly, as Python floats)."""
    v = cell["v"]
    if value is None:
        return v == ""
    if isinstance(value, bool):
        return v == ("1" if value else "0")
    if isinstance(value, int | float):
        return v != "" and float(v) == float(value)
    if isinstance(value, dt.date | dt.datetime):
        return v == value.isoformat()
    return v == str(value)


def assert_rows(shown: list[dict], expected: list[dict], cols: list[str], flags: dict[str, str] | None = None):
    assert len(shown) == len(expected)
    for got, exp in zip(shown, expected, strict=True):
        for c in cols:
            flag = (flags or {}).get(c)
            if flag and exp[flag]:
                assert got[c]["t"] == "suppressed" and got[c]["v"] == "", (c, got[c], exp)
                assert exp[c] is None
            else:
                assert same(got[c], exp[c]), (c, got[c], exp[c])


# ----------------------------------------------------------------------------- the page runs
def test_page_loads_without_script_errors_or_network(page, report):
    assert page.evaluate("document.body.dataset.charts") == "ready"
    assert page.errors() == []
    schemes = {url.split(":", 1)[0] for url in page.requests()}
    assert schemes <= {"file", "data"}, page.requests()
    assert report.stat().st_size < 5_000_000
    # every figure was drawn by Plotly (an SVG in each placeholder)
    figs = page.evaluate("Array.from(document.querySelectorAll('div.fig')).map(d => "
                         "[d.id, d.querySelectorAll('svg.main-svg').length])")
    assert figs and all(n > 0 for _, n in figs), figs


def test_screenshot_is_saved(page):
    path = page.screenshot(ARTIFACTS / "report.png")
    assert path.stat().st_size > 20_000
    full = page.screenshot(ARTIFACTS / "report-full.png", full_page=True)
    assert full.stat().st_size > path.stat().st_size


# ----------------------------------------------------------------------------- learner flow
def test_sankey_nodes_and_links_are_the_mart_rows(page, warehouse):
    edges = mart(warehouse, "select * from marts.mart_learner_flow")
    collections = sorted({e["collection_id"] for e in edges})
    assert collections, "the demo data has learner flows"
    for cid in collections:
        mine = [e for e in edges if e["collection_id"] == cid]
        links = page.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(within('data-collection-id', cid, '.sankey-link'))}))"
            ".map(l => [l.__data__.link.source.label, l.__data__.link.target.label, l.__data__.link.value])")
        assert Counter(map(tuple, links)) == Counter((e["source_node"], e["target_node"], e["learners"]) for e in mine)
        labels = page.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(within('data-collection-id', cid, '.sankey-node'))}))"
            ".map(n => n.__data__.node.label)")
        assert sorted(labels) == sorted({e["source_node"] for e in mine} | {e["target_node"] for e in mine})
        assert "New learners" in labels and ("Stopped" in labels or not any(e["edge_type"] == "stopped" for e in mine))
        # the same edges in the table beside the chart
        (flow,) = tables(page, within("data-collection-id", cid, 'table[data-mart="mart_learner_flow"]'))
        got = Counter((r["source_node"]["v"], r["target_node"]["v"], r["edge_type"]["v"], int(r["learners"]["v"]))
                      for r in flow["rows"])
        assert got == Counter((e["source_node"], e["target_node"], e["edge_type"], e["learners"]) for e in mine)


def test_pathway_drift_tables(page, warehouse):
    rows = mart(warehouse, "select * from marts.mart_pathway_progress order by collection_id, position, credential_name")
    cols = ["position", "credential_name", "is_entry_point", "entry_share", "completed", "new_entrants",
            "continuing_entrants", "advanced", "stopped", "advance_rate", "stop_rate", "median_days_to_next",
            "p90_days_to_next", "drifting", "returners"]
    for cid in sorted({r["collection_id"] for r in rows}):
        (drift,) = tables(page, within("data-collection-id", cid, 'table[data-mart="mart_pathway_progress"]'))
        assert_rows(drift["rows"], [r for r in rows if r["collection_id"] == cid], cols)


# ----------------------------------------------------------------------------- accounts
def test_course_overview_and_leagues(page, warehouse):
    overview = mart(warehouse, "select * from marts.mart_course_overview order by account_id, course_id")
    assert overview
    for acc in sorted({r["account_id"] for r in overview}):
        (shown,) = tables(page, within("data-account-id", acc, 'table[data-mart="mart_course_overview"]'))
        assert_rows(shown["rows"], [r for r in overview if r["account_id"] == acc],
                    ["enrolled_users", "active_learners", "mastery_pct", "completed_learners", "certified_learners",
                     "credentials_held", "score_pct", "points", "time_spent_seconds"])
        for course in [r["course_id"] for r in overview if r["account_id"] == acc]:
            scope = f'[data-account-id={json.dumps(acc)}] [data-course-id={json.dumps(course)}]'
            learners = mart(warehouse, "select * from marts.mart_learner_course_progress where account_id = ? "
                                       "and course_id = ? order by rank_mastered, learner_id", [acc, course])
            (league,) = tables(page, f'{scope} table[data-mart="mart_learner_course_progress"]')
            top = learners[:50]
            assert_rows(league["rows"], top, ["rank_mastered", "exercises_mastered", "mastery_pct", "progress_pct",
                                              "is_completed", "is_certified", "credentials_held", "score_pct",
                                              "points", "time_spent_seconds", "attempts"])
            assert [r["learner"]["t"] for r in league["rows"]] == [r["learner_id"] for r in top]
            groups = mart(warehouse, "select * from marts.mart_group_league where account_id = ? and course_id = ? "
                                     "order by rank_mastery, group_id", [acc, course])
            (gl,) = tables(page, f'{scope} table[data-mart="mart_group_league"]')
            assert_rows(gl["rows"], groups[:50], ["rank_mastery", "members", "avg_mastery_pct", "completion_rate_pct",
                                                  "certification_rate_pct", "credentials_held", "avg_score_pct",
                                                  "avg_points", "total_points", "avg_time_spent_seconds"])


def test_chapter_heatmap_values_are_the_mart(page, warehouse):
    rows = mart(warehouse, "select m.account_id, m.course_id, m.scope_id, c.chapter_title, m.mastery_pct "
                           "from marts.mart_chapter_mastery m join marts.dim_chapters c using (chapter_id) "
                           "where m.scope_type = 'group'")
    assert rows
    groups = {r["group_id"]: r["group_name"] for r in mart(warehouse, "select group_id, group_name from marts.dim_groups")}
    acc, course = rows[0]["account_id"], rows[0]["course_id"]
    scope = f'[data-account-id={json.dumps(acc)}] [data-course-id={json.dumps(course)}]'
    trace = page.evaluate(f"(() => {{ const d = document.querySelector({json.dumps(scope + ' div.fig')}).data[0];"
                          " return {x: d.x, y: d.y, z: d.z, type: d.type}; })()")
    assert trace["type"] == "heatmap"
    for r in rows:
        if r["account_id"] == acc and r["course_id"] == course:
            i, j = trace["y"].index(groups[r["scope_id"]]), trace["x"].index(r["chapter_title"])
            assert trace["z"][i][j] == pytest.approx(r["mastery_pct"], abs=1e-9)


def test_clicking_headers_sorts_the_league(page):
    sel = 'table[data-mart="mart_learner_course_progress"]'
    # the biggest league on the page
    table_id = page.evaluate(f"Array.from(document.querySelectorAll({json.dumps(sel)}))"
                             ".sort((a, b) => b.tBodies[0].rows.length - a.tBodies[0].rows.length)[0].id")
    page.evaluate(SORT_HELPERS_JS)
    col_values = f"(col => window.testCells({json.dumps(table_id)}, col))"
    click = f"(col => window.testClick({json.dumps(table_id)}, col))"
    for col in ("points", "time_spent_seconds", "score_pct", "exercises_mastered", "is_certified", "is_completed"):
        before = page.evaluate(f"{col_values}({json.dumps(col)})")
        assert page.evaluate(f"{click}({json.dumps(col)})") == "descending"
        desc = page.evaluate(f"{col_values}({json.dumps(col)})")
        nums = [float(v) for v in desc if v != ""]
        assert nums == sorted(nums, reverse=True) and desc[: len(nums)] == [v for v in desc if v != ""]
        assert sorted(desc) == sorted(before)  # same cells, reordered
        assert page.evaluate(f"{click}({json.dumps(col)})") == "ascending"
        asc = [float(v) for v in page.evaluate(f"{col_values}({json.dumps(col)})") if v != ""]
        assert asc == sorted(asc)
    # text column: learners A-Z
    page.evaluate(f"{click}('learner')")
    ids = page.evaluate(f"{col_values}('learner')")
    assert ids == sorted(ids, key=str.lower)


# ----------------------------------------------------------------------------- credentials
def test_engagement_table_shows_suppressed_cells_as_suppressed(page, warehouse):
    rows = mart(warehouse, "select * from marts.mart_credential_engagement order by issue_month desc, achievement_id")
    (shown,) = tables(page, "#engagement-table")
    channels = [c[len("shares_"):] for c in rows[0] if c.startswith("shares_")]
    flags = {"viewed": "is_viewed_suppressed", "view_rate": "is_viewed_suppressed", "shared": "is_shared_suppressed",
             "share_rate": "is_shared_suppressed", **{f"shares_{c}": f"is_shares_{c}_suppressed" for c in channels}}
    assert_rows(shown["rows"], rows[:100], ["issue_month", "awards_issued", "recipients", *flags], flags)
    assert any(r[f] for r in rows[:100] for f in flags.values()), "demo data has suppressed cells"
    # share rate by channel: sums over the published cells only, computed here in Python
    (by_channel,) = tables(page, "#share-by-channel-table")
    got = {r["channel"]["v"]: r for r in by_channel["rows"]}
    assert sorted(got) == sorted(channels)
    for ch in channels:
        published = [r for r in rows if not r[f"is_shares_{ch}_suppressed"]]
        if not published:
            assert got[ch]["shares"]["t"] == "suppressed"
            continue
        shares, awards = sum(r[f"shares_{ch}"] for r in published), sum(r["awards_issued"] for r in published)
        assert int(got[ch]["shares"]["v"]) == shares and int(got[ch]["awards"]["v"]) == awards
        assert float(got[ch]["shares_per_100"]["v"]) == pytest.approx(100 * shares / awards)
        assert int(got[ch]["suppressed_cells"]["v"]) == len(rows) - len(published)


def test_verification_tables(page, warehouse):
    rows = mart(warehouse, "select * from marts.mart_credential_verification "
                           "order by event_month desc, achievement_id, verifier_industry, verifier_country, "
                           "verifier_organization_id")
    assert rows
    (shown,) = tables(page, "#verification-table")
    assert_rows(shown["rows"], rows[:100], ["event_month", "verifier_industry", "verifier_country", "verifications",
                                            "hires"],
                {"verifications": "is_verifications_suppressed", "hires": "is_hires_suppressed"})
    for dim, table_id in (("verifier_industry", "#verifications-by-industry"),
                          ("verifier_country", "#verifications-by-country")):
        (agg,) = tables(page, table_id)
        got = {r[dim]["v"]: r for r in agg["rows"]}
        keys = {r[dim] or "unknown" for r in rows}
        assert set(got) == keys
        for key in keys:
            mine = [r for r in rows if (r[dim] or "unknown") == key]
            published = [r["verifications"] for r in mine if not r["is_verifications_suppressed"]]
            if published:
                assert int(got[key]["verifications"]["v"]) == sum(published)
            else:
                assert got[key]["verifications"]["t"] == "suppressed"
            assert int(got[key]["suppressed_cells"]["v"]) == sum(
                1 for r in mine if r["is_verifications_suppressed"] or r["is_hires_suppressed"])
    # no suppressed count leaks as a number anywhere in the page's verification section
    texts = page.evaluate("Array.from(document.querySelectorAll('#engagement td.suppressed'))"
                          ".map(td => td.textContent + '|' + td.dataset.v)")
    assert texts and set(texts) == {"suppressed|"}


# ----------------------------------------------------------------------------- executive and freshness
def test_executive_kpis(page, warehouse):
    trends = mart(warehouse, "select issue_month, awards_issued from marts.mart_issuance_trends")
    last_attempt = mart(warehouse, "select max(started_at) as m from marts.fct_attempts")[0]["m"]
    end = max([r["issue_month"] for r in trends] + [last_attempt.date().replace(day=1)])
    start = dt.date(end.year - (1 if end.month < 12 else 0), end.month % 12 + 1, 1)
    issued = sum(r["awards_issued"] for r in trends if r["issue_month"] >= start)
    active = mart(warehouse, "select learner_id, started_at from marts.fct_attempts")
    active_n = len({r["learner_id"] for r in active if r["started_at"].date() >= start})
    kpis = page.evaluate("Array.from(document.querySelectorAll('.kpi')).map(k => "
                         "[k.querySelector('.label').textContent, k.querySelector('.value').textContent])")
    values = dict(kpis)
    assert values["Credentials issued"] == f"{issued:,}"
    assert values["Active learners"] == f"{active_n:,}"
    trend = page.evaluate("document.getElementById('trend-issued').data[0]")
    assert len(trend["x"]) == 12 and trend["x"][-1] == end.strftime("%Y-%m")
    by_month = Counter()
    for r in trends:
        by_month[r["issue_month"].strftime("%Y-%m")] += r["awards_issued"]
    assert [y or 0 for y in trend["y"]] == [by_month.get(x, 0) for x in trend["x"]]
    programmes = mart(warehouse, "select * from marts.dim_collections order by learners desc, collection_name limit 10")
    (top,) = tables(page, "#top-programmes")
    assert_rows(top["rows"], programmes, ["collection_name", "credential_count", "learners"])


def test_freshness_and_gate(page, warehouse):
    pub = mart(warehouse, "select * from meta.publication")[0]
    text = page.evaluate("document.getElementById('publication').textContent")
    assert str(pub["version_id"]) in text and str(pub["published_at"]) in text
    (sources,) = tables(page, "#sources")
    meta_sources = mart(warehouse, "select * from meta.sources order by source")
    assert_rows(sources["rows"], meta_sources, ["source", "loads", "records_loaded"])
    assert "every blocking check passed" in page.evaluate("document.getElementById('freshness').textContent")
    # what the gate checked: every suite of the run that published this warehouse
    suites = {r["suite"] for r in last_gate_results(warehouse.parent)}
    (gate,) = tables(page, "#gate")
    assert len(suites) >= 22 and {r["suite"]["t"] for r in gate["rows"]} == suites


# ----------------------------------------------------------------------------- names and escaping
def test_names_only_when_given_and_escaped(warehouse, report, tmp_path):
    from skillpath.report import ReportError, build_report

    learner = mart(warehouse, "select learner_id from marts.mart_learner_course_progress "
                              "order by rank_mastered, learner_id limit 1")[0]["learner_id"]
    evil = "Ada <script>alert(1)</script> & \"Co\""
    named = build_report(warehouse, tmp_path / "named.html", names={learner: evil},
                         gate_summary=[{"suite": "fct_attempts", "success": True,
                                        "expectations": [{"line": "rows > 0 <b>", "success": True, "observed": 7}]}])
    html_text = named.read_text()
    assert "Ada &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in html_text
    assert "<script>alert(1)" not in html_text
    assert "rows &gt; 0 &lt;b&gt;" in html_text
    assert "Ada &lt;script" not in report.read_text() and learner in report.read_text()
    with pytest.raises(ReportError):
        build_report(tmp_path / "missing.duckdb", tmp_path / "x.html")
