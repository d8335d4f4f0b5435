"""LMS CSV exports (``landing/lms/*.csv``) into the ``raw.lms_*`` tables.

Every value is kept as text and every record's line verbatim (``raw_line``; a
quoted value may span several physical lines, which then stay together). The
header must name exactly the contract's columns, in any order. Rows are only
appended: an export delivered again with changes is loaded again in full, and
staging keeps the latest row per key. Within one delivery (file) a key must
appear once: a key repeated with other values quarantines every row holding it
(``duplicate_key_conflict``), an identical repeat counts as a duplicate. Records
are cut per RFC 4180 (``skillpath.ingest._csv``): a malformed row is one
quarantined record and never absorbs its neighbours.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow as pa

from skillpath.ingest._csv import csv_header, csv_records, key_conflicts, parse_csv_row
from skillpath.ingest.contract import LMS_FILES
from skillpath.ingest.landing import (
    Progress,
    load_files,
    quarantine_unreadable,
    quarantine_whole_file,
)
from skillpath.ingest.rawstore import RawLoad

SOURCE = "lms"



def _load_csv(con: duckdb.DuckDBPyConnection, load: RawLoad, path: Path, table: str,
              columns: tuple[str, ...], keys: tuple[str, ...]) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        quarantine_unreadable(load, path, 1, exc)
        return
    records = csv_records(data)
    header = csv_header(records)
    if header is None:
        return
    bad_header = None
    if sorted(header) != sorted(columns):
        bad_header = (f"header {','.join(header)} does not match the contract's columns "
                      f"{','.join(columns)} (any order)")
    order = [header.index(c) for c in columns] if bad_header is None else []
    key_pos = [columns.index(k) for k in keys]
    rows = []
    for line_no, raw in records:
        load.read += 1
        if bad_header:
            load.quarantine(line_no, "bad_header", bad_header, raw)
            continue
        try:
            fields = parse_csv_row(raw)
        except UnicodeDecodeError as exc:
            load.quarantine(line_no, "invalid_utf8", f"not valid UTF-8: {exc}", raw)
            continue
        except csv.Error as exc:
            load.quarantine(line_no, "bad_csv_row", f"unparsable CSV: {exc}", raw)
            continue
        if len(fields) != len(header):
            load.quarantine(line_no, "bad_csv_row", f"{len(fields)} values, the header has {len(header)}", raw)
            continue
        values = [fields[i] for i in order]
        missing = [columns[i] for i in key_pos if not values[i].strip()]
        if missing:
            load.quarantine(line_no, "missing_key", f"empty key column(s): {', '.join(missing)}", raw)
            continue
        problem = out_of_range(columns, values)
        if problem:
            load.quarantine(line_no, "value_out_of_range", problem, raw)
            continue
        rows.append((line_no, *values, raw.decode("utf-8")))
    rows = _without_key_repeats(load, rows, [1 + i for i in key_pos])
    if rows:
        names = ["record_no", *columns, "raw_line"]
        cols = list(zip(*rows, strict=True))
        batch = pa.Table.from_arrays(
            [pa.array(cols[0], pa.int64())] + [pa.array(c, pa.string()) for c in cols[1:]], names=names)
        con.complete()  # a pending result (e.g. after fetchone) blocks register
        con.register("_lms_batch", batch)
        try:
            con.execute(
                f"insert into raw.{table} (load_id, source, source_ref, loaded_at, {', '.join(names)}) "
                f"select ?, ?, ?, ?, {', '.join(names)} from _lms_batch",
                [load.load_id, load.source, load.source_ref, load.loaded_at],
            )
        finally:
            con.unregister("_lms_batch")
        load.loaded += len(rows)


#: numeric columns and the magnitude their staging / mart types hold (integer positions,
#: max_points summed as decimal(38, 10)); text that is not a number is left to staging
NUMERIC_LIMITS = {"position": 2**31 - 1, "max_points": 1e12}


def out_of_range(columns: tuple[str, ...], values: list[str]) -> str | None:
    """Why a numeric value is beyond what staging and the marts hold (or not finite), else None."""
    for column, value in zip(columns, values, strict=True):
        limit = NUMERIC_LIMITS.get(column)
        if limit is None or not value.strip():
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if not -limit <= number <= limit:  # also false for nan
            return f"{column} {value.strip()[:100]!r} is beyond {limit:g}"
    return None


def _without_key_repeats(load: RawLoad, rows: list[tuple], key_cols: list[int]) -> list[tuple]:
    """The rows to insert: repeated keys of this file quarantined (conflict) or counted (duplicate)."""
    conflicting, duplicate = key_conflicts(
        rows, key=lambda r: tuple(r[i].strip() for i in key_cols),
        values=lambda r: tuple(v.strip() for v in r[1:-1]))
    if not conflicting and not duplicate:
        return rows
    kept = []
    for idx, row in enumerate(rows):
        if idx in conflicting:
            key = ", ".join(row[i].strip() for i in key_cols)
            load.quarantine(row[0], "duplicate_key_conflict",
                            f"key ({key}) appears more than once in this file with different values", row[-1])
        elif idx in duplicate:
            load.duplicate += 1
        else:
            kept.append(row)
    return kept


def _body(con: duckdb.DuckDBPyConnection):
    def body(load: RawLoad, path: Path) -> None:
        spec = LMS_FILES.get(path.name.lower())
        if spec is None:
            quarantine_whole_file(load, path, "unknown_file",
                                  f"not an LMS export of the contract ({', '.join(LMS_FILES)})")
            return
        _load_csv(con, load, path, *spec)
    return body


def ingest_lms(con: duckdb.DuckDBPyConnection, landing_dir: Path, progress: Progress = None) -> list[dict]:
    """Load every new file under ``landing/lms/`` (subfolders too); one dict of counts per file."""
    return load_files(con, SOURCE, Path(landing_dir), "lms", _body(con), progress)
