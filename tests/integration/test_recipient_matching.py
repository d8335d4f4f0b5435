"""Salted recipient matching in passes (issue 14) equals hashing every email with every salt.

``int_credentials__recipient_hashes`` hashes a salted identity first with the emails of
its plausible recipients (pass 1: users enrolled in a course the credential certifies,
plain-email recipients of the same CLR; pass 2: users of the accounts owning the courses
of the credential's collections) and only the pairs still unmatched with every email
(pass 3). A generated landing zone (skillpath_dev.generate, 12,000 statements) is ingested into a throw-away
raw layer (LMS and credentials), and hand-made awards are added whose recipients no
narrow pass holds: a course credential awarded to a user of another account, a manager
of the right account (no enrolments: pass 2), a credential in no collection, an award
without a credential, the empty salt, an identity nobody has; and a CLR whose hashed
container and nested award are found through a plain-email sibling (pass 1).

Expected matches: hashlib over every email x every salt, computed here from the raw rows
(no SQL). The digest rows of the first build are counted (every sha256 call of the
compiled model) and compared with the passes computed here in Python. A second load
(a back-filled user enrolled in a certified course, a user for a waiting identity,
new awards inside and outside the narrow sets) is built incrementally and compared with
the brute force again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from skillpath.ingest.lms import ingest_lms
from skillpath_dev.bench.recipient_match import connect, count_digests
from skillpath_dev.generate import generate_landing
from tests.helpers import query, run_dbt

MODEL = "int_credentials__recipient_hashes"
CACHE = f"intermediate.{MODEL}"
VARS = {"as_of_date": "2026-01-06"}
ACH = "https://credentials.example.org/achievements/"
COURSE_CREDENTIAL = ACH + "data-literacy"          # certifies the first course of the first account
NO_COURSE_CREDENTIAL = ACH + "data-foundations"     # same collection, certifies no course
NOBODY = "nobody@example.org"                       # never a user
LATE_IN = "late.insider@example.org"                # users from the second load on
LATE_OUT = "late.outsider@example.org"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def award(award_id: str, identity: str | None, *, achievement: str | None, salt: str | None = None,
          hashed: bool = False, parent: str | None = None, fmt: str = "ob3") -> dict:
    return {"award_id": award_id, "source_format": fmt, "parent_award_id": parent, "achievement_id": achievement,
            "achievement_name": None, "achievement_type": None, "issuer_id": "https://issuer.example.org",
            "issuer_name": "Example Issuer", "recipient_identity": identity, "recipient_hashed": hashed,
            "recipient_salt": salt, "issued_at": dt.datetime(2025, 6, 1), "expires_at": None, "revoked": False,
            "revocation_reason": None, "payload_sha256": sha256(award_id)}


def salted(award_id: str, email: str, salt: str | None, *, achievement: str | None, parent: str | None = None,
           upper: bool = False) -> dict:
    ident = "sha256$" + sha256(email + (salt or ""))
    return award(award_id, ident.upper() if upper else ident, achievement=achievement, salt=salt, hashed=True,
                 parent=parent)


def load(lake: Path, table: str, rows: list[dict], loaded_at: dt.datetime) -> None:
    """One hand-made raw load: rows appended to raw.<table> with their load metadata."""
    con = connect_raw(lake)
    try:
        load_id = f"test-{table}-{loaded_at:%H%M%S}"
        for i, row in enumerate(rows, start=1):
            full = {**row, "load_id": load_id, "source": "test", "source_ref": load_id, "record_no": i,
                    "loaded_at": loaded_at}
            con.execute(f"insert into raw.{table} ({', '.join(full)}) values ({', '.join('?' * len(full))})",
                        list(full.values()))
    finally:
        con.close()


class Raw:
    """The latest raw rows, read back in Python (the way staging cleans them: trim, lower-case)."""

    def __init__(self, lake: Path):
        con = duckdb.connect(str(lake), read_only=True)
        try:
            def latest(table: str, key: str, cols: str) -> list[tuple]:
                return con.execute(
                    f"select {cols} from (select *, row_number() over (partition by {key} order by loaded_at desc, "
                    f"load_id desc, record_no desc) as r from raw.{table}) where r = 1 and {key.split(',')[0]} "
                    "is not null").fetchall()
            self.users = latest("lms_users", "user_id", "user_id, account_id, email, loaded_at")
            self.enrollments = latest("lms_enrollments", "user_id, course_id", "user_id, course_id")
            self.courses = dict(latest("lms_courses", "course_id", "course_id, account_id"))
            self.members = latest("collections", "collection_id, achievement_id",
                                  "collection_id, achievement_id, course_id")
            self.awards = latest("credential_awards", "award_id",
                                 "award_id, parent_award_id, achievement_id, recipient_identity, recipient_salt")
        finally:
            con.close()

    def user_emails(self) -> dict[str, dt.datetime]:
        out: dict[str, dt.datetime] = {}
        for _, _, email, loaded_at in self.users:
            e = (email or "").strip().lower()
            if e:
                out[e] = max(out.get(e, loaded_at), loaded_at)
        return out

    def pairs(self) -> dict[tuple[str, str], list[tuple]]:
        """(salt, 'sha256$' identity) -> its awards."""
        out = defaultdict(list)
        for a in self.awards:
            ident = (a[3] or "").strip().lower()
            if ident.startswith("sha256$"):
                out[(a[4] or "", ident)].append(a)
        return out


def brute_force(raw: Raw) -> dict[tuple[str, str], str | None]:
    """Every email hashed with every salt: (salt, identity) -> the email hashing to it."""
    emails = sorted(raw.user_emails())
    pairs = raw.pairs()
    by_salt = {salt: {sha256(e + salt): e for e in emails} for salt in {s for s, _ in pairs}}
    return {(salt, ident): by_salt[salt].get(ident[7:]) for salt, ident in pairs}


def passes(raw: Raw) -> tuple[dict[tuple[str, str], int], int]:
    """The documented passes of a first build, here in Python: (pair -> pass that matched it, 0 = none),
    and the digest rows they take (passes 1 and 2 per pair, pass 3 per salt)."""
    emails = raw.user_emails()
    user_email = {u: (e or "").strip().lower() for u, _, e, _ in raw.users}
    enrolled = defaultdict(set)
    for user_id, course_id in raw.enrollments:
        if user_email.get(user_id):
            enrolled[course_id].add(user_email[user_id])
    account_emails = defaultdict(set)
    for _, account_id, email, _ in raw.users:
        if (email or "").strip() and account_id:
            account_emails[account_id].add(email.strip().lower())
    courses_of = defaultdict(set)
    collections_of = defaultdict(set)
    for collection_id, achievement_id, course_id in raw.members:
        collections_of[achievement_id].add(collection_id)
        if course_id:
            courses_of[achievement_id].add(course_id)
    pathway_accounts = defaultdict(set)
    for achievement_id, cols in collections_of.items():
        for collection_id, _, course_id in raw.members:
            if collection_id in cols and course_id in raw.courses and raw.courses[course_id]:
                pathway_accounts[achievement_id].add(raw.courses[course_id])
    credentials = defaultdict(set)
    documents = defaultdict(set)
    for award_id, parent, achievement_id, identity, _ in raw.awards:
        if achievement_id:
            credentials[award_id].add(achievement_id)
            if parent:
                credentials[parent].add(achievement_id)
        documents[parent or award_id].add((identity or "").strip().lower())

    pairs = raw.pairs()
    salt_pairs = defaultdict(int)
    for salt, _ in pairs:
        salt_pairs[salt] += 1
    matched_in: dict[tuple[str, str], int] = {}
    digests = 0
    for n in (1, 2):
        # per pair of a salt no other pair has: its candidates (distinct per course / document email / account)
        for pair in sorted(pairs):
            if pair in matched_in or salt_pairs[pair[0]] > 1:
                continue
            creds = {c for award_id, *_ in pairs[pair] for c in credentials[award_id]}
            if n == 1:
                candidates = [e for course in {c2 for c in creds for c2 in courses_of[c]} for e in enrolled[course]]
                candidates += {e for award_id, parent, *_ in pairs[pair] for e in documents[parent or award_id]
                               if e in emails}
            else:
                candidates = [e for acc in {a for c in creds for a in pathway_accounts[c]}
                              for e in account_emails[acc]]
            digests += len(candidates)
            if any(sha256(e + pair[0]) == pair[1][7:] for e in candidates):
                matched_in[pair] = n
    pending = set(pairs) - set(matched_in)
    digests += len({salt for salt, _ in pending}) * len(emails)
    for pair in pending:
        matched_in[pair] = 3 if any(sha256(e + pair[0]) == pair[1][7:] for e in emails) else 0
    return matched_in, digests


def cache(home: Path) -> dict[tuple[str, str], tuple]:
    rows = query(home / "build.duckdb", f"select recipient_salt, recipient_identity, matched_email, "
                                        f"checked_through, checked_at from {CACHE}")
    return {(r[0], r[1]): r[2:] for r in rows}


def pair_of(email: str, salt: str | None) -> tuple[str, str]:
    return salt or "", "sha256$" + sha256(email + (salt or ""))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("recipient-matching") / "home"
    landing = home / "landing"
    generate_landing(landing, statements=12000, seed=23)
    lake = home / "lake.duckdb"
    con = connect_raw(lake)
    try:
        ingest_lms(con, landing)
        ingest_credentials(con, landing)
    finally:
        con.close()
    raw = Raw(lake)
    loaded = max(u[3] for u in raw.users)
    # the people of the hand-made awards, chosen from the generated LMS
    course = next(c for a, c in ((m[1], m[2]) for m in raw.members) if a == COURSE_CREDENTIAL)
    account = raw.courses[course]
    enrolled = {u for u, c in raw.enrollments if c == course}
    learners = {u for u, _ in raw.enrollments}
    by_id = {u: (acc, (e or "").lower()) for u, acc, e, _ in raw.users if e}
    pathway_accounts = {raw.courses[m[2]] for m in raw.members
                        if m[2] and m[0] == next(m2[0] for m2 in raw.members if m2[1] == COURSE_CREDENTIAL)}
    insider = by_id[min(u for u in enrolled if u in by_id)][1]
    manager = next(e for u, (acc, e) in sorted(by_id.items()) if acc == account and u not in learners)
    outsiders = [e for u, (acc, e) in sorted(by_id.items()) if acc not in pathway_accounts and u in learners]
    people = {"insider": insider, "manager": manager, "outsider": outsiders[0], "outsider2": outsiders[1],
              "outsider3": outsiders[2], "clr": outsiders[3], "later": outsiders[4]}
    awards = [
        salted("t-insider", insider, "s-insider", achievement=COURSE_CREDENTIAL),            # pass 1
        salted("t-manager", manager, "s-manager", achievement=COURSE_CREDENTIAL),            # pass 2
        salted("t-outsider", outsiders[0], "s-outsider", achievement=COURSE_CREDENTIAL),     # pass 3
        salted("t-outsider-nocourse", outsiders[1], "s-out-nc", achievement=NO_COURSE_CREDENTIAL, upper=True),
        salted("t-unknown-credential", outsiders[2], "s-unknown", achievement=ACH + "not-in-any-collection"),
        salted("t-no-credential", outsiders[2], "s-none", achievement=None),
        salted("t-empty-salt", outsiders[1], None, achievement=COURSE_CREDENTIAL),
        salted("t-nobody", NOBODY, "s-nobody", achievement=COURSE_CREDENTIAL),
        # a CLR: hashed container and one hashed nested award, found through the plain-email sibling
        salted("t-clr", outsiders[3], "s-clr", achievement=None),
        award("t-clr-plain", outsiders[3], achievement=ACH + "not-in-any-collection", parent="t-clr"),
        salted("t-clr-nested", outsiders[3], "s-clr-nested", achievement=ACH + "not-in-any-collection",
               parent="t-clr"),
        # recipients who are no LMS users yet: waiting until the second load
        salted("t-waiting-in", LATE_IN, "s-waiting-in", achievement=COURSE_CREDENTIAL),
        salted("t-waiting-out", LATE_OUT, "s-waiting-out", achievement=COURSE_CREDENTIAL),
    ]
    load(lake, "credential_awards", awards, loaded)
    run_dbt(home, "run", "--select", f"+{MODEL}", vars=VARS)
    out = {"home": home, "people": people, "raw1": Raw(lake), "cache1": cache(home)}
    first_build = next((home / "dbt_target" / "compiled").rglob(f"{MODEL}.sql")).read_text()
    con = connect(home, 2, "2GB")
    try:
        out["digests1"] = count_digests(con, first_build)
    finally:
        con.close()

    # second load, later: the two waiting recipients become users (one enrolled in the certified course, one
    # of an account outside the credential's pathway), and new awards inside and outside the narrow sets
    later = loaded + dt.timedelta(hours=1)
    load(lake, "lms_users", [
        {"user_id": "u-late-in", "account_id": "acc-contoso", "email": LATE_IN.title(), "display_name": "In",
         "role": "learner", "raw_line": ""},
        {"user_id": "u-late-out", "account_id": "acc-elsewhere", "email": LATE_OUT, "display_name": "Out",
         "role": "learner", "raw_line": ""}], later)
    load(lake, "lms_enrollments", [{"user_id": "u-late-in", "course_id": course, "enrolled_at": "2025-07-01 10:00:00",
                                    "raw_line": ""}], later)
    load(lake, "credential_awards", [
        salted("t-late-outsider", outsiders[4], "s-late-out", achievement=COURSE_CREDENTIAL),
        salted("t-late-insider", insider, "s-late-in", achievement=COURSE_CREDENTIAL),
        salted("t-late-learner", LATE_OUT, "s-late-learner", achievement=NO_COURSE_CREDENTIAL),
    ], later)
    run_dbt(home, "run", "--select", f"+{MODEL}", vars=VARS)
    out["raw2"], out["cache2"], out["later"] = Raw(lake), cache(home), later
    # third run, nothing new
    run_dbt(home, "run", "--select", f"+{MODEL}", vars=VARS)
    out["cache3"] = cache(home)
    return out


def test_first_build_equals_brute_force(world):
    expected = brute_force(world["raw1"])
    got = {k: v[0] for k, v in world["cache1"].items()}
    assert got == expected
    assert {k for k, v in expected.items() if v is None} == {
        pair_of(NOBODY, "s-nobody"), pair_of(LATE_IN, "s-waiting-in"), pair_of(LATE_OUT, "s-waiting-out")}
    assert len(expected) > 100


def test_hand_made_awards_reach_the_intended_pass(world):
    """The construction: which pass (computed here in Python from the documented rule) finds each hand-made
    identity; the fallback ones are outside every narrow candidate set."""
    matched_in, _ = passes(world["raw1"])
    p = world["people"]
    assert matched_in[pair_of(p["insider"], "s-insider")] == 1
    assert matched_in[pair_of(p["manager"], "s-manager")] == 2
    assert matched_in[pair_of(p["outsider"], "s-outsider")] == 3
    assert matched_in[pair_of(p["outsider2"], "s-out-nc")] == 3
    assert matched_in[pair_of(p["outsider3"], "s-unknown")] == 3
    assert matched_in[pair_of(p["outsider3"], "s-none")] == 3
    assert matched_in[pair_of(NOBODY, "s-nobody")] == 0
    assert matched_in[pair_of(p["clr"], "s-clr")] == 1
    assert matched_in[pair_of(p["clr"], "s-clr-nested")] == 1
    cache1 = world["cache1"]
    for who, salt in (("outsider", "s-outsider"), ("outsider2", "s-out-nc"), ("outsider3", "s-unknown"),
                      ("outsider3", "s-none"), ("outsider2", None), ("clr", "s-clr"), ("clr", "s-clr-nested"),
                      ("manager", "s-manager"), ("insider", "s-insider")):
        assert cache1[pair_of(p[who], salt)][0] == p[who]
    # most generated identities are found by a narrow pass
    counts = defaultdict(int)
    for n in matched_in.values():
        counts[n] += 1
    assert counts[1] + counts[2] > counts[3] > 0


def test_digest_rows_are_the_passes_not_emails_x_salts(world):
    digests, matched, rows = world["digests1"]
    raw = world["raw1"]
    _, expected_digests = passes(raw)
    emails, salts = len(raw.user_emails()), len({s for s, _ in raw.pairs()})
    assert (matched, rows) == (len(raw.pairs()) - 3, len(raw.pairs()))
    assert digests == expected_digests
    assert digests < 0.7 * emails * salts


def test_incremental_run_equals_brute_force(world):
    expected = brute_force(world["raw2"])
    got = {k: v[0] for k, v in world["cache2"].items()}
    assert got == expected
    p = world["people"]
    assert got[pair_of(p["later"], "s-late-out")] == p["later"]          # new pair, outside the narrow sets
    assert got[pair_of(p["insider"], "s-late-in")] == p["insider"]
    assert got[pair_of(LATE_OUT, "s-late-learner")] == LATE_OUT
    assert got[pair_of(LATE_IN, "s-waiting-in")] == LATE_IN               # waiting, found by pass 1
    assert got[pair_of(LATE_OUT, "s-waiting-out")] == LATE_OUT            # waiting, found by pass 3
    assert {k for k, v in expected.items() if v is None} == {pair_of(NOBODY, "s-nobody")}


def test_incremental_cache_semantics_kept(world):
    """Matched pairs are final; unmatched ones are re-checked (checked_through advances) when users arrive, and
    not re-checked by a run with nothing new."""
    c1, c2, c3 = world["cache1"], world["cache2"], world["cache3"]
    for k, v in c1.items():
        if v[0] is not None:
            assert c2[k] == v
    for k in (pair_of(NOBODY, "s-nobody"), pair_of(LATE_IN, "s-waiting-in"), pair_of(LATE_OUT, "s-waiting-out")):
        assert c1[k][0] is None
        assert c2[k][1] == world["later"] > c1[k][1]
        assert c2[k][2] > c1[k][2]
    assert c3 == c2
