"""Extract assets: landing files and the xAPI LRS into the append-only raw layer."""


from collections.abc import Callable
from contextlib import contextmanager

import dagster as dg

from orchestration.config import settings
from orchestration.faults import pause_point

GROUP = "ingest"

# Transient source errors (LRS down, file still being written) are retried by Dagster
# on top of the HTTP client's own retries.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def lake():
    """A writable connection to the raw layer, closed before dbt (another process) runs."""
    from orchestration.ingest.raw_schema import connect_raw

    con = connect_raw(settings().raw_db)
    try:
        yield con
    finally:
        con.close()


def _progress(context: dg.AssetExecutionContext) -> Callable[[str, int, int], None]:
    def report(label: str, done: int, total: int) -> None:
        context.log.info(f"{label}: {done}/{total}")
        if done and done < total:  # crash tests stop here, mid-ingestion
            pause_point("ingest")

    return report


def _load_metadata(loads: list[dict]) -> dict:
    loads = loads or []
    keys = ("records_read", "records_loaded", "records_quarantined", "records_duplicate")
    totals = {k: sum(int(x.get(k, 0) or 0) for x in loads) for k in keys}
    return {"files_or_pages": len(loads), **totals}


@dg.asset(group_name=GROUP, retry_policy=SOURCE_RETRY, description="LMS CSV exports -> raw.lms_*")
def raw_lms(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.ingest.lms import ingest_lms

    with lake() as con:
        loads = ingest_lms(con, settings().landing_dir, progress=_progress(context))
    return dg.MaterializeResult(metadata=_load_metadata(loads))


@dg.asset(group_name=GROUP, deps=[raw_lms], retry_policy=SOURCE_RETRY,
          description="Open Badges 2.0/3.0, CLR 2.0 documents and collections.csv -> raw.credential_*")
def raw_credentials(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.ingest.credentials import ingest_credentials

    with lake() as con:
        loads = ingest_credentials(con, settings().landing_dir, progress=_progress(context))
    return dg.MaterializeResult(metadata=_load_metadata(loads))


@dg.asset(group_name=GROUP, deps=[raw_lms], retry_policy=SOURCE_RETRY,
          description="xAPI statements from landing files and (when configured) the LRS -> raw.xapi_statements")
def raw_xapi_statements(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.ingest.xapi import ingest_xapi_files

    s = settings()
    with lake() as con:
        loads = ingest_xapi_files(con, s.landing_dir, progress=_progress(context))
        meta = {f"files_{k}": v for k, v in _load_metadata(loads).items()}
        if s.lrs_url:
            from orchestration.ingest.lrs import extract_lrs

            lrs = extract_lrs(con, s, progress=_progress(context))
            meta.update({f"lrs_{k}": v for k, v in lrs.items() if isinstance(v, int | float | str)})
    return dg.MaterializeResult(metadata=meta)


@dg.asset(group_name=GROUP, deps=[raw_credentials], retry_policy=SOURCE_RETRY,
          description="Credential lifecycle events -> raw.credential_events")
def raw_credential_events(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.ingest.events import ingest_credential_events

    with lake() as con:
        loads = ingest_credential_events(con, settings().landing_dir, progress=_progress(context))
    return dg.MaterializeResult(metadata=_load_metadata(loads))


@dg.asset(group_name=GROUP, deps=[raw_lms, raw_credentials, raw_xapi_statements, raw_credential_events],
          description="Load manifest and quarantine: what every load read, loaded, quarantined, skipped")
def raw_ingest_summary(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.ingest.rawstore import quarantine_by_reason, reconciliation

    with lake() as con:
        rec = reconciliation(con)
        reasons = quarantine_by_reason(con)
    md = {
        "reconciliation": dg.MetadataValue.md(_table(rec)),
        "quarantine_by_reason": dg.MetadataValue.md(
            "\n".join(f"- {src} / {reason}: {n}" for src, reason, n in reasons) or "none"
        ),
    }
    for row in rec:
        for k in ("records_read", "records_loaded", "records_quarantined", "records_duplicate"):
            md[f"{row['source']}.{k}"] = int(row[k])
    return dg.MaterializeResult(metadata=md)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(nothing loaded)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


@dg.asset_check(asset=raw_ingest_summary, blocking=True,
                description="read = loaded + quarantined + duplicates for every source (nothing lost)")
def ingestion_reconciled() -> dg.AssetCheckResult:
    from orchestration.ingest.rawstore import reconciliation

    with lake() as con:
        rec = reconciliation(con)
    bad = [r for r in rec if not r["balanced"]]
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "sources": len(rec),
            "unbalanced": ", ".join(r["source"] for r in bad) or "none",
            "records_read": sum(int(r["records_read"]) for r in rec),
        },
        description="every raw record accounted for" if not bad else f"unbalanced sources: {bad}",
    )


assets = [raw_lms, raw_credentials, raw_xapi_statements, raw_credential_events, raw_ingest_summary]
asset_checks = [ingestion_reconciled]
