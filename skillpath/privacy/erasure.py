"""``skillpath erase``: forget one person in every layer and every file of a home, and keep them
forgotten (docs/privacy.md).

1. :func:`resolve` finds every identifier of the person in the raw layer, from the one asked
   for (an LMS user id, an email, or an xAPI actor identifier): the LMS user rows, the xAPI
   actors the pipeline links to them, the credentials awarded to them (plain or hashed
   recipient identities), and the pseudonymous learner ids the models derive from these.
2. In one transaction of the raw layer: the keyed hashes of the identifiers join
   ``raw.erased_identities``; every raw row holding one is deleted
   (``skillpath.ingest.erased``), as are quarantined records of the person (:class:`Matcher`);
   the load manifest moves the records from loaded / quarantined to ``records_erased``;
   an audit row goes to ``raw.erasure_log``.
3. Landing files that hold the person are rewritten without their records, and the new
   content is noted in the manifest, so the next run does not read the file again.

Records are selected by identifiers only, each compared as a whole value (a JSON value, a CSV
field of an identifier column), emails and hashes in any case (:class:`Matcher`); display names
select nothing, they are only redacted in text (logs, the report, Dagster's storage:
:func:`redact`).
4. dbt rebuilds everything (``--full-refresh``), the gate runs and the warehouse is
   published as usual; every kept warehouse version (rollback copies) is rewritten without
   the person's rows; the report is written again; CSV exports, Dagster's event log and
   run storage, dbt's target folder and any other file under the home are scrubbed.
5. The DuckDB files are rewritten (copied into fresh files), so no freed page keeps a byte
   of the person.
"""

from __future__ import annotations

import base64
import csv
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
from skillpath.ingest._csv import BOM, parse_csv_row
from skillpath.ingest.consents import infer_subject_type, normalise_subject
from skillpath.ingest.contract import SOURCES, connect_raw
from skillpath.ingest.erased import (
    AWARD_FORMATS,
    HASHED_RECIPIENT,
    IDENTIFIERS,
    Removed,
    count_as_erased,
    digest,
    mark_checked,
    remove_matching,
)
from skillpath.ingest.landing import open_landing_file
from skillpath.ingest.rawstore import file_sha256, new_load_id, utcnow
from skillpath.ingest.records import IDENTITY_SCHEMES, Rejected
from skillpath.privacy import REBUILD_MARKER

#: identifiers shorter than this are not searched for as text (in unparsable quarantined records,
#: files and logs): a two-character user id would match too often; they are still erased by value
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
    recipients: set[str] = field(default_factory=set)   # sha256$<hex>|salt, or a DID / URL / URN + '|'
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
        """The identifiers as text, for redacting files and logs (longest first): every record
        identifier and the display names. Matched case-insensitively, as whole values."""
        values = self.record_values() | self.names
        return sorted((v for v in values if len(v) >= MIN_TOKEN), key=lambda v: (-len(v), v))

    def record_values(self) -> set[str]:
        """The identifiers that select records (never the display names: two people can share one)."""
        return (self.user_ids | self.emails | self.sha1s | self.openids | self.award_ids | self.learner_ids
                | self.account_names() | self.recipient_hashes() | {f"mailto:{e}" for e in self.emails})

    def account_names(self) -> set[str]:
        return {a.split("|", 1)[1] for a in self.accounts}

    def recipient_hashes(self) -> set[str]:
        return {r.split("|", 1)[0] for r in self.recipients}

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
                  openid: str | None = None, recipient: str | None = None) -> Identity:
    """The identifiers asked for, normalised as the raw layer compares them.

    ``recipient`` is a credential recipient identity that is no email: the DID, URL or URN an
    Open Badges 3.0 / CLR 2.0 credential names its subject by (compared lower-cased, as staging
    does), or a hashed Open Badges 2.0 identity ``sha256$<hex>``."""
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
    if recipient and recipient.strip():
        value = recipient.strip()
        # classified as a consent's subject is (docs/privacy.md, "Consent"): an email after all
        # goes with the emails; else the identity, lower-cased as staging compares award
        # identities; a hashed one's salt comes from its awards (resolve)
        if infer_subject_type(value) == "email":
            try:
                ident.emails.add(normalise_subject("email", value)[1])
            except Rejected as rej:
                raise ErasureError(rej.detail) from None
        else:
            ident.recipients.add(f"{value.lower()}|")
    if ident.is_empty():
        raise ErasureError("say whom to erase: a user id, --email, --mbox, --mbox-sha1sum, --account, --openid "
                           "or --recipient")
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params or []).fetchall() if r[0] is not None}


