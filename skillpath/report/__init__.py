"""The nightly HTML report: one self-contained file built from the published marts only.

``build_report(warehouse_db, out)`` opens the published ``warehouse.duckdb``
read-only, reads schemas ``marts`` and ``meta`` and writes one HTML file that needs
no network: plotly.js travels inside it (gzipped), the figures as JSON, the tables
as HTML with a small sort script. docs/report.md lists where each number comes from.

Privacy: learners appear by their pseudonymous ``learner_id`` unless ``names`` (a
mapping learner_id -> display name, for a role allowed to see names) is given;
cells the marts suppress (null with an ``is_<count>_suppressed`` flag) show as
"suppressed", and the report's own monthly rates of recipient behaviour are
suppressed below ``small_cell_k`` the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from skillpath.config import connect_duckdb
from skillpath.report._html import SUPPRESSED, Col, esc, figure, fmt, page, table

__all__ = ["ReportError", "build_report"]

NEW_NODE, STOPPED_NODE = "__new__", "__stopped__"
TREND_MONTHS = 12
LINK_COLORS = {"new": "rgba(47,111,219,0.35)", "continuing": "rgba(25,169,121,0.45)",
               "stopped": "rgba(159,179,200,0.45)"}


class ReportError(RuntimeError):
    """The report cannot be built (no warehouse, not a published warehouse)."""


class _Warehouse:
    """Read-only access to the published marts, with a note for what is missing."""

    def __init__(self, path: Path):
        self.con = connect_duckdb(path, read_only=True)
        cols = self.con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('marts', 'meta')"
        ).fetchall()
        self.columns: dict[str, set[str]] = {}
        for schema, tbl, col in cols:
            self.columns.setdefault(f"{schema}.{tbl}", set()).add(col)

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def value(self, sql: str, params: list | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def missing(self, table_name: str, *cols: str) -> str | None:
        """None when ``marts.<table_name>`` (or ``meta.x``) has ``cols``; else what is missing."""
        key = table_name if "." in table_name else f"marts.{table_name}"
        have = self.columns.get(key)
        if have is None:
            return f"{key} is not in this warehouse"
        lacking = [c for c in cols if c not in have]
        return f"{key} lacks {', '.join(lacking)}" if lacking else None

    def has(self, table_name: str, *cols: str) -> bool:
        return self.missing(table_name, *cols) is None

    def empty(self, table_name: str) -> bool:
        """``marts.<table_name>`` is in the warehouse and holds no rows."""
        return self.has(table_name) and not self.value(f'select count(*) from marts."{table_name}"')

    def close(self) -> None:
        self.con.close()


def _unavailable(what: str, reason: str) -> str:
    return f'<p class="note">{esc(what)}: not available ({esc(reason)}).</p>'


#: The marts each section of the report shows (a section whose marts are all empty is hidden).
SECTION_MARTS = {
    "flow": ("mart_learner_flow", "mart_pathway_progress"),
    "accounts": ("mart_course_overview", "mart_learner_course_progress", "mart_group_league",
                 "mart_chapter_mastery"),
    "engagement": ("mart_credential_engagement", "mart_credential_verification"),
    "trust": ("mart_credential_trust", "mart_invalid_credentials"),
}


def _hidden(w: _Warehouse, anchor: str, title: str) -> str | None:
    """A one-line section in place of one whose marts are all empty (a deployment without
    that kind of source publishes them empty, with a gate warning); None to render it."""
    marts = SECTION_MARTS[anchor]
    if not all(w.empty(m) for m in marts):
        return None
    return _section(anchor, title, f'<p class="note" id="{esc(anchor)}-hidden">Hidden: '
                                   f'{esc(", ".join(marts))} are empty in this publication '
                                   "(their sources delivered no data).</p>")


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section class="page" id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def _months_back(end: dt.date, n: int) -> list[dt.date]:
    out, y, m = [], end.year, end.month
    for _ in range(n):
        out.append(dt.date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _safe_id(*parts: Any) -> str:
    return "-".join("".join(ch if ch.isalnum() else "_" for ch in str(p)) for p in parts)


# ----------------------------------------------------------------------------- executive
def _trend_figure(fig_id: str, months: list[dt.date], values: dict[dt.date, Any], *, rate: bool,
                  label: str) -> str:
    if all(values.get(m) is None for m in months):
        return f'<p class="note" id="{esc(fig_id)}">No monthly value to show (none, or all suppressed).</p>'
    xs = [m.strftime("%Y-%m") for m in months]
    # a month without rows issued / saw nothing (0); a rate without rows is unknown (a gap)
    ys = [(100 * values[m] if values.get(m) is not None else None) if rate else values.get(m, 0) for m in months]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, connectgaps=False,
                               line={"color": "#2f6fdb"},
                               hovertemplate="%{x}: %{y" + (":.1f} %" if rate else ":,}") + "<extra></extra>"))
    fig.update_layout(height=140, margin={"l": 40, "r": 8, "t": 6, "b": 28}, showlegend=False,
                      xaxis={"type": "category", "tickangle": 0, "nticks": 6, "showgrid": False},
                      yaxis={"rangemode": "tozero", "gridcolor": "#eef2f6",
                             "ticksuffix": " %" if rate else ""})
    return figure(fig_id, fig, height=140, kind="trend")


def _kpi(label: str, value: str, sub: str, trend: str) -> str:
    return (f'<div class="kpi"><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
            f'<div class="sub">{esc(sub)}</div>{trend}</div>')


def _window_end(w: _Warehouse) -> dt.date | None:
    ends = []
    if w.has("mart_issuance_trends", "issue_month"):
        ends.append(w.value("select max(issue_month) from marts.mart_issuance_trends"))
    if w.has("fct_attempts", "started_at"):
        ends.append(w.value("select cast(date_trunc('month', max(started_at)) as date) from marts.fct_attempts"))
    ends = [e for e in ends if e is not None]
    return max(ends) if ends else None


def _executive(w: _Warehouse, k: int) -> str:
    end = _window_end(w)
    if end is None:
        return _section("executive", "Executive summary",
                        _unavailable("Trends", "no issuance or attempt data in the warehouse"))
    months = _months_back(end, TREND_MONTHS)
    start = months[0]
    window = f"{start:%b %Y} – {end:%b %Y}"
    cards = []

    # Credentials issued: mart_issuance_trends.awards_issued.
    if (why := w.missing("mart_issuance_trends", "issue_month", "awards_issued")) is None:
        monthly = dict(w.con.execute(
            "select issue_month, sum(awards_issued) from marts.mart_issuance_trends "
            "where issue_month >= ? group by issue_month", [start]).fetchall())
        total = int(sum(monthly.values()))
        all_time = int(w.value("select coalesce(sum(awards_issued), 0) from marts.mart_issuance_trends"))
        cards.append(_kpi("Credentials issued", f"{total:,}", f"last 12 months; {all_time:,} all time",
                          _trend_figure("trend-issued", months, monthly, rate=False, label="issued")))
    else:
        cards.append(_kpi("Credentials issued", "–", why, ""))

    # Active learners: distinct fct_attempts.learner_id per month of started_at.
    if (why := w.missing("fct_attempts", "learner_id", "started_at")) is None:
        monthly = dict(w.con.execute(
            "select cast(date_trunc('month', started_at) as date), count(distinct learner_id) "
            "from marts.fct_attempts where started_at >= ? group by 1", [start]).fetchall())
        total = w.value("select count(distinct learner_id) from marts.fct_attempts where started_at >= ?", [start])
        cards.append(_kpi("Active learners", f"{total:,}", "with an exercise attempt, last 12 months",
                          _trend_figure("trend-active", months, monthly, rate=False, label="learners")))
    else:
        cards.append(_kpi("Active learners", "–", why, ""))

    # Verification rate: share of credentials held (mart_recipient_credentials, one row per
    # recipient and credential) verified at least once, by month of first issue. That mart holds
    # only the recipients who consented to detailed tracking (docs/privacy.md), so the rate is theirs.
    if (why := w.missing("mart_recipient_credentials", "first_issued_at", "verifications")) is None:
        rows = w.con.execute(
            "select cast(date_trunc('month', first_issued_at) as date), count(*), "
            "count(*) filter (where verifications > 0) from marts.mart_recipient_credentials "
            "where first_issued_at >= ? group by 1", [start]).fetchall()
        monthly = {m: (v / n if v >= k and n else None) for m, n, v in rows}
        n_all, v_all = sum(r[1] for r in rows), sum(r[2] for r in rows)
        shown = fmt(v_all / n_all, "rate") if n_all and v_all >= k else (SUPPRESSED if n_all else "–")
        cards.append(_kpi("Verification rate", shown,
                          f"credentials first issued in the last 12 months verified at least once, "
                          f"of recipients who consented to detailed tracking "
                          f"(months with fewer than {k} verified are suppressed)",
                          _trend_figure("trend-verified", months, monthly, rate=True, label="verified")))
    else:
        cards.append(_kpi("Verification rate", "–", why, ""))

    # Completion rate: mart_issuance_trends certified_learners / enrolled_learners (one row per
    # certified course and month).
    if (why := w.missing("mart_issuance_trends", "certified_course_id", "enrolled_learners",
                         "certified_learners")) is None:
        rows = w.con.execute(
            "with per_course as (select issue_month, certified_course_id, max(enrolled_learners) as e, "
            "max(certified_learners) as c from marts.mart_issuance_trends "
            "where certified_course_id is not null and issue_month >= ? group by 1, 2) "
            "select issue_month, sum(e), sum(c) from per_course group by 1 order by 1", [start]).fetchall()
        monthly = {m: (c / e if e else None) for m, e, c in rows}
        latest = next(((m, c / e) for m, e, c in reversed(rows) if e), None)
        cards.append(_kpi("Completion rate", fmt(latest[1], "rate") if latest else "–",
                          f"certified / enrolled learners of certified courses, {latest[0]:%b %Y}" if latest
                          else "no certified course in the window",
                          _trend_figure("trend-completion", months, monthly, rate=True, label="completion")))
    else:
        cards.append(_kpi("Completion rate", "–", why, ""))

    body = f'<p class="note">Trends: the 12 months {esc(window)} (ending with the newest month in the data).</p>'
    body += f'<div class="kpis">{"".join(cards)}</div>'
    body += "<h3>Top programmes</h3>"
    if (why := w.missing("dim_collections", "collection_id", "collection_name", "credential_count",
                         "learners")) is None:
        has_pp = w.has("mart_pathway_progress", "collection_id", "completed", "new_entrants")
        rows = w.rows(
            "select c.collection_id, c.collection_name, c.credential_count, c.learners"
            + (", p.completed, p.new_entrants from marts.dim_collections c left join ("
               "select collection_id, sum(completed) as completed, sum(new_entrants) as new_entrants "
               "from marts.mart_pathway_progress group by 1) p using (collection_id)" if has_pp
               else " from marts.dim_collections c")
            + " order by c.learners desc, c.collection_name limit 10")
        cols = [Col("collection_name", "Programme (collection)"), Col("credential_count", "Credentials", "int"),
                Col("learners", "Learners", "int")]
        if has_pp:
            cols += [Col("completed", "Credentials completed", "int"), Col("new_entrants", "New learners", "int")]
        body += table(rows, cols, table_id="top-programmes", mart="dim_collections",
                      note="Programmes = credential collections, by learners with a credential in them "
                           "(dim_collections; completions from mart_pathway_progress).")
    else:
        body += _unavailable("Top programmes", why)
    return _section("executive", "Executive summary", body)


# ----------------------------------------------------------------------------- learner flow
FLOW_COLS = [Col("source_node", "From"), Col("target_node", "To"), Col("edge_type", "Flow"),
             Col("learners", "Learners", "int")]
DRIFT_COLS = [
    Col("position", "#", "int"), Col("credential_name", "Credential"), Col("is_entry_point", "Entry point", "bool"),
    Col("entry_share", "Share of new learners", "rate"), Col("completed", "Completed", "int"),
    Col("new_entrants", "New", "int"), Col("continuing_entrants", "Continuing", "int"),
    Col("advanced", "Advanced", "int"), Col("stopped", "Stopped", "int"),
    Col("advance_rate", "Advance rate", "rate"), Col("stop_rate", "Stop rate", "rate"),
    Col("median_days_to_next", "Median days to next", "float"), Col("p90_days_to_next", "P90 days to next", "float"),
    Col("drifting", "Drifting", "int"), Col("returners", "Returners", "int"),
]


def _sankey(fig_id: str, edges: list[dict]) -> str:
    """Plotly Sankey of one collection's mart_learner_flow rows, nodes in pathway order."""
    nodes: dict[str, tuple[float, str]] = {}
    for e in edges:
        for nid, name, pos in ((e["source_node_id"], e["source_node"], e["source_position"]),
                               (e["target_node_id"], e["target_node"], e["target_position"])):
            order = -1.0 if nid == NEW_NODE else 1e9 if nid == STOPPED_NODE else float(pos if pos is not None else 1e6)
            nodes.setdefault(nid, (order, name or nid))
    ids = sorted(nodes, key=lambda n: (nodes[n][0], nodes[n][1]))
    index = {n: i for i, n in enumerate(ids)}
    palette = ["#2f6fdb", "#19a979", "#e8743b", "#945ecf", "#13a4b4", "#bf399e", "#6c8893", "#ee6868"]
    colors = ["#9fb3c8" if n in (NEW_NODE, STOPPED_NODE) else palette[i % len(palette)] for i, n in enumerate(ids)]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": [nodes[n][1] for n in ids], "color": colors, "pad": 18, "thickness": 16,
              "hovertemplate": "%{label}: %{value:,} learners<extra></extra>"},
        link={"source": [index[e["source_node_id"]] for e in edges],
              "target": [index[e["target_node_id"]] for e in edges],
              "value": [int(e["learners"]) for e in edges],
              "color": [LINK_COLORS.get(e["edge_type"], "rgba(47,111,219,0.3)") for e in edges],
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} learners<extra></extra>"},
    ))
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure(fig_id, fig, height=420, kind="sankey")


