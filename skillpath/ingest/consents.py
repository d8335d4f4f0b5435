"""Recipient consent events (``landing/consents/*.csv``, ``*.ndjson``) into ``raw.consent_events``.

One record is one event in a person's consent history: a ``subject`` (an LMS user id,
an email, or a credential recipient identity), the ``scope`` it is about
(``detailed_tracking``, ``share_with_employers``, ...), the ``action`` (``granted`` or
``withdrawn``), ``at`` (ISO 8601 **with** an offset) and an optional ``source`` (the
system that collected it). CSV files have a header naming these columns (and
optionally ``subject_type``); NDJSON lines are objects with the same keys. The
subject is stored normalised (``subject_type``, ``subject``: emails trimmed, without
``mailto:``, lower-cased; hashed identities lower-cased), so that the consent model
and erasure match it like the recipients of the credentials (docs/privacy.md).

An event's identity is ``event_key``, the sha256 of its normalised fields: the same
event delivered again (another file, another key order, ``mailto:`` or not) is a
duplicate, never a second row. docs/raw_layer.md lists the quarantine reasons.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from skillpath.ingest._csv import csv_header, csv_records, parse_csv_row
from skillpath.ingest.landing import (
    READ_ERRORS,
    Progress,
    base_name,
    iter_lines,
    load_files,
    open_landing_file,
    quarantine_unreadable,
    quarantine_whole_file,
)
from skillpath.ingest.rawstore import RawLoad
from skillpath.ingest.records import IDENTITY_SCHEMES, canonical_sha256, parse_json_record
from skillpath.ingest.xapi import BatchWriter, Rejected, check_timestamp, load_parsed_records, parse_timestamp

SOURCE = "consents"
#: how a subject is named (docs/privacy.md, "Consent")
SUBJECT_TYPES = ("user_id", "email", "recipient_identity")
ACTIONS = ("granted", "withdrawn")
#: scopes the marts use or document; any other scope is loaded (is_known_scope false in staging) and used by nothing
KNOWN_SCOPES = ("detailed_tracking", "share_with_employers")
REQUIRED_COLUMNS = ("subject", "scope", "action", "at")
OPTIONAL_COLUMNS = ("subject_type", "source")
#: longest subject / scope / source kept (a longer value is invalid, not truncated)
MAX_TEXT = 1000

_EMAIL = re.compile(r"[^@\s:/]+@[^@\s:/]+")
_HASHED = re.compile(r"(sha256|md5)\$([0-9a-f]*)", re.IGNORECASE)
_HEX_LENGTH = {"sha256": 64, "md5": 32}
#: an ISO 8601 date-time that ends in an offset: Z, +hh, +hhmm or +hh:mm
_WITH_OFFSET = re.compile(r".*\d[Tt ]\d.*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)")

_SCHEMA = pa.schema([
    ("record_no", pa.int64()),
    ("event_key", pa.string()),
    ("payload", pa.large_string()),  # non-null UTF-8 bytes (see BatchWriter): the record as read
    ("payload_sha256", pa.string()),
    ("subject_type", pa.string()),
    ("subject", pa.string()),
    ("subject_type_given", pa.bool_()),
    ("scope", pa.string()),
    ("action", pa.string()),
    ("occurred_at", pa.timestamp("us")),
    ("consent_source", pa.string()),
])


def _text(value) -> str | None:
    """A scalar as trimmed text (numbers too); None for null, blank and non-scalars."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _email(value: str) -> str | None:
    """The normalised email (``mailto:`` removed, lower-cased), or None when it is none."""
    if value[:7].lower() == "mailto:":
        value = value[7:].strip()
    value = value.lower()
    return value if _EMAIL.fullmatch(value) else None


def infer_subject_type(subject: str) -> str:
    """The subject type of a record that names none (docs/privacy.md): an email when it starts
    with ``mailto:``, a recipient identity when it is a hashed identity or a DID / URN / URL, an
    email when it contains an ``@``, else an LMS user id."""
    lowered = subject.lower()
    if lowered.startswith("mailto:"):
        return "email"
    if _HASHED.match(subject) or lowered.startswith(IDENTITY_SCHEMES):
        return "recipient_identity"
    return "email" if "@" in subject else "user_id"


def normalise_subject(subject_type: str, subject: str) -> tuple[str, str]:
    """``(subject_type, subject)`` as stored; Rejected ``invalid_subject`` when it cannot be one.

    A recipient identity that is an email (plain or ``mailto:``) is stored as an email:
    the credentials store plain-email recipients the same way, so both name one person.
    """
    if subject_type == "user_id":
        return subject_type, subject
    if subject_type == "email" or (subject[:7].lower() == "mailto:" or _EMAIL.fullmatch(subject)):
        email = _email(subject)
        if email is None:
            raise Rejected("invalid_subject", f"subject {subject[:100]!r} is not an email address")
        return "email", email
    hashed = _HASHED.fullmatch(subject)
    if hashed:
        algorithm = hashed.group(1).lower()
        if len(hashed.group(2)) != _HEX_LENGTH[algorithm]:
            raise Rejected("invalid_subject", f"subject {subject[:100]!r} is not {algorithm}$ and "
                                              f"{_HEX_LENGTH[algorithm]} hex digits")
        return "recipient_identity", subject.lower()
    return "recipient_identity", subject


