"""``skillpath erase``: forget one person in every layer and every file of a home, and keep them
forgotten (docs/privacy.md).

1. :func:`resolve` finds every identifier of the person in the raw layer, from the one asked
   for (an LMS user id, an email, or an xAPI actor identifier): the LMS user rows, the xAPI
   actors the pipeline links to them, the credentials awarded to them (plain or hashed
   recipient identities), and the pseudonymous learner ids the models derive from these.
2. In one transaction of the raw layer: the keyed hashes of the identifiers join
   ``raw.erased_identities``; every raw row holding one is deleted
   (``skillpath.ingest.erased``), as are quarantined records whose bytes name the person;
   the load manifest moves the records from loaded / quarantined to ``records_erased``;
   an audit row goes to ``raw.erasure_log``.
3. Landing files that hold the person are rewritten without their lines (records), and the
   new content is noted in the manifest, so the next run does not read the file again.
4. dbt rebuilds everything (``--full-refresh``), the gate runs and the warehouse is
   published as usual; every kept warehouse version (rollback copies) is rewritten without
   the person's rows; the report is written again; CSV exports, Dagster's event log and
   run storage, dbt's target folder and any other file under the home are scrubbed.
5. The DuckDB files are rewritten (copied into fresh files), so no freed page keeps a byte
   of the person.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from skillpath.config import Settings, connect_duckdb
from skillpath.ingest.contract import SOURCES, connect_raw
from skillpath.ingest.erased import (
    IDENTIFIERS,
    Removed,
    count_as_erased,
    digest,
    mark_checked,
    remove_matching,
)
from skillpath.ingest.rawstore import file_sha256, new_load_id, utcnow
from skillpath.privacy import REBUILD_MARKER

#: identifiers shorter than this are not searched for as text (in quarantined bytes, files and
#: logs): a two-character user id would match everywhere; they are still erased by value
MIN_TOKEN = 4
ERASED = "[erased]"


class ErasureError(ValueError):
    """The request cannot be served (nothing to identify the person by, ...)."""


@dataclass
class Identity:
    """Everything that identifies one person in a home."""

    user_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    sha1s: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)     # homePage|name
    openids: set[str] = field(default_factory=set)
    award_ids: set[str] = field(default_factory=set)
    recipients: set[str] = field(default_factory=set)   # sha256$<hex>|salt
    names: set[str] = field(default_factory=set)        # display names (searched as text, never matched)
    learner_ids: set[str] = field(default_factory=set)  # pseudonymous keys the models derive

    def digests(self, key: str) -> list[tuple[str, str]]:
        pairs = ([("user", u) for u in self.user_ids] + [("mbox_sha1sum", s) for s in self.sha1s]
                 + [("account", a) for a in self.accounts] + [("openid", o) for o in self.openids]
                 + [("award", a) for a in self.award_ids] + [("recipient", r) for r in self.recipients]
                 + [("recipient_hash", r.split("|", 1)[0]) for r in self.recipients])
        # a later credential may hash the email without a salt
        pairs += [("recipient", f"sha256${hashlib.sha256(e.encode()).hexdigest()}|") for e in self.emails]
        return sorted({(digest(key, kind, value), kind) for kind, value in pairs})

    def tokens(self) -> list[str]:
        """The identifiers as text, for byte searches (longest first)."""
        values = (self.user_ids | self.emails | self.sha1s | self.openids | self.award_ids | self.names
                  | self.learner_ids | {a.split("|", 1)[1] for a in self.accounts}
                  | {r.split("|", 1)[0] for r in self.recipients})
        values |= {f"mailto:{e}" for e in self.emails}
        return sorted((v for v in values if len(v) >= MIN_TOKEN), key=lambda v: (-len(v), v))

    def is_empty(self) -> bool:
        return not (self.user_ids or self.emails or self.sha1s or self.accounts or self.openids
                    or self.award_ids or self.recipients)


def _sha1_mailto(email: str) -> str:
    return hashlib.sha1(f"mailto:{email}".encode()).hexdigest()


def _pseudonymise(key: str, value: str) -> str:
    """The learner id the models derive (``dbt_project/macros/pseudonymise.sql``)."""
    return hashlib.sha256(f"{key}|{value}".encode()).hexdigest()[:24]


def seed_identity(user_id: str | None = None, email: str | None = None, mbox: str | None = None,
                  mbox_sha1sum: str | None = None, account: str | None = None,
                  openid: str | None = None) -> Identity:
    """The identifiers asked for, normalised as the raw layer compares them."""
    ident = Identity()
    if user_id and user_id.strip():
        ident.user_ids.add(user_id.strip())
    for address in (email, mbox):
        if address and address.strip():
            ident.emails.add(re.sub(r"^mailto:", "", address.strip(), flags=re.IGNORECASE).lower())
    if mbox_sha1sum and mbox_sha1sum.strip():
        ident.sha1s.add(mbox_sha1sum.strip().lower())
    if account:
        homepage, sep, name = account.partition("|")
        if not sep or not name.strip():
            raise ErasureError("an xAPI account is given as HOMEPAGE|NAME, e.g. https://lms.example.org|u123")
        ident.accounts.add(f"{homepage.strip().rstrip('/')}|{name.strip()}")
    if openid and openid.strip():
        ident.openids.add(openid.strip())
    if ident.is_empty():
        raise ErasureError("say whom to erase: a user id, --email, --mbox, --mbox-sha1sum, --account or --openid")
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params or []).fetchall() if r[0] is not None}


def resolve(con: duckdb.DuckDBPyConnection, ident: Identity, key: str) -> Identity:
    """Grow ``ident`` to every identifier the raw layer links to the same person."""
    for _ in range(3):  # user <-> email <-> actors: a fixed point is reached in two rounds
        before = (len(ident.user_ids), len(ident.emails), len(ident.sha1s), len(ident.accounts))
        ident.sha1s |= {_sha1_mailto(e) for e in ident.emails}
        # an xAPI account whose name is an LMS user id is that user (int_learning__actors)
        account_names = {a.split("|", 1)[1] for a in ident.accounts}
        rows = con.execute(
            "select distinct trim(user_id), lower(nullif(trim(email), '')), nullif(trim(display_name), '') "
            "from raw.lms_users where trim(user_id) in (select unnest(?::varchar[])) "
            "or lower(trim(email)) in (select unnest(?::varchar[]))",
            [sorted(ident.user_ids | account_names), sorted(ident.emails)]).fetchall()
        for uid, email, name in rows:
            ident.user_ids.add(uid)
            if email:
                ident.emails.add(email)
            if name:
                ident.names.add(name)
        ident.sha1s |= {_sha1_mailto(e) for e in ident.emails}
        x = dict(IDENTIFIERS["xapi_statements"])
        actors = con.execute(f"""
            select distinct {x['account']}, {x['mbox_sha1sum']}, {x['openid']},
                   lower(regexp_replace(nullif(trim(actor_mbox), ''), '(?i)^mailto:', '')),
                   nullif(trim(json_extract_string(payload, '$.actor.name')), '')
            from raw.xapi_statements
            where {x['user']} in (select unnest(?::varchar[]))
               or {x['account']} in (select unnest(?::varchar[]))
               or {x['mbox_sha1sum']} in (select unnest(?::varchar[]))
               or {x['openid']} in (select unnest(?::varchar[]))
        """, [sorted(ident.user_ids), sorted(ident.accounts), sorted(ident.sha1s), sorted(ident.openids)]).fetchall()
        for account, sha1, openid, email, name in actors:
            for target, value in ((ident.accounts, account), (ident.sha1s, sha1), (ident.openids, openid),
                                  (ident.emails, email), (ident.names, name)):
                if value:
                    target.add(value)
        if before == (len(ident.user_ids), len(ident.emails), len(ident.sha1s), len(ident.accounts)):
            break
    # credentials: a plain-email recipient, or sha256(email || salt); then nested credentials
    awards = con.execute("""
        select distinct trim(award_id),
               case when recipient_identity like 'sha256$%' or coalesce(recipient_hashed, false)
                    then lower(trim(recipient_identity)) || '|' || coalesce(recipient_salt, '') end
        from raw.credential_awards a
        where (not coalesce(recipient_hashed, false) and lower(trim(recipient_identity)) in (select unnest(?::varchar[])))
           or exists (select 1 from (select unnest(?::varchar[]) as email) e
                      where lower(trim(a.recipient_identity)) = 'sha256$' || sha256(e.email || coalesce(a.recipient_salt, '')))
    """, [sorted(ident.emails), sorted(ident.emails)]).fetchall()
    for award_id, recipient in awards:
        ident.award_ids.add(award_id)
        if recipient:
            ident.recipients.add(recipient)
    while True:
        nested = _values(con, "select distinct trim(award_id) from raw.credential_awards "
                              "where trim(parent_award_id) in (select unnest(?::varchar[]))", [sorted(ident.award_ids)])
        if nested <= ident.award_ids:
            break
        ident.award_ids |= nested
    # the pseudonymous ids the models give this person (int_learning__actors, int_credentials__recipients)
    actor_keys = {f"account:{a}" for a in ident.accounts} | {f"mbox_sha1sum:{s}" for s in ident.sha1s} \
        | {f"openid:{o}" for o in ident.openids}
    ident.learner_ids |= {_pseudonymise(key, v) for v in ident.user_ids | actor_keys}
    ident.learner_ids |= {_pseudonymise(key, f"recipient:{e}") for e in ident.emails}
    ident.learner_ids |= {_pseudonymise(key, f"recipient:{r.split('|', 1)[0]}") for r in ident.recipients}
    ident.learner_ids |= {_pseudonymise(key, f"award:{a}") for a in ident.award_ids}
    return ident


def _token_regex(tokens: list[str]) -> str:
    """An RE2 pattern matching any token as a whole value (not inside a longer word or address)."""
    edge = r"[^A-Za-z0-9_@.+\-]"
    # DuckDB shows the bytes of a BLOB that is not valid UTF-8 (and quotes) as \xNN
    return f"(^|{edge}|\\\\x[0-9A-Fa-f]{{2}})(" + "|".join(re.escape(t) for t in tokens) + f")($|{edge})"


def _erase_raw(con: duckdb.DuckDBPyConnection, ident: Identity, key: str, erasure_id: str) -> Removed:
    """Step 2 (in the caller's transaction): the list, the raw rows, the quarantine, the manifest."""
    now = utcnow()
    for d, kind in ident.digests(key):
        con.execute("insert or ignore into raw.erased_identities values (?, ?, ?, ?)", [d, kind, erasure_id, now])
    tables = tuple(t for t in IDENTIFIERS)
    removed = remove_matching(con, key, tables)
    count_as_erased(con, removed.records)
    tokens = ident.tokens()
    if tokens:
        pattern = _token_regex(tokens)
        text = "coalesce(try(decode(raw_record)), cast(raw_record as varchar), '')"
        where = f"regexp_matches({text} || ' ' || coalesce(detail, ''), ?)"
        per_load = con.execute(f"select load_id, count(*) from raw.quarantine where {where} group by load_id",
                               [pattern]).fetchall()
        if per_load:
            n = con.execute(f"delete from raw.quarantine where {where}", [pattern]).fetchall()[0][0]
            removed.rows["quarantine"] = n
            count_as_erased(con, dict(per_load), column="records_quarantined")
            for load_id, k in per_load:
                removed.records[load_id] = removed.records.get(load_id, 0) + k
    mark_checked(con, [s.name for s in SOURCES])
    return removed


# ----------------------------------------------------------------------------- files
_JWT = re.compile(rb"^\s*[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*\s*$")


def _mentions(record: bytes, pattern: re.Pattern) -> bool:
    """The record names the person: in its bytes, or in the payload of a compact JWT (VC-JWT)."""
    if pattern.search(record):
        return True
    jwt = _JWT.match(record)
    if jwt:
        try:
            return bool(pattern.search(base64.urlsafe_b64decode(jwt.group(1) + b"=" * (-len(jwt.group(1)) % 4))))
        except ValueError:
            return False
    return False


def _filter_lines(data: bytes, pattern: re.Pattern) -> tuple[bytes, int]:
    kept, dropped = [], 0
    for line in data.splitlines(keepends=True):
        if _mentions(line, pattern):
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


def _filter_json(data: bytes, pattern: re.Pattern) -> tuple[bytes | None, int]:
    """A JSON file: an array (or an xAPI ``statements`` page) loses its matching elements; a
    single document that matches goes whole (None). Not JSON: line by line."""
    try:
        doc = json.loads(data)
    except ValueError:
        return _filter_lines(data, pattern)
    items = doc if isinstance(doc, list) else doc.get("statements") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return (None, 1) if pattern.search(data) else (data, 0)
    kept = [i for i in items if not pattern.search(json.dumps(i, ensure_ascii=False).encode())]
    dropped = len(items) - len(kept)
    if isinstance(doc, list):
        return json.dumps(kept, ensure_ascii=False).encode(), dropped
    doc["statements"] = kept
    return json.dumps(doc, ensure_ascii=False).encode(), dropped


def _rewrite(path: Path, pattern: re.Pattern) -> tuple[str, int] | None:
    """Rewrite one file without the records naming the person: (what happened, records dropped)."""
    raw = path.read_bytes()
    zipped = path.name.lower().endswith(".gz")
    try:
        data = gzip.decompress(raw) if zipped else raw
    except (OSError, EOFError):
        data = raw
        zipped = False
    name = path.name.lower().removesuffix(".gz")
    if not pattern.search(data) and not (name.endswith(".jwt") or _JWT.match(data[:1 << 16].split(b"\n")[0])):
        return None
    new, dropped = _filter_json(data, pattern) if name.endswith(".json") else _filter_lines(data, pattern)
    if not dropped:
        return None
    if new is None or not new.strip():
        path.unlink()
        return "removed", dropped
    _replace_file(path, gzip.compress(new, mtime=0) if zipped else new)
    return "rewritten", dropped


def rewrite_landing(con: duckdb.DuckDBPyConnection, landing_dir: Path, ident: Identity, erasure_id: str) -> dict:
    """Step 3: landing files holding the person, rewritten or removed; rewritten content that was
    loaded before is noted as loaded (no records), so the next run does not read it again."""
    tokens = ident.tokens()
    out = {"rewritten": 0, "removed": 0, "records_dropped": 0}
    if not tokens or not landing_dir.is_dir():
        return out
    pattern = re.compile(_token_regex(tokens).encode())
    for folder in {s.folder for s in SOURCES if s.folder}:
        source = next(s.name for s in SOURCES if s.folder == folder)
        root = landing_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            try:
                old_sha = file_sha256(path)
                done = _rewrite(path, pattern)
            except OSError:
                continue
            if done is None:
                continue
            what, dropped = done
            out[what] += 1
            out["records_dropped"] += dropped
            rel = path.relative_to(landing_dir).as_posix()
            was_loaded = con.execute("select count(*) from raw.load_manifest where source = ? and content_sha256 = ? "
                                     "and status = 'loaded'", [source, old_sha]).fetchall()[0][0]
            if what == "rewritten" and was_loaded:
                now = utcnow()
                con.execute(
                    "insert into raw.load_manifest (load_id, source, source_ref, content_sha256, status, started_at, "
                    "finished_at, detail) values (?, ?, ?, ?, 'loaded', ?, ?, ?)",
                    [new_load_id(), source, rel, file_sha256(path), now, now,
                     json.dumps({"rewritten_by_erasure": erasure_id})])
    return out


def scrub_text_file(path: Path, tokens: list[str]) -> bool:
    """Replace every token in a file (logs, JSON, HTML, CSV) by ``[erased]``; True when changed."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    new = data
    for t in tokens:
        new = new.replace(t.encode(), ERASED.encode())
    if new == data:
        return False
    _replace_file(path, new)
    return True


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a file beside ``path`` and rename it over ``path`` (never half a file)."""
    tmp = path.with_name(f".{path.name}.erasure")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def scrub_csv(path: Path, tokens: list[str]) -> bool:
    """Drop the rows of a CSV export that name the person."""
    pattern = re.compile(_token_regex(tokens).encode())
    data = path.read_bytes()
    new, dropped = _filter_lines(data, pattern)
    if not dropped:
        return False
    _replace_file(path, new)
    return True


def scrub_sqlite(path: Path, tokens: list[str]) -> int:
    """Replace the tokens in every text column of a SQLite database (Dagster's storage), then VACUUM."""
    changed = 0
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table' "
                                            "and name not like 'sqlite_%'")]
        for t in tables:
            cols = [r[1] for r in con.execute(f'pragma table_info("{t}")')
                    if (r[2] or "").upper() in ("", "TEXT", "VARCHAR", "BLOB", "JSON", "CLOB")
                    or "CHAR" in (r[2] or "").upper() or "TEXT" in (r[2] or "").upper()]
            for c in cols:
                for tok in tokens:
                    cur = con.execute(f'update "{t}" set "{c}" = replace(cast("{c}" as text), ?, ?) '
                                      f'where instr(cast("{c}" as text), ?) > 0', [tok, ERASED, tok])
                    changed += cur.rowcount
        con.commit()
        con.execute("vacuum")
    finally:
        con.close()
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists() and suffix == "-wal":
            scrub_text_file(side, tokens)
    return changed


