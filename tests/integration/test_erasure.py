"""``skillpath erase``: one learner (statements, credentials, events, group membership, a group
with a league rank) forgotten in every file of the home and in PostgreSQL, the marts equal to a
fresh build without them, their re-delivery dropped as ``erased``, and neither the next run nor a
rollback bringing them back (issue 16, docs/privacy.md).

The learner's records are found in the landing zone here by parsing it (JSON values, CSV
fields, JWT payloads, recipient hashes; emails and hashes in any case), independently of the
erasure's own matching. What is left of them is searched for, case-insensitively, in the bytes of
every file and, by SQL, in every text column of every DuckDB file (DuckDB compresses text: an
email in a checkpointed file is not there as raw bytes).
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.integration.pipeline_support import SKILLPATH, pipeline_env, run, same_marts
from tests.support_pg import PgServer, pg_bin, start_postgres


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _folded(value: str) -> str:
    """An email or hash as the erasure compares it: trimmed, lower-case, without ``mailto:``."""
    value = value.strip().lower()
    return value[7:] if value.startswith("mailto:") else value


class Person:
    def __init__(self, user_id: str, email: str, name: str, learner_id: str):
        self.user_id, self.email, self.name, self.learner_id = user_id, email, name, learner_id
        self.mbox = f"mailto:{email}"
        self.sha1 = hashlib.sha1(self.mbox.encode()).hexdigest()
        self.award_ids: set[str] = set()

    def byte_tokens(self) -> list[str]:
        return [self.email, self.user_id, self.name, self.mbox, self.sha1, self.learner_id]

    def is_value(self, value: str) -> bool:
        """One of their identifiers: the user id or an award id exactly, the email (``mailto:`` or
        not) or its sha1 in any case."""
        return value.strip() in {self.user_id, *self.award_ids} or _folded(value) in {self.email, self.sha1}

    def is_recipient(self, identity: str | None, salt: str | None) -> bool:
        identity = (identity or "").lower()
        return identity in (self.email, self.mbox) or identity == "sha256$" + _sha256(self.email + (salt or ""))

    def named_in(self, doc) -> bool:
        """A parsed JSON record that is this person's: their identifiers as values, or a recipient
        identity hashing their email, or one of their credentials."""
        for obj in _objects(doc):
            if any(isinstance(v, str) and self.is_value(v) for v in obj.values()):
                return True
            identity = obj.get("identity") or obj.get("identityHash")
            if isinstance(identity, str) and self.is_recipient(identity, obj.get("salt")):
                return True
        return False


def _objects(doc):
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            yield x
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)


def _jwt_payload(line: str):
    parts = line.strip().split(".")
    if len(parts) == 3:
        try:
            return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return None
    return None


def _parse(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return _jwt_payload(line)


def _read(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8", "replace")


def _write(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())


def without_person(landing: Path, person: Person) -> dict[str, list[str]]:
    """Remove the person's records from a landing zone in place; returns them per folder, as read."""
    removed: dict[str, list[str]] = {}
    # their credentials first, so that events and nested credentials follow by award id
    for path in sorted((landing / "credentials").rglob("*")):
        if path.is_file() and not path.name.endswith(".csv"):
            text = _read(path)
            docs = [json.loads(text)] if path.name.endswith(".json") else [_parse(x) for x in text.splitlines()]
            for doc in docs:
                items = doc if isinstance(doc, list) else [doc]
                for item in items:
                    if item is not None and person.named_in(item):
                        person.award_ids |= {o["id"] for o in _objects(item) if isinstance(o.get("id"), str)
                                             and o.get("type") and ("Assertion" in o["type"] or
                                                                    "VerifiableCredential" in o["type"])}
    for path in sorted(landing.rglob("*")):
        if not path.is_file():
            continue
        folder = path.relative_to(landing).parts[0]
        text = _read(path)
        if path.name.endswith(".csv"):
            lines = text.splitlines(keepends=True)
            keep = [ln for ln in lines if not any(person.is_value(f) for f in next(csv.reader(io.StringIO(ln)), []))]
            gone = [ln for ln in lines if ln not in keep]
        elif path.name.endswith(".json") and not path.name.endswith(".ndjson"):
            doc = json.loads(text)
            items = doc if isinstance(doc, list) else doc.get("statements") if "statements" in doc else None
            if items is None:
                if person.named_in(doc):
                    path.unlink()
                    removed.setdefault(folder, []).append(text)
                continue
            gone = [json.dumps(i) for i in items if person.named_in(i)]
            kept = [i for i in items if not person.named_in(i)]
            if isinstance(doc, list):
                doc = kept
            else:
                doc["statements"] = kept
            keep = [json.dumps(doc)]
        else:
            lines = text.splitlines(keepends=True)
            keep = [ln for ln in lines if not (ln.strip() and person.named_in(_parse(ln)))]
            gone = [ln for ln in lines if ln not in keep]
        if gone:
            removed.setdefault(folder, []).extend(gone)
            _write(path, "".join(keep))
    return removed


