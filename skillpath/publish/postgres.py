"""Publishing the marts to PostgreSQL: a fresh schema swapped in inside one transaction.

``publish_postgres`` loads every table of the build's ``marts`` schema into a new
schema ``<schema>_new_<id>`` with COPY, adds the learner directory (names and
emails, PostgreSQL only) and the account access table, then in ONE transaction
grants, enables row-level security, renames the published schema away, renames
the new one to ``<schema>`` and drops the old one. Readers see the old set or
the new one, never a mix: a reader holding the old tables delays the swap's
DROP until it finishes, and statements that start later resolve the new names.

Roles (cluster-wide; the publishing user needs CREATEROLE, or the roles must exist):

- ``skillpath_bi`` (NOLOGIN): USAGE on the schema and SELECT on every mart and
  ``publication_meta``, all rows. Nothing else: no CREATE, no other schema, not the
  learner directory. Grant it to the login a BI tool uses.
- ``skillpath_account_reader`` (NOLOGIN): SELECT on the account-scoped marts
  (those with ``account_id``), ``learner_directory``, ``account_access`` and
  ``publication_meta``; row-level security limits every account-scoped table to
  the accounts listed for the current user in ``account_access``.
- ``skillpath_user_<user>`` (NOLOGIN, one per manager/executive in
  ``stg_lms__users``): member of ``skillpath_account_reader`` and listed in
  ``account_access`` for its account. An administrator gives a person access by
  ``ALTER ROLE ... LOGIN PASSWORD ...`` or by granting the role to an existing
  login (docs/publishing.md). No passwords pass through the pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

from skillpath.config import connect_duckdb
from skillpath.publish.duckdb_publish import (
    PUBLISHED_SCHEMA,
    PIIColumnError,
    PublishError,
    attach_build,
    find_pii_columns,
    list_marts,
    mart_columns,
)

BI_ROLE = "skillpath_bi"
ACCOUNT_READER_ROLE = "skillpath_account_reader"
USER_ROLE_PREFIX = "skillpath_user_"
ACCOUNT_ROLES = ("manager", "executive")
USERS_RELATION = "staging.stg_lms__users"
LEARNER_DIRECTORY = "learner_directory"
ACCOUNT_ACCESS = "account_access"
PUBLICATION_META = "publication_meta"
RESERVED_TABLES = (LEARNER_DIRECTORY, ACCOUNT_ACCESS, PUBLICATION_META)

_SIMPLE_TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)", "HUGEINT": "numeric(39,0)", "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real", "DOUBLE": "double precision", "VARCHAR": "text", "DATE": "date",
    "TIME": "time", "TIME WITH TIME ZONE": "timetz", "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp", "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz", "INTERVAL": "interval", "UUID": "uuid",
    "JSON": "jsonb", "BLOB": "bytea", "BIGNUM": "numeric", "VARINT": "numeric",
}


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def pg_type(duckdb_type: str) -> tuple[str, str]:
    """(PostgreSQL type, DuckDB expression template for the CSV text) of a DuckDB column type."""
    t = duckdb_type.strip().upper()
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION", "LIST")):
        return "jsonb", "to_json({c})"
    if t == "BLOB":
        return "bytea", "'\\x' || hex({c})"
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return f"numeric({m.group(1)},{m.group(2)})", "{c}"
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t], "{c}"
    return "text", "cast({c} as varchar)"  # ENUM, BIT and anything newer: their text form


def account_role_name(user_id: str) -> str:
    """The NOLOGIN role of one manager/executive: ``skillpath_user_<slug>[_<sha1 prefix>]``.

    The hash suffix is added whenever the slug is not exactly the lower-cased user id, so
    two different user ids never share a role.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", user_id.lower()).strip("_")
    if slug == user_id and len(slug) <= 40:
        return USER_ROLE_PREFIX + slug
    return f"{USER_ROLE_PREFIX}{slug[:32]}_{hashlib.sha1(user_id.encode()).hexdigest()[:8]}"


def _role_exists(cur: psycopg.Cursor, name: str) -> bool:
    return cur.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone() is not None


def _ensure_role(cur: psycopg.Cursor, name: str) -> None:
    if not _role_exists(cur, name):
        cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))


