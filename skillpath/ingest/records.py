"""Record-level helpers every ingester shares: the quarantine exception, JSON parsing and
canonical hashing, ISO 8601 date-times.

A record that cannot be loaded raises :class:`Rejected` with its quarantine reason
(docs/raw_layer.md lists them); the loader counts it in the quarantine of its load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

#: how a credential recipient identity that is no email begins (a DID, a URN, a URL): Open Badges
#: 3.0 / CLR 2.0 subjects, consent subjects, erasure requests (compared lower-cased)
IDENTITY_SCHEMES = ("did:", "urn:", "http://", "https://")


class Rejected(Exception):
    """A record that goes to quarantine: ``reason`` (the quarantine reason) and ``detail``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def dumps(obj: Any, option: int | None = None) -> bytes:
    """``orjson.dumps``; Rejected ``too_deeply_nested`` for JSON nested deeper than orjson writes (255)."""
    try:
        return orjson.dumps(obj, option=option)
    except orjson.JSONEncodeError as exc:
        raise Rejected("too_deeply_nested", f"JSON nested too deeply to process ({exc})") from None


def canonical_json(obj: Any, exclude: tuple[str, ...] = ()) -> bytes:
    """The canonical JSON (sorted keys, compact) of ``obj`` without its top-level ``exclude`` keys."""
    if exclude and isinstance(obj, dict) and any(k in obj for k in exclude):
        obj = {k: v for k, v in obj.items() if k not in exclude}
    return dumps(obj, orjson.OPT_SORT_KEYS)


def canonical_sha256(obj: Any, exclude: tuple[str, ...] = ()) -> str:
    """sha256 (hex) of :func:`canonical_json`: the payload hash that tells a repeat from a conflict."""
    return hashlib.sha256(canonical_json(obj, exclude)).hexdigest()


def parse_json_record(raw: bytes) -> Any:
    """orjson-parse one record; Rejected with invalid_utf8, too_deeply_nested or malformed_json."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise Rejected("invalid_utf8", f"not valid UTF-8: {uexc}") from None
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise Rejected("too_deeply_nested", f"JSON nested too deeply to process ({exc})") from None
        raise Rejected("malformed_json", f"malformed JSON: {exc}") from None


def iso_to_utc(value: str, *, clamp: bool = True) -> dt.datetime:
    """An ISO 8601 date or date-time string as a naive UTC datetime (no offset = UTC); ValueError otherwise.

    RFC 3339 lower-case ``t`` / ``z`` are accepted. A value that cannot be expressed in
    UTC (``9999-12-31T23:00:00-05:00``, ``0001-01-01T00:00:00+05:30``) is clamped to
    ``datetime.max`` / ``datetime.min``, which the xAPI plausibility checks then reject;
    with ``clamp=False`` it raises OverflowError (credential dates: an invalid date).
    """
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    ts = dt.datetime.fromisoformat(value)
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            if not clamp:
                raise
            ts = dt.datetime.max if ts.year == dt.MAXYEAR else dt.datetime.min
    return ts
