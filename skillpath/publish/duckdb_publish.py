"""Publishing the marts as one read-only DuckDB file, swapped in atomically.

Layout under ``SKILLPATH_HOME``::

    versions/warehouse-<UTC timestamp>-<shortid>.duckdb   immutable published versions
    warehouse.duckdb                                      hard link to the current version

A publication copies every table and view of schema ``marts`` of the build
database (plus a small ``meta`` schema) into a NEW file, checkpoints and closes
it, fsyncs it, renames it into ``versions/`` and then replaces
``warehouse.duckdb`` with a hard link to it (``os.replace``, atomic on POSIX),
and fsyncs the directory. A reader that opened the old file keeps reading the
old inode; a reader that opens the path afterwards gets the new file; nobody
can open a half-written file because only complete files are ever renamed to
``warehouse.duckdb``. Nothing is written when a check fails (PII columns, no
marts), so the published file stays byte for byte what it was.

The file is written with an explicit storage version (:data:`DEFAULT_STORAGE_VERSION`)
so that the older DuckDB releases bundled by BI drivers can open it
(docs/publishing.md has the sources).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from skillpath.config import connect_duckdb

PUBLISHED_SCHEMA = "marts"
WAREHOUSE_NAME = "warehouse.duckdb"
VERSIONS_DIR = "versions"
# Readable by every DuckDB release since 1.0 (storage version 64), hence by the DuckDB
# 1.4.x / 1.5.x bundled with Metabase's and Grafana's DuckDB drivers; DuckDB 2.0's
# default format (storage version 69) is not. See docs/publishing.md.
DEFAULT_STORAGE_VERSION = "v1.0.0"

_VERSION_RE = re.compile(r"^warehouse-(\d{8}T\d{6}\d{6}Z-[0-9a-f]{8})\.duckdb$")

# Column names that identify a person. The published file is pseudonymous: an
# account's managers get names from PostgreSQL's learner directory only.
PII_COLUMN_RE = re.compile(
    r"""^(
        e_?mails? | e_?mail_address(es)? |
        (recipient|learner|user|actor|person|student|manager|executive|member|contact|owner|primary)
            _e_?mail(_address)? |              # recipient_email, ... (not channel counts like shares_email)
        (actor_)?mbox(_sha1sum)? |             # xAPI mailbox (plain or hashed)
        name | names | full_?name | display_?name | first_?name | last_?name |
        given_?name | family_?name | middle_?name | nick_?name | user_?name |
        (learner|student|user|person|recipient|manager|executive|member)_(display_|full_|first_|last_)?name |
        phone(_number)? | mobile(_number)? | date_of_birth | birth_?date
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


class PublishError(RuntimeError):
    """The build cannot be published (nothing was changed)."""


class PIIColumnError(PublishError):
    """A table to be published has a column that identifies a person."""


@dataclass(frozen=True)
class PublishResult:
    version_id: str
    version_path: Path
    warehouse: Path
    published_at: dt.datetime
    run_id: str | None
    storage_version: str
    row_counts: dict[str, int]
    pruned: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Version:
    version_id: str
    path: Path
    created_at: dt.datetime
    size_bytes: int
    is_current: bool


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def find_pii_columns(columns: list[tuple[str, str]]) -> list[str]:
    """``table.column`` for every (table, column) whose column name identifies a person."""
    return [f"{t}.{c}" for t, c in columns if PII_COLUMN_RE.match(c)]


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _publish_lock(home: Path) -> Iterator[None]:
    """One publisher (or rollback) at a time per SKILLPATH_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".publish.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def attach_build(con: duckdb.DuckDBPyConnection, build_db: Path, lake_db: Path | None) -> str:
    """Attach the build DB read-only (and the lake it reads, when present); return its alias.

    dbt-duckdb names the catalog after the file (``build.duckdb`` -> ``build``) and its
    views refer to ``lake``, so both keep those names here.
    """
    if not build_db.exists():
        raise PublishError(f"build database {build_db} does not exist: run the transformations first")
    alias = build_db.stem
    if alias in ("lake", "memory", "system", "temp", "pub"):
        raise PublishError(f"build database file name {build_db.name!r} clashes with an internal alias")
    if lake_db is not None and lake_db.exists():
        con.execute(f"attach {_lit(str(lake_db))} as lake (read_only)")
    con.execute(f"attach {_lit(str(build_db))} as {_q(alias)} (read_only)")
    return alias


def list_marts(con: duckdb.DuckDBPyConnection, catalog: str, schema: str = PUBLISHED_SCHEMA) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = ? "
        "order by table_name",
        [catalog, schema],
    ).fetchall()
    return [r[0] for r in rows]


def mart_columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str = PUBLISHED_SCHEMA
                 ) -> list[tuple[str, str, str]]:
    """(table, column, data_type) for the published schema, in column order."""
    return con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? order by table_name, ordinal_position",
        [catalog, schema],
    ).fetchall()


def _source_versions(lake_db: Path) -> list[tuple]:
    """Per raw source: successful loads, rows loaded, newest load (from the lake's manifest)."""
    if not lake_db.exists():
        return []
    con = connect_duckdb()
    try:
        con.execute(f"attach {_lit(str(lake_db))} as lake (read_only)")
        has_manifest = con.execute(
            "select count(*) from information_schema.tables where table_catalog = 'lake' "
            "and table_schema = 'raw' and table_name = 'load_manifest'"
        ).fetchone()[0]
        if not has_manifest:
            return []
        return con.execute(
            "select source, count(*), coalesce(sum(records_loaded), 0), max(finished_at) "
            "from lake.raw.load_manifest where status = 'loaded' group by source order by source"
        ).fetchall()
    finally:
        con.close()


def _write_version(tmp: Path, build_db: Path, lake_db: Path, *, version_id: str, run_id: str | None,
                   published_at: dt.datetime, storage_version: str) -> dict[str, int]:
    """Write the complete new warehouse file at ``tmp``; return row counts per mart."""
    sources = _source_versions(lake_db)
    con = connect_duckdb()  # held to the memory limit: the copy reads every mart
    try:
        con.execute("set preserve_insertion_order = true")
        build = attach_build(con, build_db, lake_db)
        marts = list_marts(con, build)
        if not marts:
            raise PublishError(f"schema {PUBLISHED_SCHEMA!r} of {build_db} has no tables: nothing to publish")
        pii = find_pii_columns([(t, c) for t, c, _ in mart_columns(con, build)])
        if pii:
            raise PIIColumnError(
                "refusing to publish columns that identify a person into the DuckDB warehouse: "
                + ", ".join(pii) + " (names and emails belong in PostgreSQL's learner_directory only)"
            )
        con.execute(f"attach {_lit(str(tmp))} as pub (storage_version {_lit(storage_version)})")
        con.execute(f"create schema pub.{_q(PUBLISHED_SCHEMA)}")
        counts: dict[str, int] = {}
        for t in marts:
            con.execute(f"create table pub.{_q(PUBLISHED_SCHEMA)}.{_q(t)} as "
                        f"select * from {_q(build)}.{_q(PUBLISHED_SCHEMA)}.{_q(t)}")
            counts[t] = con.execute(f"select count(*) from pub.{_q(PUBLISHED_SCHEMA)}.{_q(t)}").fetchone()[0]
        con.execute("create schema pub.meta")
        con.execute("create table pub.meta.publication (version_id varchar, run_id varchar, "
                    "published_at timestamp, storage_version varchar, duckdb_version varchar, "
                    "source_build varchar, table_count integer)")
        con.execute("insert into pub.meta.publication values (?, ?, ?, ?, ?, ?, ?)",
                    [version_id, run_id, published_at, storage_version, duckdb.__version__,
                     build_db.name, len(marts)])
        con.execute("create table pub.meta.row_counts (table_schema varchar, table_name varchar, row_count bigint)")
        con.executemany("insert into pub.meta.row_counts values (?, ?, ?)",
                        [[PUBLISHED_SCHEMA, t, n] for t, n in counts.items()])
        con.execute("create table pub.meta.sources (source varchar, loads bigint, records_loaded bigint, "
                    "last_loaded_at timestamp)")
        if sources:
            con.executemany("insert into pub.meta.sources values (?, ?, ?, ?)", [list(r) for r in sources])
        con.execute("checkpoint pub")
        con.execute("detach pub")
        return counts
    finally:
        con.close()


def _install(version_file: Path, home: Path) -> None:
    """Make ``home/warehouse.duckdb`` the given version in one atomic rename."""
    target = home / WAREHOUSE_NAME
    staged = home / f".{WAREHOUSE_NAME}.{uuid.uuid4().hex[:8]}.staged"
    try:
        try:
            os.link(version_file, staged)
        except OSError:  # no hard links here (other filesystem): a full copy instead
            shutil.copyfile(version_file, staged)
            os.chmod(staged, 0o444)
            _fsync_file(staged)
        # A WAL next to the published name would be replayed into the new file by readers.
        wal = home / f"{WAREHOUSE_NAME}.wal"
        if wal.exists():
            wal.unlink()
        os.replace(staged, target)
    finally:
        if staged.exists():
            staged.unlink()
    _fsync_dir(home)


def _version_files(home: Path) -> list[Path]:
    vdir = home / VERSIONS_DIR
    if not vdir.is_dir():
        return []
    return sorted((p for p in vdir.iterdir() if _VERSION_RE.match(p.name)), key=lambda p: p.name, reverse=True)


def _is_current(path: Path, home: Path) -> bool:
    target = home / WAREHOUSE_NAME
    if not target.exists():
        return False
    if os.path.samefile(path, target):
        return True
    a, b = path.stat(), target.stat()
    return a.st_size == b.st_size and _sha256(path) == _sha256(target)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _created_at(version_id: str) -> dt.datetime:
    return dt.datetime.strptime(version_id.split("-")[0], "%Y%m%dT%H%M%S%fZ")


def list_versions(home: Path) -> list[Version]:
    """The kept versions, newest first; ``is_current`` marks the one BI tools read now."""
    out = []
    for p in _version_files(home):
        vid = _VERSION_RE.match(p.name).group(1)
        out.append(Version(vid, p, _created_at(vid), p.stat().st_size, _is_current(p, home)))
    return out


def _prune(home: Path, keep_versions: int) -> list[str]:
    files = _version_files(home)
    keep = set(files[:keep_versions])
    removed = []
    for p in files:
        if p in keep or _is_current(p, home):
            continue
        p.unlink()
        removed.append(p.name)
    if removed:
        _fsync_dir(home / VERSIONS_DIR)
    return removed


def _remove_leftovers(home: Path) -> None:
    """Partial files of publications that were killed (only called under the publish lock)."""
    for p in [*(home / VERSIONS_DIR).glob(".warehouse-*.partial*"), *home.glob(f".{WAREHOUSE_NAME}.*.staged")]:
        p.unlink(missing_ok=True)


def publish_duckdb(build_db: Path, home: Path, *, keep_versions: int = 3,
                   storage_version: str = DEFAULT_STORAGE_VERSION, run_id: str | None = None,
                   lake_db: Path | None = None) -> PublishResult:
    """Publish schema ``marts`` of ``build_db`` as a new version and swap it in atomically.

    ``lake_db`` (default ``home/lake.duckdb``) is attached read-only so that marts built
    as views still resolve. Raises :class:`PublishError` (and changes nothing) when the
    build has no marts or a mart has a column that identifies a person.
    """
    if keep_versions < 1:
        raise ValueError("keep_versions must be at least 1")
    build_db, home = Path(build_db).resolve(), Path(home).resolve()
    lake_db = Path(lake_db) if lake_db else home / "lake.duckdb"
    vdir = home / VERSIONS_DIR
    with _publish_lock(home):
        vdir.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(home)
        published_at = utcnow()
        version_id = f"{published_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
        final = vdir / f"warehouse-{version_id}.duckdb"
        tmp = vdir / f".warehouse-{version_id}.duckdb.partial"
        try:
            counts = _write_version(tmp, build_db, lake_db, version_id=version_id, run_id=run_id,
                                    published_at=published_at, storage_version=storage_version)
            for leftover in (Path(f"{tmp}.wal"),):
                if leftover.exists():
                    raise PublishError(f"{leftover} left behind after checkpoint: publication aborted")
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            _fsync_file(tmp)
            os.rename(tmp, final)
            _fsync_dir(vdir)
        except BaseException:
            for p in (tmp, Path(f"{tmp}.wal"), final):
                if p.exists():
                    p.unlink()
            raise
        _install(final, home)
        pruned = _prune(home, keep_versions)
    return PublishResult(version_id=version_id, version_path=final, warehouse=home / WAREHOUSE_NAME,
                         published_at=published_at, run_id=run_id, storage_version=storage_version,
                         row_counts=counts, pruned=pruned)


def rollback(home: Path, to: str | None = None) -> Version:
    """Put back the version before the current one (or the named one) atomically.

    ``to`` is a version id (``20250101T000000000000Z-abcd1234``) or its file name.
    """
    home = Path(home).resolve()
    with _publish_lock(home):
        versions = list_versions(home)
        if not versions:
            raise PublishError(f"no published versions under {home / VERSIONS_DIR}")
        if to is None:
            idx = next((i for i, v in enumerate(versions) if v.is_current), None)
            if idx is None:
                raise PublishError("the current warehouse is none of the kept versions: name one with --to")
            if idx + 1 >= len(versions):
                raise PublishError(f"no version older than the current one ({versions[idx].version_id}) is kept")
            chosen = versions[idx + 1]
        else:
            matches = [v for v in versions if to in (v.version_id, v.path.name)]
            if not matches:
                raise PublishError(f"no kept version {to!r}; kept: " + ", ".join(v.version_id for v in versions))
            chosen = matches[0]
        _install(chosen.path, home)
    return Version(chosen.version_id, chosen.path, chosen.created_at, chosen.size_bytes, True)


def published_run_id(warehouse_db: Path) -> str | None:
    """The run that published ``warehouse_db`` (``meta.publication.run_id``), or None."""
    if not Path(warehouse_db).exists():
        return None
    con = connect_duckdb(warehouse_db, read_only=True)
    try:
        row = con.execute("select run_id from meta.publication").fetchone()
    except duckdb.Error:  # a warehouse without the table has no run to name
        return None
    finally:
        con.close()
    return row[0] if row else None


def read_meta(warehouse_db: Path) -> dict:
    """The ``meta`` of a published file (publication row and row counts), opened read-only."""
    con = connect_duckdb()
    try:
        con.execute(f"attach {_lit(str(warehouse_db))} as w (read_only)")
        cols = [d[0] for d in con.execute("select * from w.meta.publication").description]
        pub = dict(zip(cols, con.execute("select * from w.meta.publication").fetchone(), strict=True))
        pub["row_counts"] = dict(con.execute("select table_name, row_count from w.meta.row_counts").fetchall())
        return json.loads(json.dumps(pub, default=str))
    finally:
        con.close()