def files_naming(root: Path, tokens: list[str]) -> list[str]:
    """Files under ``root`` whose bytes (gzip: also decompressed) hold any token, in any case."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blobs = [data.lower()]
        if path.name.endswith(".gz"):
            try:
                blobs.append(gzip.decompress(data).lower())
            except OSError:
                pass
        for t in tokens:
            if any(t.lower().encode() in b for b in blobs):
                hits.append(f"{path.relative_to(root)}: {t}")
    return hits


def _is_duckdb(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(12)[8:12] == b"DUCK"


def duckdb_naming(root: Path, tokens: list[str]) -> list[str]:
    """Columns of DuckDB files under ``root`` (lake, build, warehouse, every version) holding any
    token, by SQL: every VARCHAR, BLOB and JSON column of every table, case-insensitive."""
    tokens = [t.lower() for t in tokens]
    hits = []
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".wal") and _is_duckdb(p)]
    assert files, f"no DuckDB file under {root}"
    con = duckdb.connect()
    try:
        for path in files:
            con.execute("attach ? as db (read_only)", [str(path)])
            columns = con.execute(  # the tables (views hold no data, and may name another file)
                "select c.schema_name, c.table_name, list(c.column_name order by c.column_index) "
                "from duckdb_columns() c join duckdb_tables() t on t.database_name = c.database_name "
                "and t.schema_name = c.schema_name and t.table_name = c.table_name "
                "where c.database_name = 'db' and c.data_type in ('VARCHAR', 'BLOB', 'JSON') "
                "group by all order by all").fetchall()
            for schema, table, cols in columns:
                checks = [(c, t) for c in cols for t in tokens]
                counts = con.execute(
                    "select " + ", ".join(f'count(*) filter (where contains(lower(cast("{c}" as varchar)), ?))'
                                          for c, _ in checks) + f' from db."{schema}"."{table}"',
                    [t for _, t in checks]).fetchone()
                hits += [f"{path.relative_to(root)}: {schema}.{table}.{c}: {t}"
                         for (c, t), n in zip(checks, counts, strict=True) if n]
            con.execute("detach db")
    finally:
        con.close()
    return hits


def pg_dump(pg: PgServer, db: str) -> str:
    return subprocess.run([pg_bin("pg_dump"), "--dbname", pg.url(db)], check=True, capture_output=True,
                          text=True).stdout


def skillpath(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([SKILLPATH, *args], env=pipeline_env(home, **env), capture_output=True, text=True,
                          timeout=900)


PERSONAL_TABLES = ("xapi_statements", "credential_events", "lms_users", "lms_enrollments", "lms_group_members")


def raw_counts(home: Path) -> dict[str, int]:
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in PERSONAL_TABLES}
    finally:
        con.close()


def manifest_totals(home: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select source, sum(records_read), sum(records_loaded), sum(records_quarantined), "
            "sum(records_duplicate), sum(records_erased) from raw.load_manifest group by source").fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def pg() -> PgServer:
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg: PgServer, published_home: Path):
    from skillpath.publish.postgres import publish_postgres

    root = tmp_path_factory.mktemp("erasure")
    home = root / "home"
    shutil.copytree(published_home, home)  # the shared world: generated and published once per session
    before = root / "before"
    shutil.copytree(published_home, before)  # the home as it was, to show what the searches find
    pristine = root / "pristine"
    shutil.copytree(home / "landing", pristine)
    with __import__("psycopg").connect(pg.url(), autocommit=True) as con:
        con.execute("create database erasure")
    env = {"SKILLPATH_POSTGRES_URL": pg.url("erasure")}
    # what the nightly run published to PostgreSQL (the marts and the learner directory)
    publish_postgres(home / "build.duckdb", pg.url("erasure"), lake_db=home / "lake.duckdb")
    # the learner: xAPI statements, credentials with events, a group with a league rank
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    learner_ids = {r[0] for r in con.execute(
        "select learner_id from marts.mart_recipient_credentials where views + shares > 0 "
        "intersect select learner_id from marts.fct_attempts").fetchall()}
    con.close()
    users = list(csv.DictReader(io.StringIO((pristine / "lms" / "users.csv").read_text())))
    key = pipeline_env(home)["SKILLPATH_PSEUDONYM_KEY"]
    by_learner = {hashlib.sha256(f"{key}|{u['user_id']}".encode()).hexdigest()[:24]: u for u in users}
    members = {r["user_id"] for r in csv.DictReader(io.StringIO((pristine / "lms" / "group_members.csv").read_text()))}
    names = [u["display_name"] for u in users]
    chosen = sorted(lid for lid in learner_ids if lid in by_learner and by_learner[lid]["user_id"] in members
                    and names.count(by_learner[lid]["display_name"]) == 1)
    assert chosen, "the generated world has no learner with statements, credential events and a group"
    # preferably one whose consent writes the email in capitals (the generator does so for some)
    subjects = [r["subject"] for r in csv.DictReader(io.StringIO((pristine / "consents" / "consents.csv").read_text()))]
    capitals = {lid for lid in chosen
                if any(x != x.lower() and _folded(x) == by_learner[lid]["email"].lower() for x in subjects)}
    chosen.sort(key=lambda lid: lid not in capitals)
    u = by_learner[chosen[0]]
    person = Person(u["user_id"], u["email"].lower(), u["display_name"], chosen[0])
    before_versions = sorted(p.name for p in (home / "versions").iterdir())
    raw_before = raw_counts(home)
    dump_before = pg_dump(pg, "erasure")

    erased = skillpath(home, "erase", person.user_id, "--reason", "ticket 4711", "--requested-by", "dpo",
                       "--json", str(root / "audit.json"), **env)
    assert erased.returncode == 0, erased.stdout + erased.stderr

    # the reference: a fresh home whose landing zone never had the person
    reference = root / "reference"
    shutil.copytree(pristine, reference / "landing")
    removed = without_person(reference / "landing", person)
    fresh = run(reference)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    return {"home": home, "root": root, "person": person, "env": env, "reference": reference, "before": before,
            "removed": removed, "pristine": pristine, "before_versions": before_versions,
            "raw_before": raw_before, "dump_before": dump_before, "capitals": chosen[0] in capitals}


def test_the_learner_had_data_everywhere_before(world) -> None:
    removed = world["removed"]
    assert {"xapi", "lms", "credentials", "credential_events"} <= set(removed), removed.keys()
    assert world["person"].award_ids
    assert world["person"].email in world["dump_before"] and world["person"].name in world["dump_before"]
    assert files_naming(world["pristine"], [world["person"].email, world["person"].user_id])
    assert world["capitals"]  # a consent names them as Mailto:First.Last@...: found in any case
    person, before = world["person"], world["before"]
    tokens = person.byte_tokens()
    # the home named them: in files, and in every DuckDB file, seen by SQL
    assert {h.split(":")[0] for h in files_naming(before, tokens)} >= {"lake.duckdb", "report.html"}
    in_duckdb = duckdb_naming(before, tokens)
    named = {h.split(":")[0] for h in in_duckdb}
    versions = {f"versions/{p.name}" for p in (before / "versions").iterdir() if _is_duckdb(p)}
    assert named >= {"lake.duckdb", "build.duckdb", "warehouse.duckdb", *versions}, named
    for token in (person.email, person.user_id, person.name, person.learner_id):
        assert any(h.endswith(f": {token.lower()}") for h in in_duckdb), token
    # ... with a league rank of their own and a group in the group league
    con = duckdb.connect(str(before / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from marts.mart_learner_course_progress where learner_id = ? "
                           "and rank_mastered >= 1", [person.learner_id]).fetchone()[0] > 0
        ranked = {r[0] for r in con.execute("select group_id from marts.mart_group_league").fetchall()}
    finally:
        con.close()
    members = list(csv.DictReader(io.StringIO((world["pristine"] / "lms" / "group_members.csv").read_text())))
    groups = {m["group_id"] for m in members if m["user_id"] == person.user_id}
    assert groups & ranked, "one of their groups has a league rank"


def test_no_file_under_the_home_and_no_postgres_dump_names_the_learner(world, pg: PgServer) -> None:
    person = world["person"]
    assert files_naming(world["home"], person.byte_tokens()) == []
    assert duckdb_naming(world["home"], person.byte_tokens()) == []
    dump = pg_dump(pg, "erasure")
    assert "learner_directory" in dump  # the dump is of the published schema, republished without them
    assert [t for t in person.byte_tokens() if t.lower() in dump.lower()] == []


def test_the_marts_equal_a_fresh_build_without_the_learner(world) -> None:
    assert same_marts(world["home"] / "warehouse.duckdb", world["reference"] / "warehouse.duckdb") == []


def test_every_kept_version_was_scrubbed_and_a_rollback_does_not_bring_the_learner_back(world) -> None:
    home, person = world["home"], world["person"]
    versions = sorted(p.name for p in (home / "versions").iterdir())
    assert set(world["before_versions"]) < set(versions)  # the first publication is kept, rewritten
    assert files_naming(home / "versions", person.byte_tokens()) == []
    assert duckdb_naming(home / "versions", person.byte_tokens()) == []
    rolled = skillpath(home, "rollback", **world["env"])
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select version_id from meta.publication").fetchone()[0] in world["before_versions"][0]
        assert con.execute("select count(*) from marts.fct_attempts where learner_id = ?",
                           [person.learner_id]).fetchone()[0] == 0
        assert con.execute("select count(*) from marts.fct_attempts").fetchone()[0] > 0
    finally:
        con.close()
    assert files_naming(home, person.byte_tokens()) == []
    assert duckdb_naming(home, person.byte_tokens()) == []


def test_the_audit_record_holds_counts_and_no_personal_data(world) -> None:
    audit = json.loads((world["root"] / "audit.json").read_text())
    text = json.dumps(audit)
    assert [t for t in world["person"].byte_tokens() if t.lower() in text.lower()] == []
    assert audit["requested_by"] == "dpo" and audit["reason"] == "ticket 4711" and audit["finished_at"]
    rows = json.loads(audit["rows_removed"])
    # the raw layer lost exactly what a landing zone without the learner never had
    reference = raw_counts(world["reference"])
    for table, before in world["raw_before"].items():
        assert rows.get(table, 0) == before - reference[table], table


def test_erasing_again_changes_nothing(world) -> None:
    """Idempotent: nothing left to remove, no file to rewrite, hence no rebuild."""
    home = world["home"]
    before = manifest_totals(home)
    again = skillpath(home, "erase", world["person"].user_id, **world["env"])
    assert again.returncode == 0, again.stdout + again.stderr
    out = again.stderr + again.stdout
    assert "0 raw rows removed" in out and "0 landing files rewritten" in out and "rebuilt" not in out
    assert manifest_totals(home) == before


def redeliver(landing: Path, removed: dict[str, list[str]], person: Person, header: str) -> None:
    """The learner's records again, as new landing files (a source sending them once more)."""
    for folder in ("xapi", "credential_events"):
        (landing / folder).mkdir(parents=True, exist_ok=True)
    (landing / "xapi" / "redelivered.ndjson").write_text("".join(
        ln.rstrip("\n") + "\n" for ln in removed["xapi"] if ln.strip().startswith("{")))
    (landing / "credential_events" / "redelivered.ndjson").write_text("".join(removed["credential_events"]))
    (landing / "lms" / "redelivered").mkdir(parents=True)
    (landing / "lms" / "redelivered" / "users.csv").write_text(
        header + "\n" + "".join(ln for ln in removed["lms"] if person.email in ln.lower()))
    (landing / "credentials" / "redelivered").mkdir(parents=True)
    for i, doc in enumerate(removed["credentials"]):
        suffix = "json" if doc.lstrip().startswith("{") else "jwt"
        (landing / "credentials" / "redelivered" / f"award-{i}.{suffix}").write_text(doc)