def resolve(con: duckdb.DuckDBPyConnection, ident: Identity, key: str) -> Identity:
    """Grow ``ident`` to every identifier the raw layer links to the same person."""
    # a recipient identity asked for as such (a DID, URL or URN; a hashed identity): the awards
    # with that recipient identity, and those whose document names it as the subject's id (an
    # Open Badges 3.0 subject with an id and an email identifier: the award's recipient is the
    # email, which is then this person's too)
    awards = con.execute(f"""
        select distinct trim(award_id), lower(trim(recipient_identity)), coalesce(recipient_salt, ''),
               {HASHED_RECIPIENT}
        from raw.credential_awards
        where lower(trim(recipient_identity)) in (select unnest(?::varchar[]))
           or trim(award_id) in (
               select trim(document_id) from raw.credential_documents
               where document_format in {AWARD_FORMATS}
                 and lower(trim(json_extract_string(payload, '$.credentialSubject.id'))) in (select unnest(?::varchar[])))
    """, [sorted(ident.recipient_hashes())] * 2).fetchall() if ident.recipients else []
    for award_id, identity, salt, hashed in awards:
        ident.award_ids.add(award_id)
        if hashed or identity.startswith(IDENTITY_SCHEMES):
            ident.recipients.add(f"{identity}|{salt if hashed else ''}")
        elif "@" in identity:
            ident.emails.add(identity.removeprefix("mailto:"))
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


# ----------------------------------------------------------------------------- matching
#: characters identifiers are made of: a token never matches inside a longer run of them
_ID_CHARS = r"\w.@+\-"
#: JSON keys and CSV columns whose value is an LMS user id / an identifier of a person (a user id
#: is matched only there: elsewhere "4711" is a score, a position, a timestamp's digits)
ID_FIELDS = frozenset({"user_id", "subject", "email", "recipient_identity", "identity", "identityhash",
                       "learner_id", "award_id", "credential_id", "parent_award_id", "mbox", "mbox_sha1sum",
                       "openid", "account_name"})


def redaction_pattern(tokens: list[str]) -> re.Pattern | None:
    """Any token as a whole value, case-insensitive: not preceded by a character identifiers are made
    of, not followed by one (a ``.`` ends an address when no word character follows: end of a
    sentence). ``4711`` matches in ``user 4711 left`` but not in ``1765114711.25`` or ``u47110``."""
    tokens = sorted({t for t in tokens if t}, key=lambda t: (-len(t), t))
    if not tokens:
        return None
    alternatives = "|".join(re.escape(t) for t in tokens)
    return re.compile(f"(?<![{_ID_CHARS}])(?:{alternatives})(?![\\w@+\\-]|\\.\\w)", re.IGNORECASE)


