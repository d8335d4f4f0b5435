"""Extract assets: landing files and the xAPI LRS into the append-only raw layer.

One multi-asset per source of the raw contract (``skillpath/ingest/contract.py``),
each running ``skillpath.ingest.runner.ingest_source``; the reconciliation is a
blocking check on ``raw/load_manifest``.
"""

import time
from collections.abc import Callable

import dagster as dg

from skillpath.defs.resources import SkillpathResource
from skillpath.ingest.contract import CREDENTIAL_TABLES, LMS_TABLES, SUMMARY_TABLES

GROUP = "ingest"

# Transient source errors (LRS down, file still being written) are retried by Dagster
# on top of the HTTP client's own retries.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
LOAD_COUNTS = ("records_read", "records_loaded", "records_quarantined", "records_duplicate")


def _progress(context: dg.AssetExecutionContext, every_seconds: float = 5.0) -> Callable[[str, int, int], None]:
    """A progress callback that logs at most every ``every_seconds`` (and at the end): a log
    event per file cost more than loading the file, for landing zones of many small files."""
    last = [0.0]

    def report(label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= every_seconds:
            last[0] = now
            context.log.info(f"{label}: {done}/{total}")

    return report


def _load_metadata(name: str, loads: list[dict], context: dg.AssetExecutionContext) -> dict:
    from skillpath.ingest.runner import file_errors

    loads = loads or []
    for note in file_errors(name, loads):  # a file whose load raised was quarantined whole: say so
        context.log.warning(note)
    totals = {k: sum(int(x.get(k, 0) or 0) for x in loads) for k in LOAD_COUNTS}
    return {"files_or_pages": len(loads), **totals}


def _key(table: str) -> dg.AssetKey:
    """Raw tables are assets ``raw/<table>``: the keys dbt's ``source('raw', <table>)`` maps to."""
    return dg.AssetKey(["raw", table])


def _specs(tables, description: str, deps=()) -> list[dg.AssetSpec]:
    return [dg.AssetSpec(_key(t), group_name=GROUP, description=description, deps=[_key(d) for d in deps])
            for t in tables]


def _results(tables, metadata: dict):
    for t in tables:
        yield dg.MaterializeResult(asset_key=_key(t), metadata=metadata)


def _ingest(context: dg.AssetExecutionContext, skillpath: SkillpathResource, name: str) -> dict:
    from skillpath.ingest.runner import ingest_source

    with skillpath.lake() as con:
        loads = ingest_source(con, name, skillpath.settings(), progress=_progress(context))
    return _load_metadata(name, loads, context)


@dg.multi_asset(name="raw_lms", specs=_specs(LMS_TABLES, "LMS CSV exports (landing/lms)"),
                retry_policy=SOURCE_RETRY)
def raw_lms(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    yield from _results(LMS_TABLES, _ingest(context, skillpath, "lms"))


@dg.multi_asset(name="raw_credentials",
                specs=_specs(CREDENTIAL_TABLES, "Open Badges 2.0/3.0, CLR 2.0 documents and collections.csv",
                             deps=LMS_TABLES[:1]),
                retry_policy=SOURCE_RETRY)
def raw_credentials(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    yield from _results(CREDENTIAL_TABLES, _ingest(context, skillpath, "credentials"))


@dg.multi_asset(name="raw_xapi",
                specs=_specs(["xapi_statements"], "xAPI statements from landing/xapi and the LRS",
                             deps=LMS_TABLES),  # one writer at a time on lake.duckdb: after the LMS step
                retry_policy=SOURCE_RETRY)
def raw_xapi(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    from skillpath.ingest.runner import ingest_source

    s = skillpath.settings()
    meta = {f"files_{k}": v for k, v in _ingest(context, skillpath, "xapi_file").items()}
    if s.lrs_url:
        with skillpath.lake() as con:
            lrs = ingest_source(con, "xapi_lrs", s,
                                lrs_progress=lambda n: context.log.info(f"LRS page: {n} statements"))
        meta.update({f"lrs_{k}": v for k, v in lrs.items() if isinstance(v, int | float | str)})
    yield from _results(["xapi_statements"], meta)


@dg.multi_asset(name="raw_credential_events",
                specs=_specs(["credential_events"], "Credential lifecycle events (landing/credential_events)",
                             deps=["credential_awards"]),
                retry_policy=SOURCE_RETRY)
def raw_credential_events(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    yield from _results(["credential_events"], _ingest(context, skillpath, "credential_events"))


@dg.multi_asset(name="raw_consents",
                specs=_specs(["consent_events"], "Recipient consent history (landing/consents)",
                             deps=["credential_events"]),  # one writer at a time on lake.duckdb
                retry_policy=SOURCE_RETRY)
def raw_consents(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    yield from _results(["consent_events"], _ingest(context, skillpath, "consents"))


@dg.multi_asset(name="raw_ingest_summary",
                specs=_specs(SUMMARY_TABLES, "Load manifest and quarantine of every load",
                             deps=[*LMS_TABLES, *CREDENTIAL_TABLES, "xapi_statements", "credential_events",
                                   "consent_events"]))
def raw_ingest_summary(context: dg.AssetExecutionContext, skillpath: SkillpathResource):
    from skillpath.ingest.landing import landing_notes
    from skillpath.ingest.runner import summarize

    with skillpath.lake() as con:
        summary = summarize(con)
    notes = landing_notes(skillpath.settings().landing_dir)  # skipped paths, a missing landing directory
    for note in notes:
        context.log.warning(note)
    rec = summary["sources"]
    md = {
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
        "reconciliation": dg.MetadataValue.md(_table(rec)),
        "quarantine_by_reason": dg.MetadataValue.md(
            "\n".join(f"- {src} / {reason}: {n}" for src, reason, n in summary["quarantine"]) or "none"
        ),
    }
    for row in rec:
        for k in (*LOAD_COUNTS, "records_erased"):
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
                description="read = loaded + quarantined + duplicates + erased for every source (nothing lost)")
def ingestion_reconciled(skillpath: SkillpathResource) -> dg.AssetCheckResult:
    from skillpath.ingest.runner import summarize

    with skillpath.lake() as con:
        summary = summarize(con)
    problems, rec = summary["problems"], summary["sources"]
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "sources": len(rec),
            "problems": "; ".join(problems) or "none",
            "records_read": sum(int(r["records_read"]) for r in rec),
        },
        description="every raw record accounted for" if not problems else "; ".join(problems),
    )


assets = [raw_lms, raw_credentials, raw_xapi, raw_credential_events, raw_consents, raw_ingest_summary]
asset_checks = [ingestion_reconciled]
