"""Ingest ``landing/credentials/`` into the raw layer.

Files (subfolders allowed): ``*.json`` (one document or an array of documents),
``*.jwt`` (one compact JWT per line), ``*.ndjson`` / ``*.jsonl`` (one document
per line: a JSON object, or a JSON string holding a compact JWT) and
``collections.csv``. Any other file is one quarantine record ``unsupported_file``.
The contract is in ``docs/credentials_input.md``.

Each file is one :class:`~skillpath.ingest.rawstore.RawLoad` (one
transaction with its manifest row); a file whose content was loaded before is
noted as ``duplicate_content`` and not read again. A record is one document
(or one CSV row); it is loaded (``raw.credential_documents`` + its awards and
associations), quarantined with a reason, or counted as a duplicate when it
adds nothing new (every award it holds is already known with the same values).

Open Badges 2.0 badge classes, issuers and revocation lists given as IRIs are
resolved against every such document in the raw layer and in this run (files
are scanned once before loading, so order inside a run does not matter). When
one arrives after awards it completes (a revocation list for an assertion
loaded in an earlier run, a badge class that was unknown), a new row for each
such award is appended to ``raw.credential_awards`` with the completed values:
the current state of an award is its latest row (``loaded_at``, ``record_no``).

Every new award's proof is verified once, here (``_credential_verify``: Data
Integrity and VC-JWT proofs, keys from ``did:key`` or the key directory
``<landing>/keys/``), and the outcome appended to ``raw.credential_verifications``,
keyed by the sha256 of what was verified: the same credential bytes are never
verified twice. Key files and status lists (``<landing>/status/``) are loads of their
own: a new one re-verifies what was unverifiable / re-checks earlier awards' status.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import orjson
import pandas as pd

from skillpath.ingest import _credential_formats as fmt
from skillpath.ingest import _credential_status as status
from skillpath.ingest import _credential_verify as verify
from skillpath.ingest._csv import csv_records, key_conflicts, parse_csv_row
from skillpath.ingest.landing import FileBatch, load_file_once, load_many_files
from skillpath.ingest.rawstore import (
    RawLoad,
    file_sha256,
    loaded_contents,
    utcnow,
)
from skillpath.ingest.records import canonical_json
from skillpath.ingest.xapi import BOM, split_json_array

SOURCE = "credentials"
DOCUMENT_SUFFIXES = {".json", ".jwt", ".ndjson", ".jsonl"}
COLLECTIONS_FILE = "collections.csv"
STATUS_FOLDER = "status"  # <landing>/status/: status lists (BitstringStatusList, StatusList2021, 1EdTech)
KEYS_FOLDER = "keys"     # <landing>/keys/: public keys for proof verification (docs/credentials_input.md)
COLLECTION_COLUMNS = ("collection_id", "collection_name", "position", "achievement_id", "course_id")
REGISTRY_FORMATS = ("ob2_badgeclass", "ob2_issuer", "ob2_revocationlist")

Progress = Callable[[str, int, int], None]


class _Record:
    """One record read from a file: its position, exact bytes, and how to read it."""

    __slots__ = ("record_no", "raw", "kind", "value")

    def __init__(self, record_no: int, raw: bytes, kind: str, value=None):
        self.record_no = record_no
        self.raw = raw          # bytes exactly as read
        self.kind = kind        # json (value = parsed object) | jwt (value = token) | error (value = Rejected)
        self.value = value


def _json_value(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise fmt.Rejected("too_deeply_nested", f"JSON nested too deeply to process ({exc})") from None
        raise fmt.Rejected("malformed_json", str(exc)) from None


def _element_record(record_no: int, raw: bytes) -> _Record:
    """One element of a JSON array file, from its own bytes."""
    try:
        value = _json_value(_decode(raw).encode())
    except fmt.Rejected as exc:
        return _Record(record_no, raw, "error", exc)
    return _Record(record_no, raw, "jwt" if isinstance(value, str) else "json", value)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise fmt.Rejected("invalid_utf8", str(exc)) from None


def _records(path: Path) -> Iterator[_Record]:
    """The records of a document file, in order; unreadable ones carry their Rejected."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = path.read_bytes()
        body = data.removeprefix(BOM).strip()
        if body[:1] == b"[":
            # an array: each element is read from its own bytes (kept verbatim), so one broken
            # element is one quarantined record and its neighbours load
            for i, raw in enumerate(split_json_array(body), start=1):
                yield _element_record(i, raw)
            return
        try:
            value = _json_value(_decode(data).encode())
        except fmt.Rejected as exc:
            yield _Record(1, data, "error", exc)
            return
        yield _Record(1, data, "jwt" if isinstance(value, str) else "json", value)
        return
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if line_no == 1:  # a byte-order mark is not part of the first record
                raw = raw.removeprefix(BOM)
            if not raw.strip():
                continue
            try:
                line_text = _decode(raw).strip()
                if suffix == ".jwt":
                    yield _Record(line_no, raw, "jwt", line_text)
                    continue
                value = _json_value(line_text.encode())
            except fmt.Rejected as exc:
                yield _Record(line_no, raw, "error", exc)
                continue
            yield _Record(line_no, raw, "jwt", value) if isinstance(value, str) else _Record(line_no, raw, "json", value)