class Matcher:
    """Whether one record (a parsed JSON document, a CSV row, or an unparsable line) is the person's.

    Only identifiers select records, as whole values: emails (``mailto:`` or not), sha1 and sha256
    hashes and learner ids compared case-insensitively, anywhere in a JSON document; user ids and
    xAPI account names exactly (trimmed), and only in an identifier field (``ID_FIELDS``, an xAPI
    account's ``name``); award ids and openids exactly, anywhere. Display names never select a
    record (they are only redacted in text)."""

    def __init__(self, ident: Identity):
        self.emails = {e.lower() for e in ident.emails}
        self.folded = ({v.lower() for v in ident.sha1s | ident.learner_ids | ident.recipient_hashes()}
                       | self.emails)
        self.anywhere = set(ident.award_ids | ident.openids)
        self.ids = set(ident.user_ids | ident.account_names())
        unambiguous = self.folded | self.anywhere | {f"mailto:{e}" for e in self.emails}
        # an unparsable record (a malformed line, bytes that are not UTF-8): the identifiers as
        # whole words; a numeric user id only as a quoted JSON string (bare, it is any number)
        words = unambiguous | {u for u in self.ids if not u.isdigit()}
        self._text = redaction_pattern([w for w in words if len(w) >= MIN_TOKEN])
        self._quoted = [f'"{u}"'.encode() for u in self.ids if u.isdigit()]
        #: a cheap filter of whole files: could any identifier be in there (case-insensitive)?
        self._hint = re.compile("|".join(re.escape(v) for v in sorted(unambiguous | self.ids)).encode(),
                                re.IGNORECASE) if unambiguous or self.ids else None

    def may_hold(self, data: bytes) -> bool:
        return bool(self._hint and self._hint.search(data))

    def value(self, v, key: str | None = None, account: bool = False) -> bool:
        """One JSON value or CSV field; ``key`` its (lower-case) field name."""
        if isinstance(v, bool) or v is None:
            return False
        if isinstance(v, int) and (key in ID_FIELDS or account):
            return str(v) in self.ids
        if not isinstance(v, str):
            return False
        v = v.strip()
        if v in self.anywhere or ((key in ID_FIELDS or account) and v in self.ids):
            return True
        folded = v.lower()
        return folded in self.folded or (folded.startswith("mailto:") and folded[7:].strip() in self.emails)

    def document(self, doc) -> bool:
        """A parsed JSON record: any identifier as a value; a hashed recipient identity with a salt
        that hashes one of the person's emails."""
        stack = [doc]
        while stack:
            x = stack.pop()
            if isinstance(x, list):
                for item in x:
                    if isinstance(item, (dict, list)):
                        stack.append(item)
                    elif self.value(item):
                        return True
            elif isinstance(x, dict):
                account = "homePage" in x or "homepage" in x
                for k, v in x.items():
                    if isinstance(v, (dict, list)):
                        stack.append(v)
                    elif self.value(v, str(k).lower(), account=account and k == "name"):
                        return True
                identity = x.get("identity") or x.get("identityHash")
                if isinstance(identity, str) and isinstance(x.get("salt"), str) and identity.lower().startswith(
                        "sha256$") and any(identity.lower() == "sha256$" + hashlib.sha256(
                            (e + x["salt"]).encode()).hexdigest() for e in self.emails):
                    return True
        return False

    def row(self, fields: list[str], header: list[str]) -> bool:
        """A CSV row: its identifier columns (by the header), each compared as a whole value."""
        return any(self.value(f, h) for h, f in zip(header, fields, strict=False) if h in ID_FIELDS)

    def text(self, data: bytes | str) -> bool:
        """A record that cannot be parsed: identifiers as whole words, case-insensitive."""
        raw = data if isinstance(data, bytes) else data.encode()
        text = raw.decode("utf-8", "replace")
        return bool(self._text and self._text.search(text)) or any(q in raw for q in self._quoted)

    def record(self, raw: bytes, header: list[str] | None = None) -> bool:
        """One record as delivered: a JSON document, a compact JWT (its payload), a CSV row (with
        the file's header), else its text."""
        stripped = raw.strip()
        if not stripped:
            return False
        if stripped[:1] in (b"{", b"["):
            try:
                return self.document(json.loads(stripped))
            except ValueError:
                return self.text(raw)
        jwt = _JWT.match(stripped)
        if jwt:
            try:
                payload = base64.urlsafe_b64decode(jwt.group(1) + b"=" * (-len(jwt.group(1)) % 4))
                return self.document(json.loads(payload))
            except ValueError:
                return self.text(raw)
        if header is not None:
            try:
                fields = parse_csv_row(stripped)  # split as ingestion split it
            except (UnicodeDecodeError, csv.Error):
                fields = None
            if fields is not None and len(fields) == len(header):
                return self.row(fields, header)
        return self.text(raw)