def _flows(w: _Warehouse) -> str:
    if (why := w.missing("mart_learner_flow", "collection_id", "collection_name", "source_node_id", "source_node",
                         "source_position", "target_node_id", "target_node", "target_position", "edge_type",
                         "learners")):
        return _section("flow", "Learner flow through collections", _unavailable("Learner flow", why))
    edges = w.rows("select * from marts.mart_learner_flow order by collection_name, collection_id, "
                   "case when source_node_id = ? then -1 else coalesce(source_position, 1e6) end, "
                   "case when target_node_id = ? then 1e9 else coalesce(target_position, 1e6) end, "
                   "source_node, target_node", [NEW_NODE, STOPPED_NODE])
    drift_missing = w.missing("mart_pathway_progress", "collection_id", *[c.name for c in DRIFT_COLS])
    drift = [] if drift_missing else w.rows(
        "select * from marts.mart_pathway_progress order by collection_id, position, credential_name")
    collections: dict[str, str] = {}
    for e in edges:
        collections.setdefault(e["collection_id"], e["collection_name"] or e["collection_id"])
    for d in drift:
        collections.setdefault(d["collection_id"], d["collection_name"] or d["collection_id"])
    body = ('<p class="note">For each credential: completed = new + continuing = advanced + stopped. '
            "Counts are the issuer's award records (mart_learner_flow, mart_pathway_progress).</p>")
    if not collections:
        body += '<p class="note">No collection has learners yet.</p>'
    for cid, cname in sorted(collections.items(), key=lambda kv: (kv[1], kv[0])):
        sid = _safe_id(cid)
        mine = [e for e in edges if e["collection_id"] == cid]
        body += (f'<div class="collection" data-collection-id="{esc(cid)}">'
                 f'<h3 id="collection-{esc(sid)}">{esc(cname)}</h3>')
        sankey = _sankey(f"sankey-{sid}", mine) if mine else '<p class="note">No learner has a credential here.</p>'
        body += (f'<div class="split"><div>{sankey}</div><div>'
                 + table(mine, FLOW_COLS, table_id=f"flow-{sid}", mart="mart_learner_flow",
                         caption="Flows (Sankey links)") + "</div></div>")
        if drift_missing:
            body += _unavailable("Pathway drift", drift_missing)
        else:
            body += table([d for d in drift if d["collection_id"] == cid], DRIFT_COLS, table_id=f"drift-{sid}",
                          mart="mart_pathway_progress", caption="Pathway progress and drift",
                          note="Drifting: stopped and more than the drift pause since this credential; "
                               "returners: came back for it after such a pause.")
        body += "</div>"
    return _section("flow", "Learner flow through collections", body)