def _parse(rec: _Record, now: dt.datetime) -> fmt.Document:
    if rec.kind == "error":
        raise rec.value
    raw_text = rec.raw.decode("utf-8", "surrogateescape")
    if rec.kind == "jwt":
        _header, payload = fmt.decode_jwt(rec.value)
        return fmt.parse_document(payload, rec.value if isinstance(rec.value, str) else raw_text, now,
                                  from_jwt=True)
    return fmt.parse_document(rec.value, raw_text.removeprefix("\ufeff"), now)


class _State:
    """What the raw layer (plus this run so far) already holds."""

    def __init__(self, con: duckdb.DuckDBPyConnection, keys: verify.KeyDirectory | None = None,
                 status_lists: status.StatusLists | None = None):
        self.keys = keys or verify.KeyDirectory()
        self.status_lists = status_lists or status.StatusLists(None, self.keys)
        # (award_id, entry JSON) -> (result, list sha256) of its latest check
        self.status_checks: dict[tuple[str, str], tuple[str, str | None]] = {
            (a, e): (r, s) for a, e, r, s in con.execute(
                "select award_id, status_entry, result, list_sha256 from raw.credential_status_checks "
                "qualify row_number() over (partition by award_id, status_entry "
                "order by loaded_at desc, record_no desc) = 1").fetchall()}
        self.verified: set[tuple[str, str]] = set(con.execute(
            "select award_id, verified_sha256 from raw.credential_verifications").fetchall())
        self.registry = fmt.Registry()
        self.doc_keys: set[tuple[str, str | None, str]] = set()
        self.awards: dict[str, fmt.Award] = {}
        self.award_origin: dict[str, str] = {}
        self.associations: set[tuple[str, str, str, str]] = set()
        now = utcnow()
        for doc_format, doc_id, payload, sha in con.execute(
            "select document_format, document_id, payload, payload_sha256 from raw.credential_documents "
            "order by loaded_at, record_no"
        ).fetchall():
            self.doc_keys.add((doc_format, doc_id, sha))
            if doc_format in REGISTRY_FORMATS:
                try:
                    self.registry.add(fmt.parse_document(orjson.loads(payload), "", now))
                except fmt.Rejected:    # a document that was valid when loaded stays usable by id
                    continue
        cols = ", ".join(fmt.Award.COLUMNS)
        for row in con.execute(
            f"select {cols}, source_ref from raw.credential_awards "
            "qualify row_number() over (partition by award_id order by loaded_at desc, record_no desc) = 1"
        ).fetchall():
            award = fmt.Award(**dict(zip(fmt.Award.COLUMNS, row[:-1], strict=True)))
            self.awards[award.award_id] = award
            self.award_origin[award.award_id] = row[-1]
        self.associations.update(con.execute(
            "select clr_id, association_type, source_id, target_id from raw.credential_associations"
        ).fetchall())


