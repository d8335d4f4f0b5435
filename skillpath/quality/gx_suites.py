"""Run the Great Expectations suites in ``expectations/`` against the built marts.

Suite files
-----------
One JSON file per mart, in Great Expectations' own serialised suite format
(``name``, ``expectations`` as ``{"type", "kwargs", "meta"}``, ``meta``), so
``gx.ExpectationSuite(**json.load(f))`` reads it. Skillpath's settings live
under ``meta.skillpath``::

    {"table": "fct_attempts",          # defaults to the suite name
     "schema": "marts",                # default "marts"
     "row_count_tolerance": 0.1,       # rows may shrink by at most 10 % vs the
                                       # previous publication (null: no comparison)
     "must_not_be_empty": true,        # more than 0 rows once its sources delivered data
     "max_age_days": 30,               # freshness window for $PARAMETER fresh_since
     "sources": [["xapi_statements", "lms_courses"]]}
                                       # raw tables the mart is built from: every entry
                                       # must have delivered rows; a list entry means
                                       # "any of these"

Each expectation may carry GX's own ``severity``: ``critical`` (the default)
blocks publication, ``warning`` (and ``info``) is reported but publishes.

Two suite parameters (GX ``{"$PARAMETER": name}``) are filled in per run:

* ``min_row_count``: ``ceil((1 - row_count_tolerance) * previous rows)`` where
  the previous published warehouse holds the table, and at least 1 when
  ``must_not_be_empty`` and the suite's sources delivered data (else 0);
* ``fresh_since``: midnight of ``newest delivered - max_age_days``, where
  ``newest delivered`` is the newest event time of the suite's sources in the raw
  layer (statement timestamp, award issued_at, event occurred_at); without one,
  the run's ``as_of`` date. Used as ``min_value`` of
  ``expect_column_max_to_be_between`` on the mart's newest event timestamp.

Two checks are added to the file's expectations, both warnings:

* ``source_freshness`` (suites with ``max_age_days``): the newest delivered event
  is at most ``max_age_days`` older than ``as_of``; a backfill of old data
  publishes with this warning;
* ``empty_mart``: the mart is empty and its ``sources`` never delivered a row
  (a deployment with one kind of source publishes the other marts empty).

Why pandas and not GX's SQL datasource: with duckdb-engine, GX 1.x closes its
SQLAlchemy connection before fetching a result, and DuckDB drops the pending
result when the connection closes, so every metric comes back empty (and table
assets lose their schema). Each table is therefore read from DuckDB (read-only,
only the columns the suite mentions) into a pandas DataFrame and validated with
GX's pandas datasource. Marts are aggregates; ``fct_attempts`` and the other
facts are read whole too, because a sample would miss the one out-of-range row
or the newest event the gate exists to catch. Columns checked only for nulls
are read as null markers to keep that small (docs/quality.md has the numbers).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from skillpath.config import REPO_ROOT, connect_duckdb, limit_duckdb


def _prepare_pyspark_import() -> None:
    """Great Expectations imports pyspark when it is installed (the Spark engine, ``make spark``).

    - pyspark's ``sql.connect`` ends the process with exit code 0 when the ``__main__`` module
      has neither ``__spec__`` nor ``__file__`` (it takes that for a doctest run): ``python -c``,
      a pytest-xdist worker. Such a main module gets a ``__file__`` naming what it is.
    - its warning about pandas versions concerns Spark's pandas API, which nothing here uses.
    """
    import sys

    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<skillpath main module>"
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


_prepare_pyspark_import()

DEFAULT_SUITES_DIR = REPO_ROOT / "expectations"
DEFAULT_SCHEMA = "marts"

#: Suite parameters the runner knows how to fill in.
PARAMETERS = ("min_row_count", "fresh_since")
#: Expectation severities (GX's FailureSeverity): only ``critical`` blocks publication.
SEVERITIES = ("critical", "warning", "info")
BLOCKING = "critical"
#: Raw tables (schema ``raw`` of lake.duckdb) a suite may name as ``sources`` and
#: their event-time column (None: no event time), for delivery and freshness.
RAW_SOURCES: dict[str, str | None] = {
    "xapi_statements": "statement_timestamp",  # xAPI files (xapi_file) and the LRS (xapi_lrs)
    "credential_awards": "issued_at",
    "credential_events": "occurred_at",
    "credential_documents": None,
    "collections": None,
    "credential_associations": None,
    "lms_accounts": None,
    "lms_users": None,
    "lms_groups": None,
    "lms_group_members": None,
    "lms_courses": None,
    "lms_chapters": None,
    "lms_exercises": None,
    "lms_enrollments": None,
}
#: Keys of expectation kwargs that name a column of the table.
_COLUMN_KEYS = ("column", "column_A", "column_B")
_COLUMN_LIST_KEYS = ("column_list",)
#: Expectation types that look at the whole table's columns (load all of them).
_WHOLE_TABLE_PREFIX = "expect_table_column"
#: Expectation types that only ask whether a value is null.
_NULL_ONLY = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null")


class SuiteFileError(ValueError):
    """A suite file cannot be read or holds an invalid expectation."""


# --------------------------------------------------------------------------- results


@dataclass
class ExpectationResult:
    """The outcome of one expectation.

    ``observed`` is GX's ``observed_value`` for aggregate expectations (row
    count, column max, ...) and, for row-by-row expectations (not null, values
    between), the percentage of rows that failed (GX's ``unexpected_percent``).
    """

    type: str
    column: str | None
    kwargs: dict[str, Any]
    success: bool
    observed: Any
    line: str
    unexpected_count: int | None = None
    element_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None
    severity: str = BLOCKING

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING


@dataclass
class SuiteResult:
    suite: str
    table: str  # schema-qualified, e.g. "marts.fct_attempts"
    success: bool
    expectations: list[ExpectationResult]
    row_count: int | None = None
    previous_row_count: int | None = None
    error: str | None = None
    #: the suite's sources delivered data (None: not known, no raw layer given)
    delivered: bool | None = None

    @property
    def failed(self) -> list[ExpectationResult]:
        """Every unmet expectation, blocking or not."""
        return [e for e in self.expectations if not e.success]

    @property
    def blocking_failures(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.success and e.blocking]

    @property
    def warnings(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.success and not e.blocking]


# --------------------------------------------------------------------------- suite files


@dataclass(frozen=True)
class SuiteSpec:
    """One suite file, checked and ready to run."""

    path: Path
    name: str
    schema: str
    table: str
    row_count_tolerance: float | None
    must_not_be_empty: bool
    max_age_days: int | None
    expectations: list[dict[str, Any]]  # {"type", "kwargs", "meta", "severity"} as in the file
    sources: tuple[tuple[str, ...], ...] = ()  # every entry must deliver; an entry = any of its tables

    def source_tables(self) -> list[str]:
        return [t for alternatives in self.sources for t in alternatives]

    def event_time_sources(self) -> list[str]:
        """Source tables that carry an event time (used for freshness)."""
        return [t for t in self.source_tables() if RAW_SOURCES.get(t)]

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    def columns(self) -> list[str] | None:
        """Columns the suite mentions, or None when it needs every column."""
        cols: list[str] = []
        for exp in self.expectations:
            if exp["type"].startswith(_WHOLE_TABLE_PREFIX):
                return None
            for col in _expectation_columns(exp["kwargs"]):
                if col not in cols:
                    cols.append(col)
        return cols

    def null_only_columns(self) -> set[str]:
        """Columns whose every expectation only asks whether values are null."""
        null_only: set[str] = set()
        other: set[str] = set()
        for exp in self.expectations:
            (null_only if exp["type"] in _NULL_ONLY else other).update(_expectation_columns(exp["kwargs"]))
        return null_only - other


def _expectation_columns(kwargs: dict[str, Any]) -> list[str]:
    cols = [kwargs[k] for k in _COLUMN_KEYS if isinstance(kwargs.get(k), str)]
    for k in _COLUMN_LIST_KEYS:
        cols += [c for c in kwargs.get(k) or [] if isinstance(c, str)]
    return cols


def _parameters_used(value: Any) -> set[str]:
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            return {value["$PARAMETER"]}
        return set().union(*(_parameters_used(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_parameters_used(v) for v in value)) if value else set()
    return set()


def load_suite(path: Path) -> SuiteSpec:
    """Read and check one suite file; every expectation is built as a GX object once."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteFileError(f"{path}: not readable as JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise SuiteFileError(f"{path}: a suite is a JSON object with a non-empty \"name\"")
    if not isinstance(doc.get("expectations"), list) or not doc["expectations"]:
        raise SuiteFileError(f"{path}: \"expectations\" must be a non-empty list")
    meta = (doc.get("meta") or {}).get("skillpath") or {}
    if not isinstance(meta, dict):
        raise SuiteFileError(f"{path}: meta.skillpath must be an object")

    expectations: list[dict[str, Any]] = []
    for i, raw in enumerate(doc["expectations"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise SuiteFileError(f"{path}: expectation #{i} needs a \"type\"")
        exp = {"type": raw["type"], "kwargs": dict(raw.get("kwargs") or {}), "meta": dict(raw.get("meta") or {}),
               "severity": raw.get("severity", BLOCKING)}
        if exp["severity"] not in SEVERITIES:
            raise SuiteFileError(f"{path}: expectation #{i} ({exp['type']}): severity must be one of "
                                 f"{list(SEVERITIES)}, got {exp['severity']!r}")
        if "row_condition" in exp["kwargs"]:
            raise SuiteFileError(
                f"{path}: expectation #{i} ({exp['type']}): row_condition is not supported "
                "(the gate reads only the columns expectations name); filter in a dbt model instead"
            )
        unknown = _parameters_used(exp["kwargs"]) - set(PARAMETERS)
        if unknown:
            raise SuiteFileError(
                f"{path}: expectation #{i} ({exp['type']}) uses unknown suite parameter(s) "
                f"{sorted(unknown)}; known: {list(PARAMETERS)}"
            )
        try:
            ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp["meta"],
                                     severity=exp["severity"]).to_domain_obj()
        except Exception as exc:  # GX raises several unrelated types (pydantic, not-found, ...)
            raise SuiteFileError(f"{path}: expectation #{i} ({exp['type']}) is invalid: {exc}") from exc
        expectations.append(exp)

    tolerance = meta.get("row_count_tolerance", 0.1)
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and 0 <= tolerance <= 1):
        raise SuiteFileError(f"{path}: row_count_tolerance must be a number from 0 to 1 or null")
    max_age = meta.get("max_age_days")
    if max_age is not None and not (isinstance(max_age, int) and max_age >= 0):
        raise SuiteFileError(f"{path}: max_age_days must be a non-negative integer")
    if max_age is None and any("fresh_since" in _parameters_used(e["kwargs"]) for e in expectations):
        raise SuiteFileError(f"{path}: uses $PARAMETER fresh_since but meta.skillpath.max_age_days is not set")
    sources = _parse_sources(path, meta.get("sources", []))

    # The whole suite must also load as a GX suite (the format is GX's own).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gx.ExpectationSuite(name=doc["name"], expectations=[dict(e) for e in expectations])

    return SuiteSpec(
        path=path,
        name=doc["name"],
        schema=str(meta.get("schema", DEFAULT_SCHEMA)),
        table=str(meta.get("table", doc["name"])),
        row_count_tolerance=None if tolerance is None else float(tolerance),
        must_not_be_empty=bool(meta.get("must_not_be_empty", True)),
        max_age_days=max_age,
        expectations=expectations,
        sources=sources,
    )


def _parse_sources(path: Path, value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise SuiteFileError(f"{path}: meta.skillpath.sources must be a list of raw table names "
                             "(or of lists of alternatives)")
    out: list[tuple[str, ...]] = []
    for entry in value:
        alternatives = entry if isinstance(entry, list) else [entry]
        if not alternatives or not all(isinstance(t, str) for t in alternatives):
            raise SuiteFileError(f"{path}: meta.skillpath.sources: {entry!r} is not a table name or a "
                                 "non-empty list of table names")
        unknown = [t for t in alternatives if t not in RAW_SOURCES]
        if unknown:
            raise SuiteFileError(f"{path}: meta.skillpath.sources: unknown raw table(s) {unknown}; "
                                 f"known: {sorted(RAW_SOURCES)}")
        out.append(tuple(alternatives))
    return tuple(out)


def load_suites(suites_dir: Path = DEFAULT_SUITES_DIR, only: list[str] | None = None) -> list[SuiteSpec]:
    """Every ``*.json`` suite in ``suites_dir`` (sorted by name), optionally only the named ones."""
    specs = [load_suite(p) for p in sorted(Path(suites_dir).glob("*.json"))]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SuiteFileError(f"{suites_dir}: suite name(s) used twice: {dupes}")
    if only is not None:
        missing = sorted(set(only) - set(names))
        if missing:
            raise SuiteFileError(f"{suites_dir}: no suite named {missing}")
        specs = [s for s in specs if s.name in only]
    return specs


# --------------------------------------------------------------------------- running


def run_suites(
    build_db: Path,
    previous_warehouse: Path | None,
    *,
    as_of: date | None = None,
    suites_dir: Path = DEFAULT_SUITES_DIR,
    only: list[str] | None = None,
    raw_db: Path | None = None,
    freshness_days: int | None = None,
    max_row_drop: float | None = None,
) -> list[SuiteResult]:
    """Validate the tables of ``build_db`` with the suites in ``suites_dir``.

    ``previous_warehouse`` is the last published warehouse (row counts are
    compared with it; None or a missing file means first publication).
    ``as_of`` is the date the newest delivered data's age is measured from
    (default: today, UTC). ``raw_db`` is the raw layer (lake.duckdb): which
    sources delivered rows and their newest event time; without it every source
    counts as delivered and freshness is measured from ``as_of``.
    ``freshness_days`` replaces every suite's ``max_age_days`` and
    ``max_row_drop`` every non-null ``row_count_tolerance`` when given.
    The DuckDB files are opened read-only. Raises :class:`SuiteFileError`
    when a suite file is invalid; a missing table or column is a failed result.
    """
    specs = load_suites(suites_dir, only)
    if freshness_days is not None or max_row_drop is not None:
        specs = [dataclasses.replace(
            spec,
            max_age_days=spec.max_age_days if freshness_days is None or spec.max_age_days is None
            else freshness_days,
            row_count_tolerance=spec.row_count_tolerance if max_row_drop is None or spec.row_count_tolerance is None
            else max_row_drop,
        ) for spec in specs]
    as_of = as_of or datetime.now(UTC).date()
    previous = Path(previous_warehouse) if previous_warehouse and Path(previous_warehouse).exists() else None

    previous_counts = _previous_row_counts(previous, specs) if previous else {}
    raw = raw_facts(Path(raw_db), specs) if raw_db is not None else None
    # rows removed on purpose since the previous publication explain a drop: the drift warns
    erasures = _erasures_since(Path(raw_db), previous) if raw_db is not None and previous else []
    context = _gx_context()
    results: list[SuiteResult] = []
    con = connect_duckdb(build_db, read_only=True)
    try:
        limit_duckdb(con)
        for spec in specs:
            previous_rows = previous_counts.get(spec.name)
            result = _run_one(context, con, spec, None if erasures else previous_rows, as_of, raw)
            if erasures:
                result.expectations.append(_erased_drift(spec, previous_rows, result.row_count, erasures))
                result = dataclasses.replace(result, previous_row_count=previous_rows)
            results.append(result)
    finally:
        con.close()
    return results


@dataclass(frozen=True)
class RawFacts:
    """What the raw layer holds: rows per source table and the newest event time."""

    rows: dict[str, int]
    newest: dict[str, datetime | None]

    def delivered(self, spec: SuiteSpec) -> bool:
        return all(any(self.rows.get(t, 0) > 0 for t in alternatives) for alternatives in spec.sources)

    def newest_event(self, spec: SuiteSpec) -> tuple[str, datetime] | None:
        """(raw table, newest event time) over the suite's sources with an event time."""
        found = [(t, self.newest[t]) for t in spec.event_time_sources() if self.newest.get(t) is not None]
        return max(found, key=lambda x: x[1]) if found else None


def raw_facts(raw_db: Path, specs: list[SuiteSpec]) -> RawFacts:
    """Row counts and newest event times of the suites' source tables, read-only.

    A missing raw file or table counts as nothing delivered.
    """
    tables = sorted({t for spec in specs for t in spec.source_tables()})
    rows: dict[str, int] = dict.fromkeys(tables, 0)
    newest: dict[str, datetime | None] = dict.fromkeys(tables)
    if not raw_db.exists():
        return RawFacts(rows, newest)
    con = connect_duckdb(raw_db, read_only=True)
    try:
        limit_duckdb(con)
        for t in tables:
            if not _table_exists(con, "raw", t):
                continue
            col = RAW_SOURCES.get(t)
            if col:
                n, top = con.execute(f"select count(*), max({_quote(col)}) from raw.{_quote(t)}").fetchone()
                newest[t] = top.replace(tzinfo=None) if isinstance(top, datetime) else None
            else:
                n = con.execute(f"select count(*) from raw.{_quote(t)}").fetchone()[0]
            rows[t] = int(n)
    finally:
        con.close()
    return RawFacts(rows, newest)


def preload() -> None:
    """Import Great Expectations in a background thread (about 2 s of imports).

    Called when the dbt step starts dbt: the Dagster process mostly waits for dbt's
    subprocess then, so the gate later finds the modules loaded. Python's import
    lock makes a gate that starts before the import finishes simply wait for it.
    """
    import threading

    # Great Expectations imports sqlalchemy.orm, which Dagster's storage (this thread) uses too:
    # imported here first, so the two threads never meet in a half-initialised module
    import sqlalchemy.orm  # noqa: F401

    threading.Thread(target=lambda: __import__("great_expectations"), name="gx-preload", daemon=True).start()


def _gx_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0])


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _erasures_since(raw_db: Path, previous: Path) -> list[str]:
    """Kinds and ids of the erasures and retention passes that removed raw rows after the previous
    publication was written (docs/privacy.md)."""
    if not raw_db.exists():
        return []
    con = connect_duckdb(raw_db, read_only=True)
    try:
        if not _table_exists(con, "raw", "erasure_log"):
            return []
        con.execute(f"attach '{previous}' as previous (read_only)")
        if not con.execute("select count(*) from information_schema.tables where table_catalog = 'previous' "
                           "and table_schema = 'meta' and table_name = 'publication'").fetchone()[0]:
            return []
        return [f"{kind} {eid[:8]}" for kind, eid in con.execute(
            "select kind, erasure_id from raw.erasure_log where rows_removed <> '{}' and started_at >= "
            "(select max(published_at) from previous.meta.publication) order by started_at").fetchall()]
    finally:
        con.close()


