"""Extract assets: landing files and the xAPI LRS into the append-only raw layer."""


from collections.abc import Callable
from contextlib import contextmanager

import dagster as dg

from skillpath.config import settings

GROUP = "ingest"

# Transient source errors (LRS down, file still being written) are retried by Dagster
# on top of the HTTP client's own retries.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def lake():
    """A writable connection to the raw layer, closed before dbt (another process) runs."""
    from skillpath.ingest.raw_schema import connect_raw

    con = connect_raw(settings().raw_db)
    try:
        yield con
    finally:
        con.close()


def _progress(context: dg.AssetExecutionContext) -> Callable[[str, int, int], None]:
    def report(label: str, done: int, total: int) -> None:
        context.log.info(f"{label}: {done}/{total}")

    return report


def _load_metadata(loads: list[dict], context: dg.AssetExecutionContext | None = None) -> dict:
    loads = loads or []
    for load in loads:  # a file whose load raised was quarantined whole (ingest_error): say so
        if load.get("error") and context is not None:
            context.log.warning(f"{load['source_ref']} quarantined as ingest_error: {load['error']}")
    keys = ("records_read", "records_loaded", "records_quarantined", "records_duplicate")
    totals = {k: sum(int(x.get(k, 0) or 0) for x in loads) for k in keys}
    return {"files_or_pages": len(loads), **totals}


LMS_TABLES = ["lms_accounts", "lms_users", "lms_groups", "lms_group_members", "lms_courses",
              "lms_chapters", "lms_exercises", "lms_enrollments"]
CREDENTIAL_TABLES = ["collections", "credential_documents", "credential_awards", "credential_associations",
                     "credential_verifications", "credential_status_checks"]
SUMMARY_TABLES = ["load_manifest", "quarantine"]


def _key(table: str) -> dg.AssetKey:
    """Raw tables are assets ``raw/<table>``: the keys dbt's ``source('raw', <table>)`` maps to."""
    return dg.AssetKey(["raw", table])


def _specs(tables: list[str], description: str, deps: list[str] = ()) -> list[dg.AssetSpec]:
    return [dg.AssetSpec(_key(t), group_name=GROUP, description=description, deps=[_key(d) for d in deps])
            for t in tables]


def _results(tables: list[str], metadata: dict):
    for t in tables:
        yield dg.MaterializeResult(asset_key=_key(t), metadata=metadata)


@dg.multi_asset(name="raw_lms", specs=_specs(LMS_TABLES, "LMS CSV exports (landing/lms)"),
                retry_policy=SOURCE_RETRY)
def raw_lms(context: dg.AssetExecutionContext):
    from skillpath.ingest.lms import ingest_lms

    with lake() as con:
        loads = ingest_lms(con, settings().landing_dir, progress=_progress(context))
    yield from _results(LMS_TABLES, _load_metadata(loads, context))


@dg.multi_asset(name="raw_credentials",
                specs=_specs(CREDENTIAL_TABLES, "Open Badges 2.0/3.0, CLR 2.0 documents and collections.csv",
                             deps=LMS_TABLES[:1]),
                retry_policy=SOURCE_RETRY)
def raw_credentials(context: dg.AssetExecutionContext):
    from skillpath.ingest.credentials import ingest_credentials

    with lake() as con:
        loads = ingest_credentials(con, settings().landing_dir, progress=_progress(context))
    yield from _results(CREDENTIAL_TABLES, _load_metadata(loads, context))


@dg.multi_asset(name="raw_xapi",
                specs=_specs(["xapi_statements"], "xAPI statements from landing/xapi and the LRS",
                             deps=LMS_TABLES),  # one writer at a time on lake.duckdb: after the LMS step
                retry_policy=SOURCE_RETRY)
def raw_xapi(context: dg.AssetExecutionContext):
    from skillpath.ingest.xapi import ingest_xapi_files

    s = settings()
    with lake() as con:
        loads = ingest_xapi_files(con, s.landing_dir, progress=_progress(context))
        meta = {f"files_{k}": v for k, v in _load_metadata(loads, context).items()}
        if s.lrs_url:
            from skillpath.ingest.lrs import extract_lrs

            lrs = extract_lrs(con, s, progress=lambda n: context.log.info(f"LRS page: {n} statements"))
            meta.update({f"lrs_{k}": v for k, v in lrs.items() if isinstance(v, int | float | str)})
    yield from _results(["xapi_statements"], meta)


@dg.multi_asset(name="raw_credential_events",
                specs=_specs(["credential_events"], "Credential lifecycle events (landing/credential_events)",
                             deps=["credential_awards"]),
                retry_policy=SOURCE_RETRY)
def raw_credential_events(context: dg.AssetExecutionContext):
    from skillpath.ingest.events import ingest_credential_events

    with lake() as con:
        loads = ingest_credential_events(con, settings().landing_dir, progress=_progress(context))
    yield from _results(["credential_events"], _load_metadata(loads, context))


@dg.multi_asset(name="raw_ingest_summary",
                specs=_specs(SUMMARY_TABLES, "Load manifest and quarantine of every load",
                             deps=[*LMS_TABLES, *CREDENTIAL_TABLES, "xapi_statements", "credential_events"]))
def raw_ingest_summary(context: dg.AssetExecutionContext):
    from skillpath.ingest.landing import landing_notes
    from skillpath.ingest.rawstore import quarantine_by_reason, reconciliation

    with lake() as con:
        rec = reconciliation(con)
        reasons = quarantine_by_reason(con)
    notes = landing_notes(settings().landing_dir)  # skipped paths, a missing landing directory
    for note in notes:
        context.log.warning(note)
    md = {
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
        "reconciliation": dg.MetadataValue.md(_table(rec)),
        "quarantine_by_reason": dg.MetadataValue.md(
            "\n".join(f"- {src} / {reason}: {n}" for src, reason, n in reasons) or "none"
        ),
    }
    for row in rec:
        for k in ("records_read", "records_loaded", "records_quarantined", "records_duplicate"):
            md[f"{row['source']}.{k}"] = int(row[k])
    yield from _results(SUMMARY_TABLES, md)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(nothing loaded)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


@dg.asset_check(asset=_key("load_manifest"), blocking=True,
                description="read = loaded + quarantined + duplicates for every source (nothing lost)")
def ingestion_reconciled() -> dg.AssetCheckResult:
    from skillpath.ingest.landing import reconciliation_problems, table_counts
    from skillpath.ingest.rawstore import reconciliation

    with lake() as con:
        rec = reconciliation(con)
        problems = reconciliation_problems(rec, table_counts(con))
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "sources": len(rec),
            "problems": "; ".join(problems) or "none",
            "records_read": sum(int(r["records_read"]) for r in rec),
        },
        description="every raw record accounted for" if not problems else "; ".join(problems),
    )


assets = [raw_lms, raw_credentials, raw_xapi, raw_credential_events, raw_ingest_summary]
asset_checks = [ingestion_reconciled]