META_COLUMNS = ("load_id", "source", "source_ref", "record_no", "loaded_at")
TABLE_COLUMNS = {
    "credential_documents": (*META_COLUMNS, "document_format", "document_id", "payload", "raw_text",
                             "payload_sha256"),
    "credential_awards": (*META_COLUMNS, *fmt.Award.COLUMNS),
    "credential_associations": (*META_COLUMNS, "clr_id", "association_type", "source_id", "target_id"),
    "credential_status_checks": (*META_COLUMNS, "award_id", "status_type", "status_list_id", "status_index",
                                 "status_purpose", "status_entry", "result", "detail", "list_sha256"),
    "credential_verifications": (*META_COLUMNS, "award_id", "verified_sha256", "proof_status", "proof_detail",
                                 "proof_types", "keys_sha256"),
    "collections": (*META_COLUMNS, *COLLECTION_COLUMNS, "raw_line"),
}


class _RowSink:
    """Rows for the raw tables, inserted in bulk (row-by-row inserts are slow in DuckDB; a few
    rows go through ``executemany``, more through a registered data frame)."""

    def __init__(self):
        self.rows: dict[str, list[tuple]] = {table: [] for table in TABLE_COLUMNS}

    def extend(self, rows: dict[str, list[tuple]]) -> None:
        for table, table_rows in rows.items():
            self.rows[table] += table_rows

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        for table, rows in self.rows.items():
            cols = TABLE_COLUMNS[table]
            if 0 < len(rows) < 100:
                con.executemany(f"insert into raw.{table} ({', '.join(cols)}) values "
                                f"({', '.join('?' * len(cols))})", rows)
            elif rows:
                con.register("_credential_rows", _arrow_rows(rows, cols))
                try:
                    con.execute(f"insert into raw.{table} ({', '.join(cols)}) "
                                f"select {', '.join(cols)} from _credential_rows")
                finally:
                    con.unregister("_credential_rows")
            rows.clear()


def _arrow_rows(rows: list[tuple], cols: tuple[str, ...]):
    """The rows as an Arrow table (built in C, scanned by DuckDB without Python objects), or a
    data frame of Python objects when a column mixes types Arrow cannot put in one array."""
    import pyarrow as pa

    try:
        return pa.table([pa.array(values) for values in zip(*rows, strict=True)], names=list(cols))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.DataFrame(rows, columns=list(cols), dtype=object)


class _Rows:
    """Rows of one load for the raw tables. ``flush`` inserts them, or, with a ``sink``,
    hands them to it (document files loaded in batches: one insert per table per batch)."""

    FLUSH_AT = 20_000

    def __init__(self, load: RawLoad, sink: _RowSink | None = None):
        self.load = load
        self.sink = sink
        self.rows: dict[str, list[tuple]] = {table: [] for table in TABLE_COLUMNS}

    def add(self, table: str, record_no: int, values: tuple) -> None:
        self.rows[table].append((*self.load.meta(record_no), *values))
        if len(self.rows[table]) >= self.FLUSH_AT:
            self.flush()

    def award(self, record_no: int, award: fmt.Award) -> None:
        self.add("credential_awards", record_no, award.values())

    def flush(self) -> None:
        sink = self.sink or _RowSink()
        sink.extend(self.rows)
        self.rows = {table: [] for table in TABLE_COLUMNS}
        if self.sink is None:
            sink.write(self.load.con)


def _refresh_known_awards(out: _Rows, record_no: int, state: _State) -> None:
    """Append a completed row for earlier awards a new badge class / issuer / revocation list completes."""
    load = out.load
    for award_id, known in list(state.awards.items()):
        if known.source_format != "ob2" or (known.achievement_name and known.issuer_name and (
                known.revoked or award_id not in state.registry.revoked)):
            continue
        resolved = state.registry.resolve(known)
        if resolved != known:
            out.award(record_no, resolved)
            state.awards[award_id] = resolved
            state.award_origin[award_id] = load.source_ref


def _credentials(rec: _Record, doc: fmt.Document) -> list[dict]:
    """The credential object of each of a document's awards, in ``doc.awards`` order."""
    is_jwt = rec.kind == "jwt"
    cred = fmt.credential_from_jwt_payload(doc.payload) if is_jwt else doc.payload
    creds = [cred]
    if doc.document_format == "clr2_credential":
        subject = cred.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) else subject
        for item in subject.get("verifiableCredential") or []:
            creds.append(fmt.credential_from_jwt_payload(fmt.decode_jwt(item)[1]) if isinstance(item, str)
                         else item)
    return creds