def create_account_roles(cur: psycopg.Cursor, users: Iterable[tuple]) -> list[tuple[str, str, str, str]]:
    """Create a NOLOGIN role per manager/executive; return ``account_access`` rows.

    ``users`` are (user_id, learner_id, account_id, role) rows. Roles of people who are no
    longer a manager or executive lose their membership in ``skillpath_account_reader``.
    """
    _ensure_role(cur, ACCOUNT_READER_ROLE)
    access, wanted = [], set()
    for user_id, learner_id, account_id, role in users:
        if (role or "").lower() not in ACCOUNT_ROLES or not user_id or not account_id:
            continue
        name = account_role_name(user_id)
        _ensure_role(cur, name)
        cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(ACCOUNT_READER_ROLE), sql.Identifier(name)))
        access.append((name, account_id, role.lower(), learner_id))
        wanted.add(name)
    stale = cur.execute(
        "select r.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
        "join pg_roles r on r.oid = m.member where g.rolname = %s and r.rolname like %s",
        [ACCOUNT_READER_ROLE, USER_ROLE_PREFIX.replace("_", r"\_") + "%"],
    ).fetchall()
    for (name,) in stale:
        if name not in wanted:
            cur.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(ACCOUNT_READER_ROLE), sql.Identifier(name)))
    return sorted(set(access))


def _copy_csv(cur: psycopg.Cursor, table: sql.Composable, columns: list[str], csv_path: Path) -> None:
    stmt = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with cur.copy(stmt) as copy, open(csv_path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)


def _load_table(dcon: duckdb.DuckDBPyConnection, cur: psycopg.Cursor, schema: str, table: str,
                select_sql: str, columns: list[tuple[str, str]], workdir: Path) -> int:
    """Create ``schema.table`` from DuckDB ``select_sql`` (columns: name, DuckDB type); return rows."""
    pg_cols, exprs = [], []
    for name, dtype in columns:
        pgt, template = pg_type(dtype)
        pg_cols.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pgt)))
        exprs.append(template.format(c=_q(name)))
    target = sql.Identifier(schema, table)
    cur.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(pg_cols)))
    csv_path = workdir / f"{table}.csv"
    dcon.execute(f"copy (select {', '.join(exprs)} from ({select_sql})) to '{csv_path}' (format csv, header false)")
    _copy_csv(cur, target, [n for n, _ in columns], csv_path)
    csv_path.unlink()
    expected = dcon.execute(f"select count(*) from ({select_sql})").fetchone()[0]
    loaded = cur.execute(sql.SQL("select count(*) from {}").format(target)).fetchone()[0]
    if loaded != expected:
        raise PublishError(f"{table}: {loaded} rows loaded into PostgreSQL, {expected} in DuckDB")
    return loaded


def _account_policy(schema: str) -> sql.Composable:
    """Rows whose account is listed in account_access for a role the current user belongs to."""
    return sql.SQL(
        "account_id::text in (select a.account_id from {} a where a.role_name in "
        "(select r.rolname from pg_catalog.pg_roles r where pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))"
    ).format(sql.Identifier(schema, ACCOUNT_ACCESS))


def _secure(cur: psycopg.Cursor, new: str, marts: list[str], account_scoped: set[str],
            shared_tables: set[str]) -> None:
    """Grants and row-level security on the new schema (run inside the swap transaction)."""
    ident = sql.Identifier
    cur.execute(sql.SQL("revoke all on schema {} from public").format(ident(new)))
    cur.execute(sql.SQL("grant usage on schema {} to {}, {}").format(ident(new), ident(BI_ROLE),
                                                                     ident(ACCOUNT_READER_ROLE)))
    for t in [*marts, PUBLICATION_META]:
        cur.execute(sql.SQL("grant select on {} to {}").format(ident(new, t), ident(BI_ROLE)))
    for t in [*sorted(account_scoped | shared_tables), LEARNER_DIRECTORY, ACCOUNT_ACCESS, PUBLICATION_META]:
        cur.execute(sql.SQL("grant select on {} to {}").format(ident(new, t), ident(ACCOUNT_READER_ROLE)))
    for t in [*sorted(account_scoped), LEARNER_DIRECTORY, ACCOUNT_ACCESS]:
        # FORCE: the owner is bound by the policies too (superusers still bypass them).
        cur.execute(sql.SQL("alter table {} enable row level security").format(ident(new, t)))
        cur.execute(sql.SQL("alter table {} force row level security").format(ident(new, t)))
    for t in sorted(account_scoped):
        cur.execute(sql.SQL("create policy bi_all_rows on {} for select to {} using (true)").format(
            ident(new, t), ident(BI_ROLE)))
    for t in [*sorted(account_scoped), LEARNER_DIRECTORY]:
        cur.execute(sql.SQL("create policy account_rows on {} for select to {} using ({})").format(
            ident(new, t), ident(ACCOUNT_READER_ROLE), _account_policy(new)))
    cur.execute(sql.SQL(
        "create policy own_rows on {} for select to {} using (role_name in (select r.rolname from "
        "pg_catalog.pg_roles r where pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))"
    ).format(ident(new, ACCOUNT_ACCESS), ident(ACCOUNT_READER_ROLE)))


