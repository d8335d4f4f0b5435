"""HTML building blocks of the report: escaped tables, embedded Plotly figures, the page shell.

Everything that reaches the page goes through :func:`esc` (text) or :func:`_json_script`
(figure data, with ``<``, ``>`` and ``&`` escaped so no string can close the script
element). Tables carry the mart and column they come from (``data-mart``,
``data-col``) and the raw value of each cell (``data-v``) so that the in-page sort and
the tests read exact numbers, whatever the display format.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import html
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SUPPRESSED = "suppressed"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Col:
    """One table column: the mart column it shows and how.

    ``kind``: ``text``, ``int``, ``float``, ``pct`` (a 0-100 value), ``rate`` (a 0-1
    value shown as a percentage), ``bool``, ``date``, ``hours`` (seconds shown as hours).
    ``flag``: the mart's ``is_<count>_suppressed`` column (or several: a rate built on
    two counts); a flagged cell shows "suppressed", never a number.
    """

    name: str
    label: str
    kind: str = "text"
    flag: str | tuple[str, ...] | None = None

    def suppressed(self, row: dict) -> bool:
        flags = (self.flag,) if isinstance(self.flag, str) else self.flag or ()
        return any(row.get(f) for f in flags)


def _raw(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def fmt(value: Any, kind: str) -> str:
    """Display text of one value (not escaped)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{float(value):,.1f}"
    if kind == "pct":
        return f"{float(value):.1f} %"
    if kind == "rate":
        return f"{100 * float(value):.1f} %"
    if kind == "hours":
        return f"{float(value) / 3600:,.1f} h"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "date":
        return value.strftime("%Y-%m") if isinstance(value, dt.date) and value.day == 1 else _raw(value)[:10]
    return str(value)


_NUMERIC = {"int", "float", "pct", "rate", "hours", "bool"}


def table(rows: list[dict], cols: list[Col], *, table_id: str, mart: str, caption: str = "",
          note: str = "", sortable: bool = True) -> str:
    """An HTML table of mart rows; clicking a header sorts by that column (``sortable``)."""
    focus = ' tabindex="0"' if sortable else ""
    head = "".join(
        f'<th data-col="{esc(c.name)}" data-kind="{"num" if c.kind in _NUMERIC else "text"}" '
        f'scope="col"{focus}>{esc(c.label)}</th>'
        for c in cols
    )
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c.name)
            num = c.kind in _NUMERIC
            if c.suppressed(r):
                cells.append(f'<td data-v="" class="suppressed{" num" if num else ""}">{SUPPRESSED}</td>')
            else:
                cls = ' class="num"' if num else ""
                cells.append(f'<td data-v="{esc(_raw(v))}"{cls}>{esc(fmt(v, c.kind))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(cols)}" class="empty">no rows</td></tr>')
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    foot = f'<p class="note">{esc(note)}</p>' if note else ""
    cls = "data sortable" if sortable else "data"
    return (f'<div class="table-wrap"><table id="{esc(table_id)}" class="{cls}" data-mart="{esc(mart)}">'
            f"{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{foot}</div>")