def _record_check(out: _Rows, record_no: int, state: _State, award_id: str, entry_json: str,
                  res: status.StatusResult) -> bool:
    """Append a status check when its result or list content is new; True when appended."""
    key = (award_id, entry_json)
    if state.status_checks.get(key) == (res.result, res.list_sha256):
        return False
    out.add("credential_status_checks", record_no,
            (award_id, res.status_type, res.list_id, res.status_index, res.purpose, entry_json, res.result,
             res.detail, res.list_sha256))
    state.status_checks[key] = (res.result, res.list_sha256)
    return True


def _apply_status(out: _Rows, rec: _Record, doc: fmt.Document, awards: list[fmt.Award],
                  state: _State) -> list[fmt.Award]:
    """Check the new awards' credentialStatus entries against the status lists; revoke what they revoke."""
    if doc.document_format not in ("ob3_credential", "clr2_credential"):
        return awards
    by_id = dict(zip((a.award_id for a in doc.awards), _credentials(rec, doc), strict=False))
    result = []
    for award in awards:
        cred = by_id.get(award.award_id)
        for entry in status.status_entries(cred) if isinstance(cred, dict) else []:
            entry_json = canonical_json(entry).decode()
            res = status.check(award.award_id, entry, state.status_lists)
            _record_check(out, rec.record_no, state, award.award_id, entry_json, res)
            if res.result == "revoked" and not award.revoked:
                award = replace(award, revoked=True, revocation_reason=award.revocation_reason or res.reason)
        result.append(award)
    return result


def _verified_items(rec: _Record, doc: fmt.Document) -> list[tuple[str, str]]:
    """(award_id, sha256 of what is verified) of a document's awards, in ``doc.awards`` order."""
    is_jwt = rec.kind == "jwt"
    first = (hashlib.sha256(doc.raw_text.strip().encode()).hexdigest() if is_jwt
             else fmt.canonical_sha256(doc.payload))
    items = [(doc.awards[0].award_id, first)]
    if doc.document_format == "clr2_credential":
        cred = fmt.credential_from_jwt_payload(doc.payload) if is_jwt else doc.payload
        subject = cred.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) else subject
        for award, item in zip(doc.awards[1:], subject.get("verifiableCredential") or [], strict=False):
            sha = (hashlib.sha256(item.strip().encode()).hexdigest() if isinstance(item, str)
                   else fmt.canonical_sha256(item))
            items.append((award.award_id, sha))
    return items


def _verify_awards(out: _Rows, rec: _Record, doc: fmt.Document, state: _State) -> None:
    """Verify the proofs of a loaded document's credentials not verified before (by content hash)."""
    if not doc.awards:
        return
    items = _verified_items(rec, doc)
    if all(item in state.verified for item in items):
        return
    try:
        outcomes = dict(verify.verify_document(doc.document_format, doc.payload, doc.raw_text,
                                               rec.kind == "jwt", state.keys))
    except Exception as exc:  # noqa: BLE001 - a verification bug never stops a load
        outcomes = {i: verify.Outcome(verify.UNVERIFIABLE, f"verification failed: {type(exc).__name__}: {exc}")
                    for i in range(len(items))}
    for i, item in enumerate(items):
        if item in state.verified:
            continue
        outcome = outcomes.get(i) or verify.Outcome(verify.UNVERIFIABLE, "no verification outcome")
        out.add("credential_verifications", rec.record_no,
                (*item, outcome.status, outcome.detail, outcome.proof_types, state.keys.fingerprint))
        state.verified.add(item)