def _erased_drift(spec: SuiteSpec, previous_rows: int | None, row_count: int | None,
                  erasures: list[str]) -> ExpectationResult:
    """The row-count drift of a run after an erasure: reported, never blocking."""
    floor = (math.ceil((1 - spec.row_count_tolerance) * previous_rows)
             if previous_rows is not None and spec.row_count_tolerance is not None else 0)
    ok = (row_count or 0) >= floor
    return ExpectationResult(
        type="row_count_after_erasure", column=None, kwargs={"min_value": floor}, success=ok, observed=row_count,
        line=(f"{'PASS' if ok else 'WARN'} row count of {spec.qualified_table}: {row_count}, previous publication "
              f"{previous_rows}: not enforced, raw rows were removed since ({', '.join(erasures)})"),
        severity="warning",
    )


def _previous_row_counts(previous: Path, specs: list[SuiteSpec]) -> dict[str, int]:
    """Row counts of the suites' tables in the previous published warehouse.

    The table is looked up in the suite's schema first, then in any schema of
    that file; a table the previous publication did not have has no baseline.
    """
    counts: dict[str, int] = {}
    con = connect_duckdb(previous, read_only=True)
    try:
        for spec in specs:
            rows = con.execute(
                "select table_schema from information_schema.tables where table_name = ? "
                "order by table_schema <> ?, table_schema",
                [spec.table, spec.schema],
            ).fetchall()
            if rows:
                counts[spec.name] = con.execute(
                    f"select count(*) from {_quote(rows[0][0])}.{_quote(spec.table)}"
                ).fetchone()[0]
    finally:
        con.close()
    return counts