# ----------------------------------------------------------------------------- DuckDB files
def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def delete_rows_naming(con: duckdb.DuckDBPyConnection, catalog: str, values: list[str],
                       schemas: tuple[str, ...] | None = None) -> dict[str, int]:
    """Delete, in every table of ``catalog``, the rows where a text column equals one of ``values``."""
    if not values:
        return {}
    con.execute("create or replace temp table _erased_values as select unnest(?::varchar[]) as v", [values])
    cols = con.execute(
        "select table_schema, table_name, list(column_name) from information_schema.columns "
        "where table_catalog = ? and data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog') "
        "and table_name in (select table_name from information_schema.tables where table_catalog = ? "
        "and table_type = 'BASE TABLE') group by all", [catalog, catalog]).fetchall()
    out = {}
    for schema, table, columns in cols:
        if schemas and schema not in schemas:
            continue
        cond = " or ".join(f"{_q(c)} in (select v from _erased_values)" for c in columns)
        n = con.execute(f"delete from {_q(catalog)}.{_q(schema)}.{_q(table)} where {cond}").fetchall()[0][0]
        if n:
            out[f"{schema}.{table}"] = n
    con.execute("drop table _erased_values")
    return out


def compact(path: Path, storage_version: str | None = None, s: Settings | None = None) -> None:
    """Rewrite a DuckDB file into a fresh one (freed pages hold old bytes) and swap it in."""
    if not path.exists():
        return
    tmp = path.with_name(f".{path.name}.compact")
    tmp.unlink(missing_ok=True)
    mode = os.stat(path).st_mode
    con = connect_duckdb(s=s)
    try:
        con.execute(f"attach '{path}' as old (read_only)")
        opts = f" (storage_version '{storage_version}')" if storage_version else ""
        con.execute(f"attach '{tmp}' as new{opts}")
        con.execute("copy from database old to new")
        con.execute("checkpoint new")
        con.execute("detach new")
        con.execute("detach old")
    finally:
        con.close()
    os.chmod(tmp, mode & 0o7777)
    os.replace(tmp, path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def scrub_versions(home: Path, values: list[str], s: Settings | None = None) -> dict[str, dict]:
    """Every kept warehouse version without the person's rows, rewritten; warehouse.duckdb follows."""
    from skillpath.publish import duckdb_publish as pub

    out = {}
    with pub._publish_lock(home):
        versions = pub.list_versions(home)
        for v in versions:
            os.chmod(v.path, 0o644)
            con = connect_duckdb(s=s)
            try:
                con.execute(f"attach '{v.path}' as w")
                deleted = delete_rows_naming(con, "w", values, schemas=(pub.PUBLISHED_SCHEMA,))
                for name, n in deleted.items():
                    con.execute("update w.meta.row_counts set row_count = row_count - ? "
                                "where table_schema || '.' || table_name = ?", [n, name])
                con.execute("checkpoint w")
            finally:
                con.close()
            compact(v.path, pub.DEFAULT_STORAGE_VERSION, s)
            os.chmod(v.path, 0o444)
            if v.is_current:
                pub._install(v.path, home)
            out[v.version_id] = deleted
    return out


def scrub_build(build_db: Path, ident: Identity) -> int:
    """The recipient match cache survives --full-refresh: its rows for the person go now."""
    if not build_db.exists():
        return 0
    con = duckdb.connect(str(build_db))
    try:
        where = con.execute("select table_schema from information_schema.tables "
                            "where table_name = 'int_credentials__recipient_hashes'").fetchall()
        if not where:
            return 0
        table = f"{_q(where[0][0])}.int_credentials__recipient_hashes"
        return con.execute(
            f"delete from {table} where matched_email in (select unnest(?::varchar[])) "
            "or lower(recipient_identity) || '|' || coalesce(recipient_salt, '') in (select unnest(?::varchar[]))",
            [sorted(ident.emails), sorted(ident.recipients)]).fetchall()[0][0]
    finally:
        con.close()


# ----------------------------------------------------------------------------- the command


def erase(s: Settings, ident: Identity, *, requested_by: str, reason: str | None,
          run_pipeline=None) -> dict:
    """Steps 1-5 for one person (the caller holds the home's run lock). Returns the audit record."""
    key = s.require_pseudonym_key()
    erasure_id = uuid.uuid4().hex
    started = utcnow()
    asked = ([("user", u) for u in sorted(ident.user_ids)] + [("mbox_sha1sum", _sha1_mailto(e)) for e in sorted(ident.emails)]
             + [("mbox_sha1sum", v) for v in sorted(ident.sha1s)] + [("account", a) for a in sorted(ident.accounts)]
             + [("openid", o) for o in sorted(ident.openids)])
    subject = digest(key, *asked[0])  # the identifier asked for, as a keyed hash
    con = connect_raw(s.raw_db, settings=s)
    try:
        ident = resolve(con, ident, key)
        tokens = ident.tokens()
        con.begin()
        try:
            removed = _erase_raw(con, ident, key, erasure_id)
            files = rewrite_landing(con, Path(s.landing_dir), ident, erasure_id)
            con.execute("insert into raw.erasure_log (erasure_id, kind, started_at, subject_digest, requested_by, "
                        "reason, rows_removed, files_rewritten) values (?, 'erasure', ?, ?, ?, ?, ?, ?)",
                        [erasure_id, started, subject, requested_by, reason,
                         json.dumps(removed.rows, sort_keys=True), files["rewritten"] + files["removed"]])
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.close()
    detail: dict = {"landing": files, "records_erased": sum(removed.records.values())}
    changed = bool(removed.rows) or files["rewritten"] or files["removed"]
    if changed:
        detail["recipient_cache_rows"] = scrub_build(s.build_db, ident)
        (s.home / REBUILD_MARKER).write_text(erasure_id + "\n")
    # the kept versions first: the rebuild's row-count drift check compares with the current
    # version, which then no longer counts the person either
    values = sorted(ident.user_ids | ident.learner_ids | ident.award_ids | ident.emails | ident.sha1s
                    | ident.openids | ident.names | {a.split("|", 1)[1] for a in ident.accounts})
    detail["versions"] = {k: v for k, v in scrub_versions(s.home, values, s).items() if v}
    _rewrite_report(s)
    if changed and run_pipeline is not None:
        summary = run_pipeline()
        detail["rebuild"] = {"run_id": summary.get("run_id"), "published": summary.get("published"),
                             "reason": summary.get("reason")}
    if s.postgres_url:
        detail["postgres_roles_dropped"] = drop_postgres_roles(s.postgres_url, ident.user_ids)
    detail["files_scrubbed"] = scrub_home_files(s, tokens)
    detail["dagster_postgres_values"] = scrub_dagster_postgres(s.dagster_home, tokens)
    con = connect_raw(s.raw_db, settings=s)
    try:
        con.execute("update raw.erasure_log set finished_at = ?, detail = ? where erasure_id = ?",
                    [utcnow(), json.dumps(detail, sort_keys=True, default=str), erasure_id])
        row = con.execute("select * from raw.erasure_log where erasure_id = ?", [erasure_id]).fetchall()[0]
        record = dict(zip([d[0] for d in con.description], row, strict=True))
    finally:
        con.close()
    compact(s.raw_db, s=s)
    compact(s.build_db, s=s)
    return record


def drop_postgres_roles(postgres_url: str, user_ids: set[str]) -> int:
    """The person's manager/executive role (named after the user id), if publication made one.

    The republished schema no longer grants it anything; its name still holds the user id."""
    import psycopg
    from psycopg import sql

    from skillpath.publish.postgres import account_role_name

    dropped = 0
    with psycopg.connect(postgres_url, autocommit=True) as pg:
        for uid in sorted(user_ids):
            role = account_role_name(uid)
            if pg.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone():
                pg.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
                pg.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
                dropped += 1
    return dropped


def scrub_dagster_postgres(dagster_home: Path, tokens: list[str]) -> int:
    """Dagster's storage in PostgreSQL (deploy/dagster.postgres.yaml): every identifier in any text
    column of its tables (event log, runs, tags, schedules) replaced by ``[erased]``. A SQLite
    instance under the home is scrubbed as a file instead (:func:`scrub_home_files`)."""
    config = Path(dagster_home) / "dagster.yaml"
    if not tokens or not config.exists() or "postgres" not in config.read_text():
        return 0
    import dagster as dg
    import psycopg
    from psycopg import sql

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        urls = {getattr(st, "postgres_url", None)
                for st in (instance.run_storage, instance.event_log_storage, instance.schedule_storage)}
    changed = 0
    for url in sorted(u for u in urls if u):
        with psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url), autocommit=True) as pg:
            columns = pg.execute("select table_name, column_name from information_schema.columns "
                                 "where table_schema = current_schema() "
                                 "and data_type in ('text', 'character varying')").fetchall()
            for table, column in columns:
                col = sql.Identifier(column)
                for tok in tokens:
                    changed += pg.execute(sql.SQL("update {} set {} = replace({}, %s, %s) where strpos({}, %s) > 0")
                                          .format(sql.Identifier(table), col, col, col), [tok, ERASED, tok]).rowcount
    return changed