def _csv_header(first_line: bytes) -> list[str] | None:
    """A CSV file's column names, lower-cased, read as ingestion reads them."""
    try:
        return [h.strip().lower() for h in parse_csv_row(first_line.removeprefix(BOM).rstrip(b"\r\n"))]
    except (UnicodeDecodeError, csv.Error):
        return None


def _erase_raw(con: duckdb.DuckDBPyConnection, ident: Identity, key: str, erasure_id: str,
               landing_dir: Path | None = None) -> Removed:
    """Step 2 (in the caller's transaction): the list, the raw rows, the quarantine, the manifest."""
    now = utcnow()
    for d, kind in ident.digests(key):
        con.execute("insert or ignore into raw.erased_identities values (?, ?, ?, ?)", [d, kind, erasure_id, now])
    tables = tuple(t for t in IDENTIFIERS)
    removed = remove_matching(con, key, tables)
    count_as_erased(con, removed.records)
    matcher = Matcher(ident)
    headers: dict[str, list[str] | None] = {}
    doomed, per_load = [], {}
    for rowid, load_id, ref, raw, detail in con.execute(
            "select rowid, load_id, source_ref, raw_record, detail from raw.quarantine").fetchall():
        header = None
        if ref and ref.lower().removesuffix(".gz").endswith(".csv"):
            if ref not in headers:
                headers[ref] = _landing_header(landing_dir, ref)
            header = headers[ref]
        if matcher.record(bytes(raw or b""), header) or (detail and matcher.text(detail)):
            doomed.append(rowid)
            per_load[load_id] = per_load.get(load_id, 0) + 1
    if doomed:
        con.execute("create or replace temp table _erased_rowids as select unnest(?::bigint[]) as r", [doomed])
        removed.rows["quarantine"] = con.execute(
            "delete from raw.quarantine where rowid in (select r from _erased_rowids)").fetchall()[0][0]
        con.execute("drop table _erased_rowids")
        count_as_erased(con, per_load, column="records_quarantined")
        for load_id, k in per_load.items():
            removed.records[load_id] = removed.records.get(load_id, 0) + k
    mark_checked(con, [s.name for s in SOURCES])
    return removed


def _landing_header(landing_dir: Path | None, ref: str) -> list[str] | None:
    """The header of the landing CSV a quarantined row came from (None when it is gone)."""
    path = Path(landing_dir) / ref if landing_dir else None
    if path is None or not path.is_file():
        return None
    try:
        with open_landing_file(path) as fh:
            first = fh.readline()
    except (OSError, EOFError):
        return None
    return _csv_header(first)


# ----------------------------------------------------------------------------- files
_JWT = re.compile(rb"^\s*[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*\s*$")


def _filter_lines(data: bytes, matcher: Matcher, csv_file: bool = False) -> tuple[bytes, int]:
    """Lines (records) without the person's; a CSV keeps its header and is matched by column."""
    lines = data.splitlines(keepends=True)
    header = _csv_header(lines[0]) if csv_file and lines else None
    kept, dropped = [], 0
    for n, line in enumerate(lines):
        if (header is None or n > 0) and matcher.record(line, header):
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