def _parameters(spec: SuiteSpec, previous_rows: int | None, as_of: date, delivered: bool,
                newest: datetime | None) -> dict[str, Any]:
    floor = 1 if spec.must_not_be_empty and delivered else 0
    if previous_rows is not None and spec.row_count_tolerance is not None:
        floor = max(floor, math.ceil((1 - spec.row_count_tolerance) * previous_rows))
    params: dict[str, Any] = {"min_row_count": floor}
    if spec.max_age_days is not None:
        since = newest.date() if newest is not None else as_of
        params["fresh_since"] = datetime.combine(since - timedelta(days=spec.max_age_days), time.min)
    return params


def _source_checks(spec: SuiteSpec, raw: RawFacts | None, delivered: bool, row_count: int,
                   as_of: date) -> list[ExpectationResult]:
    """The two warnings the runner adds: old delivered data, and an empty mart with undelivered sources."""
    out: list[ExpectationResult] = []
    if raw is None:
        return out
    newest = raw.newest_event(spec)
    if spec.max_age_days is not None and newest is not None:
        table, when = newest
        since = datetime.combine(as_of - timedelta(days=spec.max_age_days), time.min)
        ok = when >= since
        out.append(ExpectationResult(
            type="source_freshness", column=None, kwargs={"min_value": since}, success=ok, observed=when,
            line=(f"{'PASS' if ok else 'WARN'} newest delivered data (raw.{table}.{RAW_SOURCES[table]}): "
                  f"{_fmt(when)}, expected >= {_fmt(since)} (as of {as_of.isoformat()}, "
                  f"max age {spec.max_age_days} days)"),
            severity="warning",
        ))
    if spec.sources and not delivered:
        names = " and ".join(" or ".join(f"raw.{t}" for t in alts) for alts in spec.sources)
        ok = row_count > 0
        out.append(ExpectationResult(
            type="empty_mart", column=None, kwargs={}, success=ok, observed=row_count,
            line=(f"PASS {spec.qualified_table} has {row_count} rows although its sources ({names}) "
                  "delivered nothing" if ok else
                  f"WARN {spec.qualified_table} is empty: its sources ({names}) were never delivered"),
            severity="warning",
        ))
    return out