def test_a_redelivery_is_dropped_as_erased_and_the_next_run_keeps_the_learner_out(world) -> None:
    from skillpath.config import settings
    from skillpath.ingest.runner import ingest_landing

    home, person, removed = world["home"], world["person"], world["removed"]
    header = (world["pristine"] / "lms" / "users.csv").read_text().splitlines()[0]
    # what the same files load into an empty raw layer (no erasures): the oracle of what is dropped
    scratch = world["root"] / "scratch"
    redeliver(scratch / "landing", removed, person, header)
    loaded = {r["source"]: r["records_loaded"] for r in ingest_landing(settings().with_home(scratch))["sources"]}
    assert all(loaded[s] > 0 for s in ("xapi_file", "credential_events", "lms", "credentials")), loaded

    before = manifest_totals(home)
    redeliver(home / "landing", removed, person, header)
    again = run(home, **world["env"])
    assert again.returncode == 0, again.stdout + again.stderr
    after = manifest_totals(home)
    for source in ("xapi_file", "credential_events", "lms", "credentials"):
        assert after[source][4] - before[source][4] == loaded[source], source
        assert after[source][1] == before[source][1], source  # nothing of it stays loaded
    for source, (read, loaded_, quarantined, duplicate, erased) in after.items():
        assert read == loaded_ + quarantined + duplicate + erased, source
    assert same_marts(home / "warehouse.duckdb", world["reference"] / "warehouse.duckdb") == []
    # only the new landing files name the learner: nothing the pipeline wrote
    hits = files_naming(home, person.byte_tokens())
    assert hits and all(h.startswith("landing/") and "redelivered" in h for h in hits), hits
    assert duckdb_naming(home, person.byte_tokens()) == []