def _filter_json(data: bytes, matcher: Matcher) -> tuple[bytes | None, int]:
    """A JSON file: an array (or an xAPI ``statements`` page) loses the person's elements; a
    single document of theirs goes whole (None). Not JSON: line by line."""
    try:
        doc = json.loads(data)
    except ValueError:
        return _filter_lines(data, matcher)
    items = doc if isinstance(doc, list) else doc.get("statements") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return (None, 1) if matcher.document(doc) else (data, 0)
    kept = [i for i in items if not matcher.document(i)]
    dropped = len(items) - len(kept)
    if not dropped:
        return data, 0
    if isinstance(doc, list):
        return json.dumps(kept, ensure_ascii=False).encode(), dropped
    doc["statements"] = kept
    return json.dumps(doc, ensure_ascii=False).encode(), dropped


def _rewrite(path: Path, matcher: Matcher, always_parse: bool = False) -> tuple[str, int] | None:
    """Rewrite one file without the records of the person: (what happened, records dropped)."""
    raw = path.read_bytes()
    zipped = path.name.lower().endswith(".gz")
    try:
        data = gzip.decompress(raw) if zipped else raw
    except (OSError, EOFError):
        data = raw
        zipped = False
    name = path.name.lower().removesuffix(".gz")
    if not always_parse and not matcher.may_hold(data) and not (
            name.endswith(".jwt") or _JWT.match(data[:1 << 16].split(b"\n")[0])):
        return None
    if name.endswith(".json"):
        new, dropped = _filter_json(data, matcher)
    else:
        new, dropped = _filter_lines(data, matcher, csv_file=name.endswith(".csv"))
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
    out = {"rewritten": 0, "removed": 0, "records_dropped": 0}
    if ident.is_empty() or not landing_dir.is_dir():
        return out
    matcher = Matcher(ident)
    for folder in {s.folder for s in SOURCES if s.folder}:
        source = next(s.name for s in SOURCES if s.folder == folder)
        root = landing_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            try:
                old_sha = file_sha256(path)
                # a credential may hash an email with a salt not seen: parse every one
                done = _rewrite(path, matcher, always_parse=folder == "credentials")
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
    """Redact every token in a file (logs, JSON, HTML, CSV) as ``[erased]`` (:func:`redact`); True when changed."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    new = redact_bytes(data, redaction_pattern(tokens))
    if new == data:
        return False
    _replace_file(path, new)
    return True


def redact(text: str, pattern: re.Pattern | None) -> str:
    """``text`` with every token (a whole value, any case) replaced by ``[erased]``. A JSON document
    (a Dagster event, a dbt artifact), whole or one a line, is parsed and only its strings are
    redacted, so it stays valid JSON: a number that equals a numeric user id is left as it is."""
    if pattern is None:
        return text
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            new = _redact_json(doc, pattern)
            return text if new == doc else json.dumps(new) + text[len(text.rstrip()):]
    if "\n" in text.strip():
        lines = text.splitlines(keepends=True)
        if any(ln.lstrip()[:1] in ("{", "[") for ln in lines):
            return "".join(redact(ln, pattern) if ln.strip() else ln for ln in lines)
    return pattern.sub(ERASED, text)


def _redact_json(doc, pattern: re.Pattern):
    if isinstance(doc, str):
        return pattern.sub(ERASED, doc)
    if isinstance(doc, list):
        return [_redact_json(x, pattern) for x in doc]
    if isinstance(doc, dict):
        return {_redact_json(k, pattern): _redact_json(v, pattern) for k, v in doc.items()}
    return doc


def redact_bytes(data: bytes, pattern: re.Pattern | None) -> bytes:
    if pattern is None:
        return data
    text = data.decode("utf-8", "surrogateescape")
    new = redact(text, pattern)
    return data if new == text else new.encode("utf-8", "surrogateescape")


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a file beside ``path`` and rename it over ``path`` (never half a file)."""
    tmp = path.with_name(f".{path.name}.erasure")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def scrub_csv(path: Path, ident: Identity) -> bool:
    """A CSV export: the rows of the person (by their identifier columns) dropped, then the
    tokens (display names included) redacted in what is left."""
    data = path.read_bytes()
    new, _ = _filter_lines(data, Matcher(ident), csv_file=True)
    new = redact_bytes(new, redaction_pattern(ident.tokens()))
    if new == data:
        return False
    _replace_file(path, new)
    return True