def _swap(pg: psycopg.Connection, cur: psycopg.Cursor, schema: str, new: str, exists: bool,
          marts: list[str], account_scoped: set[str], shared: set[str], timeout_seconds: float) -> None:
    """Grants, RLS, rename old away, rename new in, drop old: one transaction.

    The transaction first takes ACCESS EXCLUSIVE locks on all old tables with NOWAIT. A
    reader transaction that has read an old table holds a lock on it, so the swap waits
    (retrying, holding nothing in between) until no reader is inside the old set; readers
    therefore finish on the old set, and statements after the commit see the new one.
    Waiting with locks held instead would deadlock with a reader that reads a second
    table after the swap locked it.
    """
    old = f"{schema}_old_{uuid.uuid4().hex[:8]}"
    old_tables = [r[0] for r in cur.execute(
        "select tablename from pg_tables where schemaname = %s order by 1", [schema]).fetchall()] if exists else []
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    while True:
        try:
            with pg.transaction():
                if old_tables:
                    cur.execute(sql.SQL("lock table {} in access exclusive mode nowait").format(
                        sql.SQL(", ").join(sql.Identifier(schema, t) for t in old_tables)))
                _secure(cur, new, marts, account_scoped, shared)
                if exists:
                    cur.execute(sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(schema), sql.Identifier(old)))
                cur.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(new), sql.Identifier(schema)))
                if exists:
                    cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(old)))
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
            if time.monotonic() + delay > deadline:
                raise PublishError(f"readers kept the published tables of {schema!r} busy for "
                                   f"{timeout_seconds:.0f}s: swap abandoned, the old set stays") from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


def _check_target_schema(cur: psycopg.Cursor, schema: str) -> bool:
    """True when ``schema`` exists (and is a publication of ours); refuse foreign schemas."""
    if schema in ("public", "information_schema") or schema.startswith("pg_") or len(schema) > 40:
        raise PublishError(f"refusing to publish into schema {schema!r}")
    if cur.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone() is None:
        return False
    ours = cur.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        [schema, PUBLICATION_META]).fetchone()
    if ours is None:
        raise PublishError(f"schema {schema!r} exists but was not published by skillpath "
                           f"(no {PUBLICATION_META} table): refusing to replace it")
    return True