def _load_document(out: _Rows, rec: _Record, doc: fmt.Document, state: _State) -> None:
    load = out.load
    key = (doc.document_format, doc.document_id, doc.payload_sha256)
    new_awards: list[fmt.Award] = []
    seen: dict[str, fmt.Award] = {}
    for award in doc.awards:
        award = state.registry.resolve(award)
        known = seen.get(award.award_id) or state.awards.get(award.award_id)
        if known is not None:
            issuers_differ = known.issuer_id and award.issuer_id and known.issuer_id != award.issuer_id
            if known.core() != award.core() or issuers_differ:
                where = state.award_origin.get(award.award_id, load.source_ref)
                raise fmt.Rejected("duplicate_id_conflict",
                                   f"award {award.award_id} was loaded before (from {where}) with a different "
                                   "format, achievement, issuer, recipient or dates")
            merged = award.merge_into(known)
            if merged != known:
                new_awards.append(merged)
        else:
            new_awards.append(award)
        seen[award.award_id] = award
    if not new_awards and (doc.awards or key in state.doc_keys):
        load.duplicate += 1
        return
    new_awards = _apply_status(out, rec, doc, new_awards, state)
    out.add("credential_documents", rec.record_no,
            (doc.document_format, doc.document_id, doc.payload_json, doc.raw_text, doc.payload_sha256))
    state.doc_keys.add(key)
    for award in new_awards:
        out.award(rec.record_no, award)
        state.awards[award.award_id] = award
        state.award_origin[award.award_id] = load.source_ref
    _verify_awards(out, rec, doc, state)
    new_assoc = [a for a in dict.fromkeys(doc.associations) if a not in state.associations]
    for assoc in new_assoc:
        out.add("credential_associations", rec.record_no, assoc)
    state.associations.update(new_assoc)
    if doc.document_format in REGISTRY_FORMATS:
        _refresh_known_awards(out, rec.record_no, state)
    load.loaded += 1


def _load_document_file(load: RawLoad, path: Path, state: _State, sink: _RowSink | None = None) -> None:
    out = _Rows(load, sink)
    for rec in _records(path):
        load.read += 1
        try:
            doc = _parse(rec, load.loaded_at)
        except fmt.Rejected as exc:
            load.quarantine(rec.record_no, exc.reason, exc.detail, rec.raw)
            continue
        except Exception as exc:  # noqa: BLE001 - one record never stops a load
            load.quarantine(rec.record_no, "ingest_error", f"{type(exc).__name__}: {exc}", rec.raw)
            continue
        try:
            _load_document(out, rec, doc, state)
        except fmt.Rejected as exc:
            load.quarantine(rec.record_no, exc.reason, exc.detail, rec.raw)
    out.flush()


def _load_collections(load: RawLoad, path: Path) -> None:
    records = csv_records(path.read_bytes())
    first = next(records, None)
    if first is None:
        return
    header_no, header_raw = first
    try:
        header = [h.strip().lower() for h in parse_csv_row(header_raw)]
    except UnicodeDecodeError as exc:
        load.read += 1
        load.quarantine(header_no, "bad_csv_header", f"not valid UTF-8: {exc}", header_raw)
        return
    except csv.Error as exc:
        header = [f"<unreadable header: {exc}>"]
    missing = [c for c in COLLECTION_COLUMNS[:4] if c not in header]
    if missing:
        load.read += 1
        load.quarantine(header_no, "bad_csv_header", f"header lacks {missing}: {header}",
                        path.read_bytes())
        return
    rows: list[tuple[int, tuple, str]] = []
    for line_no, raw in records:
        load.read += 1
        try:
            line = _decode(raw)
            fields = parse_csv_row(raw)
        except fmt.Rejected as exc:
            load.quarantine(line_no, exc.reason, exc.detail, raw)
            continue
        except csv.Error as exc:
            load.quarantine(line_no, "bad_csv_row", f"unparsable CSV: {exc}", raw)
            continue
        if len(fields) != len(header):
            load.quarantine(line_no, "bad_csv_row", f"{len(fields)} fields, header has {len(header)}", raw)
            continue
        row = {c: (v.strip() if v.strip() else None) for c, v in zip(header, fields, strict=True)}
        empty = [c for c in ("collection_id", "achievement_id") if not row.get(c)]
        if empty:
            load.quarantine(line_no, "missing_key", f"empty {empty}", raw)
            continue
        position = row.get("position") or ""
        if not position.isdigit():
            load.quarantine(line_no, "bad_csv_row", f"position {position!r} is not a whole number", raw)
            continue
        if int(position) > 2**31 - 1:
            load.quarantine(line_no, "value_out_of_range", f"position {position[:100]!r} is beyond 2^31 - 1", raw)
            continue
        rows.append((line_no, tuple(row.get(c) for c in COLLECTION_COLUMNS), line))
    conflicting, duplicate = key_conflicts(rows, key=lambda r: (r[1][0], r[1][3]), values=lambda r: r[1])
    out = _Rows(load)
    for idx, (line_no, values, line) in enumerate(rows):
        if idx in conflicting:
            load.quarantine(line_no, "duplicate_key_conflict",
                            f"collection {values[0]} lists achievement {values[3]} more than once in this file "
                            "with different values", line)
        elif idx in duplicate:
            load.duplicate += 1
        else:
            out.add("collections", line_no, (*values, line))
            load.loaded += 1
    out.flush()