def _json_script(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def figure(fig_id: str, fig: Any, *, height: int = 360, kind: str = "") -> str:
    """A placeholder div plus the figure's JSON; the page's loader draws it with Plotly."""
    spec = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    spec = json.loads(json.dumps(spec, default=_plain))
    layout = spec.setdefault("layout", {})
    layout.setdefault("height", height)
    layout.setdefault("margin", {"l": 50, "r": 20, "t": 30, "b": 40})
    layout.setdefault("font", {"family": "system-ui, sans-serif", "size": 12})
    layout.setdefault("paper_bgcolor", "white")
    layout.setdefault("plot_bgcolor", "white")
    return (f'<div class="fig" id="{esc(fig_id)}" data-kind="{esc(kind)}" style="min-height:{height}px">'
            f'<p class="fig-wait">chart loading…</p></div>'
            f'<script type="application/json" class="fig-spec" data-for="{esc(fig_id)}">{_json_script(spec)}</script>')


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


@lru_cache(maxsize=1)
def plotly_js_gzip_b64() -> str:
    """plotly.min.js, gzipped and base64-encoded (about 2 MB instead of 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 9, mtime=0)).decode("ascii")


def plotly_version() -> str:
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --accent:#2f6fdb; --bg:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: var(--bg); }
header.top { background: #102a43; color: #fff; padding: 18px 28px; }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 0; color: #bcccdc; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px; position: sticky; top: 0;
      z-index: 5; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section.page { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px 20px;
               margin: 18px 0; }
h2 { margin: 0 0 10px; font-size: 19px; }
h3 { margin: 18px 0 8px; font-size: 16px; }
h4 { margin: 14px 0 6px; font-size: 14px; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 14px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 26px; font-weight: 600; }
.kpi .sub { color: var(--muted); font-size: 12px; }
.split { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; align-items: start; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.table-wrap { overflow-x: auto; margin: 6px 0 12px; }
table.data { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.data caption { text-align: left; font-weight: 600; padding: 4px 0; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
                               vertical-align: top; }
table.data th { background: #f0f4f8; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " ⇅"; color: #9fb3c8; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; color: var(--accent); }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; color: var(--accent); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.suppressed { color: var(--muted); font-style: italic; }
td.empty { color: var(--muted); font-style: italic; }
.note { color: var(--muted); font-size: 12px; margin: 2px 0 8px; }
.fig { width: 100%; }
.fig-wait { color: var(--muted); font-style: italic; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.meta dt { color: var(--muted); }
.ok { color: #1b7f3b; font-weight: 600; }
.bad { color: #b42318; font-weight: 600; }
@media (max-width: 900px) { .split, .two { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; }
  nav { display: none; }
  main { padding: 0; max-width: none; }
  section.page { border: 0; padding: 0; margin: 0 0 12px; break-before: page; }
  section.page:first-of-type { break-before: auto; }
  table.sortable th::after { content: ""; }
  .split, .two { grid-template-columns: 1fr; }
  tr, .kpi, .fig { break-inside: avoid; }
}
"""

# Sort any table.sortable by the clicked header: numbers by data-v, text by locale;
# empty cells (missing, suppressed) always last. A second click reverses.
SORT_JS = """
(function () {
  function key(td, num) {
    var v = td ? td.getAttribute('data-v') : '';
    if (v === null || v === '') return null;
    return num ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(th) {
    var table = th.closest('table'), tbody = table.tBodies[0];
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var num = th.getAttribute('data-kind') === 'num';
    var desc = th.getAttribute('aria-sort') !== 'descending';
    if (th.getAttribute('aria-sort') === null && !num) desc = false;
    var rows = Array.prototype.slice.call(tbody.rows).filter(function (r) { return r.cells.length > idx; });
    rows.sort(function (a, b) {
      var x = key(a.cells[idx], num), y = key(b.cells[idx], num);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var c = num ? x - y : x.localeCompare(y);
      return desc ? -c : c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
  }
  document.addEventListener('click', function (e) {
    var th = e.target.closest && e.target.closest('table.sortable thead th');
    if (th) sortBy(th);
  });
  document.addEventListener('keydown', function (e) {
    var th = e.target.closest && e.target.closest('table.sortable thead th');
    if (th && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); sortBy(th); }
  });
  window.skillpathSort = sortBy;
})();
"""

# Unpack the embedded plotly.js (gzip, DecompressionStream), run it, then draw every
# figure from its JSON. document.body.dataset.charts says how it went.
LOADER_JS = """
(async function () {
  var body = document.body;
  var specs = document.querySelectorAll('script.fig-spec');
  if (!specs.length) { body.dataset.charts = 'none'; return; }
  if (typeof DecompressionStream === 'undefined') {
    body.dataset.charts = 'unsupported';
    document.querySelectorAll('.fig-wait').forEach(function (p) {
      p.textContent = 'This browser cannot unpack the embedded charts; the tables hold the same numbers.';
    });
    return;
  }
  var b64 = document.getElementById('plotly-gz').textContent.trim();
  var bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  var src = await new Response(stream).text();
  var s = document.createElement('script');
  s.textContent = src;
  document.head.appendChild(s);
  var config = {displaylogo: false, displayModeBar: false, responsive: true};
  var drawn = [];
  specs.forEach(function (el) {
    var spec = JSON.parse(el.textContent), div = document.getElementById(el.getAttribute('data-for'));
    div.innerHTML = '';
    drawn.push(Plotly.newPlot(div, spec.data, spec.layout, config));
  });
  await Promise.all(drawn);
  body.dataset.charts = 'ready';
})().catch(function (err) { document.body.dataset.charts = 'error'; throw err; });
"""


def page(*, title: str, subtitle: str, nav: list[tuple[str, str]], sections: list[str]) -> str:
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>'
        f"<nav>{links}</nav><main>{''.join(sections)}</main>"
        f'<script id="plotly-gz" type="application/octet-stream" data-plotly="{esc(plotly_version())}">'
        f"{plotly_js_gzip_b64()}</script>"
        f"<script>{SORT_JS}</script><script>{LOADER_JS}</script>"
        "</body></html>\n"
    )