def _load_frame(con: duckdb.DuckDBPyConnection, spec: SuiteSpec, columns: list[str]):
    """The table's ``columns`` as a DataFrame.

    A column that is only checked for nulls is read as a null marker (1.0 or
    null) rather than its values: the same null counts, a fraction of the
    memory for the long id strings of the facts.
    """
    null_only = spec.null_only_columns()
    exprs = [
        f"case when {_quote(c)} is null then null else 1.0 end as {_quote(c)}" if c in null_only else _quote(c)
        for c in columns
    ]
    select = ", ".join(exprs) if exprs else "1 as _row"
    with warnings.catch_warnings():  # duckdb's own pandas conversion of timestamptz is deprecated in pandas 3
        warnings.simplefilter("ignore", DeprecationWarning)
        frame = con.execute(f"select {select} from {_quote(spec.schema)}.{_quote(spec.table)}").df()
    if not columns:
        frame = frame.drop(columns=["_row"])
    for col in frame.columns:
        tz = getattr(frame[col].dtype, "tz", None)
        if tz is not None:  # timestamptz -> naive UTC, comparable with fresh_since
            frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def _run_one(context, con, spec: SuiteSpec, previous_rows: int | None, as_of: date,
             raw: RawFacts | None = None) -> SuiteResult:
    import great_expectations as gx

    delivered = raw.delivered(spec) if raw is not None else True
    newest = raw.newest_event(spec) if raw is not None else None
    if not _table_exists(con, spec.schema, spec.table):
        msg = f"table {spec.qualified_table} does not exist in the build"
        return SuiteResult(
            suite=spec.name, table=spec.qualified_table, success=False, previous_row_count=previous_rows,
            error=msg,
            expectations=[ExpectationResult(type="table_exists", column=None, kwargs={}, success=False,
                                            observed=None, line=f"FAIL {msg}")],
        )

    present = _table_columns(con, spec.schema, spec.table)
    wanted = spec.columns()
    columns = present if wanted is None else [c for c in wanted if c in present]
    frame = _load_frame(con, spec, columns)
    params = _parameters(spec, previous_rows, as_of, delivered, newest[1] if newest else None)

    runnable: list[tuple[int, dict[str, Any]]] = []
    outcomes: dict[int, ExpectationResult] = {}
    for i, exp in enumerate(spec.expectations):
        missing = [c for c in _expectation_columns(exp["kwargs"]) if c not in present]
        if missing:
            outcomes[i] = ExpectationResult(
                type=exp["type"], column=exp["kwargs"].get("column"), kwargs=_plain_kwargs(exp["kwargs"], params),
                success=False, observed=None,
                line=f"FAIL {exp['type']}: column(s) {', '.join(missing)} not in {spec.qualified_table}",
                error="missing column", severity=exp["severity"],
            )
        else:
            runnable.append((i, exp))

    if runnable:
        suite = context.suites.add(gx.ExpectationSuite(
            name=f"{spec.name}", expectations=[dict(exp) for _, exp in runnable]))
        batch = (context.data_sources.add_pandas(name=f"skillpath_{spec.name}")
                 .add_dataframe_asset(name=spec.table)
                 .add_batch_definition_whole_dataframe("whole_table"))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"gate_{spec.name}", data=batch, suite=suite))
        run = validation.run(batch_parameters={"dataframe": frame}, expectation_parameters=params,
                             result_format="SUMMARY")
        by_id = {r.expectation_config.id: r for r in run.results}
        for (i, exp), gx_exp in zip(runnable, suite.expectations, strict=True):
            outcomes[i] = _to_result(exp, by_id[gx_exp.id], spec, previous_rows, params, as_of,
                                     newest, delivered)

    ordered = [outcomes[i] for i in range(len(spec.expectations))]
    ordered += _source_checks(spec, raw, delivered, len(frame), as_of)
    return SuiteResult(
        suite=spec.name, table=spec.qualified_table, success=all(e.success or not e.blocking for e in ordered),
        expectations=ordered, row_count=len(frame), previous_row_count=previous_rows,
        delivered=delivered if raw is not None else None,
    )