def _like_filter(value_sql: str, tokens: list[str], op: str = "like") -> str:
    return " or ".join([f"{value_sql} {op} ?"] * len(tokens))


def scrub_sqlite(path: Path, tokens: list[str]) -> int:
    """Redact the tokens in every text column of a SQLite database (Dagster's storage: serialized
    JSON events are parsed, only their strings change), then VACUUM."""
    pattern = redaction_pattern(tokens)
    if pattern is None:
        return 0
    likes = [f"%{t}%" for t in tokens]
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
                try:  # LIKE is case-insensitive (ASCII) in SQLite: a cheap filter, the pattern decides
                    rows = con.execute(f'select rowid, "{c}" from "{t}" where '
                                       + _like_filter(f'cast("{c}" as text)', tokens), likes).fetchall()
                except sqlite3.OperationalError:  # a table without rowid
                    continue
                for rowid, value in rows:
                    new = (redact_bytes(value, pattern) if isinstance(value, bytes)
                           else redact(value, pattern) if isinstance(value, str) else value)
                    if new != value:
                        con.execute(f'update "{t}" set "{c}" = ? where rowid = ?', [new, rowid])
                        changed += 1
        con.commit()
        con.execute("vacuum")
    finally:
        con.close()
    side = path.with_name(path.name + "-wal")
    if side.exists():
        scrub_text_file(side, tokens)
    return changed


# ----------------------------------------------------------------------------- DuckDB files
def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def delete_rows_naming(con: duckdb.DuckDBPyConnection, catalog: str, values: list[str],
                       schemas: tuple[str, ...] | None = None, folded: list[str] | None = None,
                       ids: list[str] | None = None) -> dict[str, int]:
    """Delete, in every table of ``catalog``, the rows where a text column equals, as a whole
    value, one of ``values`` (trimmed, exactly: award ids, openids), one of ``folded`` (lower-cased:
    emails, hashes, learner ids), or, in an identifier column (``user_id``, ``*_user_id``,
    ``ID_FIELDS``), one of ``ids`` (user ids: elsewhere "4711" is a course code or a count)."""
    folded = sorted({v.lower() for v in folded or []})
    ids = sorted(set(ids or []))
    if not values and not folded and not ids:
        return {}
    con.execute("create or replace temp table _erased_values as select unnest(?::varchar[]) as v", [values])
    con.execute("create or replace temp table _erased_folded as select unnest(?::varchar[]) as v", [folded])
    con.execute("create or replace temp table _erased_ids as select unnest(?::varchar[]) as v", [ids])
    cols = con.execute(
        "select table_schema, table_name, list(column_name) from information_schema.columns "
        "where table_catalog = ? and data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog') "
        "and table_name in (select table_name from information_schema.tables where table_catalog = ? "
        "and table_type = 'BASE TABLE') group by all", [catalog, catalog]).fetchall()
    out = {}
    for schema, table, columns in cols:
        if schemas and schema not in schemas:
            continue
        cond = " or ".join(f"trim({_q(c)}) in (select v from _erased_values) "
                           f"or lower(trim({_q(c)})) in (select v from _erased_folded)"
                           + (f" or trim({_q(c)}) in (select v from _erased_ids)"
                              if c.lower() in ID_FIELDS or c.lower().endswith("_user_id") else "")
                           for c in columns)
        n = con.execute(f"delete from {_q(catalog)}.{_q(schema)}.{_q(table)} where {cond}").fetchall()[0][0]
        if n:
            out[f"{schema}.{table}"] = n
    con.execute("drop table _erased_values")
    con.execute("drop table _erased_folded")
    con.execute("drop table _erased_ids")
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


