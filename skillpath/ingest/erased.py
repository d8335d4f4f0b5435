"""Erased identities in the raw layer: which rows belong to an erased person, and dropping
the ones a later delivery brings back.

``raw.erased_identities`` holds keyed hashes only: ``sha256(key || '|' || kind || '|' ||
value)`` with ``SKILLPATH_PSEUDONYM_KEY`` as the key (:func:`digest`). :data:`IDENTIFIERS`
says, per raw table, which identifiers of a row are compared with the list, as SQL over
the raw columns, so the comparison runs in the engine: the erasure command deletes the
matching rows of the whole raw layer with it (``skillpath/privacy/erasure.py``), and
every ingestion run deletes the matching rows that arrived since the last check
(:func:`drop_erased`) and counts them as ``records_erased`` in the load manifest, so the
reconciliation reads ``read = loaded + quarantined + duplicates + erased``.

The kinds (docs/privacy.md):

- ``user``: an LMS user id; also an xAPI ``account.name`` (the pipeline links an actor
  whose account name is a user id to that user, whatever the homePage);
- ``mbox_sha1sum``: sha1 of ``mailto:`` + the lower-case email: an LMS email, an xAPI
  ``mbox`` or ``mbox_sha1sum``, a plain-email credential recipient;
- ``account``: an xAPI account, homePage (trailing ``/`` removed) + ``|`` + name;
- ``openid``: an xAPI ``openid``;
- ``award``: a credential (award) id; its events, proof checks, status checks and nested
  credentials follow it;
- ``recipient``: a hashed Open Badges recipient identity, lower-case ``sha256$<hex>`` +
  ``|`` + salt, or a DID / URL / URN recipient (Open Badges 3.0, CLR 2.0), lower-case + ``|``;
- ``recipient_hash``: the same identity without its salt (a consent names a recipient so).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb

from skillpath.ingest.contract import SOURCE_BY_NAME
from skillpath.ingest.rawstore import utcnow
from skillpath.ingest.records import IDENTITY_SCHEMES


def _clean(col: str) -> str:
    return f"nullif(trim({col}), '')"


def _starts_with_scheme(expr: str) -> str:
    """SQL: ``expr`` begins with one of :data:`IDENTITY_SCHEMES` (a DID, URN or URL)."""
    return "(" + " or ".join(f"starts_with({expr}, '{s}')" for s in IDENTITY_SCHEMES) + ")"


def _email_sha1(col: str) -> str:
    """sha1 of 'mailto:' + the lower-case address (null when the column is empty)."""
    return f"sha1('mailto:' || lower({_clean(col)}))"


#: credential documents that carry awards; one such document is one record, and its rows in
#: every credential table share its (load_id, record_no): it is erased whole with its award
AWARD_FORMATS = ("ob2_assertion", "ob3_credential", "clr2_credential")

#: SQL: the row's recipient identity is a hashed one (Open Badges 2.0 `sha256$...`)
HASHED_RECIPIENT = ("(coalesce(recipient_hashed, false) or lower(trim(recipient_identity)) like 'sha256$%')")

#: raw table -> (kind, SQL over its columns giving the identifier, or null)
IDENTIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "xapi_statements": (
        ("user", _clean("actor_account_name")),
        ("account", f"regexp_replace(coalesce(trim(actor_account_homepage), ''), '/+$', '') || '|' || "
                    f"{_clean('actor_account_name')}"),
        ("mbox_sha1sum", f"coalesce(sha1(lower({_clean('actor_mbox')})), lower({_clean('actor_mbox_sha1sum')}))"),
        ("openid", _clean("actor_openid")),
    ),
    "lms_users": (("user", _clean("user_id")), ("mbox_sha1sum", _email_sha1("email"))),
    "lms_group_members": (("user", _clean("user_id")),),
    "lms_enrollments": (("user", _clean("user_id")),),
    "credential_awards": (
        ("award", _clean("award_id")),
        ("award", _clean("parent_award_id")),
        ("mbox_sha1sum", f"case when not {HASHED_RECIPIENT} and recipient_identity like '%@%' "
                         f"then {_email_sha1('recipient_identity')} end"),
        ("recipient", f"case when {HASHED_RECIPIENT} then lower(trim(recipient_identity)) || '|' || "
                      "coalesce(recipient_salt, '') "
                      f"when {_starts_with_scheme('lower(trim(recipient_identity))')} "
                      "then lower(trim(recipient_identity)) || '|' end"),
    ),
    "credential_documents": (
        ("award", f"case when document_format in {AWARD_FORMATS} then {_clean('document_id')} end"),
    ),
    "credential_verifications": (("award", _clean("award_id")),),
    "credential_status_checks": (("award", _clean("award_id")),),
    "credential_associations": (("award", _clean("clr_id")),),
    "credential_events": (("award", _clean("credential_id")),),
    "consent_events": (
        ("user", "case when subject_type = 'user_id' then subject end"),
        ("mbox_sha1sum", "case when subject_type = 'email' then sha1('mailto:' || subject) end"),
        ("recipient_hash", "case when subject_type = 'recipient_identity' then lower(subject) end"),
    ),
}



def digest(key: str, kind: str, value: str) -> str:
    """The keyed hash of one identifier, as :data:`IDENTIFIERS` computes it in SQL."""
    return hashlib.sha256(f"{key}|{kind}|{value}".encode()).hexdigest()


def match_sql(table: str) -> str:
    """A condition true for rows of ``raw.<table>`` holding an erased identifier (one ``?``: the key)."""
    parts = [f"sha256(?::varchar || '|{kind}|' || ({expr})) in (select digest from raw.erased_identities)"
             for kind, expr in IDENTIFIERS[table]]
    return "(" + " or ".join(parts) + ")"


def match_params(table: str, key: str) -> list[str]:
    return [key] * len(IDENTIFIERS[table])


@dataclass
class Removed:
    """Rows removed from the raw layer, and the records they were, per load."""

    #: raw table -> rows removed
    rows: dict[str, int]
    #: load_id -> records that load counted as loaded and are now erased
    records: dict[str, int]

    def add(self, other: Removed) -> None:
        for t, n in other.rows.items():
            self.rows[t] = self.rows.get(t, 0) + n
        for load, n in other.records.items():
            self.records[load] = self.records.get(load, 0) + n


def remove_matching(con: duckdb.DuckDBPyConnection, key: str, tables: tuple[str, ...],
                    scope: str = "true", scope_params: list | None = None) -> Removed:
    """Delete the rows of ``tables`` (within ``scope``, SQL over the raw columns) that hold an
    erased identifier, and the credential documents they came from; in the open transaction.

    Each row of a one-row-per-record table is one record; a credential document is one record
    with all rows of its (load_id, record_no), so its badge class rows and the like stay.
    """
    scope_params = scope_params or []
    tables = tuple(t for t in tables if t in IDENTIFIERS)
    removed = Removed({}, {})
    if "credential_documents" in tables:
        # a document holding an erased award goes whole: every row it gave, in every credential table
        con.execute(f"""
            create or replace temp table _erased_documents as
            select distinct load_id, record_no from raw.credential_documents
            where document_format in {AWARD_FORMATS} and {scope} and (
                {match_sql('credential_documents')}
                or exists (
                    select 1 from raw.credential_awards a
                    where a.load_id = credential_documents.load_id
                      and a.record_no = credential_documents.record_no
                      and {match_sql('credential_awards')}))
        """, [*scope_params, *match_params("credential_documents", key), *match_params("credential_awards", key)])
        for load_id, n in con.execute("""
                select load_id, count(*) from _erased_documents group by load_id""").fetchall():
            removed.records[load_id] = removed.records.get(load_id, 0) + n
        for table in tables:
            if table.startswith("credential") and table != "credential_events":
                n = con.execute(f"""
                    delete from raw.{table} t using _erased_documents e
                    where t.load_id = e.load_id and t.record_no = e.record_no""").fetchall()[0][0]
                if n:
                    removed.rows[table] = removed.rows.get(table, 0) + n
        con.execute("drop table _erased_documents")
    for table in tables:
        per_load = con.execute(
            f"select load_id, count(*) from raw.{table} where {scope} and {match_sql(table)} group by load_id",
            [*scope_params, *match_params(table, key)]).fetchall()
        if not per_load:
            continue
        n = con.execute(f"delete from raw.{table} where {scope} and {match_sql(table)}",
                        [*scope_params, *match_params(table, key)]).fetchall()[0][0]
        removed.rows[table] = removed.rows.get(table, 0) + n
        if _one_row_per_record(table):
            for load_id, k in per_load:
                removed.records[load_id] = removed.records.get(load_id, 0) + k
    return removed


def _one_row_per_record(table: str) -> bool:
    return any(table in s.tables and s.one_row_per_record for s in SOURCE_BY_NAME.values())


def count_as_erased(con: duckdb.DuckDBPyConnection, records: dict[str, int], column: str = "records_loaded") -> None:
    """Move ``records`` (load_id -> n) from ``column`` of the load manifest to ``records_erased``."""
    if not records:
        return
    con.execute("create or replace temp table _erased_counts (load_id varchar, n bigint)")
    con.executemany("insert into _erased_counts values (?, ?)", list(records.items()))
    con.execute(f"""
        update raw.load_manifest m set {column} = m.{column} - e.n,
               records_erased = coalesce(m.records_erased, 0) + e.n
        from _erased_counts e where m.load_id = e.load_id""")
    con.execute("drop table _erased_counts")


def has_erasures(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select count(*) from raw.erased_identities").fetchall()[0][0] > 0


def drop_erased(con: duckdb.DuckDBPyConnection, source: str, settings) -> int:
    """Delete what ``source`` loaded since its last check that belongs to an erased person
    (counted as ``records_erased``); returns the records dropped. Nothing to do without
    erasures. One transaction, with the check's new watermark."""
    if not has_erasures(con):
        return 0
    key = settings.require_pseudonym_key()
    tables = SOURCE_BY_NAME[source].tables
    con.begin()
    try:
        since = con.execute("select checked_through from raw.erasure_checks where source = ?", [source]).fetchall()
        through = con.execute(
            "select max(loaded_at) from (" + " union all ".join(
                f"select max(loaded_at) as loaded_at from raw.{t} where source = ?" for t in tables) + ")",
            [source] * len(tables)).fetchall()[0][0]
        scope, params = "source = ?", [source]
        if since:
            scope, params = "source = ? and loaded_at > ?", [source, since[0][0]]
        removed = remove_matching(con, key, tables, scope, params)
        count_as_erased(con, removed.records)
        mark_checked(con, [source], through)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return sum(removed.records.values())