def _prescan(path: Path, registry: fmt.Registry, now: dt.datetime) -> None:
    """Register the OB 2.0 badge classes, issuers and revocation lists a file holds."""
    for rec in _records(path):
        try:
            # the format first (its types): only a registry document is parsed in full here,
            # an award is parsed once, by its load
            if rec.kind != "json" or fmt.detect_format(rec.value) not in REGISTRY_FORMATS:
                continue
            doc = _parse(rec, now)
        except Exception:  # noqa: BLE001 - the load itself quarantines what does not parse
            continue
        if doc.document_format in REGISTRY_FORMATS:
            registry.add(doc)


def _load_key_file(load: RawLoad, path: Path, state: _State) -> None:
    """A key file: one record; credentials still unverifiable with other keys are verified again."""
    load.read += 1
    data = path.read_bytes()
    probe = verify.KeyDirectory()
    try:
        probe.add(orjson.loads(data.removeprefix(BOM)))
    except orjson.JSONDecodeError as exc:
        load.quarantine(1, "malformed_json", str(exc), data)
        return
    if probe.problems:
        load.quarantine(1, "unsupported_document", "; ".join(probe.problems), data)
        return
    load.loaded += 1
    fingerprint = state.keys.fingerprint
    rows = load.con.execute(
        # the latest outcome per award; the document is where its content was first verified
        "with latest as (select * from raw.credential_verifications qualify row_number() over "
        "(partition by award_id order by loaded_at desc, record_no desc) = 1), "
        "origin as (select * from raw.credential_verifications qualify row_number() over "
        "(partition by award_id, verified_sha256 order by loaded_at, record_no) = 1) "
        "select latest.award_id, latest.verified_sha256, d.document_format, d.payload, d.raw_text "
        "from latest join origin using (award_id, verified_sha256) "
        "join raw.credential_documents d on d.load_id = origin.load_id and d.record_no = origin.record_no "
        "where latest.proof_status = 'unverifiable' and coalesce(latest.keys_sha256, '') <> ? "
        "order by latest.loaded_at, latest.record_no", [fingerprint]).fetchall()
    out = _Rows(load)
    for award_id, sha, doc_format, payload_json, raw_text in rows:
        try:
            payload = orjson.loads(payload_json)
            is_jwt = not raw_text.lstrip().startswith(("{", "["))
            doc = fmt.parse_document(payload, raw_text, load.loaded_at, from_jwt=is_jwt)
            index = [a.award_id for a in doc.awards].index(award_id)
            outcome = dict(verify.verify_document(doc_format, payload, raw_text, is_jwt, state.keys))[index]
        except Exception:  # noqa: BLE001, S112 - a document that no longer reads keeps its earlier outcome
            continue
        out.add("credential_verifications", 1,
                (award_id, sha, outcome.status, outcome.detail, outcome.proof_types, fingerprint))
    out.flush()


