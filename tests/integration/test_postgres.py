"""PostgreSQL publication against a real server: each role's reach (grants AND denials), atomic swap."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import errors, sql

from skillpath.publish.duckdb_publish import PIIColumnError, PublishError
from skillpath.publish.postgres import account_role_name, publish_postgres
from tests.support_pg import PgServer, start_postgres

pytestmark = pytest.mark.integration

ACCOUNTS = {"acct-A": 5, "acct-B": 3, "acct-C": 2}  # learners per account
USERS = [  # user_id, account_id, role
    ("mgr-a", "acct-A", "manager"), ("exec-a", "acct-A", "executive"), ("mgr-b", "acct-B", "manager"),
    *[(f"learner-{a[-1].lower()}{i}", a, "learner") for a, n in ACCOUNTS.items() for i in range(n)],
]
PASSWORD = "pw-for-tests"


def make_build(path: Path, *, marker: int = 1, users: list[tuple] = USERS, extra_sql: str = "") -> None:
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts; create schema staging")
        con.execute("create table staging.stg_lms__users (user_id varchar, learner_id varchar, account_id varchar, "
                    "email varchar, display_name varchar, role varchar)")
        con.executemany("insert into staging.stg_lms__users values (?, ?, ?, ?, ?, ?)",
                        [(u, f"lrn-{u}", a, f"{u}@example.org", f"Name, \"{u}\"", r) for u, a, r in users])
        # attempts: account A has 3 rows per learner, B 2, C 1 (+ a suppressed-looking null row per account)
        con.execute(f"""
            create table marts.fct_attempts as
            select u.account_id, u.learner_id, {marker} as marker,
                   cast(g.i * 1.25 as decimal(10, 2)) as score, g.i % 2 = 0 as is_correct,
                   date '2025-03-01' + cast(g.i as integer) as attempt_date,
                   timestamptz '2025-03-01 10:00:00+00' + to_minutes(g.i) as attempted_at,
                   [g.i, g.i * 2] as tags, {{'k': u.user_id, 'n': g.i}} as detail,
                   case when g.i = 0 then '' when g.i = 1 then null else 'a,"b"' || chr(10) || 'c' end as note
            from staging.stg_lms__users u
            join range(3) g(i) on g.i < case u.account_id when 'acct-A' then 3 when 'acct-B' then 2 else 1 end
            where u.role = 'learner'""")
        con.execute("""
            create table marts.mart_group_league as
            select account_id, 'grp-' || account_id as group_id, count(*) as learners,
                   case when count(*) < 5 then null else count(*) end as mastered,
                   count(*) < 5 as is_suppressed
            from staging.stg_lms__users where role = 'learner' group by account_id""")
        con.execute(f"create table marts.dim_credential as select 'cred-' || i as credential_id, "
                    f"'badge' as credential_type, {marker} as marker from range(4) t(i)")
        if extra_sql:
            con.execute(extra_sql)
    finally:
        con.close()


def duck_count(build: Path, sql_text: str, params: list | None = None) -> int:
    con = duckdb.connect(str(build), read_only=True)
    try:
        return con.execute(sql_text, params or []).fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


_db_counter = iter(range(1000))


@pytest.fixture
def db(pg: PgServer) -> str:
    """A fresh database on the shared server; returns the superuser URL to it."""
    name = f"t{next(_db_counter)}"
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def ensure_login(pg: PgServer, name: str, *, in_role: str | None = None, alter: bool = False) -> None:
    """What an administrator does: enable login on a NOLOGIN role, or create a login in it."""
    with psycopg.connect(pg.url(), autocommit=True) as con:
        if alter:
            con.execute(sql.SQL("alter role {} login password {}").format(sql.Identifier(name), sql.Literal(PASSWORD)))
            return
        if con.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone() is None:
            con.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(name), sql.Literal(PASSWORD)))
        if in_role:
            con.execute(sql.SQL("grant {} to {}").format(sql.Identifier(in_role), sql.Identifier(name)))


def as_user(pg: PgServer, dbname: str, user: str) -> psycopg.Connection:
    return psycopg.connect(pg.url(dbname, user=user, password=PASSWORD), autocommit=True)


def denied(con: psycopg.Connection, statement: str) -> bool:
    try:
        con.execute(statement)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_bi_role_reads_every_mart_and_nothing_else(tmp_path: Path, pg: PgServer, db: str) -> None:
    build = tmp_path / "build.duckdb"
    make_build(build)
    summary = publish_postgres(build, pg.url(db), run_id="r1")
    assert summary["row_counts"] == {
        "fct_attempts": duck_count(build, "select count(*) from marts.fct_attempts"),
        "mart_group_league": 3, "dim_credential": 4}
    assert summary["account_scoped_tables"] == ["fct_attempts", "mart_group_league"]

    with psycopg.connect(pg.url(db), autocommit=True) as admin:
        admin.execute("create schema private; create table private.secret as select 1 as x; "
                      "create table public.secret as select 1 as x")
    ensure_login(pg, "metabase", in_role="skillpath_bi")
    with as_user(pg, db, "metabase") as bi:
        for table, n in summary["row_counts"].items():
            assert bi.execute(f"select count(*) from skillpath.{table}").fetchone()[0] == n
        assert bi.execute("select count(distinct account_id) from skillpath.fct_attempts").fetchone()[0] == 3
        assert dict(bi.execute("select table_name, row_count from skillpath.publication_meta").fetchall()) == \
            summary["row_counts"]
        # values survive the trip (decimal, empty string vs null, quotes/newlines, json)
        con = duckdb.connect(str(build), read_only=True)
        expected = con.execute("select sum(score), count(*) filter (where note = ''), count(*) filter "
                               "(where note is null), count(*) filter (where note = 'a,\"b\"' || chr(10) || 'c') "
                               "from marts.fct_attempts").fetchone()
        con.close()
        got = bi.execute("select sum(score), count(*) filter (where note = ''), count(*) filter (where note is null),"
                         " count(*) filter (where note = E'a,\"b\"\\nc') from skillpath.fct_attempts").fetchone()
        assert tuple(got) == tuple(expected)
        assert bi.execute("select tags->>1, detail->>'k' from skillpath.fct_attempts "
                          "where learner_id = 'lrn-learner-a0' order by attempted_at limit 1").fetchone() == \
            ("0", "learner-a0")
        # denials: PII, other schemas, writes, DDL
        for statement in [
            "select * from skillpath.learner_directory",
            "select * from skillpath.account_access",
            "select * from private.secret",
            "select * from public.secret",
            "insert into skillpath.dim_credential values ('x', 'y', 1)",
            "delete from skillpath.fct_attempts",
            "update skillpath.mart_group_league set learners = 0",
            "truncate skillpath.dim_credential",
            "create table skillpath.mine (x int)",
            "create table public.mine (x int)",
            "create schema mine",
            "drop table skillpath.dim_credential",
        ]:
            assert denied(bi, statement), statement


def test_managers_and_executives_read_their_account_only(tmp_path: Path, pg: PgServer, db: str) -> None:
    build = tmp_path / "build.duckdb"
    make_build(build)
    publish_postgres(build, pg.url(db))
    mgr_a, exec_a, mgr_b = (account_role_name(u) for u in ("mgr-a", "exec-a", "mgr-b"))
    ensure_login(pg, mgr_a, alter=True)                    # the role itself gets a password
    ensure_login(pg, "ceo_of_a", in_role=exec_a)           # or an existing login is granted the role
    ensure_login(pg, mgr_b, alter=True)
    ensure_login(pg, "some_learner")                       # learners get no role at all

    with psycopg.connect(pg.url(db)) as admin:
        access = admin.execute("select role_name, account_id, lms_role from skillpath.account_access "
                               "order by 1").fetchall()
        learner_roles = admin.execute("select count(*) from pg_roles where rolname = any(%s)",
                                      [[account_role_name(u) for u, _, r in USERS if r == "learner"]]).fetchone()[0]
    assert access == sorted([(mgr_a, "acct-A", "manager"), (exec_a, "acct-A", "executive"),
                             (mgr_b, "acct-B", "manager")])
    assert learner_roles == 0

    for login, account in [(mgr_a, "acct-A"), ("ceo_of_a", "acct-A"), (mgr_b, "acct-B")]:
        with as_user(pg, db, login) as con:
            for table in ("fct_attempts", "mart_group_league"):
                expected = duck_count(build, f"select count(*) from marts.{table} where account_id = ?", [account])
                assert expected > 0
                assert con.execute(f"select count(*) from skillpath.{table}").fetchone()[0] == expected, (login, table)
                assert con.execute(f"select count(*) from skillpath.{table} where account_id <> %s",
                                   [account]).fetchone()[0] == 0
            directory = con.execute("select learner_id, account_id, display_name, email "
                                    "from skillpath.learner_directory order by learner_id").fetchall()
            assert directory == sorted((f"lrn-{u}", a, f"Name, \"{u}\"", f"{u}@example.org")
                                       for u, a, _ in USERS if a == account)
            # league with names: the join managers need
            names = con.execute("select count(*) from skillpath.fct_attempts f join skillpath.learner_directory d "
                                "using (learner_id)").fetchone()[0]
            assert names == duck_count(build, "select count(*) from marts.fct_attempts where account_id = ?",
                                       [account])
            assert {r[1] for r in con.execute("select * from skillpath.account_access").fetchall()} == {account}
            assert con.execute("select count(*) from skillpath.publication_meta").fetchone()[0] == 3
            for statement in ["select * from skillpath.dim_credential",          # not account-scoped
                              "delete from skillpath.fct_attempts",
                              "insert into skillpath.account_access values ('x', 'acct-B', 'manager', null)",
                              "create table skillpath.mine (x int)"]:
                assert denied(con, statement), (login, statement)

    with as_user(pg, db, "some_learner") as learner:
        for table in ("fct_attempts", "mart_group_league", "dim_credential", "learner_directory",
                      "account_access", "publication_meta"):
            assert denied(learner, f"select count(*) from skillpath.{table}"), table


def test_swap_is_atomic_for_a_concurrent_reader(tmp_path: Path, pg: PgServer, db: str) -> None:
    build = tmp_path / "build.duckdb"
    make_build(build, marker=0)
    publish_postgres(build, pg.url(db), run_id="0")
    ensure_login(pg, "metabase", in_role="skillpath_bi")
    stop = threading.Event()
    stats = {"reads": 0, "seen": [], "errors": [], "mixed": []}

    def reader() -> None:
        with psycopg.connect(pg.url(db, user="metabase", password=PASSWORD)) as con:
            while not stop.is_set():
                try:
                    with con.transaction():  # several statements in one transaction
                        a = con.execute("select min(marker), max(marker) from skillpath.fct_attempts").fetchone()
                        b = con.execute("select min(marker), max(marker) from skillpath.dim_credential").fetchone()
                        run = con.execute("select distinct run_id from skillpath.publication_meta").fetchall()
                    one = con.execute("select (select max(marker) from skillpath.fct_attempts), "
                                      "(select min(marker) from skillpath.dim_credential)").fetchone()
                    con.commit()
                    stats["reads"] += 1
                    if not (a[0] == a[1] == b[0] == b[1] and run == [(str(a[0]),)] and one[0] == one[1]):
                        stats["mixed"].append((a, b, run, one))
                    if a[0] not in stats["seen"]:
                        stats["seen"].append(a[0])
                except Exception as exc:  # any error is a failure of the swap
                    stats["errors"].append(repr(exc))
                    con.rollback()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for marker in range(1, 7):
            make_build(build, marker=marker)
            publish_postgres(build, pg.url(db), run_id=str(marker))
            deadline = time.monotonic() + 60
            while marker not in stats["seen"] and not stats["errors"]:
                assert time.monotonic() < deadline, f"reader never saw publication {marker}"
                time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert stats["errors"] == []
    assert stats["mixed"] == []
    assert stats["seen"] == list(range(0, 7))
    with psycopg.connect(pg.url(db)) as admin:
        schemas = [r[0] for r in admin.execute(
            "select nspname from pg_namespace where nspname like 'skillpath%' order by 1").fetchall()]
    assert schemas == ["skillpath"]


def test_republish_is_idempotent_and_follows_role_changes(tmp_path: Path, pg: PgServer, db: str) -> None:
    build = tmp_path / "build.duckdb"
    make_build(build)
    first = publish_postgres(build, pg.url(db))
    second = publish_postgres(build, pg.url(db))
    assert second["row_counts"] == first["row_counts"] and second["replaced_previous"]
    assert second["learner_directory_rows"] == first["learner_directory_rows"] == len(USERS)

    def catalog_state() -> tuple:
        with psycopg.connect(pg.url(db)) as admin:
            return (
                admin.execute("select nspname from pg_namespace where nspname like 'skillpath%'").fetchall(),
                admin.execute("select tablename, policyname, roles::text, qual from pg_policies "
                              "order by 1, 2").fetchall(),
                admin.execute("select table_name, grantee, privilege_type from information_schema.role_table_grants "
                              "where table_schema = 'skillpath' and grantee like 'skillpath%' order by 1, 2, 3"
                              ).fetchall(),
                admin.execute("select * from skillpath.account_access order by 1").fetchall(),
            )

    state = catalog_state()
    publish_postgres(build, pg.url(db))
    assert catalog_state() == state
    assert state[0] == [("skillpath",)]
    assert {(t, g, p) for t, g, p in state[2]} >= {("fct_attempts", "skillpath_bi", "SELECT"),
                                                    ("learner_directory", "skillpath_account_reader", "SELECT")}
    assert not [row for row in state[2] if row[2] != "SELECT"]

    # mgr-b stops being a manager: the role keeps existing but reads nothing any more
    mgr_b = account_role_name("mgr-b")
    ensure_login(pg, mgr_b, alter=True)
    with as_user(pg, db, mgr_b) as con:
        assert con.execute("select count(*) from skillpath.mart_group_league").fetchone()[0] == 1
    make_build(build, users=[(u, a, "learner" if u == "mgr-b" else r) for u, a, r in USERS])
    publish_postgres(build, pg.url(db))
    with as_user(pg, db, mgr_b) as con:
        assert denied(con, "select count(*) from skillpath.mart_group_league")
        assert denied(con, "select count(*) from skillpath.learner_directory")


def test_refusals_leave_the_published_schema_alone(tmp_path: Path, pg: PgServer, db: str) -> None:
    build = tmp_path / "build.duckdb"
    with psycopg.connect(pg.url(db), autocommit=True) as admin:
        admin.execute("create schema skillpath; create table skillpath.customer_data as select 1 as x")
    make_build(build)
    with pytest.raises(PublishError, match="was not published by skillpath"):
        publish_postgres(build, pg.url(db))
    with pytest.raises(PublishError, match="refusing to publish into schema 'public'"):
        publish_postgres(build, pg.url(db), schema="public")

    publish_postgres(build, pg.url(db), schema="sp")
    make_build(build, marker=9, extra_sql="create table marts.dim_person as select 'x' as learner_id, "
                                          "'y' as email")
    with pytest.raises(PIIColumnError, match="dim_person.email"):
        publish_postgres(build, pg.url(db), schema="sp")
    with psycopg.connect(pg.url(db)) as admin:
        assert admin.execute("select max(marker) from sp.dim_credential").fetchone()[0] == 1
        assert admin.execute("select count(*) from skillpath.customer_data").fetchone()[0] == 1
        assert admin.execute("select count(*) from pg_namespace where nspname like 'sp%'").fetchone()[0] == 1
