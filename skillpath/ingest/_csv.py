"""RFC 4180 CSV records for the landing zone (LMS exports, ``credentials/collections.csv``).

:func:`csv_records` cuts a file into records without parsing values: a record
ends at a line end unless a quoted value is open. Per RFC 4180 a ``"`` opens a
quoted value only as the first character of a field, so a stray quote inside an
unquoted value (``Dwayne "The Rock Johnson``) stays in its own row instead of
joining the following lines to it. A record spanning lines that still does not
parse as a row of the header's width (an unterminated quoted value) is cut back:
its first line alone is the bad record, and reading resumes on the next line, so a
malformed row never absorbs its neighbours.

:func:`parse_csv_row` parses one record strictly: a quote inside an unquoted
value, or text after a closing quote, is a ``csv.Error``.

:func:`csv_header` reads the header record; :func:`key_conflicts` finds keys repeated
within one delivery.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence

BOM = b"\xef\xbb\xbf"
_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_RFC4180_RECORD = re.compile(rf"{_FIELD}(?:,{_FIELD})*")


def _quote_open_after(line: bytes, in_quotes: bool) -> bool:
    """Whether a quoted value is open at the end of ``line`` (given whether one was at its start)."""
    if not in_quotes and b'"' not in line:
        return False
    pos, at_field_start = 0, not in_quotes
    while True:
        if in_quotes:
            q = line.find(b'"', pos)
            if q < 0:
                return True
            if line[q + 1:q + 2] == b'"':  # an escaped quote
                pos = q + 2
                continue
            in_quotes, at_field_start, pos = False, False, q + 1
        elif at_field_start and line[pos:pos + 1] == b'"':
            in_quotes, pos = True, pos + 1
        else:
            comma = line.find(b",", pos)
            if comma < 0:
                return False
            pos, at_field_start = comma + 1, True


def parse_csv_row(raw: bytes) -> list[str]:
    """The values of one record; ``csv.Error`` when it is not RFC 4180, UnicodeDecodeError."""
    text = raw.decode("utf-8")
    if '"' in text and not _RFC4180_RECORD.fullmatch(text):
        raise csv.Error("a quote inside an unquoted value, or text after a closing quote (RFC 4180)")
    return next(csv.reader([text], strict=True))


def _width(raw: bytes) -> int | None:
    try:
        return len(parse_csv_row(raw))
    except (UnicodeDecodeError, csv.Error):
        return None


def csv_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(first line number, verbatim bytes) of each CSV record, line ends removed; blank lines skipped.

    The first record is the header; a later record spanning several lines is kept
    only when it parses to as many values as the header (see the module docstring).
    A leading UTF-8 byte-order mark is dropped.
    """
    if data.startswith(BOM):
        data = data[3:]
    lines = data.splitlines(keepends=True)
    width = None
    header_seen = False
    i, n = 0, len(lines)
    while i < n:
        j, in_quotes = i, False
        while j < n:
            in_quotes = _quote_open_after(lines[j], in_quotes)
            j += 1
            if not in_quotes:
                break
        record = b"".join(lines[i:j]).rstrip(b"\r\n") if j - i > 1 else lines[i].rstrip(b"\r\n")
        if j - i > 1 and header_seen and (width is None or _width(record) != width):
            yield i + 1, lines[i].rstrip(b"\r\n")  # the bad first line alone; the next line starts afresh
            i += 1
            continue
        if record.strip():
            if not header_seen:
                header_seen, width = True, _width(record)
            yield i + 1, record
        i = j


def csv_header(records: Iterator[tuple[int, bytes]]) -> list[str] | None:
    """The header of :func:`csv_records` (consumed from ``records``): its trimmed names, one
    ``<unreadable header: ...>`` name when it is not UTF-8 or not RFC 4180; None for an empty file."""
    first = next(records, None)
    if first is None:
        return None
    try:
        return [h.strip() for h in parse_csv_row(first[1])]
    except (UnicodeDecodeError, csv.Error) as exc:
        return [f"<unreadable header: {exc}>"]


def key_conflicts(rows: Sequence, key: Callable, values: Callable) -> tuple[set[int], set[int]]:
    """Rows (by index) repeating a key within one delivery: ``(conflicting, duplicate)``.

    A key that appears with different values marks **every** row holding it as
    conflicting (the delivery contradicts itself: no row of it can be trusted); a key
    repeated with identical values marks each repeat after the first as a duplicate.
    """
    first: dict = {}
    same: dict = {}
    conflicting_keys = set()
    for idx, row in enumerate(rows):
        k = key(row)
        if k in first:
            if values(rows[first[k]]) != values(row):
                conflicting_keys.add(k)
            else:
                same.setdefault(k, []).append(idx)
        else:
            first[k] = idx
    conflicting = {idx for idx, row in enumerate(rows) if key(row) in conflicting_keys} if conflicting_keys else set()
    duplicate = {idx for k, idxs in same.items() if k not in conflicting_keys for idx in idxs}
    return conflicting, duplicate