# ----------------------------------------------------------------------------- accounts
OVERVIEW_COLS = [
    Col("course_title", "Course"), Col("enrolled_users", "Enrolled", "int"), Col("active_learners", "Active", "int"),
    Col("mastery_pct", "Mastery", "pct"), Col("completed_learners", "Completed", "int"),
    Col("certified_learners", "Certified", "int"), Col("credentials_held", "Credentials", "int"),
    Col("score_pct", "Score", "pct"), Col("points", "Points", "float"), Col("time_spent_seconds", "Time spent", "hours"),
]
GROUP_COLS = [
    Col("rank_mastery", "Rank", "int"), Col("group_name", "Group"), Col("members", "Members", "int"),
    Col("avg_mastery_pct", "Mastery", "pct"), Col("completion_rate_pct", "Completed", "pct"),
    Col("certification_rate_pct", "Certified", "pct"), Col("credentials_held", "Credentials", "int"),
    Col("avg_score_pct", "Score", "pct"), Col("avg_points", "Points (avg)", "float"),
    Col("total_points", "Points (total)", "float"), Col("avg_time_spent_seconds", "Time spent (avg)", "hours"),
]
LEARNER_COLS = [
    Col("rank_mastered", "Rank", "int"), Col("learner", "Learner"), Col("exercises_mastered", "Mastered", "int"),
    Col("mastery_pct", "Mastery", "pct"), Col("progress_pct", "Progress", "pct"),
    Col("is_completed", "Completed", "bool"), Col("is_certified", "Certified", "bool"),
    Col("credentials_held", "Credentials", "int"), Col("score_pct", "Score", "pct"), Col("points", "Points", "float"),
    Col("time_spent_seconds", "Time spent", "hours"), Col("attempts", "Attempts", "int"),
]


