"""What a nightly ``dbt build`` has to build: only what new input or a new run date touches.

A build reads the raw layer, the run date (``as_of_date``: credential status, consent)
and the dbt project with its settings. After each successful build the home keeps what
that build read (:data:`STATE_FILE`): the project's fingerprint, a digest of the
settings dbt sees, the run date, and for every raw source table its row count and
newest ``loaded_at``. The next build compares:

- no state, a changed project or settings, a full refresh, a rebuild marker (an erasure
  or the retention deleted raw rows), a missing ``build.duckdb``, or a subset of the
  assets asked for by Dagster: everything is built, as always;
- otherwise only the descendants of the source tables whose count or newest load time
  changed (``source:raw.<table>+``) and, when the run date moved, of the models that read
  it (directly or through a macro: ``<model>+``). Raw tables only grow by loads
  (``loaded_at`` of a new load is newer than every earlier one, runs of a home are one at a
  time) and shrink only by erasure and retention, which set the rebuild marker; so a table
  whose count and newest load time are unchanged holds the rows it held, and a model none
  of whose inputs changed would be built into the rows it has.

The models and tests not built keep their tables in ``build.duckdb`` and their last test
results; the Dagster step reports them as not rebuilt (``skillpath/defs/transform.py``).
docs/benchmarks.md ("What a night rebuilds") says which models a 1 % night rebuilds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "dbt_build_state.json"
_BUILT_TYPES = ("model", "seed", "snapshot", "test")
STATE_VERSION = 1

#: settings a build's result does not depend on: how fast it runs, where the home is (a home
#: copied or restored elsewhere holds the same build), the run date (compared on its own)
_VOLATILE_ENV = ("SKILLPATH_THREADS", "SKILLPATH_MEMORY_LIMIT", "SKILLPATH_AS_OF_DATE", "SKILLPATH_HOME")

#: SQL or Jinja that makes a model read the run date
_DATE_PATTERN = re.compile(r"as_of_date|current_date|current_timestamp|\bnow\s*\(|\bgetdate\s*\(", re.I)


@dataclass(frozen=True)
class BuildPlan:
    """``full``: build everything. Else ``nodes``: the unique ids of the models and tests to build
    (empty: nothing)."""

    full: bool
    reason: str
    nodes: frozenset[str] = field(default_factory=frozenset)

    @property
    def nothing(self) -> bool:
        return not self.full and not self.nodes

    def excludes(self, manifest: Mapping[str, Any]) -> list[str]:
        """dbt selection of the nodes this build leaves out (``--exclude``): dagster-dbt always
        selects the whole project (``fqn:*``), and a second ``--select`` would only add to it."""
        return sorted(n["name"] for uid, n in manifest["nodes"].items()
                      if uid not in self.nodes and n["resource_type"] in _BUILT_TYPES)


def settings_digest(dbt_env: Mapping[str, str], dbt_vars: Mapping[str, Any]) -> str:
    """sha256 of what dbt sees besides the data and the run date (the key is never stored)."""
    env = {k: v for k, v in dbt_env.items() if k not in _VOLATILE_ENV}
    other_vars = {k: v for k, v in dbt_vars.items() if k != "as_of_date"}
    return hashlib.sha256(json.dumps([sorted(env.items()), sorted(other_vars.items())], default=str)
                          .encode()).hexdigest()


def source_tables(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Raw table -> dbt source unique id, for every source of the project."""
    return {src["name"]: uid for uid, src in manifest["sources"].items()}


def source_fingerprints(con, tables: Iterable[str]) -> dict[str, list]:
    """Table -> [row count, newest loaded_at as ISO text] in the raw layer (one query per table);
    a table missing from the raw layer -> [0, None]."""
    # table -> whether it has loaded_at (every source table of the contract has: LOAD_META)
    present = dict(con.execute("select table_name, bool_or(column_name = 'loaded_at') from information_schema.columns "
                               "where table_schema = 'raw' group by table_name").fetchall())
    out: dict[str, list] = {}
    for t in sorted(tables):
        if t not in present:
            out[t] = [0, None]
            continue
        newest = "max(loaded_at)" if present[t] else "null"
        n, last = con.execute(f'select count(*), {newest} from raw."{t}"').fetchone()
        out[t] = [int(n), last.isoformat() if hasattr(last, "isoformat") else last]
    return out


