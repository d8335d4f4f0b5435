"""The persistent match cache of salted recipient hashes (issue 6, finding 1).

``int_credentials__recipient_hashes`` hashes each distinct (salt, 'sha256$' identity)
of the awards once against the LMS users' emails and keeps the answer across runs
and across ``--full-refresh``; ``int_credentials__recipients`` only looks matches up.
A hand-made raw layer (raw.lms_users, raw.credential_awards written straight into a
throw-away lake.duckdb) goes through real dbt builds in five phases:

1. first build: salted OB 2.0 awards (one salt per award), unsalted and plain-email
   awards, a salt shared by two awards, two users with one email, a recipient whose
   user comes later, one nobody matches;
2. ``dbt build --full-refresh``: the cache is kept, the recipients are the same;
3. late awards and late users, incremental; then ``--full-refresh`` of a copy;
4. a user row that arrives back-dated (its loaded_at older than the cache's
   checked_through) with the email of the unmatched identity, and an unrelated later
   user: the identity is re-checked against the later user only and stays unmatched;
5. that user re-delivered (a new load): now matched;
6. ``--vars '{rehash_recipients: true}'``: the cache is rebuilt, with the same matches.

Expected matches are computed here with hashlib, not with the models' SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections import defaultdict

import duckdb
import pytest

from skillpath.ingest.contract import connect_raw
from tests.helpers import TEST_KEY, query, run_dbt

T0, T1, T2, T3, T4 = (dt.datetime(2025, 1, d, 6) for d in (1, 5, 9, 13, 17))
SELECT = ("+int_credentials__recipients", "+int_credentials__award_facts")
VARS = {"as_of_date": "2025-01-31"}
CACHE = "intermediate.int_credentials__recipient_hashes"
RECIPIENTS = "intermediate.int_credentials__recipients"
CACHE_COLS = "recipient_salt, recipient_identity, matched_email, checked_through, checked_at"
RECIPIENT_COLS = "award_id, learner_id, unmatched_learner_id, user_id, account_id, is_lms_matched, changed_at"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pseudo(text: str) -> str:
    return sha256(f"{TEST_KEY}|{text}")[:24]


def user(user_id: str, email: str | None, account: str = "acc1") -> dict:
    return {"user_id": user_id, "account_id": account, "email": email, "display_name": user_id,
            "role": "learner", "raw_line": ""}


def award(award_id: str, identity: str | None, *, hashed: bool = False, salt: str | None = None,
          fmt: str = "ob2") -> dict:
    return {"award_id": award_id, "source_format": fmt, "parent_award_id": None, "achievement_id": "A",
            "achievement_name": "Alpha", "achievement_type": "Badge", "issuer_id": "https://issuer.example.org",
            "issuer_name": "Example Issuer", "recipient_identity": identity, "recipient_hashed": hashed,
            "recipient_salt": salt, "issued_at": dt.datetime(2024, 11, 1), "expires_at": None, "revoked": False,
            "revocation_reason": None, "payload_sha256": sha256(award_id)}


def salted(award_id: str, email: str, salt: str | None, *, upper: bool = False, fmt: str = "ob2") -> dict:
    """An award whose recipient is 'sha256$' + sha256(email + salt), as an OB 2.0 issuer writes it."""
    ident = "sha256$" + sha256(email + (salt or ""))
    return award(award_id, ident.upper() if upper else ident, hashed=True, salt=salt, fmt=fmt)


def load(lake, table: str, rows: list[dict], loaded_at: dt.datetime, sink: list[dict]) -> None:
    """One raw load: rows appended to raw.<table> with their load metadata (and kept in ``sink``)."""
    load_id = f"{table}-{loaded_at:%m%d}-{len(sink)}"
    con = connect_raw(lake)
    try:
        for i, row in enumerate(rows, start=1):
            full = {**row, "load_id": load_id, "source": "test", "source_ref": load_id, "record_no": i,
                    "loaded_at": loaded_at}
            con.execute(f"insert into raw.{table} ({', '.join(full)}) values ({', '.join('?' * len(full))})",
                        list(full.values()))
            sink.append(full)
    finally:
        con.close()


def latest(rows: list[dict], key: str) -> dict[str, dict]:
    out = {}
    for r in sorted(rows, key=lambda r: (r["loaded_at"], r["record_no"])):
        out[r[key]] = r
    return out


def expected_recipients(users_raw: list[dict], awards_raw: list[dict]) -> set[tuple]:
    """int_credentials__recipients as docs/metrics.md defines it, every user hashed with every salt."""
    by_email = defaultdict(list)
    for u in latest(users_raw, "user_id").values():
        if u["email"]:
            by_email[u["email"].strip().lower()].append(u)
    out = set()
    for a in latest(awards_raw, "award_id").values():
        ident = a["recipient_identity"].strip().lower() if a["recipient_identity"] else None
        is_hashed = bool(a["recipient_hashed"]) or (ident or "").startswith("sha256$")
        if ident is None:
            matches = []
        elif is_hashed:
            matches = [u for email, us in by_email.items() for u in us
                       if ident.startswith("sha256$") and ident[7:] == sha256(email + (a["recipient_salt"] or ""))]
        else:
            matches = by_email.get(ident, [])
        fallback = pseudo(f"recipient:{ident}") if ident else pseudo(f"award:{a['award_id']}")
        if matches:
            u = min(matches, key=lambda u: u["user_id"])
            out.add((a["award_id"], pseudo(u["user_id"]), fallback, u["user_id"], u["account_id"], True,
                     max(a["loaded_at"], u["loaded_at"])))
        else:
            out.add((a["award_id"], fallback, fallback, None, None, False, a["loaded_at"]))
    return out


def expected_cache(users_raw: list[dict], awards_raw: list[dict]) -> dict[tuple, str | None]:
    """(salt, identity) -> the user email hashing to it, for every 'sha256$' identity of the awards."""
    emails = {u["email"].strip().lower() for u in latest(users_raw, "user_id").values() if u["email"]}
    out = {}
    for a in latest(awards_raw, "award_id").values():
        ident = (a["recipient_identity"] or "").strip().lower()
        if ident.startswith("sha256$"):
            salt = a["recipient_salt"] or ""
            hits = [e for e in emails if sha256(e + salt) == ident[7:]]
            out[(salt, ident)] = min(hits) if hits else None
    return out


def build(home, *flags: str, **vars_) -> None:
    run_dbt(home, "build", "--select", *SELECT, "--indirect-selection", "cautious", *flags, vars={**VARS, **vars_})


def cache_rows(home) -> dict[tuple, tuple]:
    return {(r[0], r[1]): r[2:] for r in query(home / "build.duckdb", f"select {CACHE_COLS} from {CACHE}")}


def recipients(home) -> set[tuple]:
    rows = query(home / "build.duckdb", f"select {RECIPIENT_COLS} from {RECIPIENTS}")
    assert len(rows) == len(set(rows))
    return set(rows)


def except_both_ways(left_db, right_db, table: str) -> tuple[int, int, int]:
    """Rows of ``table`` only in the left / only in the right database (EXCEPT ALL), and the left count."""
    con = duckdb.connect(str(left_db), read_only=True)
    try:
        con.execute(f"attach '{right_db}' as other (read_only)")
        left_only = con.execute(f"select count(*) from (select * from {table} except all "
                                f"select * from other.{table})").fetchone()[0]
        right_only = con.execute(f"select count(*) from (select * from other.{table} except all "
                                 f"select * from {table})").fetchone()[0]
        n = con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()
    return left_only, right_only, n


# the people of this world
EMAILS = {f"u0{n}": f"learner{n}@example.org" for n in range(1, 9)}
SHARED = "shared@example.org"          # u04 and u11: the smallest user_id wins
LATE = "late@example.org"              # u20, first loaded in phase 3
LATE2 = "late2@example.org"            # u22, loaded with its award in phase 3
NOBODY = "nobody@example.org"          # no user until phase 4 (back-dated) and phase 5
GHOST = "ghost@example.org"            # never a user


def phase1_rows() -> tuple[list[dict], list[dict]]:
    users = [user(u, e.title() if u == "u01" else e, f"acc{1 + int(u[1:]) % 2}") for u, e in EMAILS.items()]
    users[3]["email"] = SHARED
    users += [user("u09", None), user("u11", SHARED, "acc2")]
    awards = [salted(f"ob2-{u}", e, f"salt-{u}", upper=u == "u05") for u, e in EMAILS.items() if u != "u04"]
    awards += [
        salted("ob2-shared", SHARED, "salt-shared"),
        salted("ob3-unsalted-u02", EMAILS["u02"], None, fmt="ob3"),
        salted("ob3-reused-salt-a", EMAILS["u06"], "reused", fmt="ob3"),
        salted("ob3-reused-salt-b", EMAILS["u06"], "reused", fmt="ob3"),   # same (salt, identity) as -a
        salted("ob3-reused-salt-c", EMAILS["u07"], "reused", fmt="ob3"),
        award("ob3-plain-u03", EMAILS["u03"].upper(), fmt="ob3"),
        award("ob3-plain-guest", "guest@mail.test", fmt="ob3"),
        salted("ob2-late", LATE, "salt-late"),
        salted("ob2-nobody", NOBODY, "salt-nobody"),
        award("ob2-md5", "md5$0123abcd", hashed=True, salt="x"),           # hashed, not sha256: never matches
        award("ob3-no-recipient", None, fmt="ob3"),
    ]
    return users, awards


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hash-cache")
    home = root / "home"
    (home / "landing").mkdir(parents=True)
    lake = home / "lake.duckdb"
    connect_raw(lake).close()
    users_raw, awards_raw = [], []
    out: dict = {"home": home, "users": users_raw, "awards": awards_raw}

    # phase 1: first build
    users, awards = phase1_rows()
    load(lake, "lms_users", users, T0, users_raw)
    load(lake, "credential_awards", awards, T1, awards_raw)
    build(home)
    out["cache1"], out["recipients1"] = cache_rows(home), recipients(home)
    out["expected1"] = (expected_recipients(users_raw, awards_raw), expected_cache(users_raw, awards_raw))

    # phase 2: a full refresh of everything selected
    build(home, "--full-refresh")
    out["cache2"], out["recipients2"] = cache_rows(home), recipients(home)

    # phase 3: late users and late awards, incremental; then a full refresh of a copy
    load(lake, "lms_users", [user("u20", LATE, "acc2"), user("u21", "other@example.org"),
                             user("u22", LATE2)], T2, users_raw)
    load(lake, "credential_awards", [salted("ob2-late-u06", EMAILS["u06"], "salt-late-u06"),
                                     salted("ob2-late2", LATE2, "salt-late2"),
                                     salted("ob2-ghost", GHOST, "salt-ghost"),
                                     salted("ob3-reused-salt-d", EMAILS["u08"], "reused", fmt="ob3")],
         T2, awards_raw)
    build(home)
    out["cache3"], out["recipients3"] = cache_rows(home), recipients(home)
    out["expected3"] = (expected_recipients(users_raw, awards_raw), expected_cache(users_raw, awards_raw))
    out["incremental_db"] = root / "incremental.duckdb"
    shutil.copyfile(home / "build.duckdb", out["incremental_db"])
    refreshed = root / "refreshed"
    shutil.copytree(home, refreshed)
    build(refreshed, "--full-refresh")
    out["refreshed_db"], out["cache_refreshed"] = refreshed / "build.duckdb", cache_rows(refreshed)

    # phase 4: the unmatched identity's user arrives back-dated, an unrelated user later
    load(lake, "lms_users", [user("u30", NOBODY)], T0, users_raw)
    load(lake, "lms_users", [user("u31", "another@example.org")], T3, users_raw)
    build(home)
    out["cache4"], out["recipients4"] = cache_rows(home), recipients(home)

    # phase 5: the same user re-delivered in a new load
    load(lake, "lms_users", [user("u30", NOBODY)], T4, users_raw)
    build(home)
    out["cache5"], out["recipients5"] = cache_rows(home), recipients(home)

    # phase 6: the documented way to hash everything again
    build(home, rehash_recipients=True)
    out["cache6"], out["recipients6"] = cache_rows(home), recipients(home)
    return out


def one(rows: set[tuple], award_id: str) -> tuple:
    (row,) = [r for r in rows if r[0] == award_id]
    return row


def pair(email: str, salt: str) -> tuple[str, str]:
    return salt, "sha256$" + sha256(email + salt)


def test_recipients_equal_independent_computation(world):
    """Phase 1 (first build) and phase 3 (incremental, late awards and users) against hashlib."""
    for got, (exp, _) in ((world["recipients1"], world["expected1"]), (world["recipients3"], world["expected3"])):
        assert got == exp
    matched = {r[0] for r in world["recipients3"] if r[5]}
    assert matched == {"ob2-u01", "ob2-u02", "ob2-u03", "ob2-u05", "ob2-u06", "ob2-u07", "ob2-u08", "ob2-shared",
                       "ob3-unsalted-u02", "ob3-reused-salt-a", "ob3-reused-salt-b", "ob3-reused-salt-c",
                       "ob3-reused-salt-d", "ob3-plain-u03", "ob2-late", "ob2-late-u06", "ob2-late2"}
    assert one(world["recipients3"], "ob2-shared")[3] == "u04"          # u04 and u11 share the email


def test_cache_holds_one_row_per_salted_identity_with_its_email(world):
    for cache, (_, exp) in ((world["cache1"], world["expected1"]), (world["cache3"], world["expected3"])):
        assert {k: v[0] for k, v in cache.items()} == exp
    # three awards share the salt "reused", two of them the identity as well: two rows
    assert len([k for k in world["cache1"] if k[0] == "reused"]) == 2
    assert len(world["cache1"]) == 13 and len(world["cache3"]) == 17
    assert not any(k[1].startswith("md5$") for k in world["cache3"])


def test_late_user_matched_on_the_incremental_run(world):
    """(1) A salted OB 2.0 award whose user arrives in a later LMS load."""
    ident = "sha256$" + sha256(LATE + "salt-late")
    fallback = pseudo(f"recipient:{ident}")
    assert one(world["recipients1"], "ob2-late") == ("ob2-late", fallback, fallback, None, None, False, T1)
    assert one(world["recipients3"], "ob2-late") == ("ob2-late", pseudo("u20"), fallback, "u20", "acc2", True, T2)
    assert world["cache1"][pair(LATE, "salt-late")][:2] == (None, T0)
    assert world["cache3"][pair(LATE, "salt-late")][:2] == (LATE, T2)


def test_full_refresh_keeps_the_cache_and_gives_the_same_recipients(world):
    """(2) ``dbt build --full-refresh`` does not hash again: every cache row, checked_at included, is kept."""
    assert world["cache2"] == world["cache1"]
    assert world["recipients2"] == world["recipients1"] == world["expected1"][0]
    assert world["cache_refreshed"] == world["cache3"]
    # checked_at does record the run: the pairs (re)checked in phase 3 carry a later one
    first_run = {v[2] for v in world["cache1"].values()}
    assert len(first_run) == 1
    rechecked = {k for k in world["cache3"] if world["cache3"][k][2] > next(iter(first_run))}
    new_pairs = set(world["cache3"]) - set(world["cache1"])
    assert rechecked == new_pairs | {pair(LATE, "salt-late"), pair(NOBODY, "salt-nobody")}


def test_unmatched_identity_rechecked_only_against_later_users(world):
    """(3) nobody@ matches no user; a user with that email loaded back-dated (before checked_through) is not
    hashed against it even though the pair is re-checked (against the later user); re-delivered, it is."""
    key = pair(NOBODY, "salt-nobody")
    c1, c3, c4, c5 = (world[f"cache{n}"][key] for n in (1, 3, 4, 5))
    assert (c1[:2], c3[:2], c4[:2], c5[:2]) == ((None, T0), (None, T2), (None, T3), (NOBODY, T4))
    assert c1[2] < c3[2] < c4[2] < c5[2]                                  # re-checked in every phase with new users
    fallback = pseudo(f"recipient:{key[1]}")
    assert one(world["recipients4"], "ob2-nobody") == ("ob2-nobody", fallback, fallback, None, None, False, T1)
    assert one(world["recipients5"], "ob2-nobody") == ("ob2-nobody", pseudo("u30"), fallback, "u30", "acc1", True,
                                                       T4)
    # a matched pair is final: never re-checked after its match
    for n in (4, 5):
        for k, v in world["cache3"].items():
            if v[0] is not None:
                assert world[f"cache{n}"][k] == v
    # the only other unmatched pair (ghost@, no user ever) followed the same path
    assert world["cache5"][pair(GHOST, "salt-ghost")][:2] == (None, T4)
    assert world["recipients5"] - world["recipients4"] == {one(world["recipients5"], "ob2-nobody")}


@pytest.mark.parametrize("table", [RECIPIENTS, "intermediate.int_credentials__award_facts"])
def test_incremental_equals_full_refresh(world, table):
    """(4) Phase 3 incremental vs its full refresh, every column, EXCEPT ALL both ways."""
    left_only, right_only, n = except_both_ways(world["incremental_db"], world["refreshed_db"], table)
    assert (left_only, right_only) == (0, 0)
    assert n == len(world["expected3"][0]) == 22


def test_rehash_var_rebuilds_the_cache(world):
    before, after = world["cache5"], world["cache6"]
    assert set(after) == set(before)
    assert {k: v[:2] for k, v in after.items()} == {k: (v[0], T4) for k, v in before.items()}
    assert min(v[2] for v in after.values()) > max(v[2] for v in before.values())
    assert world["recipients6"] == world["recipients5"]