def _heatmap(fig_id: str, chapters: list[dict], rows: list[tuple[str, str]], cells: dict[tuple[str, str], float],
             what: str) -> str:
    xs = [c["chapter_title"] or c["chapter_id"] for c in chapters]
    ys = [label for _, label in rows]
    z = [[cells.get((sid, c["chapter_id"])) for c in chapters] for sid, _ in rows]
    fig = go.Figure(go.Heatmap(
        x=xs, y=ys, z=z, zmin=0, zmax=100, colorscale="RdYlGn", xgap=2, ygap=2,
        colorbar={"title": {"text": "mastery %"}, "thickness": 12},
        text=[[("" if v is None else f"{v:.0f}") for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="%{y} · %{x}: %{z:.1f} %<extra></extra>"))
    height = 130 + 26 * len(rows)
    fig.update_layout(height=height, margin={"l": 170, "r": 20, "t": 10, "b": 110},
                      xaxis={"side": "bottom", "type": "category", "tickangle": -25, "automargin": True},
                      yaxis={"autorange": "reversed", "type": "category"})
    return f"<h4>Chapter mastery: {esc(what)} × chapters</h4>" + figure(fig_id, fig, height=height, kind="heatmap")


def _accounts(w: _Warehouse, names: Mapping[str, str] | None, top_n: int) -> str:
    why = (w.missing("mart_course_overview", *[c.name for c in OVERVIEW_COLS if c.name != "course_title"],
                     "account_id", "course_id")
           or w.missing("mart_learner_course_progress", "account_id", "course_id", "learner_id",
                        *[c.name for c in LEARNER_COLS if c.name != "learner"])
           or w.missing("mart_group_league", "account_id", "group_id", "course_id",
                        *[c.name for c in GROUP_COLS if c.name != "group_name"])
           or w.missing("mart_chapter_mastery", "account_id", "scope_type", "scope_id", "course_id", "chapter_id",
                        "mastery_pct"))
    if why:
        return _section("accounts", "Accounts", _unavailable("Account metrics", why))
    titles = dict(w.con.execute("select course_id, course_title from marts.dim_courses").fetchall()) \
        if w.has("dim_courses", "course_id", "course_title") else {}
    group_names = dict(w.con.execute("select group_id, group_name from marts.dim_groups").fetchall()) \
        if w.has("dim_groups", "group_id", "group_name") else {}
    chapters_all = w.rows("select chapter_id, course_id, chapter_title, position from marts.dim_chapters "
                          "order by course_id, position, chapter_id") \
        if w.has("dim_chapters", "chapter_id", "course_id", "chapter_title", "position") else []
    overview = w.rows("select * from marts.mart_course_overview order by account_id, course_id")
    for r in overview:
        r["course_title"] = titles.get(r["course_id"]) or r["course_id"]
    accounts = sorted({r["account_id"] for r in overview if r["account_id"] is not None})
    nav = " · ".join(f'<a href="#account-{esc(_safe_id(a))}">{esc(a)}</a>' for a in accounts)
    body = (f'<p class="note">Accounts: {nav}. League tables show the top {top_n} learners of each course by '
            f"the mart's mastered rank; click a column header to sort. The full tables: "
            f"<code>skillpath export mart_learner_course_progress --account ID</code>.</p>")
    body += ('<p class="note">Learners are shown by name (this report was built for a role allowed to see '
             "names).</p>" if names else
             '<p class="note">Learners are shown by pseudonymous id.</p>')
    for acc in accounts:
        aid = _safe_id(acc)
        body += f'<div class="account" data-account-id="{esc(acc)}"><h3 id="account-{esc(aid)}">Account {esc(acc)}</h3>'
        courses = [r for r in overview if r["account_id"] == acc]
        body += table(courses, OVERVIEW_COLS, table_id=f"overview-{aid}", mart="mart_course_overview",
                      caption="All courses")
        for course in courses:
            cid = course["course_id"]
            sid = _safe_id(acc, cid)
            body += f'<div class="course" data-course-id="{esc(cid)}"><h4>{esc(course["course_title"])}</h4>'
            groups = w.rows("select * from marts.mart_group_league where account_id = ? and course_id = ? "
                            "order by rank_mastery, group_id limit ?", [acc, cid, top_n])
            for g in groups:
                g["group_name"] = group_names.get(g["group_id"]) or g["group_id"]
            n_groups = w.value("select count(*) from marts.mart_group_league where account_id = ? and course_id = ?",
                               [acc, cid])
            learners = w.rows("select * from marts.mart_learner_course_progress where account_id = ? and "
                              "course_id = ? order by rank_mastered, learner_id limit ?", [acc, cid, top_n])
            n_learners = w.value("select count(*) from marts.mart_learner_course_progress where account_id = ? "
                                 "and course_id = ?", [acc, cid])
            for r in learners:
                r["learner"] = (names or {}).get(r["learner_id"]) or r["learner_id"]
            body += table(groups, GROUP_COLS, table_id=f"groups-{sid}", mart="mart_group_league",
                          caption="Group league",
                          note=f"top {len(groups)} of {n_groups} groups" if n_groups > len(groups) else "")
            chapters = [c for c in chapters_all if c["course_id"] == cid]
            mastery = w.rows("select scope_type, scope_id, chapter_id, mastery_pct from marts.mart_chapter_mastery "
                             "where account_id = ? and course_id = ?", [acc, cid])
            cells = {(m["scope_type"] + ":" + str(m["scope_id"]), m["chapter_id"]): m["mastery_pct"] for m in mastery}
            if not chapters:
                chapters = [{"chapter_id": c, "chapter_title": c} for c in sorted({m["chapter_id"] for m in mastery})]
            group_ids = [g["group_id"] for g in groups]
            if group_ids:
                hm_rows, what = [(f"group:{g}", group_names.get(g) or g) for g in group_ids], "groups"
            else:
                hm_rows = [(f"learner:{r['learner_id']}", r["learner"]) for r in learners[:30]]
                what = "learners"
            hm_rows += [(f"account:{m['scope_id']}", "Whole account") for m in mastery
                        if m["scope_type"] == "account"][:1]
            body += (_heatmap(f"heat-{sid}", chapters, hm_rows, cells, what) if chapters and hm_rows
                     else '<p class="note">No chapter mastery yet.</p>')
            body += table(learners, LEARNER_COLS, table_id=f"learners-{sid}", mart="mart_learner_course_progress",
                          caption="Learner league",
                          note=f"top {len(learners)} of {n_learners} learners by mastered" if n_learners > len(learners)
                          else "")
            body += "</div>"
        body += "</div>"
    if not accounts:
        body += '<p class="note">No account has course activity yet.</p>'
    return _section("accounts", "Accounts: courses, leagues and chapter mastery", body)


# ----------------------------------------------------------------------------- engagement
def _channels(w: _Warehouse) -> list[str]:
    have = w.columns.get("marts.mart_credential_engagement", set())
    return sorted(c[len("shares_"):] for c in have
                  if c.startswith("shares_") and f"is_{c}_suppressed" in have)


def _bar(fig_id: str, xs: list, ys: list, *, y_title: str, horizontal: bool = False, pct: bool = False) -> str:
    hover = "%{" + ("y" if horizontal else "x") + "}: %{" + ("x" if horizontal else "y") \
        + (":.1f} %" if pct else ":,}") + "<extra></extra>"
    bar = go.Bar(y=xs, x=ys, orientation="h", marker_color="#2f6fdb", hovertemplate=hover) if horizontal \
        else go.Bar(x=xs, y=ys, marker_color="#2f6fdb", hovertemplate=hover)
    fig = go.Figure(bar)
    axis = {"title": {"text": y_title}, "gridcolor": "#eef2f6", "rangemode": "tozero"}
    height = max(220, 40 + 28 * len(xs)) if horizontal else 280
    fig.update_layout(height=height, showlegend=False,
                      **({"xaxis": axis, "yaxis": {"type": "category", "autorange": "reversed"},
                          "margin": {"l": 140, "r": 20, "t": 10, "b": 40}} if horizontal
                         else {"yaxis": axis, "xaxis": {"type": "category"}}))
    return figure(fig_id, fig, height=height, kind="bar")


def _engagement(w: _Warehouse, top_n: int) -> str:
    body = ""
    names = dict(w.con.execute("select achievement_id, credential_name from marts.dim_credentials").fetchall()) \
        if w.has("dim_credentials", "achievement_id", "credential_name") else {}
    channels = _channels(w)
    base = ["achievement_id", "issue_month", "awards_issued", "viewed", "is_viewed_suppressed", "view_rate",
            "shared", "is_shared_suppressed", "share_rate"]
    if (why := w.missing("mart_credential_engagement", *base)) or not channels:
        body += _unavailable("Engagement", why or "no shares_<channel> columns")
    else:
        body += "<h3>Engagement</h3>"
        sums = []
        for ch in channels:
            r = w.rows(f'select sum("shares_{ch}") filter (where not "is_shares_{ch}_suppressed") as shares, '
                       f'sum(awards_issued) filter (where not "is_shares_{ch}_suppressed") as awards, '
                       f'count(*) filter (where "is_shares_{ch}_suppressed") as suppressed_cells, '
                       f'bool_and("is_shares_{ch}_suppressed") as all_suppressed '
                       f"from marts.mart_credential_engagement")[0]
            r["channel"] = ch
            r["shares_per_100"] = 100.0 * r["shares"] / r["awards"] if r["awards"] and r["shares"] is not None else None
            sums.append(r)
        rates = w.rows("select "
                       "sum(viewed) filter (where not is_viewed_suppressed) as viewed, "
                       "sum(awards_issued) filter (where not is_viewed_suppressed) as viewed_base, "
                       "count(*) filter (where is_viewed_suppressed) as viewed_suppressed, "
                       "sum(shared) filter (where not is_shared_suppressed) as shared, "
                       "sum(awards_issued) filter (where not is_shared_suppressed) as shared_base, "
                       "count(*) filter (where is_shared_suppressed) as shared_suppressed, "
                       "count(*) as cells from marts.mart_credential_engagement")[0]
        cards = []
        for label, num, den, sup in (("View rate", "viewed", "viewed_base", "viewed_suppressed"),
                                     ("Share rate", "shared", "shared_base", "shared_suppressed")):
            value = fmt(rates[num] / rates[den], "rate") if rates[den] and rates[num] is not None else SUPPRESSED \
                if rates[sup] else "–"
            cards.append(_kpi(label, value, f"awards {label.split()[0].lower()}ed at least once / awards issued, over "
                                            f"{rates['cells'] - rates[sup]} published cells "
                                            f"({rates[sup]} suppressed)", ""))
        body += f'<div class="kpis" id="engagement-kpis">{"".join(cards)}</div>'
        body += '<div class="split"><div>' + _bar(
            "share-by-channel", [s["channel"] for s in sums], [s["shares_per_100"] for s in sums],
            y_title="shares per 100 awards") + "</div><div>" + table(
            sums, [Col("channel", "Channel"), Col("shares", "Shares", "int", "all_suppressed"),
                   Col("awards", "Awards", "int"),
                   Col("shares_per_100", "Shares per 100 awards", "float", "all_suppressed"),
                   Col("suppressed_cells", "Suppressed cells", "int")],
            table_id="share-by-channel-table", mart="mart_credential_engagement", caption="Share rate by channel",
            note="Sums over the cells the mart publishes for that channel; suppressed cells are left out, "
                 "never estimated.") + "</div></div>"
        cols = [Col("credential_name", "Credential"), Col("issue_month", "Issued", "date"),
                Col("awards_issued", "Awards", "int"), Col("recipients", "Recipients", "int"),
                Col("viewed", "Viewed", "int", "is_viewed_suppressed"),
                Col("view_rate", "View rate", "rate", "is_viewed_suppressed"),
                Col("shared", "Shared", "int", "is_shared_suppressed"),
                Col("share_rate", "Share rate", "rate", "is_shared_suppressed")]
        cols += [Col(f"shares_{ch}", f"Shares: {ch}", "int", f"is_shares_{ch}_suppressed") for ch in channels]
        for name, label, kind, flag in (("added_to_profile", "Profile adds", "int", "is_added_to_profile_suppressed"),
                                        ("profile_add_rate", "Profile-add rate", "rate",
                                         "is_added_to_profile_suppressed"),
                                        ("re_engagement_rate", "Re-engagement", "rate",
                                         "is_re_engaged_recipients_suppressed")):
            if w.has("mart_credential_engagement", name, flag):
                cols.append(Col(name, label, kind, flag))
        n = w.value("select count(*) from marts.mart_credential_engagement")
        rows = w.rows("select * from marts.mart_credential_engagement order by issue_month desc, achievement_id "
                      "limit ?", [top_n * 2])
        for r in rows:
            r["credential_name"] = names.get(r["achievement_id"]) or r["achievement_id"]
        body += table(rows, [c for c in cols if c.name == "credential_name" or c.name in rows[0]] if rows else cols,
                      table_id="engagement-table", mart="mart_credential_engagement",
                      caption="Engagement per credential and issue month",
                      note=(f"newest {len(rows)} of {n} rows. " if n > len(rows) else "")
                      + "Cells below the small-cell threshold are suppressed in the mart.")

    vcols = ["achievement_id", "event_month", "verifier_industry", "verifier_country", "verifications",
             "is_verifications_suppressed", "hires", "is_hires_suppressed", "verification_to_hire_rate"]
    if why := w.missing("mart_credential_verification", *vcols):
        body += _unavailable("Verification", why)
        return _section("engagement", "Credential engagement and verification", body)
    body += "<h3>Verification</h3>"
    funnel = w.rows("select sum(verifications) as verifications, sum(hires) as hires, count(*) as cells "
                    "from marts.mart_credential_verification "
                    "where not is_verifications_suppressed and not is_hires_suppressed")[0]
    n_cells = w.value("select count(*) from marts.mart_credential_verification")
    body += '<div class="split"><div><h4>Verification-to-hire funnel</h4>'
    if funnel["cells"] and funnel["verifications"]:
        fig = go.Figure(go.Funnel(y=["Verifications", "Hires"], x=[funnel["verifications"], funnel["hires"]],
                                  textinfo="value+percent initial", marker={"color": ["#2f6fdb", "#19a979"]}))
        fig.update_layout(height=220, margin={"l": 110, "r": 20, "t": 10, "b": 20})
        conv = fmt(funnel["hires"] / funnel["verifications"], "rate")
        body += (figure("funnel", fig, height=220, kind="funnel")
                 + f'<p class="note" id="funnel-note">Conversion {esc(conv)} over the {funnel["cells"]} of '
                   f"{n_cells} cells where both counts are published.</p>")
    else:
        body += (f'<p class="note" id="funnel-note">None of the {n_cells} cells publishes both verifications '
                 "and hires (counts below the small-cell threshold are suppressed): no funnel to draw.</p>")
    body += "</div><div>"
    by = {}
    for dim, label in (("verifier_industry", "Industry"), ("verifier_country", "Country")):
        rows = w.rows(f"select coalesce({dim}, 'unknown') as {dim}, "
                      "sum(verifications) filter (where not is_verifications_suppressed) as verifications, "
                      "sum(hires) filter (where not is_hires_suppressed) as hires, "
                      "count(*) filter (where is_verifications_suppressed or is_hires_suppressed) as suppressed_cells, "
                      "bool_and(is_verifications_suppressed) as is_verifications_suppressed, "
                      "bool_and(is_hires_suppressed) as is_hires_suppressed "
                      f"from marts.mart_credential_verification group by 1 "
                      f"order by verifications desc nulls last, 1")
        by[dim] = (rows, label)
    rows, label = by["verifier_industry"]
    body += table(rows, [Col("verifier_industry", label),
                         Col("verifications", "Verifications", "int", "is_verifications_suppressed"),
                         Col("hires", "Hires", "int", "is_hires_suppressed"), Col("suppressed_cells", "Suppressed cells", "int")],
                  table_id="verifications-by-industry", mart="mart_credential_verification",
                  caption="Verifications by industry") + "</div></div>"
    rows_c, label_c = by["verifier_country"]
    body += '<div class="split"><div>' + _bar(
        "verifications-by-country-chart", [r["verifier_country"] for r in rows_c],
        [r["verifications"] for r in rows_c], y_title="verifications", horizontal=True) + "</div><div>" + table(
        rows_c, [Col("verifier_country", label_c),
                 Col("verifications", "Verifications", "int", "is_verifications_suppressed"),
                 Col("hires", "Hires", "int", "is_hires_suppressed"), Col("suppressed_cells", "Suppressed cells", "int")],
        table_id="verifications-by-country", mart="mart_credential_verification",
        caption="Verifications by country") + "</div></div>"
    body += '<p class="note">Sums over published cells only; a suppressed cell is counted in "suppressed cells", ' \
            "never as a number.</p>"
    n = n_cells
    vrows = w.rows("select * from marts.mart_credential_verification order by event_month desc, achievement_id, "
                   "verifier_industry, verifier_country, verifier_organization_id limit ?", [top_n * 2])
    for r in vrows:
        r["credential_name"] = names.get(r["achievement_id"]) or r["achievement_id"]
    body += table(vrows, [
        Col("credential_name", "Credential"), Col("event_month", "Month", "date"),
        Col("verifier_industry", "Industry"), Col("verifier_country", "Country"),
        Col("verifications", "Verifications", "int", "is_verifications_suppressed"),
        Col("hires", "Hires", "int", "is_hires_suppressed"),
        Col("verification_to_hire_rate", "Verification to hire", "rate",
            ("is_verifications_suppressed", "is_hires_suppressed"))],
        table_id="verification-table", mart="mart_credential_verification",
        caption="Verifications per credential, month, industry and country",
        note=f"newest {len(vrows)} of {n} rows" if n > len(vrows) else "")
    return _section("engagement", "Credential engagement and verification", body)


# ----------------------------------------------------------------------------- trust
def _trust(w: _Warehouse, top_n: int) -> str:
    """Proof verification: verified share per issuer and collection, the invalid credentials
    (pseudonymous), and the verification metrics restricted to verified credentials."""
    title = "Credential trust: proofs"
    cols = ["issuer_id", "collection_id", "collection_name", "awards", "verified", "invalid", "unverifiable",
            "unsigned", "unattributed", "verified_share"]
    if why := w.missing("mart_credential_trust", *cols):
        return _section("trust", title, _unavailable("Proof verification", why))
    rows = w.rows("select * from marts.mart_credential_trust order by issuer_id nulls last, collection_id nulls last")
    totals = w.rows("select sum(issuer_awards) as awards, sum(issuer_awards * issuer_verified_share) as verified "
                    "from (select distinct issuer_id, issuer_awards, issuer_verified_share "
                    "from marts.mart_credential_trust)")[0]
    share = (totals["verified"] or 0) / totals["awards"] if totals["awards"] else None
    body = (f'<p class="note" id="trust-summary">{esc(fmt(share, "rate"))} of {totals["awards"] or 0} awards carry '
            "a verified proof (Data Integrity or VC-JWT, checked offline at ingestion).</p>")
    body += '<div class="split"><div>' + _bar(
        "trust-by-issuer-chart", [f"{r['issuer_id']} / {r['collection_name'] or '(no collection)'}" for r in rows],
        [100 * r["verified_share"] for r in rows], y_title="verified share (%)", horizontal=True, pct=True) + "</div><div>"
    for r in rows:
        r["collection_name"] = r["collection_name"] or "(no collection)"
    body += table(rows, [Col("issuer_id", "Issuer"), Col("collection_name", "Collection"),
                         Col("awards", "Awards", "int"), Col("verified", "Verified", "int"),
                         Col("invalid", "Invalid", "int"), Col("unverifiable", "Unverifiable", "int"),
                         Col("unsigned", "Unsigned", "int"), Col("unattributed", "No recipient", "int"),
                         Col("verified_share", "Verified share", "rate")],
                  table_id="trust-table", mart="mart_credential_trust",
                  caption="Proof verification per issuer and collection",
                  note="A credential in several collections counts in each.") + "</div></div>"
    icols = ["award_key", "learner_id", "achievement_id", "issuer_id", "issued_at", "proof_detail"]
    if why := w.missing("mart_invalid_credentials", *icols):
        body += _unavailable("Invalid credentials", why)
    else:
        n = w.value("select count(*) from marts.mart_invalid_credentials")
        irows = w.rows("select * from marts.mart_invalid_credentials order by issued_at desc nulls last, award_key "
                       "limit ?", [top_n])
        for r in irows:
            r["credential_name"] = r.get("credential_name") or r["achievement_id"] or "(CLR)"
        body += "<h3>Invalid credentials</h3>" + (table(
            irows, [Col("award_key", "Award (pseudonym)"), Col("learner_id", "Learner (pseudonym)"),
                    Col("credential_name", "Credential"), Col("issuer_id", "Issuer"),
                    Col("issued_at", "Issued", "date"), Col("proof_detail", "What failed")],
            table_id="invalid-credentials-table", mart="mart_invalid_credentials",
            caption="Credentials whose proof does not hold (tampered, wrong key, bad value)",
            note=f"newest {len(irows)} of {n}" if n > len(irows) else "") if irows else
            '<p class="note" id="invalid-credentials-none">No credential with an invalid proof.</p>')
    vcols = ["verifications", "is_verifications_suppressed", "verified_credential_verifications",
             "is_verified_credential_verifications_suppressed", "verified_credential_hires",
             "is_verified_credential_hires_suppressed"]
    if why := w.missing("mart_credential_verification", *vcols):
        body += _unavailable("Verification of verified credentials", why)
    else:
        v = w.rows("select sum(verified_credential_verifications) as verifications, "
                   "sum(verified_credential_hires) as hires, count(*) as cells "
                   "from marts.mart_credential_verification where not is_verified_credential_verifications_suppressed "
                   "and not is_verified_credential_hires_suppressed")[0]
        rate = v["hires"] / v["verifications"] if v["cells"] and v["verifications"] else None
        body += ('<p class="note" id="verified-funnel-note">Restricted to credentials with a verified proof: '
                 f'{v["verifications"] or 0} verifications and {v["hires"] or 0} hires '
                 f'(verification to hire {esc(fmt(rate, "rate"))}) over the {v["cells"]} cells where both are '
                 "published; cells below the small-cell threshold, or whose unverified rest is, are left out.</p>")
    return _section("trust", title, body)


# ----------------------------------------------------------------------------- freshness and gate
def _gate_rows(gate_summary: Any) -> list[dict]:
    """Normalise suite results (SuiteResult objects or dicts) to rows: suite, expectation, passed, observed."""
    out = []
    for res in gate_summary or []:
        get = (lambda o, k: o.get(k)) if isinstance(res, Mapping) else getattr
        suite = get(res, "suite") if not isinstance(res, Mapping) else res.get("suite")
        exps = get(res, "expectations") or []
        if not exps:
            out.append({"suite": suite, "expectation": get(res, "error") or "suite", "passed": get(res, "success"),
                        "result": "pass" if get(res, "success") else "FAIL", "observed": None})
        for e in exps:
            eget = (lambda o, k: o.get(k)) if isinstance(e, Mapping) else getattr
            passed = eget(e, "success")
            blocking = (eget(e, "severity") or "critical") == "critical"
            out.append({"suite": suite, "expectation": eget(e, "line") or eget(e, "type"),
                        "passed": passed, "result": "pass" if passed else ("FAIL" if blocking else "WARN"),
                        "observed": eget(e, "observed")})
    return out


def _freshness(w: _Warehouse, gate_summary: Any) -> str:
    body = ""
    if w.has("meta.publication", "published_at"):
        pub = w.rows("select * from meta.publication")
        p = pub[0] if pub else {}
        items = [("Published", p.get("published_at")), ("Version", p.get("version_id")), ("Run", p.get("run_id")),
                 ("Storage format", p.get("storage_version")), ("DuckDB", p.get("duckdb_version"))]
        body += '<dl class="meta" id="publication">' + "".join(
            f"<dt>{esc(k)}</dt><dd>{esc(v if v is not None else '–')}</dd>" for k, v in items) + "</dl>"
    else:
        body += _unavailable("Publication record", w.missing("meta.publication", "published_at") or "")
    if w.has("meta.sources", "source", "loads", "records_loaded", "last_loaded_at"):
        body += table(w.rows("select * from meta.sources order by source"),
                      [Col("source", "Source"), Col("loads", "Loads", "int"),
                       Col("records_loaded", "Records loaded", "int"), Col("last_loaded_at", "Last loaded (UTC)")],
                      table_id="sources", mart="meta.sources", caption="Raw sources behind this publication",
                      sortable=False)
    body += "<h3>Quality gate</h3>"
    body += ('<p>This warehouse was published, so every blocking check passed: the error-severity dbt tests '
             "and contract constraints, the critical expectations of the Great Expectations suites of "
             "<code>expectations/</code> (row counts against the previous publication, null rates, value "
             "ranges) and the ingestion reconciliation. Warnings (freshness, marts left empty because their "
             "sources delivered nothing) do not block publication; they are listed below.</p>")
    gate = _gate_rows(gate_summary)
    if not gate and w.has("meta.gate_results", "suite", "expectation", "passed"):
        gate = w.rows("select * from meta.gate_results order by suite, expectation")
    warnings = [g for g in gate if g.get("result") == "WARN"]
    if warnings:
        body += ('<ul class="warnings" id="gate-warnings">'
                 + "".join(f"<li>{esc(g['suite'])}: {esc(g['expectation'])}</li>" for g in warnings) + "</ul>")
    if gate:
        cols = [Col("suite", "Suite"), Col("expectation", "Expectation"), Col("passed", "Passed", "bool")]
        if any("result" in g for g in gate):
            cols.append(Col("result", "Result"))
        body += table(gate, [*cols, Col("observed", "Observed")], table_id="gate", mart="meta.gate_results",
                      caption="Checks of this run")
    else:
        body += '<p class="note">The individual check results of this run are in the Dagster UI and in ' \
                "<code>skillpath run</code>'s output.</p>"
    if w.has("meta.row_counts", "table_name", "row_count"):
        body += table(w.rows("select table_name, row_count from meta.row_counts order by table_name"),
                      [Col("table_name", "Mart"), Col("row_count", "Rows", "int")], table_id="row-counts",
                      mart="meta.row_counts", caption="Published marts", sortable=False)
    return _section("freshness", "Data freshness and checks", body)


# ----------------------------------------------------------------------------- entry point
def build_report(warehouse_db: Path, out: Path, *, names: Mapping[str, str] | None = None,
                 gate_summary: Iterable[Any] | None = None, top_n: int = 50, small_cell_k: int = 5) -> Path:
    """Write the HTML report of the published warehouse ``warehouse_db`` to ``out``.

    ``names``: learner_id -> display name, only for a role allowed to see names.
    ``gate_summary``: the gate's suite results of this run (``SuiteResult`` objects or
    dicts with ``suite``, ``success``, ``expectations`` [``line``, ``success``, ``observed``]).
    ``top_n``: learners (and groups) per course in the league tables.
    ``small_cell_k``: monthly rates of recipient behaviour that the report derives
    itself are suppressed when their count is below this (the marts' own default).
    The file is written next to ``out`` and renamed over it.
    """
    warehouse_db, out = Path(warehouse_db), Path(out)
    if not warehouse_db.exists():
        raise ReportError(f"no published warehouse at {warehouse_db}: run the pipeline first")
    w = _Warehouse(warehouse_db)
    try:
        if not any(k.startswith("marts.") for k in w.columns):
            raise ReportError(f"{warehouse_db} has no schema 'marts': not a published warehouse")
        published = w.value("select max(published_at) from meta.publication") \
            if w.has("meta.publication", "published_at") else None
        sections = [_executive(w, small_cell_k),
                    _hidden(w, "flow", "Learner flow through collections") or _flows(w),
                    _hidden(w, "accounts", "Accounts: courses, leagues and chapter mastery")
                    or _accounts(w, names, top_n),
                    _hidden(w, "engagement", "Credential engagement and verification") or _engagement(w, top_n),
                    _hidden(w, "trust", "Credential trust: proofs") or _trust(w, top_n),
                    _freshness(w, gate_summary)]
    finally:
        w.close()
    subtitle = (f"Data published {published:%Y-%m-%d %H:%M} UTC" if published else "Publication time unknown") \
        + (" · built with learner names" if names else " · pseudonymous")
    html_text = page(title="Skillpath report", subtitle=subtitle,
                     nav=[("executive", "Executive"), ("flow", "Learner flow"), ("accounts", "Accounts"),
                          ("engagement", "Engagement & verification"), ("trust", "Trust"),
                          ("freshness", "Freshness & checks")],
                     sections=sections)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html_text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out