#: raw table -> the time a record's retention counts from (records without one are kept)
RETENTION_TIME = {"xapi_statements": "statement_timestamp", "credential_events": "occurred_at"}


def drop_expired(con: duckdb.DuckDBPyConnection, source: str, settings) -> int:
    """``SKILLPATH_RETENTION_DAYS``: delete ``source``'s raw records whose time is older than the
    window before the run date (and its quarantined records loaded before then), counted as
    ``records_erased``; one transaction with an audit row. A record delivered later that is
    already older than the window is dropped the same way on its first run."""
    if not settings.retention_days:
        return 0
    import datetime as dt
    import json
    import uuid

    from skillpath.privacy import REBUILD_MARKER

    today = settings.as_of_date or utcnow().date()
    cutoff = dt.datetime.combine(today, dt.time()) - dt.timedelta(days=settings.retention_days)
    tables = [t for t in SOURCE_BY_NAME[source].tables if t in RETENTION_TIME]
    removed = Removed({}, {})
    con.begin()
    try:
        for table in tables:
            where = f"source = ? and {RETENTION_TIME[table]} < ?"
            per_load = dict(con.execute(f"select load_id, count(*) from raw.{table} where {where} group by load_id",
                                        [source, cutoff]).fetchall())
            if per_load:
                removed.rows[table] = con.execute(f"delete from raw.{table} where {where}",
                                                  [source, cutoff]).fetchall()[0][0]
                removed.add(Removed({}, per_load))
        count_as_erased(con, removed.records)
        quarantined = dict(con.execute("select load_id, count(*) from raw.quarantine where source = ? "
                                       "and loaded_at < ? group by load_id", [source, cutoff]).fetchall())
        if quarantined:
            removed.rows["quarantine"] = con.execute("delete from raw.quarantine where source = ? and loaded_at < ?",
                                                     [source, cutoff]).fetchall()[0][0]
            count_as_erased(con, quarantined, column="records_quarantined")
            removed.add(Removed({}, quarantined))
        if removed.rows:
            now = utcnow()
            con.execute("insert into raw.erasure_log (erasure_id, kind, started_at, finished_at, requested_by, reason, "
                        "rows_removed, files_rewritten, detail) values (?, 'retention', ?, ?, 'retention', ?, ?, 0, ?)",
                        [uuid.uuid4().hex, now, now, f"SKILLPATH_RETENTION_DAYS={settings.retention_days}",
                         json.dumps(removed.rows, sort_keys=True),
                         json.dumps({"source": source, "cutoff": cutoff.isoformat()})])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    if removed.rows:
        (settings.home / REBUILD_MARKER).write_text("retention\n")
    return sum(removed.records.values())


def mark_checked(con: duckdb.DuckDBPyConnection, sources, through=None) -> None:
    """Record that ``sources``' rows loaded up to ``through`` (default now) were checked."""
    through = through or utcnow()
    for source in sources:
        con.execute("insert or replace into raw.erasure_checks values (?, ?)", [source, through])