def parse_consent(record_no: int, raw: bytes, record: dict) -> tuple:
    """The batch row (see ``_SCHEMA``) of one consent event, or :class:`Rejected`."""
    subject, scope, action = _text(record.get("subject")), _text(record.get("scope")), _text(record.get("action"))
    missing = [name for name, value in (("subject", subject), ("scope", scope), ("action", action),
                                        ("at", _text(record.get("at")))) if value is None]
    if missing:
        raise Rejected("missing_field", f"consent event has no {' and no '.join(missing)}")
    too_long = [name for name, value in (("subject", subject), ("scope", scope),
                                         ("source", _text(record.get("source")))) if value and len(value) > MAX_TEXT]
    if too_long:
        raise Rejected("invalid_subject" if too_long[0] == "subject" else "invalid_field",
                       f"{too_long[0]} is longer than {MAX_TEXT} characters")
    action = action.lower()
    if action not in ACTIONS:
        raise Rejected("unknown_action", f"action {action[:100]!r} is not one of {', '.join(ACTIONS)}")
    given = _text(record.get("subject_type"))
    if given is not None and given.lower() not in SUBJECT_TYPES:
        raise Rejected("invalid_subject", f"subject_type {given[:100]!r} is not one of {', '.join(SUBJECT_TYPES)}")
    subject_type, subject = normalise_subject(given.lower() if given else infer_subject_type(subject), subject)
    at = record.get("at")
    if not isinstance(at, str) or not _WITH_OFFSET.fullmatch(at.strip()):
        raise Rejected("bad_timestamp", f"at {str(at)[:100]!r} is not an ISO 8601 date-time with an offset "
                                        "(Z or +hh:mm): a consent time without one is ambiguous")
    try:
        occurred_at = parse_timestamp(at.strip())
    except (ValueError, TypeError) as exc:
        raise Rejected("bad_timestamp", f"at: {exc}") from None
    check_timestamp(occurred_at, "at")
    scope, source = scope.lower(), _text(record.get("source"))
    fields = [subject_type, subject, scope, action, occurred_at.isoformat(), source]
    key = canonical_sha256(fields)
    return (record_no, key, raw, key, subject_type, subject, given is not None, scope, action, occurred_at, source)


def parse_json_consent(record_no: int, raw: bytes) -> tuple:
    record = parse_json_record(raw)
    if not isinstance(record, dict):
        raise Rejected("malformed_json", f"a consent event is a JSON object, got {type(record).__name__}")
    return parse_consent(record_no, raw, record)


def _csv_parser(header: list[str]) -> Callable[[int, bytes], tuple]:
    """The record parser of a CSV file with this header (every row ``bad_header`` when it is not the contract's)."""
    unknown = [h for h in header if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    absent = [c for c in REQUIRED_COLUMNS if c not in header]
    bad_header = None
    if unknown or absent or len(set(header)) != len(header):
        bad_header = (f"header {','.join(header)[:300]} must name {', '.join(REQUIRED_COLUMNS)} and may name "
                      f"{', '.join(OPTIONAL_COLUMNS)}, each once, in any order")

    def parse(record_no: int, raw: bytes) -> tuple:
        if bad_header:
            raise Rejected("bad_header", bad_header)
        try:
            values = parse_csv_row(raw)
        except UnicodeDecodeError as exc:
            raise Rejected("invalid_utf8", f"not valid UTF-8: {exc}") from None
        except csv.Error as exc:
            raise Rejected("bad_csv_row", f"unparsable CSV: {exc}") from None
        if len(values) != len(header):
            raise Rejected("bad_csv_row", f"{len(values)} values, the header has {len(header)}")
        return parse_consent(record_no, raw, dict(zip(header, values, strict=True)))
    return parse


def _json_records(load: RawLoad, path: Path) -> Iterator[tuple[int, bytes]]:
    last = 0
    try:
        with open_landing_file(path) as fh:
            for last, line in iter_lines(fh):
                yield last, line
    except READ_ERRORS as exc:
        quarantine_unreadable(load, path, last + 1, exc, f"read failed after line {last}: " if last else "")


def _load_csv(con: duckdb.DuckDBPyConnection, load: RawLoad, path: Path, writer: BatchWriter) -> None:
    try:
        with open_landing_file(path) as fh:
            data = fh.read()
    except READ_ERRORS as exc:
        quarantine_unreadable(load, path, 1, exc)
        return
    records = csv_records(data)
    header = csv_header(records)
    if header is None:
        return
    load_parsed_records(con, load, records, _csv_parser([h.lower() for h in header]), writer)


def _body(con: duckdb.DuckDBPyConnection):
    def body(load: RawLoad, path: Path) -> None:
        name = base_name(path)
        writer = BatchWriter(con, load, "consent_events", "event_key", _SCHEMA, "consent event")
        if name.endswith(".csv"):
            _load_csv(con, load, path, writer)
        elif name.endswith((".ndjson", ".jsonl")):
            load_parsed_records(con, load, _json_records(load, path), parse_json_consent, writer)
        else:
            quarantine_whole_file(load, path, "unknown_file",
                                  "consents/ takes *.csv, *.ndjson, *.jsonl (optionally .gz)")
    return body


def ingest_consents(con: duckdb.DuckDBPyConnection, landing_dir: Path, progress: Progress = None) -> list[dict]:
    """Load every new file under ``landing/consents/``; one dict of counts per file."""
    return load_files(con, SOURCE, Path(landing_dir), "consents", _body(con), progress)