def scrub_versions(home: Path, values: list[str], s: Settings | None = None,
                   folded: list[str] | None = None, ids: list[str] | None = None) -> dict[str, dict]:
    """Every kept warehouse version without the person's rows (:func:`delete_rows_naming`: by
    identifiers, never by display name), rewritten; warehouse.duckdb follows."""
    from skillpath.publish import duckdb_publish as pub

    out = {}
    with pub._publish_lock(home):
        versions = pub.list_versions(home)
        for v in versions:
            os.chmod(v.path, 0o644)
            con = connect_duckdb(s=s)
            try:
                con.execute(f"attach '{v.path}' as w")
                deleted = delete_rows_naming(con, "w", values, schemas=(pub.PUBLISHED_SCHEMA,), folded=folded,
                                             ids=ids)
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
             + [("openid", o) for o in sorted(ident.openids)] + [("recipient", r) for r in sorted(ident.recipients)])
    subject = digest(key, *asked[0])  # the identifier asked for, as a keyed hash
    con = connect_raw(s.raw_db, settings=s)
    try:
        ident = resolve(con, ident, key)
        tokens = ident.tokens()
        con.begin()
        try:
            removed = _erase_raw(con, ident, key, erasure_id, Path(s.landing_dir))
            files = rewrite_landing(con, Path(s.landing_dir), ident, erasure_id)
            con.execute("insert into raw.erasure_log (erasure_id, kind, started_at, subject_digest, requested_by, "
                        "reason, rows_removed, files_rewritten) values (?, 'erasure', ?, ?, ?, ?, ?, ?)",
                        [erasure_id, started, subject, requested_by, reason,
                         json.dumps(removed.rows, sort_keys=True), files["rewritten"] + files["removed"]])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        from skillpath.ingest import parquet_raw

        if parquet_raw.wanted(s):  # the raw layer's Parquet copy loses the person's rows too
            parquet_raw.sync_parquet(con, s.home)
    finally:
        con.close()
    detail: dict = {"landing": files, "records_erased": sum(removed.records.values())}
    changed = bool(removed.rows) or files["rewritten"] or files["removed"]
    if changed:
        detail["recipient_cache_rows"] = scrub_build(s.build_db, ident)
        (s.home / REBUILD_MARKER).write_text(erasure_id + "\n")
    # the kept versions first: the rebuild's row-count drift check compares with the current
    # version, which then no longer counts the person either
    # by identifiers only: a display name may be another person's too (it is redacted in text)
    exact = sorted(ident.award_ids | ident.openids)
    ids = sorted(ident.user_ids | ident.account_names())
    folded = sorted(ident.emails | ident.sha1s | ident.learner_ids | ident.recipient_hashes()
                    | {f"mailto:{e}" for e in ident.emails})
    detail["versions"] = {k: v for k, v in scrub_versions(s.home, exact, s, folded=folded, ids=ids).items() if v}
    _rewrite_report(s)
    if changed and run_pipeline is not None:
        summary = run_pipeline()
        detail["rebuild"] = {"run_id": summary.get("run_id"), "published": summary.get("published"),
                             "reason": summary.get("reason")}
    if s.postgres_url:
        rebuild = detail.get("rebuild")
        if rebuild is None or not rebuild.get("published"):
            # nothing was republished (a blocked gate, nothing rebuilt): the published schema
            # still holds what the last publication put there; their rows go from it directly
            detail["postgres_rows_deleted"] = scrub_published_postgres(s.postgres_url, ident)
        detail["postgres_roles_dropped"] = drop_postgres_roles(s.postgres_url, ident.user_ids)
    detail["files_scrubbed"] = scrub_home_files(s, ident)
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


