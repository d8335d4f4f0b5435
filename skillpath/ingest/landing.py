"""The landing zone: walking its files, and loading each file exactly once.

Every landing file is handled by :func:`load_file_once`: its content sha256 is
compared with the manifest first, so a file loaded before (under any name) costs
one hash and nothing else; otherwise it is read inside one :class:`RawLoad`
transaction. The run over every source is ``skillpath.ingest.runner``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import duckdb

from skillpath.ingest.contract import LANDING_FOLDERS
from skillpath.ingest.rawstore import (
    RawLoad,
    already_loaded,
    file_sha256,
    insert_manifest_rows,
    loaded_contents,
    record_duplicate_content,
)

#: progress callback ``(label, done, total)``, called after each file
Progress = Callable[[str, int, int], None] | None

#: errors that mean a landing file (or the rest of it) cannot be read or decompressed
READ_ERRORS = (OSError, EOFError, zlib.error)

#: raw bytes of an unreadable file are kept in quarantine up to this size
MAX_QUARANTINED_FILE_BYTES = 64 << 20

def iter_landing_files(landing_dir: Path, subdir: str) -> list[Path]:
    """Regular files under ``landing_dir/subdir`` (recursively), sorted by path.

    Names starting with ``.`` (files or folders: partial uploads, editor files) are skipped.
    """
    root = Path(landing_dir) / subdir
    if not root.is_dir():
        return []
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        out.append(p)
    return sorted(out)


def landing_notes(landing_dir: Path) -> list[str]:
    """What a run skips without loading it, for the summary's notes.

    A missing landing directory, and paths under the landing folders that are neither
    a regular file nor a folder: dangling symbolic links, sockets, pipes (dot names
    are skipped by contract and not noted).
    """
    landing_dir = Path(landing_dir)
    if not landing_dir.is_dir():
        return [f"landing directory {landing_dir} does not exist: no landing files were read"]
    notes = []
    for subdir in LANDING_FOLDERS:
        root = landing_dir / subdir
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or p.is_file() or p.is_dir():
                continue
            what = "a dangling symbolic link" if p.is_symlink() else "not a regular file"
            notes.append(f"{p.relative_to(landing_dir).as_posix()}: {what}, skipped")
    return notes


def base_name(path: Path) -> str:
    """The lower-case file name without a trailing ``.gz``."""
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def open_landing_file(path: Path) -> IO[bytes]:
    """Open a landing file for binary reading, decompressing ``*.gz`` on the fly."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def quarantine_unreadable(load: RawLoad, path: Path, record_no: int, error: BaseException,
                          after: str = "") -> None:
    """Count one record for a file (or the rest of a file) that cannot be read or decompressed."""
    raw = None
    try:
        if path.stat().st_size <= MAX_QUARANTINED_FILE_BYTES:
            raw = path.read_bytes()
    except OSError:
        pass
    load.read += 1
    load.quarantine(record_no, "unreadable_file",
                    f"{after}{type(error).__name__}: {error}; the file stays in the landing zone", raw)


def quarantine_whole_file(load: RawLoad, path: Path, reason: str, detail: str) -> None:
    """Count a whole file as one quarantined record (raw bytes kept up to a size limit)."""
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_QUARANTINED_FILE_BYTES else None
    except OSError as exc:
        quarantine_unreadable(load, path, 1, exc)
        return
    load.read += 1
    load.quarantine(1, reason, detail, raw)


def load_file_once(con: duckdb.DuckDBPyConnection, source: str, landing_dir: Path, path: Path,
                   body: Callable[[RawLoad, Path], None]) -> dict:
    """Load one landing file exactly once, by content; returns its counts.

    ``body(load, path)`` reads the file into the open :class:`RawLoad`. A file whose
    content was loaded before is skipped: under a new name it is noted in the manifest
    as ``duplicate_content`` (and counts nothing), under its old name not at all
    (status ``seen_before``), so re-runs leave the manifest as it was.
    """
    rel = path.relative_to(landing_dir).as_posix()
    try:
        sha = file_sha256(path)
    except OSError as exc:
        with RawLoad(con, source, rel, None) as load:
            quarantine_unreadable(load, path, 1, exc)
        return _file_result(rel, "loaded", load.load_id, load)
    earlier = already_loaded(con, source, sha)
    if earlier:  # noted once under a new name; the same name again is not noted at all
        note = record_duplicate_content(con, source, rel, sha, earlier)
        return _file_result(rel, "seen_before" if note == earlier else "duplicate_content", note)
    try:
        with RawLoad(con, source, rel, sha) as load:
            body(load, path)
    except Exception as exc:  # noqa: BLE001 - one file never stops a run
        return quarantine_failed_file(con, source, rel, path, exc)
    return _file_result(rel, "loaded", load.load_id, load)


def quarantine_failed_file(con: duckdb.DuckDBPyConnection, source: str, rel: str, path: Path,
                           error: Exception) -> dict:
    """Quarantine a whole file whose load failed (``ingest_error``) in a fresh transaction.

    The failed load rolled back, so nothing of the file is in the raw layer; the file is
    one quarantined record with the error. Its content hash is not recorded, so the
    file is read again on every run (a fixed ingester then loads it) and noted each time.
    """
    message = f"{type(error).__name__}: {error}"[:500]
    with RawLoad(con, source, rel, None, detail={"error": message}) as load:
        quarantine_whole_file(load, path, "ingest_error",
                              f"the file could not be ingested ({message}); it stays in the landing zone")
    result = _file_result(rel, "loaded", load.load_id, load)
    result["error"] = message
    return result