def _load_status_list(load: RawLoad, path: Path, state: _State) -> None:
    """A status list file: one record; the earlier awards whose entries point at it are checked again."""
    load.read += 1
    data = path.read_bytes()
    try:
        doc = orjson.loads(data.removeprefix(BOM))
    except orjson.JSONDecodeError as exc:
        load.quarantine(1, "malformed_json", str(exc), data)
        return
    lst = status.read_list(doc, state.keys, hashlib.sha256(data).hexdigest())
    if lst is None:
        load.quarantine(1, "unsupported_document",
                        "not a status list (BitstringStatusListCredential, StatusList2021Credential, "
                        "1EdTech revocation list)", data)
        return
    load.loaded += 1
    out = _Rows(load)
    for (award_id, entry_json), (previous, _sha) in list(state.status_checks.items()):
        if previous == "revoked":       # a revocation sticks (as everywhere in the raw layer)
            continue
        entry = orjson.loads(entry_json)
        if lst.list_id not in (entry.get("statusListCredential"), entry.get("id")):
            continue
        res = status.check(award_id, entry, state.status_lists)
        appended = _record_check(out, 1, state, award_id, entry_json, res)
        known = state.awards.get(award_id)
        if appended and res.result == "revoked" and known is not None and not known.revoked:
            revoked = replace(known, revoked=True, revocation_reason=known.revocation_reason or res.reason)
            out.award(1, revoked)
            state.awards[award_id] = revoked
            state.award_origin[award_id] = load.source_ref
    out.flush()


def _landing_files(root: Path) -> list[Path]:
    """Every file under ``root`` in path order, following symlinked folders (each real folder once).

    Names starting with ``.`` (files or folders) are skipped, as everywhere in the landing zone.
    """
    files, seen = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(folder) / n for n in names if not n.startswith(".") and (Path(folder) / n).is_file()]
    return sorted(files)


def ingest_credentials(con: duckdb.DuckDBPyConnection, landing_dir: Path | str,
                       progress: Progress | None = None) -> list[dict]:
    """Load every new file under ``<landing_dir>/credentials``; one summary dict per file."""
    landing = Path(landing_dir)
    root = landing / "credentials"
    if not root.is_dir():
        return []
    files = _landing_files(root)
    keys = verify.KeyDirectory(landing / KEYS_FOLDER)

    shas = {}
    for path in files:
        if path.suffix.lower() in DOCUMENT_SUFFIXES:
            try:  # a file that cannot be read here is quarantined by its load below
                shas[path] = file_sha256(path)
            except OSError:
                continue

    def new_state() -> _State:
        state = _State(con, keys, status.StatusLists(landing / STATUS_FOLDER, keys))
        now = utcnow()
        # badge classes, issuers and revocation lists of every new file first, whatever the file order
        known = loaded_contents(con, SOURCE, set(shas.values()))
        for path, sha in shas.items():
            if sha not in known:
                try:
                    _prescan(path, state.registry, now)
                except Exception:  # noqa: BLE001
                    continue
        return state

    class Batch(FileBatch):
        """Document files of a batch hand their rows to one sink, written once before the commit."""

        def __init__(self):
            self.state = new_state()
            self.sink: _RowSink | None = None

        def begin(self) -> None:
            self.sink = _RowSink()

        def before_commit(self) -> None:
            self.sink.write(con)
            self.sink = None

        def rolled_back(self) -> None:  # what the batch's files added to the state is gone too
            self.sink = None
            self.state = new_state()

    batch = Batch()

    def body(load: RawLoad, path: Path) -> None:
        state = batch.state
        if path.name.lower() == COLLECTIONS_FILE:
            _load_collections(load, path)
        elif path.suffix.lower() in DOCUMENT_SUFFIXES:
            _load_document_file(load, path, state, batch.sink)
        else:
            load.read += 1
            load.quarantine(1, "unsupported_file",
                            f"{path.suffix or 'no extension'}: not a credentials file type", path.read_bytes())

    results = []
    # key files first: their loads verify again what earlier runs could not (no key then);
    # status lists next: their loads re-check the awards of earlier runs (this run's are checked as loaded)
    for folder, loader in ((KEYS_FOLDER, _load_key_file), (STATUS_FOLDER, _load_status_list)):
        root = landing / folder
        if not root.is_dir():
            continue
        for path in _landing_files(root):
            if path.suffix.lower() == ".json":
                results.append(load_file_once(con, SOURCE, landing, path,
                                              lambda load, p, loader=loader: loader(load, p, batch.state)))
    results += load_many_files(con, SOURCE, landing, files, body, batch=batch, file_shas=shas,
                               progress=progress and (lambda done, total: progress("credentials files", done, total)))
    return results