# --------------------------------------------------------------------------- reporting


def _plain(value: Any) -> Any:
    """GX/pandas/numpy values as plain Python (datetime, int, float, str, None)."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        try:
            return value.to_pydatetime()
        except ValueError:  # NaT
            return None
    if type(value).__name__ == "NaTType":
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _plain_kwargs(kwargs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The expectation's kwargs with suite parameters resolved (no GX batch id)."""
    out: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k == "batch_id":
            continue
        if isinstance(v, dict) and "$PARAMETER" in v:
            v = params.get(v["$PARAMETER"])
        out[k] = _plain(v)
    return out


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, datetime) and pd.isna(value)):  # NaT: an empty column
        return "none"
    if isinstance(value, datetime):
        if value.time() == time.min:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _pct(value: Any) -> str:
    return f"{float(value or 0.0):.3g}"


def _range(kwargs: dict[str, Any]) -> str:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and hi is not None:
        return f"between {_fmt(lo)} and {_fmt(hi)}"
    if lo is not None:
        return f">= {_fmt(lo)}"
    return f"<= {_fmt(hi)}"


def _to_result(exp: dict[str, Any], gx_result, spec: SuiteSpec, previous_rows: int | None,
               params: dict[str, Any], as_of: date, newest: tuple[str, datetime] | None = None,
               delivered: bool = True) -> ExpectationResult:
    kwargs = _plain_kwargs(exp["kwargs"], params)
    column = kwargs.get("column")
    result = gx_result.result or {}
    success = bool(gx_result.success)
    info = gx_result.exception_info or {}
    error = info.get("exception_message") if isinstance(info, dict) and info.get("raised_exception") else None

    observed: Any
    unexpected = result.get("unexpected_count")
    elements = result.get("element_count")
    examples = [_plain(v) for v in (result.get("partial_unexpected_list") or [])[:5]]
    if "observed_value" in result:
        observed = _plain(result["observed_value"])
    else:
        observed = _plain(result.get("unexpected_percent"))

    severity = exp.get("severity", BLOCKING)
    etype = exp["type"]
    is_freshness = etype == "expect_column_max_to_be_between" and "fresh_since" in _parameters_used(exp["kwargs"])
    no_rows = observed is None or (isinstance(observed, datetime) and pd.isna(observed))  # NaT: empty column
    if is_freshness and not delivered and no_rows:
        success = True  # an empty mart whose sources never delivered: the empty_mart check says so
    status = "PASS" if success else ("FAIL" if severity == BLOCKING else "WARN")
    if error:
        text = f"{etype}({column or ''}) could not be evaluated: {error.splitlines()[0]}"
    elif etype == "expect_table_row_count_to_be_between":
        text = f"row count of {spec.qualified_table}: {observed}, expected {_range(kwargs)}"
        if "min_row_count" in _parameters_used(exp["kwargs"]):
            if previous_rows is not None and spec.row_count_tolerance is not None:
                text += (f" (previous publication {previous_rows} rows, "
                         f"tolerance {spec.row_count_tolerance:.0%})")
            else:
                text += " (no previous publication)"
            if not delivered and spec.must_not_be_empty:
                text += " (its sources delivered nothing)"
    elif etype == "expect_column_values_to_not_be_null":
        allowed = 1 - float(kwargs.get("mostly", 1.0))
        text = (f"nulls in {column}: {_pct(observed)}% ({unexpected} of {elements} rows), "
                f"allowed <= {allowed * 100:.4g}%")
    elif is_freshness and not delivered and no_rows:
        text = f"freshness of {column}: no rows, its sources delivered nothing"
    elif is_freshness:
        basis = (f"newest delivered raw.{newest[0]} {_fmt(newest[1])}" if newest
                 else f"as of {as_of.isoformat()}")
        text = (f"freshness of {column}: newest {_fmt(observed)}, expected >= {_fmt(kwargs.get('min_value'))} "
                f"({basis}, max age {spec.max_age_days} days)")
    elif unexpected is not None:
        if "value_set" in kwargs:
            what = "in {" + ", ".join(_fmt(v) for v in kwargs["value_set"]) + "}"
        elif "min_value" in kwargs or "max_value" in kwargs:
            what = _range(kwargs)
        else:
            what = etype.removeprefix("expect_column_values_to_").replace("_", " ")
        text = f"{column} {what}: {unexpected} of {elements} rows fail ({_pct(observed)}%)"
        if examples:
            text += ", e.g. " + ", ".join(_fmt(v) for v in examples[:3])
        if "mostly" in kwargs:
            text += f", allowed <= {(1 - float(kwargs['mostly'])) * 100:.4g}%"
    else:
        label = etype.removeprefix("expect_")
        target = f"{column} " if column else ""
        text = f"{target}{label}: observed {_fmt(observed)}"
        if "min_value" in kwargs or "max_value" in kwargs:
            text += f", expected {_range(kwargs)}"
    return ExpectationResult(
        type=etype, column=column, kwargs=kwargs, success=success, observed=observed,
        line=f"{status} {text}", unexpected_count=_plain(unexpected), element_count=_plain(elements),
        examples=examples, error=error, severity=severity,
    )


def format_results(results: list[SuiteResult], *, verbose: bool = False) -> str:
    """Text for the command line: one line per suite, then its failed expectations.

    With ``verbose`` every expectation is listed, passed ones too. A suite whose
    only unmet expectations are warnings is ``WARN`` (it does not block).
    """
    lines: list[str] = []
    passed = sum(r.success for r in results)
    warned = sum(r.success and bool(r.warnings) for r in results)
    lines.append(f"Great Expectations: {passed} of {len(results)} suites passed"
                 + (f" ({warned} with warnings)" if warned else ""))
    for r in results:
        n = len(r.expectations)
        failed = r.failed
        rows = "" if r.row_count is None else f", {r.row_count} rows"
        head = "FAIL" if not r.success else ("WARN" if failed else "PASS")
        lines.append(f"  {head} {r.suite} ({r.table}{rows}): {n - len(failed)} of {n} expectations met")
        for e in r.expectations if verbose else failed:
            lines.append(f"      {e.line}")
    return "\n".join(lines)