def test_retention_drops_old_statements_and_events_from_raw_and_marts(world) -> None:
    """SKILLPATH_RETENTION_DAYS (the last test: it changes the home): statements and credential
    events older than the window leave the raw layer and, by a full rebuild, the marts."""
    home = world["home"]
    cutoff = "2024-09-13"  # as of 2026-01-06, 480 days: the first two months of the world
    con = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    old_statements = con.execute("select count(*) from raw.xapi_statements where statement_timestamp < ?",
                                 [cutoff]).fetchone()[0]
    old_events = con.execute("select count(*) from raw.credential_events where occurred_at < ?", [cutoff]).fetchone()[0]
    con.close()
    assert old_statements > 0 and old_events > 0
    before = manifest_totals(home)
    kept = run(home, SKILLPATH_RETENTION_DAYS="480", **world["env"])
    assert kept.returncode == 0, kept.stdout + kept.stderr
    after = manifest_totals(home)
    assert after["xapi_file"][4] - before["xapi_file"][4] == old_statements
    assert after["credential_events"][4] - before["credential_events"][4] == old_events
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from marts.fct_attempts where started_at < ?", [cutoff]).fetchone()[0] == 0
        assert con.execute("select count(*) from marts.fct_attempts").fetchone()[0] > 0
        assert con.execute("select count(*) from marts.fct_credential_events where occurred_at < ?",
                           [cutoff]).fetchone()[0] == 0
    finally:
        con.close()
    assert not (home / ".rebuild_required").exists()


