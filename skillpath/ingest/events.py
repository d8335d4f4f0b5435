"""Credential lifecycle events (``landing/credential_events/*.ndjson``) into ``raw.credential_events``.

One JSON object per line: ``event_id``, ``event_type``, ``occurred_at``,
``credential_id``, optional ``channel`` and ``verifier`` {organization_id,
industry, country, consented}. Duplicates and id conflicts are handled as for
xAPI statements (same ``event_id``: same canonical payload = duplicate, another
payload = ``duplicate_id_conflict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

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
from skillpath.ingest.xapi import (
    BatchWriter,
    Rejected,
    canonical_sha256,
    check_timestamp,
    load_parsed_records,
    parse_json_record,
    parse_timestamp,
)

SOURCE = "credential_events"
EVENT_TYPES = frozenset({"issued", "accepted", "viewed", "shared", "added_to_profile", "downloaded",
                         "verified", "hired", "revoked", "expired"})

_SCHEMA = pa.schema([
    ("record_no", pa.int64()),
    ("event_id", pa.string()),
    ("payload", pa.large_string()),  # non-null UTF-8 bytes (see BatchWriter)
    ("payload_sha256", pa.string()),
    ("event_type", pa.string()),
    ("occurred_at", pa.timestamp("us")),
    ("credential_id", pa.string()),
    ("channel", pa.string()),
    ("verifier_organization_id", pa.string()),
    ("verifier_industry", pa.string()),
    ("verifier_country", pa.string()),
    ("verifier_consented", pa.bool_()),
])


def _text(value) -> str | None:
    """A scalar as text (numbers too); None for null, empty strings and non-scalars."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_event(record_no: int, raw: bytes) -> tuple:
    """The batch row (see ``_SCHEMA``) of one event, or :class:`Rejected`."""
    ev = parse_json_record(raw)
    if not isinstance(ev, dict):
        raise Rejected("malformed_json", f"an event is a JSON object, got {type(ev).__name__}")
    event_id = _text(ev.get("event_id"))
    if event_id is None:
        raise Rejected("missing_id", "event has no event_id")
    event_type = ev.get("event_type")
    credential_id = _text(ev.get("credential_id"))
    missing = [name for name, v in (("event_type", event_type), ("credential_id", credential_id))
               if not v or not isinstance(v, str)]
    if missing:
        raise Rejected("missing_field", f"event has no {' and no '.join(missing)}")
    if event_type not in EVENT_TYPES:
        raise Rejected("unknown_event_type", f"event_type {str(event_type)[:100]!r} is not one of "
                                             f"{', '.join(sorted(EVENT_TYPES))}")
    try:
        occurred_at = parse_timestamp(ev.get("occurred_at"))
    except (ValueError, TypeError) as exc:
        raise Rejected("bad_timestamp", f"occurred_at: {exc}") from None
    check_timestamp(occurred_at, "occurred_at")
    verifier = ev.get("verifier")
    verifier = verifier if isinstance(verifier, dict) else {}
    consented = verifier.get("consented")
    return (
        record_no, event_id, raw, canonical_sha256(ev),
        event_type, occurred_at, credential_id, _text(ev.get("channel")),
        _text(verifier.get("organization_id")), _text(verifier.get("industry")), _text(verifier.get("country")),
        consented if isinstance(consented, bool) else None,
    )


def _records(load: RawLoad, path: Path) -> Iterator[tuple[int, bytes]]:
    last = 0
    try:
        with open_landing_file(path) as fh:
            for last, line in iter_lines(fh):
                yield last, line
    except READ_ERRORS as exc:
        quarantine_unreadable(load, path, last + 1, exc, f"read failed after line {last}: " if last else "")


def _body(con: duckdb.DuckDBPyConnection):
    def body(load: RawLoad, path: Path) -> None:
        if not base_name(path).endswith((".ndjson", ".jsonl")):
            quarantine_whole_file(load, path, "unknown_file",
                                  "credential_events/ takes *.ndjson, *.jsonl (optionally .gz)")
            return
        load_parsed_records(con, load, _records(load, path), parse_event,
                            BatchWriter(con, load, "credential_events", "event_id", _SCHEMA, "event"))
    return body


def ingest_credential_events(con: duckdb.DuckDBPyConnection, landing_dir: Path,
                             progress: Progress = None) -> list[dict]:
    """Load every new file under ``landing/credential_events/``; one dict of counts per file."""
    return load_files(con, SOURCE, Path(landing_dir), "credential_events", _body(con), progress)