def date_models(manifest: Mapping[str, Any]) -> set[str]:
    """Unique ids of the models that read the run date: their SQL names it, or a macro they
    call does (at any depth)."""
    macros = manifest["macros"]
    # any package's macro (dbt.current_timestamp() too); a mention in a comment counts: at worst
    # a model more is rebuilt
    dated = {uid for uid, m in macros.items() if _DATE_PATTERN.search(m.get("macro_sql") or "")}
    changed = True
    while changed:
        changed = False
        for uid, m in macros.items():
            if uid not in dated and any(d in dated for d in m.get("depends_on", {}).get("macros", [])):
                dated.add(uid)
                changed = True
    return {uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"
            and (_DATE_PATTERN.search(n.get("raw_code") or "")
                 or any(d in dated for d in n.get("depends_on", {}).get("macros", [])))}


def descendants(manifest: Mapping[str, Any], roots: Iterable[str]) -> set[str]:
    """The roots and every node below them (dbt's child map: models, tests, ...)."""
    child_map = manifest["child_map"]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        todo.extend(child_map.get(uid, []))
    return seen


def topological(manifest: Mapping[str, Any]) -> list[str]:
    """Every node of the manifest, each after the nodes it depends on."""
    nodes = manifest["nodes"]
    order: list[str] = []
    state: dict[str, bool] = {}
    for root in sorted(nodes):
        stack = [(root, False)]
        while stack:
            uid, expanded = stack.pop()
            if expanded:
                state[uid] = True
                order.append(uid)
                continue
            if uid in state or uid not in nodes:
                continue
            state[uid] = False
            stack.append((uid, True))
            stack.extend((d, False) for d in nodes[uid].get("depends_on", {}).get("nodes", []) if d not in state)
    return order


def plan_build(manifest: Mapping[str, Any], previous: Mapping[str, Any] | None, current: Mapping[str, Any], *,
               force_full: str | None = None) -> BuildPlan:
    """The build for ``current`` (the state this build reads) after the one that left ``previous``.

    ``force_full``: a reason to build everything (full refresh, rebuild marker, subset, ...)."""
    if force_full:
        return BuildPlan(True, force_full)
    if not previous or previous.get("version") != STATE_VERSION:
        return BuildPlan(True, "no earlier build of this home to compare with")
    if previous.get("project") != current["project"]:
        return BuildPlan(True, "the dbt project changed")
    if previous.get("settings") != current["settings"]:
        return BuildPlan(True, "the settings dbt reads changed")
    if set(previous.get("sources", {})) != set(current["sources"]):
        return BuildPlan(True, "the raw layer's tables changed")
    sources = source_tables(manifest)
    changed = sorted(t for t, fp in current["sources"].items() if previous["sources"][t] != fp)
    roots = [sources[t] for t in changed]
    reasons = [f"new rows in {', '.join(changed)}"] if changed else []
    if previous.get("as_of_date") != current["as_of_date"]:
        roots += sorted(date_models(manifest))
        reasons.append(f"run date {previous.get('as_of_date')} -> {current['as_of_date']}")
    nodes = descendants(manifest, roots) & set(manifest["nodes"])  # not the sources, not unit tests
    return BuildPlan(False, "; ".join(reasons) or "nothing new since the last build", frozenset(nodes))


def load_state(home: Path) -> dict | None:
    path = home / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save_state(home: Path, current: Mapping[str, Any], checks: Mapping[str, Any], run_id: str) -> None:
    """Write the state a successful build read, with the latest result of every dbt test
    (``checks``: test unique id -> recorded check result), atomically."""
    state = {**current, "version": STATE_VERSION, "run_id": run_id, "checks": dict(checks),
             "saved_at": dt.datetime.now(dt.UTC).isoformat()}
    path = home / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True, default=str))
    tmp.replace(path)


def forget_state(home: Path) -> None:
    """The next build builds everything (called when raw rows were deleted)."""
    (home / STATE_FILE).unlink(missing_ok=True)