def publish_postgres(build_db: Path, postgres_url: str, *, schema: str = "skillpath",
                     accounts_roles: bool = True, lake_db: Path | None = None, run_id: str | None = None,
                     account_shared_tables: Iterable[str] = (), swap_timeout_seconds: float = 600.0) -> dict:
    """Load the marts (+ learner directory) into PostgreSQL and swap them in atomically.

    ``accounts_roles``: create/refresh one NOLOGIN role per manager/executive (needs
    CREATEROLE). ``account_shared_tables``: marts without ``account_id`` that account
    roles may read as well (none by default). ``swap_timeout_seconds`` bounds how long
    the swap waits for readers of the old tables (then it fails, changing nothing).
    Returns a summary.
    """
    build_db = Path(build_db).resolve()
    lake_db = Path(lake_db) if lake_db else build_db.parent / "lake.duckdb"
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    new = f"{schema}_new_{uuid.uuid4().hex[:8]}"
    shared = set(account_shared_tables)

    dcon = connect_duckdb()
    try:
        dcon.execute("set TimeZone = 'UTC'")
        build = attach_build(dcon, build_db, lake_db)
        marts = list_marts(dcon, build)
        if not marts:
            raise PublishError(f"schema {PUBLISHED_SCHEMA!r} of {build_db} has no tables: nothing to publish")
        clash = set(marts) & set(RESERVED_TABLES)
        if clash:
            raise PublishError(f"marts named like the publication's own tables: {sorted(clash)}")
        cols: dict[str, list[tuple[str, str]]] = {}
        for t, c, dtype in mart_columns(dcon, build):
            cols.setdefault(t, []).append((c, dtype))
        pii = find_pii_columns([(t, c) for t, cs in cols.items() for c, _ in cs])
        if pii:
            raise PIIColumnError("refusing to publish marts with columns that identify a person: " + ", ".join(pii))
        account_scoped = {t for t, cs in cols.items() if "account_id" in {c for c, _ in cs}}
        unknown = shared - set(marts)
        if unknown:
            raise PublishError(f"account_shared_tables not among the marts: {sorted(unknown)}")
        users_sql = (f"select user_id, learner_id, account_id, email, display_name, role "
                     f"from {_q(build)}.{USERS_RELATION}")
        try:
            users = dcon.execute(users_sql).fetchall()
        except duckdb.Error as exc:
            raise PublishError(f"cannot read the learner directory source {USERS_RELATION}: {exc}") from exc

        with psycopg.connect(postgres_url, autocommit=True) as pg, tempfile.TemporaryDirectory() as work:
            cur = pg.cursor()
            cur.execute("select pg_advisory_lock(hashtext(%s))", [f"skillpath-publish:{schema}"])
            try:
                exists = _check_target_schema(cur, schema)
                for (leftover,) in cur.execute(
                        "select nspname from pg_namespace where nspname like %s",
                        [schema.replace("_", r"\_") + r"\_new\_%"]).fetchall():
                    cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(leftover)))
                _ensure_role(cur, BI_ROLE)
                if accounts_roles:
                    access = create_account_roles(cur, [(u[0], u[1], u[2], u[5]) for u in users])
                else:
                    _ensure_role(cur, ACCOUNT_READER_ROLE)
                    access = sorted({(account_role_name(u[0]), u[2], u[5].lower(), u[1]) for u in users
                                     if u[0] and u[2] and (u[5] or "").lower() in ACCOUNT_ROLES})

                counts: dict[str, int] = {}
                cur.execute(sql.SQL("create schema {}").format(sql.Identifier(new)))
                try:
                    for t in marts:
                        counts[t] = _load_table(dcon, cur, new, t, f"select * from {_q(build)}.marts.{_q(t)}",
                                                cols[t], Path(work))
                    directory_rows = _load_table(
                        dcon, cur, new, LEARNER_DIRECTORY,
                        f"select distinct learner_id, account_id, display_name, email from ({users_sql}) "
                        f"where learner_id is not null",
                        [("learner_id", "VARCHAR"), ("account_id", "VARCHAR"), ("display_name", "VARCHAR"),
                         ("email", "VARCHAR")], Path(work))
                    acc = sql.Identifier(new, ACCOUNT_ACCESS)
                    cur.execute(sql.SQL("create table {} (role_name text not null, account_id text not null, "
                                        "lms_role text not null, learner_id text, primary key (role_name, account_id))"
                                        ).format(acc))
                    cur.executemany(sql.SQL("insert into {} values (%s, %s, %s, %s)").format(acc), access)
                    meta = sql.Identifier(new, PUBLICATION_META)
                    cur.execute(sql.SQL("create table {} (table_name text primary key, row_count bigint not null, "
                                        "published_at timestamp not null, run_id text)").format(meta))
                    cur.executemany(sql.SQL("insert into {} values (%s, %s, %s, %s)").format(meta),
                                    [(t, n, published_at, run_id) for t, n in counts.items()])
                    cur.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(
                        sql.Identifier(new, t) for t in [*marts, *RESERVED_TABLES])))

                    _swap(pg, cur, schema, new, exists, marts, account_scoped, shared, swap_timeout_seconds)
                except BaseException:
                    cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(new)))
                    raise
            finally:
                cur.execute("select pg_advisory_unlock(hashtext(%s))", [f"skillpath-publish:{schema}"])
    finally:
        dcon.close()

    return {
        "schema": schema,
        "published_at": published_at.isoformat(),
        "run_id": run_id,
        "row_counts": counts,
        "account_scoped_tables": sorted(account_scoped),
        "learner_directory_rows": directory_rows,
        "account_roles": len({a[0] for a in access}),
        "replaced_previous": exists,
    }


def account_access(postgres_url: str, schema: str = "skillpath") -> list[tuple[str, str, str, str]]:
    """(role_name, account_id, lms_role, learner_id) rows: which NOLOGIN role reads which account."""
    with psycopg.connect(postgres_url) as pg:
        return pg.execute(sql.SQL("select role_name, account_id, lms_role, learner_id from {} order by 1, 2").format(
            sql.Identifier(schema, ACCOUNT_ACCESS))).fetchall()


__all__ = ["publish_postgres", "create_account_roles", "account_role_name", "account_access", "pg_type",
           "BI_ROLE", "ACCOUNT_READER_ROLE"]
