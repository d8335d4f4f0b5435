"""One ingestion run: every source of the contract into the raw layer, then the reconciliation.

The Dagster assets (``skillpath/defs/ingest.py``) call :func:`ingest_source` once per
source; :func:`ingest_landing` runs them all in one go for the tests and the benchmark.
Both end in :func:`reconciliation_problems`: read = loaded + quarantined + duplicates
for every source, and every record the manifest counts as loaded is in its raw table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from skillpath.config import Settings
from skillpath.ingest.contract import SOURCE_BY_NAME, SOURCES, connect_raw
from skillpath.ingest.landing import Progress, landing_notes
from skillpath.ingest.rawstore import ReconciliationError, quarantine_by_reason, reconciliation


def ingest_source(con: duckdb.DuckDBPyConnection, name: str, settings: Settings,
                  progress: Progress = None, lrs_progress: Callable[[int], None] | None = None):
    """Load what source ``name`` (a :data:`~skillpath.ingest.contract.SOURCES` name) has that is new.

    Landing sources return one dict per file (status, counts, ``error`` for a file
    quarantined whole); the LRS returns its totals (``skillpath.ingest.lrs.extract_lrs``).
    """
    results = _load_source(con, name, settings, progress, lrs_progress)
    from skillpath.ingest.erased import drop_erased, drop_expired

    # a later delivery of an erased person's records is dropped here, and so are records older
    # than the retention window: both counted as records_erased (docs/privacy.md)
    drop_erased(con, name, settings)
    drop_expired(con, name, settings)
    from skillpath.ingest import parquet_raw

    if parquet_raw.wanted(settings):  # the raw layer's Parquet copy, for Spark (docs/scale_out.md)
        parquet_raw.sync_parquet(con, settings.home, parquet_raw.tables_of_source(name))
    return results


def _load_source(con: duckdb.DuckDBPyConnection, name: str, settings: Settings, progress: Progress,
                 lrs_progress: Callable[[int], None] | None):
    landing = Path(settings.landing_dir)
    if name == "lms":
        from skillpath.ingest.lms import ingest_lms

        return ingest_lms(con, landing, progress)
    if name == "credentials":
        from skillpath.ingest.credentials import ingest_credentials

        return ingest_credentials(con, landing, progress)
    if name == "xapi_file":
        from skillpath.ingest.xapi import ingest_xapi_files

        return ingest_xapi_files(con, landing, progress)
    if name == "credential_events":
        from skillpath.ingest.events import ingest_credential_events

        return ingest_credential_events(con, landing, progress)
    if name == "consents":
        from skillpath.ingest.consents import ingest_consents

        return ingest_consents(con, landing, progress)
    if name == "xapi_lrs":
        from skillpath.ingest.lrs import extract_lrs

        return extract_lrs(con, settings, lrs_progress)
    raise ValueError(f"unknown source {name!r}; one of {', '.join(SOURCE_BY_NAME)}")


def file_errors(name: str, results) -> list[str]:
    """Notes for the files of one source that were quarantined whole (``ingest_error``)."""
    if not isinstance(results, list):
        return []
    return [f"{name}: {r['source_ref']} quarantined as ingest_error: {r['error']}" for r in results if r.get("error")]


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows actually present in the raw tables, per source whose records are one row each."""
    out = {}
    for source in SOURCES:
        if source.one_row_per_record:
            out[source.name] = sum(
                con.execute(f"select count(*) from raw.{t} where source = ?", [source.name]).fetchall()[0][0]
                for t in source.tables
            )
    return out


def reconciliation_problems(sources: list[dict], table_rows: dict[str, int]) -> list[str]:
    """Why the raw layer does not reconcile (empty when it does).

    ``sources`` are :func:`rawstore.reconciliation` rows (read = loaded + quarantined +
    duplicates, quarantine rows present), ``table_rows`` what :func:`table_counts` finds
    in the raw tables: a record the manifest counts as loaded must be there.
    """
    problems = [f"{s['source']}: read {s['records_read']} != loaded {s['records_loaded']} + quarantined "
                f"{s['records_quarantined']} (quarantine rows {s['quarantine_rows']}) + duplicates "
                f"{s['records_duplicate']} + erased {s['records_erased']}" for s in sources if not s["balanced"]]
    for s in sources:
        rows = table_rows.get(s["source"])
        if rows is not None and rows != s["records_loaded"]:
            problems.append(f"{s['source']}: manifest says {s['records_loaded']} loaded but the raw "
                            f"tables hold {rows} rows")
    return problems


def summarize(con: duckdb.DuckDBPyConnection) -> dict:
    """The raw layer's cumulative figures: ``sources`` (reconciliation rows), ``quarantine``
    (source, reason, count), ``table_rows`` and ``problems`` (empty when it reconciles)."""
    sources = reconciliation(con)
    rows = table_counts(con)
    return {"sources": sources, "quarantine": quarantine_by_reason(con), "table_rows": rows,
            "problems": reconciliation_problems(sources, rows)}


def ingest_landing(settings: Settings, progress: Progress = None, include_lrs: bool = True) -> dict:
    """One ingestion run: every source of the contract in order (the LRS last, when configured).

    Returns ``{"files": {source: results}, "sources": ..., "quarantine": ..., "table_rows": ...,
    "problems": [], "notes": [...]}`` (:func:`summarize`; cumulative over the raw layer's
    history). Raises :class:`ReconciliationError` when a source does not balance.
    """
    notes: list[str] = landing_notes(Path(settings.landing_dir))
    files: dict = {}
    con = connect_raw(settings.raw_db, settings=settings)  # which may differ from the environment's
    try:
        for source in SOURCES:
            if source.folder is None and not (include_lrs and settings.lrs_url):
                continue
            files[source.name] = ingest_source(con, source.name, settings, progress)
            notes += file_errors(source.name, files[source.name])
        summary = {"files": files, **summarize(con), "notes": notes}
    finally:
        con.close()
    if summary["problems"]:
        raise ReconciliationError("raw layer does not reconcile:\n  " + "\n  ".join(summary["problems"]))
    return summary


def format_summary(summary: dict) -> str:
    """A plain-text table of the reconciliation (``summary["sources"]``) and the quarantine by reason.

    ``skillpath run`` prints it after every run; ``files`` counts loads and files noted
    as duplicate content.
    """
    lines = [f"  {'source':<18}{'files':>7}{'read':>11}{'loaded':>11}{'quarantined':>13}{'duplicates':>12}"
             f"{'erased':>9}  balanced"]
    for r in summary["sources"]:
        lines.append(f"  {r['source']:<18}{r['loads'] + r['duplicate_files']:>7}{r['records_read']:>11,}"
                     f"{r['records_loaded']:>11,}{r['records_quarantined']:>13,}{r['records_duplicate']:>12,}"
                     f"{r['records_erased']:>9,}  {'yes' if r['balanced'] else 'NO'}")
    if summary["quarantine"]:
        lines.append("  quarantined by reason:")
        lines += [f"    {source:<18}{reason:<26}{n:>9,}" for source, reason, n in summary["quarantine"]]
    else:
        lines.append("  quarantine: empty")
    lines += [f"  note: {n}" for n in summary.get("notes", [])]
    return "\n".join(lines)