def scrub_published_postgres(postgres_url: str, ident: Identity, schema: str = "skillpath") -> int:
    """The person's rows in the published PostgreSQL schema: every table's rows whose
    ``learner_id`` is one of theirs (the marts, ``learner_directory``) or whose learner scope is
    (``mart_chapter_mastery``), and the directory's rows with their email. Returns the rows deleted."""
    import psycopg
    from psycopg import sql

    learner_ids, emails = sorted(ident.learner_ids), sorted(ident.emails)
    deleted = 0
    with psycopg.connect(postgres_url, autocommit=False) as pg:
        tables = pg.execute("select c.table_name, bool_or(c.column_name = 'learner_id'), "
                            "bool_or(c.column_name = 'email'), bool_or(c.column_name = 'scope_id') "
                            "and bool_or(c.column_name = 'scope_type') from information_schema.columns c "
                            "join information_schema.tables t using (table_schema, table_name) "
                            "where c.table_schema = %s and t.table_type = 'BASE TABLE' "
                            "and c.column_name in ('learner_id', 'email', 'scope_id', 'scope_type') "
                            "group by c.table_name", [schema]).fetchall()
        for table, has_learner, has_email, has_scope in tables:
            conditions, params = [], []
            if has_scope:  # mart_chapter_mastery: a learner's row is scope learner, scope_id learner_id
                conditions.append(sql.SQL("(scope_type = 'learner' and scope_id = any(%s))"))
                params.append(learner_ids)
            if has_learner:
                conditions.append(sql.SQL("learner_id = any(%s)"))
                params.append(learner_ids)
            if has_email:
                conditions.append(sql.SQL("lower(email) = any(%s)"))
                params.append(emails)
            cur = pg.execute(sql.SQL("delete from {} where {}").format(sql.Identifier(schema, table),
                                                                       sql.SQL(" or ").join(conditions)), params)
            deleted += cur.rowcount
        pg.commit()
    return deleted


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
    column of its tables (event log, runs, tags, schedules) redacted as ``[erased]`` (:func:`redact`). A SQLite
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
    pattern = redaction_pattern(tokens)
    changed = 0
    for url in sorted(u for u in urls if u):
        with psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url), autocommit=True) as pg:
            columns = pg.execute("select table_name, column_name from information_schema.columns "
                                 "where table_schema = current_schema() "
                                 "and data_type in ('text', 'character varying')").fetchall()
            likes = ["%" + re.sub(r"([\\%_])", r"\\\1", t) + "%" for t in tokens]
            for table, column in columns:
                col, tab = sql.Identifier(column), sql.Identifier(table)
                # ILIKE: a cheap filter; the pattern decides, on whole values (JSON events parsed)
                rows = pg.execute(sql.SQL("select ctid::text, {} from {} where " + " or ".join(["{} ilike %s"] * len(likes)))
                                  .format(col, tab, *[col] * len(likes)), likes).fetchall()
                for ctid, value in rows:
                    new = redact(value, pattern)
                    if new != value:
                        changed += pg.execute(sql.SQL("update {} set {} = %s where ctid = %s::tid").format(tab, col),
                                              [new, ctid]).rowcount
    return changed


def _rewrite_report(s: Settings) -> None:
    """The report shows what the (scrubbed) current warehouse holds."""
    report = s.home / "report.html"
    if not report.exists() or not s.warehouse_db.exists():
        return
    from skillpath.publish.duckdb_publish import published_run_id
    from skillpath.quality.gate_results import gate_results
    from skillpath.report import build_report

    build_report(s.warehouse_db, report, gate_summary=gate_results(s.dagster_home, published_run_id(s.warehouse_db)))


def scrub_home_files(s: Settings, ident: Identity) -> int:
    """Every other file under the home: CSV exports lose the person's rows, SQLite files (Dagster)
    and text files (logs, dbt's target, JSON) have the identifiers and display names redacted as
    ``[erased]`` (:func:`redact`)."""
    tokens = ident.tokens()
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
            n += scrub_csv(path, ident)
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