def _rewrite_report(s: Settings) -> None:
    """The report shows what the (scrubbed) current warehouse holds."""
    report = s.home / "report.html"
    if not report.exists() or not s.warehouse_db.exists():
        return
    from skillpath.quality.gate_results import gate_results, published_run_id
    from skillpath.report import build_report

    build_report(s.warehouse_db, report, gate_summary=gate_results(s.dagster_home, published_run_id(s.warehouse_db)))


def scrub_home_files(s: Settings, tokens: list[str]) -> int:
    """Every other file under the home: CSV exports lose the person's rows, SQLite files (Dagster)
    and text files (logs, dbt's target, JSON) have the identifiers replaced by ``[erased]``."""
    if not tokens:
        return 0
    skip_dirs = {Path(s.landing_dir).resolve(), (s.home / "versions").resolve()}
    duckdb_files = {s.raw_db, s.build_db, s.warehouse_db}
    n = 0
    for path in sorted(s.home.rglob("*")):
        if not path.is_file() or path.is_symlink() or path in duckdb_files:
            continue
        if any(parent in skip_dirs for parent in path.resolve().parents):
            continue
        if path.name.endswith((".wal", ".lock")) or path.name.startswith("."):
            continue
        if path.suffix == ".csv" and (s.exports_dir in path.parents):
            n += scrub_csv(path, tokens)
        elif _is_sqlite(path):
            n += scrub_sqlite(path, tokens) > 0
        elif not _is_duckdb(path):
            n += scrub_text_file(path, tokens)
    return n


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _is_duckdb(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(16)
    return head[8:12] == b"DUCK"


def retention_cutoff(days: int, now: dt.datetime | None = None) -> dt.datetime:
    return (now or utcnow()) - dt.timedelta(days=days)