def test_when_nothing_is_republished_their_rows_still_leave_postgres(pg: PgServer, published_home: Path,
                                                                    tmp_path: Path) -> None:
    """A blocked gate (or nothing to rebuild) republishes nothing: the erasure deletes the person's
    rows from the published PostgreSQL schema itself (every table with their learner_id, the learner
    directory's row with their email), and nobody else's."""
    import psycopg

    from skillpath.privacy.erasure import Identity, scrub_published_postgres
    from skillpath.publish.postgres import publish_postgres

    for name in ("build.duckdb", "lake.duckdb"):
        shutil.copyfile(published_home / name, tmp_path / name)
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute("create database blocked")
    url = pg.url("blocked")
    publish_postgres(tmp_path / "build.duckdb", url, lake_db=tmp_path / "lake.duckdb")

    def per_table(learner: str | None = None) -> dict[str, int]:
        with psycopg.connect(url) as con:
            tables = {r[0]: r[1] for r in con.execute(
                "select table_name, max(column_name) from information_schema.columns where table_schema = 'skillpath' "
                "and column_name in ('learner_id', 'scope_id') group by table_name").fetchall()}
            out = {}
            for t, col in tables.items():
                where = ("" if not learner else " where learner_id = %s" if col == "learner_id"
                         else " where scope_type = 'learner' and scope_id = %s")
                out[t] = con.execute(f'select count(*) from skillpath."{t}"{where}',
                                     [learner] if learner else []).fetchone()[0]
            return out

    with psycopg.connect(url) as con:
        learner, email = con.execute("select d.learner_id, d.email from skillpath.learner_directory d "
                                     "join skillpath.fct_attempts a using (learner_id) where d.email is not null "
                                     "order by 1 limit 1").fetchone()
    theirs, everything = per_table(learner), per_table()
    assert theirs["learner_directory"] == 1 and theirs["fct_attempts"] > 0 and theirs["mart_chapter_mastery"] > 0
    deleted = scrub_published_postgres(url, Identity(learner_ids={learner}, emails={email.lower()}))
    assert deleted == sum(theirs.values())
    assert per_table(learner) == dict.fromkeys(theirs, 0)
    assert per_table() == {t: n - theirs[t] for t, n in everything.items()}
    dump = pg_dump(pg, "blocked")
    assert learner not in dump and email.lower() not in dump.lower()