def _file_result(rel: str, status: str, load_id: str, load: RawLoad | None = None) -> dict:
    """Per-file counts, with the same keys as the manifest (and the credentials ingester)."""
    return {"source_ref": rel, "status": status, "load_id": load_id,
            "records_read": load.read if load else 0,
            "records_loaded": load.loaded if load else 0,
            "records_quarantined": load.quarantined if load else 0,
            "records_duplicate": load.duplicate if load else 0,
            "quarantine_reasons": dict(load.reasons) if load else {}}


#: new files loaded in one transaction by :func:`load_many_files`
FILES_PER_COMMIT = 500


class FileBatch:
    """Hooks of :func:`load_many_files` for a loader that keeps rows back while a batch runs."""

    def begin(self) -> None:
        """A batch starts: its files share one transaction."""

    def before_commit(self) -> None:
        """Write what the batch's files kept back (inside the transaction)."""

    def rolled_back(self) -> None:
        """The batch was rolled back: forget what was kept of it; its files are loaded again one by one."""


def load_many_files(con: duckdb.DuckDBPyConnection, source: str, landing_dir: Path, paths: list[Path],
                    body: Callable[[RawLoad, Path], None], *, batch: FileBatch | None = None,
                    files_per_commit: int | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    file_shas: dict[Path, str] | None = None) -> list[dict]:
    """:func:`load_file_once` for many files, committing the new ones a batch at a time.

    Each file keeps its own load (load id, manifest row, counts, quarantine), exactly as
    :func:`load_file_once` gives it; only the transactions are shared, which is what a
    landing zone of many small files (one credential per file, as issuing platforms
    export them) spends its time on otherwise. Files loaded before, unreadable ones and
    the later of two new files with the same content go through :func:`load_file_once`
    after the batches. When anything in a batch raises, the batch is rolled back and its
    files are loaded one by one, so the failing file is quarantined whole as before.
    Results are in the order of ``paths``. ``file_shas``: content hashes the caller has just
    computed (path -> sha256), so a file is not read for its hash twice.
    """
    landing_dir = Path(landing_dir)
    batch = batch or FileBatch()
    files_per_commit = files_per_commit or FILES_PER_COMMIT
    shas: dict[int, str] = {}
    for i, path in enumerate(paths):
        if file_shas and path in file_shas:
            shas[i] = file_shas[path]
            continue
        try:
            shas[i] = file_sha256(path)
        except OSError:
            continue
    known = loaded_contents(con, source, set(shas.values()))
    fresh, claimed = [], set()
    for i, sha in shas.items():
        if sha not in known and sha not in claimed:
            fresh.append(i)
            claimed.add(sha)
    results: list[dict | None] = [None] * len(paths)
    done = 0
    for start in range(0, len(fresh), files_per_commit):
        chunk = fresh[start:start + files_per_commit]
        loads: list[tuple[int, RawLoad]] = []
        con.begin()
        try:
            batch.begin()
            for i in chunk:
                load = RawLoad(con, source, paths[i].relative_to(landing_dir).as_posix(), shas[i])
                body(load, paths[i])
                loads.append((i, load))
                if progress:
                    progress(done + len(loads), len(paths))
            batch.before_commit()
            manifest: list[tuple] = []
            for _i, load in loads:
                load.record(manifest)
            insert_manifest_rows(con, manifest)
            con.commit()
        except Exception:  # noqa: BLE001 - the batch is loaded again file by file
            con.rollback()
            batch.rolled_back()
            for n, i in enumerate(chunk, start=1):
                results[i] = load_file_once(con, source, landing_dir, paths[i], body)
                if progress:
                    progress(done + n, len(paths))
        else:
            for i, load in loads:
                results[i] = _file_result(load.source_ref, "loaded", load.load_id, load)
        done += len(chunk)
    fresh_set = set(fresh)
    for i, path in enumerate(paths):
        if i in fresh_set:
            continue
        rel = path.relative_to(landing_dir).as_posix()
        earlier = known.get(shas.get(i))
        if earlier is not None and earlier[1] == rel:  # seen before under its own name: nothing to note
            results[i] = _file_result(rel, "seen_before", earlier[0])
        else:
            results[i] = load_file_once(con, source, landing_dir, path, body)
            done += 1
            if progress:
                progress(done, len(paths))
    return results


def load_files(con: duckdb.DuckDBPyConnection, source: str, landing_dir: Path, subdir: str,
               body: Callable[[RawLoad, Path], None], progress: Progress = None) -> list[dict]:
    """:func:`load_file_once` for every file under ``landing_dir/subdir``, reporting progress per file."""
    landing_dir = Path(landing_dir)
    paths = iter_landing_files(landing_dir, subdir)
    results = []
    for done, path in enumerate(paths, 1):
        results.append(load_file_once(con, source, landing_dir, path, body))
        if progress:
            progress(f"{subdir} files", done, len(paths))
    return results


def iter_lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its line end) for every non-blank line of a binary stream."""
    for no, line in enumerate(fh, 1):
        line = line.rstrip(b"\r\n")
        if no == 1 and line.startswith(b"\xef\xbb\xbf"):  # a byte-order mark is not part of the record
            line = line[3:]
        if line.strip():
            yield no, line
