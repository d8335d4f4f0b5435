"""Publishing warehouse.duckdb: contents, old-DuckDB readability, atomicity, rollback, pruning, PII refusal."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from skillpath.publish.duckdb_publish import (
    PIIColumnError,
    PublishError,
    find_pii_columns,
    list_versions,
    publish_duckdb,
    read_meta,
    rollback,
)
from tests.helpers import ROOT

OLD_VENV = ROOT / ".venv-duckdb-old"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_build(build_db: Path, marker: int, *, extra_sql: str = "", base_rows: int = 500) -> dict[str, int]:
    """A small build DB: marts (two tables, one view), staging with PII, raw; returns mart row counts."""
    if build_db.exists():
        build_db.unlink()
    n_fct, n_dim = base_rows + 37 * marker, 3 + marker
    con = duckdb.connect(str(build_db))
    try:
        con.execute("create schema marts; create schema staging; create schema raw")
        con.execute(f"""create table marts.fct_attempts as
            select 'acct-' || (i % 3) as account_id, 'lrn-' || (i % 17) as learner_id,
                   {marker} as marker, i * 0.5 as score, [i, i + 1] as tags,
                   timestamp '2025-01-01' + to_seconds(i) as attempted_at
            from range({n_fct}) t(i)""")
        con.execute(f"""create table marts.dim_course as
            select 'course-' || i as course_id, 'Course ' || i as course_name, {marker} as marker
            from range({n_dim}) t(i)""")
        con.execute("create view marts.mart_account_summary as "
                    "select account_id, count(*) as attempts from marts.fct_attempts group by account_id")
        con.execute("create table staging.stg_lms__users as select 'u1' as user_id, 'lrn-1' as learner_id, "
                    "'acct-1' as account_id, 'a@example.org' as email, 'Ann' as display_name, 'learner' as role")
        con.execute("create table raw.secret as select 'a@example.org' as email")
        if extra_sql:
            con.execute(extra_sql)
    finally:
        con.close()
    return {"fct_attempts": n_fct, "dim_course": n_dim, "mart_account_summary": 3}


def published_schemas(db: Path) -> set[str]:
    con = duckdb.connect()
    try:
        con.execute(f"attach '{db}' as w (read_only)")
        return {r[0] for r in con.execute(
            "select distinct table_schema from information_schema.tables where table_catalog = 'w'").fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def old_python() -> Path:
    """The interpreter of the old-duckdb venv (installed by scripts/install_old_duckdb.sh)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install_old_duckdb.sh")], check=True)
    py = OLD_VENV / "bin" / "python"
    out = subprocess.run([str(py), "-c", "import duckdb; print(duckdb.__version__)"],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out != duckdb.__version__ and out.startswith("1."), out
    return py


def test_publish_contents_and_readable_by_old_duckdb(tmp_path: Path, old_python: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    expected = make_build(build, marker=1)

    result = publish_duckdb(build, home, run_id="run-1")

    wh = home / "warehouse.duckdb"
    assert result.warehouse == wh and wh.exists()
    assert result.row_counts == expected
    assert os.path.samefile(wh, result.version_path)
    # only marts and meta: no staging, no raw, no emails or names anywhere
    assert published_schemas(wh) == {"marts", "meta"}
    con = duckdb.connect(str(wh), read_only=True)
    try:
        cols = {r[0] for r in con.execute("select column_name from information_schema.columns").fetchall()}
        tables = {r[0]: r[1] for r in con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts'").fetchall()}
        assert con.execute("select sum(marker), count(*) from marts.fct_attempts").fetchone() == (
            expected["fct_attempts"], expected["fct_attempts"])
        storage = con.execute("select tags['storage_version'] from duckdb_databases() "
                              "where database_name = current_database()").fetchone()[0]
    finally:
        con.close()
    assert not {"email", "display_name"} & cols
    assert tables == {"fct_attempts": "BASE TABLE", "dim_course": "BASE TABLE",
                      "mart_account_summary": "BASE TABLE"}  # views are materialised
    assert storage.startswith(result.storage_version)

    meta = read_meta(wh)
    assert meta["run_id"] == "run-1" and meta["version_id"] == result.version_id
    assert meta["row_counts"] == expected

    # The old DuckDB release reads every table.
    script = textwrap.dedent(f"""
        import json, duckdb
        con = duckdb.connect({str(wh)!r}, read_only=True)
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()]
        print(json.dumps({{n: con.execute(f'select count(*) from marts."{{n}}"').fetchone()[0] for n in names}}))
    """)
    proc = subprocess.run([str(old_python), "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


READER = textwrap.dedent("""
    import json, sys, duckdb
    from pathlib import Path

    wh, stop, progress = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    stats = {"checks": 0, "errors": [], "inconsistent": [], "markers": [], "long_lived_marker": None}

    def check(con, prefix):
        run_id = con.execute(f"select run_id from {prefix}meta.publication").fetchone()[0]
        meta = dict(con.execute(f"select table_name, row_count from {prefix}meta.row_counts").fetchall())
        actual = {t: con.execute(f'select count(*) from {prefix}marts."{t}"').fetchone()[0] for t in meta}
        m_fct = con.execute(f"select min(marker), max(marker) from {prefix}marts.fct_attempts").fetchone()
        m_dim = con.execute(f"select min(marker), max(marker) from {prefix}marts.dim_course").fetchone()
        ok = meta == actual and m_fct[0] == m_fct[1] == m_dim[0] == m_dim[1] == int(run_id)
        return int(run_id), ok, (meta, actual, m_fct, m_dim, run_id)

    long_lived = duckdb.connect(wh, read_only=True)
    first, ok, _ = check(long_lived, "")
    stats["long_lived_marker"] = first
    while not stop.exists():
        try:
            con = duckdb.connect()
            con.execute(f"attach '{wh}' as w (read_only)")
            marker, ok, detail = check(con, "w.")
            con.close()
            stats["checks"] += 1
            if not ok:
                stats["inconsistent"].append(repr(detail))
            if marker not in stats["markers"]:
                stats["markers"].append(marker)
                tmp = progress.with_suffix(".tmp")
                tmp.write_text(str(marker))
                tmp.replace(progress)
            again, ok, detail = check(long_lived, "")
            if not ok or again != first:
                stats["inconsistent"].append("long-lived: " + repr(detail))
        except Exception as exc:  # every error is a failure of the publication scheme
            stats["errors"].append(repr(exc))
    print(json.dumps(stats))
""")


BIG = 300_000  # rows: a file of some megabytes, so that a non-atomic swap would be caught


def test_reader_hammering_sees_no_error_and_no_mix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    make_build(build, marker=0, base_rows=BIG)
    publish_duckdb(build, home, run_id="0")
    stop, progress = tmp_path / "stop", tmp_path / "progress"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home / "warehouse.duckdb"), str(stop), str(progress)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for marker in range(0, 21):
            if marker:
                make_build(build, marker=marker, base_rows=BIG)
                publish_duckdb(build, home, run_id=str(marker), keep_versions=3)
            # let the reader observe this version before the next one replaces it (and, for
            # version 0, open its long-lived connection before the first publication)
            deadline = time.monotonic() + 60
            while not (progress.exists() and progress.read_text() == str(marker)):
                assert reader.poll() is None, reader.stderr.read()
                assert time.monotonic() < deadline, f"reader never saw version {marker}"
                time.sleep(0.01)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    stats = json.loads(out)
    assert stats["errors"] == []
    assert stats["inconsistent"] == []
    assert stats["markers"] == list(range(0, 21))
    assert stats["long_lived_marker"] == 0  # the reader that opened the first file kept reading it
    assert stats["checks"] >= 20
    assert len(list_versions(home)) == 3


def test_rollback_restores_previous_file_byte_for_byte(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    make_build(build, marker=1)
    first = publish_duckdb(build, home)
    sha_first = sha256(home / "warehouse.duckdb")
    make_build(build, marker=2)
    second = publish_duckdb(build, home)
    sha_second = sha256(home / "warehouse.duckdb")
    assert sha_first != sha_second

    back = rollback(home)
    assert back.version_id == first.version_id
    assert sha256(home / "warehouse.duckdb") == sha_first
    assert [v.version_id for v in list_versions(home) if v.is_current] == [first.version_id]
    assert read_meta(home / "warehouse.duckdb")["version_id"] == first.version_id

    with pytest.raises(PublishError, match="no version older"):
        rollback(home)

    rollback(home, to=second.version_id)
    assert sha256(home / "warehouse.duckdb") == sha_second
    with pytest.raises(PublishError, match="no kept version 'nope'"):
        rollback(home, to="nope")


def test_versions_are_pruned_to_keep_versions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    ids = []
    for marker in range(5):
        make_build(build, marker=marker)
        ids.append(publish_duckdb(build, home, keep_versions=2).version_id)
    versions = list_versions(home)
    assert [v.version_id for v in versions] == [ids[4], ids[3]]
    assert [v.is_current for v in versions] == [True, False]
    assert sorted(p.name for p in (home / "versions").iterdir()) == sorted(v.path.name for v in versions)


@pytest.mark.parametrize("column", ["email", "display_name", "recipient_email", "learner_name", "full_name"])
def test_pii_column_fails_publication_and_keeps_the_warehouse(tmp_path: Path, column: str) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    make_build(build, marker=1)
    publish_duckdb(build, home)
    wh = home / "warehouse.duckdb"
    before_sha, before_files = sha256(wh), sorted(os.listdir(home / "versions"))

    make_build(build, marker=2, extra_sql=f"create table marts.dim_learner as select 'lrn-1' as learner_id, "
                                          f"'x' as {column}")
    with pytest.raises(PIIColumnError, match=f"dim_learner.{column}"):
        publish_duckdb(build, home)

    assert sha256(wh) == before_sha
    assert sorted(os.listdir(home / "versions")) == before_files
    assert read_meta(wh)["row_counts"]["fct_attempts"] == 500 + 37


def test_empty_or_missing_build_fails_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    con = duckdb.connect(str(build))
    con.execute("create schema marts; create schema staging")
    con.close()
    with pytest.raises(PublishError, match="has no tables"):
        publish_duckdb(build, home)
    assert not (home / "warehouse.duckdb").exists()
    assert list_versions(home) == []
    with pytest.raises(PublishError, match="does not exist"):
        publish_duckdb(tmp_path / "missing.duckdb", home)


def test_leftovers_of_a_killed_publication_are_ignored_then_removed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = tmp_path / "build.duckdb"
    make_build(build, marker=1)
    publish_duckdb(build, home)
    partial = home / "versions" / ".warehouse-20250101T000000000000Z-deadbeef.duckdb.partial"
    staged = home / ".warehouse.duckdb.cafebabe.staged"
    partial.write_bytes(b"half a file")
    staged.write_bytes(b"half a file")
    assert len(list_versions(home)) == 1
    make_build(build, marker=2)
    publish_duckdb(build, home)
    assert not partial.exists() and not staged.exists()
    assert sorted(p.name for p in (home / "versions").iterdir()) == sorted(v.path.name for v in list_versions(home))


def test_pii_pattern_flags_person_columns_only() -> None:
    person = ["email", "Email", "emails", "email_address", "recipient_email", "learner_email", "mbox",
              "actor_mbox", "mbox_sha1sum", "name", "display_name", "displayname", "first_name", "last_name",
              "full_name", "given_name", "family_name", "user_name", "username", "learner_name",
              "recipient_full_name", "phone", "date_of_birth"]
    not_person = ["shares_email", "is_shares_email_suppressed", "course_name", "group_name", "issuer_name",
                  "credential_name", "collection_name", "chapter_title", "learner_id", "account_id", "role",
                  "channel", "verifier_organization_id", "verifier_country"]
    assert find_pii_columns([("t", c) for c in person]) == [f"t.{c}" for c in person]
    assert find_pii_columns([("t", c) for c in not_person]) == []
