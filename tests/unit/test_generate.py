"""The sample-data generator: determinism, the landing contract, counted defects, streaming, increments.

Every check re-reads the generated files independently (csv, gzip, orjson,
hashlib) and compares with the summary the generator returns.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import gzip
import hashlib
import hmac
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from skillpath_dev.generate import generate_increment, generate_landing
from tests.helpers import ROOT

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

BASE = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
LMS = "https://lms.example.org"
EXT = "https://lms.example.org/xapi/extensions"
VERB = "http://adlnet.gov/expapi/verbs/"
# the contract of issue 2, written out again on purpose
LMS_HEADERS = {
    "accounts.csv": "account_id,account_name",
    "users.csv": "user_id,account_id,email,display_name,role",
    "groups.csv": "group_id,account_id,group_name",
    "group_members.csv": "group_id,user_id",
    "courses.csv": "course_id,account_id,course_title,activity_id",
    "chapters.csv": "chapter_id,course_id,chapter_title,position,activity_id",
    "exercises.csv": "exercise_id,chapter_id,exercise_title,position,activity_id,max_points",
    "enrollments.csv": "user_id,course_id,enrolled_at",
}
EVENT_TYPES = {"issued", "accepted", "viewed", "shared", "added_to_profile", "downloaded", "verified", "hired",
               "revoked", "expired"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("gen") / "landing"
    return root, generate_landing(root, statements=6000, seed=7)


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _table(path: Path) -> list[dict[str, str]]:
    header, rows = _csv(path)
    return [dict(zip(header, r, strict=True)) for r in rows if len(r) == len(header)]


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _records(path: Path) -> list[bytes | dict]:
    """ndjson(.gz) lines as bytes; .json files as parsed statements."""
    if path.name.endswith(".json"):
        doc = orjson.loads(path.read_bytes())
        return doc["statements"] if isinstance(doc, dict) else doc
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return [line.rstrip(b"\n") for line in fh if line.strip()]


def _actors(landing: Path) -> tuple[set, set, set]:
    users = _table(landing / "lms" / "users.csv")
    ids = {u["user_id"] for u in users}
    mboxes = {"mailto:" + u["email"] for u in users}
    return ids, mboxes, {hashlib.sha1(m.encode()).hexdigest() for m in mboxes}


def _known(actor: dict, ids: set, mboxes: set, sha1s: set) -> bool:
    acc = actor.get("account")
    if acc:
        return acc.get("homePage") == LMS and acc.get("name") in ids
    return actor.get("mbox") in mboxes or actor.get("mbox_sha1sum") in sha1s


def _classify(landing: Path, summary: dict) -> tuple[Counter, dict[str, dict]]:
    """Classify every xAPI record independently; returns the counts and the valid statements by id."""
    ids, mboxes, sha1s = _actors(landing)
    counts: Counter = Counter()
    valid: dict[str, dict] = {}
    xdir = landing / "xapi"
    resent = summary["xapi"]["resent_files"]
    for path in sorted(xdir.iterdir()):
        if path.name in resent:
            assert path.read_bytes() == (xdir / resent[path.name]).read_bytes()
            counts["redelivered_records"] += len(_records(path))
            continue
        for rec in _records(path):
            if isinstance(rec, bytes):
                try:
                    rec.decode("utf-8")
                except UnicodeDecodeError:
                    counts["invalid_utf8"] += 1
                    continue
                try:
                    doc = orjson.loads(rec)
                except orjson.JSONDecodeError:
                    counts["malformed_json"] += 1
                    continue
            else:
                doc = rec
            if "actor" not in doc:
                counts["missing_actor"] += 1
            elif "verb" not in doc:
                counts["missing_verb"] += 1
            elif not _parses(doc["timestamp"]):
                counts["bad_timestamp"] += 1
            elif not _UUID.fullmatch(doc["id"]):
                counts["invalid_id"] += 1
            elif not _known(doc["actor"], ids, mboxes, sha1s):
                counts["unrostered_actor"] += 1
            elif doc["id"] in valid:
                counts["exact_duplicates" if valid[doc["id"]] == doc else "conflicting_duplicate_id"] += 1
            else:
                valid[doc["id"]] = doc
                counts["valid"] += 1
    return counts, valid


def _parses(ts: str) -> bool:
    try:
        return dt.datetime.fromisoformat(ts).tzinfo is not None
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path):
    a = generate_landing(tmp_path / "a", statements=1500, seed=11)
    b = generate_landing(tmp_path / "b", statements=1500, seed=11)
    c = generate_landing(tmp_path / "c", statements=1500, seed=12)
    ha, hb, hc = (_tree_hashes(tmp_path / n) for n in "abc")
    assert ha == hb and a == b
    assert len(ha) > 20
    differing = {k for k in ha if ha[k] != hc.get(k)}
    assert "xapi/statements-00001.ndjson.gz" in differing and "lms/users.csv" in differing
    assert c["xapi"]["statements"] == 1500


def test_refuses_a_non_empty_landing_zone_and_tiny_sizes(tmp_path: Path):
    (tmp_path / "xapi").mkdir()
    (tmp_path / "xapi" / "old.ndjson").write_text("{}\n")
    with pytest.raises(FileExistsError):
        generate_landing(tmp_path, statements=1000)
    with pytest.raises(ValueError):
        generate_landing(tmp_path / "new", statements=10)


def test_every_xapi_record_is_a_valid_statement_or_a_declared_defect(landing):
    root, s = landing
    counts, valid = _classify(root, s)
    d = s["defects"]
    assert counts["valid"] == s["xapi"]["statements"] == 6000
    for kind in ("malformed_json", "invalid_utf8", "invalid_id", "conflicting_duplicate_id", "bad_timestamp",
                 "missing_verb", "missing_actor", "exact_duplicates", "redelivered_records"):
        assert counts[kind] == d[kind], kind
        assert d[kind] >= 1, kind
    assert d["exact_duplicates"] == d["duplicate_same_file"] + d["duplicate_other_file"]
    assert sum(counts.values()) == s["xapi"]["records"]
    assert s["xapi"]["records"] == 6000 + s["xapi"]["defect_records"] + d["redelivered_records"]
    # every format of the contract is there
    names = set(s["xapi"]["files"])
    assert {"lrs-page-00001.json", "batch-array-00001.json", "statements-late-00001.ndjson.gz"} <= names
    page = orjson.loads((root / "xapi" / "lrs-page-00001.json").read_bytes())
    assert set(page) == {"statements", "more"}
    # late arrivals: the late file holds statements from across the history, not the last days
    late = [orjson.loads(r) for r in _records(root / "xapi" / "statements-late-00001.ndjson.gz")]
    stamps = sorted(dt.datetime.fromisoformat(x["timestamp"]) for x in late)
    assert len(late) >= d["late_arrivals"] >= 1
    assert stamps[0] < BASE - dt.timedelta(days=200)


def test_valid_statements_follow_xapi_and_the_lms(landing):
    root, s = landing
    _, valid = _classify(root, s)
    exercises = {e["activity_id"]: e for e in _table(root / "lms" / "exercises.csv")}
    chapters = {c["activity_id"] for c in _table(root / "lms" / "chapters.csv")}
    courses = {c["activity_id"] for c in _table(root / "lms" / "courses.csv")}
    verbs = Counter(doc["verb"]["id"] for doc in valid.values())
    assert verbs == Counter(s["xapi"]["by_verb"])
    forms = Counter()
    regs: dict[str, list[dict]] = defaultdict(list)
    long = 0
    for sid, doc in valid.items():
        assert sid == sid.lower() and len(sid) == 36 and doc["version"] == "1.0.3"
        ts = dt.datetime.fromisoformat(doc["timestamp"])
        assert ts.tzinfo is not None and ts < BASE
        forms[next(k for k in ("account", "mbox", "mbox_sha1sum") if k in doc["actor"])] += 1
        verb, obj = doc["verb"]["id"], doc["object"]
        if verb in (VERB + "answered", VERB + "attempted"):
            assert obj["id"] in exercises
            assert chapters & {p["id"] for p in _as_list(doc["context"]["contextActivities"]["parent"])}
            regs[doc["context"]["registration"]].append(doc)
        if verb == VERB + "answered":
            r = doc["result"]
            sc = r["score"]
            assert 0 <= sc["raw"] <= sc["max"] and sc["min"] == 0
            assert sc["scaled"] == round(sc["raw"] / sc["max"], 4)
            assert r["extensions"][f"{EXT}/correct-answers"] + r["extensions"][f"{EXT}/incorrect-answers"] == sc["max"]
            assert r["duration"].startswith("PT")
            long += _seconds(r["duration"]) > 7200
        elif verb == VERB + "asked":
            base, _, n = obj["id"].rpartition("/hint/")
            assert base in exercises and n.isdigit()
            assert doc["context"]["contextActivities"]["parent"][0]["id"] == base
        elif verb == VERB + "completed":
            assert obj["id"] in courses and doc["result"]["completion"] is True
        elif verb == VERB + "voided":
            assert obj["objectType"] == "StatementRef" and obj["id"] in valid
            assert valid[obj["id"]]["verb"]["id"] == VERB + "answered"
    assert set(forms) == {"account", "mbox", "mbox_sha1sum"} and forms["account"] > forms["mbox"]
    attempts = {r: docs for r, docs in regs.items() if any(d["verb"]["id"] == VERB + "answered" for d in docs)}
    assert len(attempts) == s["xapi"]["attempts"]
    assert sum(len(d) > 1 for d in attempts.values()) == s["xapi"]["multi_statement_attempts"] > 0
    assert long == s["xapi"]["attempts_over_2h"] >= 1
    # mastery grows with practice: later attempts on an exercise score better than first ones
    by_pair: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for docs in attempts.values():
        ans = [d for d in docs if "result" in d]
        score = sum(d["result"]["score"]["raw"] for d in ans) / sum(d["result"]["score"]["max"] for d in ans)
        by_pair[(json.dumps(docs[0]["actor"], sort_keys=True), docs[0]["object"]["id"])].append(
            (max(d["timestamp"] for d in docs), score))
    firsts, lasts = [], []
    for seq in by_pair.values():
        if len(seq) >= 2:
            seq.sort()
            firsts.append(seq[0][1])
            lasts.append(seq[-1][1])
    assert len(firsts) > 50
    assert sum(lasts) / len(lasts) > sum(firsts) / len(firsts) + 0.1


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _seconds(iso: str) -> int:
    total, num = 0, ""
    for ch in iso[2:]:
        if ch.isdigit():
            num += ch
        else:
            total += int(num) * {"H": 3600, "M": 60, "S": 1}[ch]
            num = ""
    return total


def test_lms_csvs_follow_the_contract(landing):
    root, s = landing
    lms = root / "lms"
    assert sorted(p.name for p in lms.iterdir()) == sorted(LMS_HEADERS)
    for name, header in LMS_HEADERS.items():
        got_header, rows = _csv(lms / name)
        assert ",".join(got_header) == header, name
        bad = [r for r in rows if len(r) != len(got_header)]
        assert len(bad) == (s["defects"]["lms_bad_csv_rows"] if name == "users.csv" else 0), name
        assert len(rows) - len(bad) == s["lms"][name], name
    assert s["defects"]["lms_bad_csv_rows"] == 1
    users = _table(lms / "users.csv")
    accounts = {a["account_id"] for a in _table(lms / "accounts.csv")}
    assert len(accounts) >= 3
    assert {u["role"] for u in users} == {"learner", "manager", "executive"}
    assert {u["account_id"] for u in users} == accounts
    courses = _table(lms / "courses.csv")
    chapters = _table(lms / "chapters.csv")
    exercises = _table(lms / "exercises.csv")
    per_account = Counter(c["account_id"] for c in courses)
    assert set(per_account) == accounts and all(2 <= n <= 3 for n in per_account.values())
    per_course = Counter(c["course_id"] for c in chapters)
    assert set(per_course) == {c["course_id"] for c in courses} and all(3 <= n <= 5 for n in per_course.values())
    per_chapter = Counter(e["chapter_id"] for e in exercises)
    assert set(per_chapter) == {c["chapter_id"] for c in chapters} and all(3 <= n <= 6 for n in per_chapter.values())
    assert all(e["activity_id"].startswith(LMS + "/") and int(e["max_points"]) > 0 for e in exercises)
    user_ids = {u["user_id"] for u in users}
    members = _table(lms / "group_members.csv")
    assert {m["user_id"] for m in members} <= user_ids
    assert {m["group_id"] for m in members} <= {g["group_id"] for g in _table(lms / "groups.csv")}
    assert any(n >= 2 for n in Counter(m["user_id"] for m in members).values())
    for e in _table(lms / "enrollments.csv"):
        assert e["user_id"] in user_ids and dt.datetime.fromisoformat(e["enrolled_at"]).tzinfo is not None


def _jwt_payload(token: str) -> dict:
    head, body, sig = token.split(".")
    header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    if header["alg"] == "none":
        assert sig == ""
    else:
        assert header["alg"] == "HS256"
        expect = hmac.new(b"skillpath-demo-jwt-secret", f"{head}.{body}".encode(), hashlib.sha256).digest()
        assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expect
    return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _award_documents(root: Path) -> list[tuple[str, dict]]:
    """(kind, document) for every credential document under credentials/ except ob2/ and collections.csv."""
    docs = []
    for p in sorted((root / "credentials").rglob("*")):
        if p.is_dir() or p.parent.name == "ob2" or p.name == "collections.csv":
            continue
        if p.suffix == ".jwt":
            docs += [("jwt", _jwt_payload(line)) for line in p.read_text().split()]
        elif p.suffix == ".ndjson":
            docs += [("json", orjson.loads(line)) for line in p.read_bytes().splitlines()]
        else:
            docs.append(("json", orjson.loads(p.read_bytes())))
    return docs


def test_credentials_follow_the_standards_and_map_to_users(landing):
    root, s = landing
    users = _table(root / "lms" / "users.csv")
    emails = {u["email"] for u in users}
    collections = _table(root / "credentials" / "collections.csv")
    assert ",".join(_csv(root / "credentials" / "collections.csv")[0]) == \
        "collection_id,collection_name,position,achievement_id,course_id"
    badge_classes = {b["id"]: b for b in orjson.loads((root / "credentials/ob2/badgeclasses.json").read_bytes())}
    assert {c["achievement_id"] for c in collections} == set(badge_classes)
    assert {c["course_id"] for c in collections if c["course_id"]} <= \
        {c["course_id"] for c in _table(root / "lms" / "courses.csv")}
    by_col = defaultdict(list)
    for c in collections:
        by_col[c["collection_id"]].append(int(c["position"]))
    assert 2 <= len(by_col) <= 3 and all(sorted(v) == list(range(1, len(v) + 1)) and 3 <= len(v) <= 5
                                         for v in by_col.values())

    def recipient_ok(identity: str, hashed: bool, salt: str | None) -> bool:
        if not hashed:
            return identity in emails
        return any("sha256$" + hashlib.sha256((e + (salt or "")).encode()).hexdigest() == identity for e in emails)

    awards: dict[str, tuple[str, str | None]] = {}  # award id -> (format, achievement id)
    fmt = Counter()
    parent_links = 0
    for kind, doc in _award_documents(root):
        if kind == "jwt":
            assert doc["jti"] == doc["vc"]["id"] and doc["iss"] and isinstance(doc["nbf"], int)
            doc = doc["vc"]
            fmt["ob3_jwt"] += 1
        types = _as_list(doc["type"])
        if "Assertion" in types:
            fmt["ob2_assertion"] += 1
            rec = doc["recipient"]
            assert recipient_ok(rec["identity"], rec["hashed"], rec.get("salt"))
            badge = doc["badge"] if isinstance(doc["badge"], str) else doc["badge"]["id"]
            awards[doc["id"]] = ("ob2", badge)
            continue
        subject = doc["credentialSubject"]
        ident = subject["identifier"][0]
        assert ident["identityType"] == "emailAddress"
        assert recipient_ok(ident["identityHash"], ident["hashed"], ident.get("salt"))
        if "ClrCredential" in types:
            fmt["clr"] += 1
            awards[doc["id"]] = ("clr", None)
            nested_achievements = set()
            for n in subject["verifiableCredential"]:
                awards[n["id"]] = ("ob3", n["credentialSubject"]["achievement"]["id"])
                nested_achievements.add(n["credentialSubject"]["achievement"]["id"])
                fmt["clr_nested"] += 1
            for a in subject["association"]:
                assert a["associationType"] == "isParentOf" and a["targetId"] in nested_achievements
                parent_links += 1
            continue
        assert "OpenBadgeCredential" in types
        if kind == "json":
            fmt["ob3_json_vc11" if "issuanceDate" in doc else "ob3_json_vc2"] += 1
        assert ("validFrom" in doc) != ("issuanceDate" in doc)
        awards[doc["id"]] = ("ob3", subject["achievement"]["id"])
    assert fmt == Counter({k: v for k, v in s["credentials"]["by_format"].items() if v})
    assert all(s["credentials"]["by_format"][k] > 0 for k in
               ("ob2_assertion", "ob3_json_vc2", "ob3_json_vc11", "ob3_jwt", "clr"))
    assert len(awards) == s["credentials"]["awards"]
    assert parent_links == s["credentials"]["by_format"]["clr_nested"]
    assert {a for _, a in awards.values() if a} <= set(badge_classes)
    revocations = orjson.loads((root / "credentials/ob2/revocation-list.json").read_bytes())["revokedAssertions"]
    revoked_ids = [r if isinstance(r, str) else r["id"] for r in revocations]
    assert len(revoked_ids) == s["credentials"]["revoked_in_ob2_revocation_list"] >= 1
    assert all(awards[i][0] == "ob2" for i in revoked_ids)
    assert len(list((root / "credentials" / "single").glob("*.json"))) >= 1

    # events: every credential exists, issued once per award, types and payloads as in the contract
    lines = [ln for p in sorted((root / "credential_events").glob("*.ndjson")) for ln in p.read_bytes().splitlines()]
    dups = len(lines) - len(set(lines))
    events = [orjson.loads(ln) for ln in dict.fromkeys(lines)]
    unknown = [e for e in events if e["event_type"] not in EVENT_TYPES]
    assert dups == s["defects"]["event_duplicates"] >= 1
    assert len(unknown) == s["defects"]["event_unknown_type"] >= 1
    events = [e for e in events if e["event_type"] in EVENT_TYPES]
    assert len(events) == s["credential_events"]["total"]
    assert Counter(e["event_type"] for e in events) == Counter(
        {k: v for k, v in s["credential_events"]["by_type"].items() if v})
    assert {e["credential_id"] for e in events} <= set(awards)
    issued = Counter(e["credential_id"] for e in events if e["event_type"] == "issued")
    assert set(issued) == set(awards) and set(issued.values()) == {1}
    verified_by = defaultdict(set)
    for e in events:
        assert dt.datetime.fromisoformat(e["occurred_at"]).tzinfo is not None
        assert (e["channel"] is not None) == (e["event_type"] == "shared")
        assert (e["verifier"] is not None) == (e["event_type"] in ("verified", "hired"))
        if e["event_type"] == "shared":
            assert e["channel"] in {"linkedin", "facebook", "x", "email", "link", "other"}
        if e["event_type"] == "verified":
            assert set(e["verifier"]) == {"organization_id", "industry", "country", "consented"}
            verified_by[e["credential_id"]].add(e["verifier"]["organization_id"])
    for e in events:
        if e["event_type"] == "hired":
            assert e["verifier"]["organization_id"] in verified_by[e["credential_id"]]
    n = len(awards)
    rate = {t: len({e["credential_id"] for e in events if e["event_type"] == t}) / n
            for t in ("accepted", "viewed", "shared", "verified")}
    assert 0.55 < rate["accepted"] < 0.85 and 0.45 < rate["viewed"] < 0.75
    assert 0.2 < rate["shared"] < 0.4 and 0.04 < rate["verified"] < 0.2
    consent = Counter(e["verifier"]["consented"] for e in events if e["event_type"] == "verified")
    assert consent[False] > consent[True] > 0


def test_without_defects_every_record_is_a_distinct_valid_statement(tmp_path: Path):
    calls = []
    s = generate_landing(tmp_path, statements=2000, seed=3, defects=False, progress=lambda *a: calls.append(a))
    assert calls[0] == ("lms", 1, 1) and calls[-1] == ("statements", 2000, 2000)
    counts, _ = _classify(tmp_path, s)
    assert counts == Counter(valid=2000)
    assert s["xapi"]["records"] == 2000 and not s["xapi"]["resent_files"]
    assert all(v == 0 for k, v in s["defects"].items())
    header, rows = _csv(tmp_path / "lms" / "users.csv")
    assert all(len(r) == len(header) for r in rows)


# ru_maxrss can carry the forking parent's high-water mark (a big pytest process) into
# the child; resetting the peak ("5" into clear_refs) and reading VmHWM measures the child alone.
_RSS_SCRIPT = """
import sys, pathlib
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
from skillpath_dev.generate import generate_landing
s = generate_landing(pathlib.Path(sys.argv[1]), statements=int(sys.argv[2]), seed=5)
assert s["xapi"]["statements"] == int(sys.argv[2])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(int(hwm.split()[1]))
"""


def _peak_rss_kb(tmp: Path, statements: int) -> int:
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(tmp), str(statements)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_generation_streams_so_memory_does_not_grow_with_statements(tmp_path: Path):
    small = _peak_rss_kb(tmp_path / "small", 30_000)
    big = _peak_rss_kb(tmp_path / "big", 300_000)
    # uncompressed size of each gzip member, from its ISIZE trailer
    raw_bytes = sum(int.from_bytes(p.read_bytes()[-4:], "little") for p in (tmp_path / "big" / "xapi").glob("*.gz"))
    # the 300k statements are ~250 MB of JSON; peak memory grows by a small fraction of that
    assert raw_bytes > 200_000_000
    assert (big - small) * 1024 < raw_bytes / 8, (small, big)
    assert big < 200_000, big


def test_increment_adds_exactly_the_requested_statements_with_the_late_share(tmp_path: Path):
    base = generate_landing(tmp_path, statements=2000, seed=9)
    before = _tree_hashes(tmp_path)
    inc = generate_increment(tmp_path, statements=500, seed=1, batch="b1", late_share=0.2, duplicates=3)
    after = _tree_hashes(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"xapi/increment-b1.ndjson.gz", "credential_events/increment-b1.ndjson"}
    lines = _records(tmp_path / "xapi" / "increment-b1.ndjson.gz")
    assert len(lines) == 503 and inc["statements"] == 500 and inc["late"] == 100
    ids, mboxes, sha1s = _actors(tmp_path)
    exercises = {e["activity_id"] for e in _table(tmp_path / "lms" / "exercises.csv")}
    first_file = set(_records(tmp_path / "xapi" / "statements-00001.ndjson.gz"))
    assert set(lines[500:]) <= first_file
    docs = [orjson.loads(x) for x in lines[:500]]
    assert len({d["id"] for d in docs}) == 500
    late = [d for d in docs if dt.datetime.fromisoformat(d["timestamp"]) < BASE]
    assert len(late) == 100
    assert all(BASE - dt.timedelta(days=3) <= dt.datetime.fromisoformat(d["timestamp"]) for d in late)
    assert all(BASE <= dt.datetime.fromisoformat(d["timestamp"]) < BASE + dt.timedelta(days=1)
               for d in docs if d not in late)
    for d in docs:
        assert _known(d["actor"], ids, mboxes, sha1s)
        assert d["object"]["id"].split("/hint/")[0] in exercises
    awards = {e["credential_id"] for e in map(orjson.loads, (tmp_path / "credential_events" / "events-00001.ndjson")
                                              .read_bytes().splitlines()) if e["event_type"] == "issued"}
    new_events = [orjson.loads(x) for x in (tmp_path / "credential_events/increment-b1.ndjson").read_bytes().splitlines()]
    assert len(new_events) == inc["events"] > 0 and {e["credential_id"] for e in new_events} <= awards
    assert base["xapi"]["statements"] == 2000
    # the next batch covers the following day; a batch name is used once
    inc2 = generate_increment(tmp_path, statements=50, seed=1, batch="b2", late_share=0.0)
    stamps = [dt.datetime.fromisoformat(orjson.loads(x)["timestamp"])
              for x in _records(tmp_path / "xapi" / "increment-b2.ndjson.gz")]
    assert inc2["late"] == 0 and len(stamps) == 50
    assert all(BASE + dt.timedelta(days=1) <= t < BASE + dt.timedelta(days=2) for t in stamps)
    with pytest.raises(FileExistsError):
        generate_increment(tmp_path, statements=10, seed=1, batch="b1")


def test_ingestion_of_the_generated_landing_reconciles_with_the_summary(tmp_path: Path, monkeypatch):
    """The defects the summary declares are exactly what the real ingestion quarantines or skips."""
    from skillpath.config import settings
    from skillpath.ingest.runner import ingest_landing

    home = tmp_path / "home"
    s = generate_landing(home / "landing", statements=3000, seed=21)
    monkeypatch.setenv("SKILLPATH_HOME", str(home))
    monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(home / "landing"))
    monkeypatch.setenv("SKILLPATH_DEMO", "1")
    monkeypatch.delenv("SKILLPATH_LRS_URL", raising=False)
    out = ingest_landing(settings(), include_lrs=False)
    src = {r["source"]: r for r in out["sources"]}
    d = s["defects"]
    assert src["xapi_file"]["records_loaded"] == 3000
    assert src["xapi_file"]["records_duplicate"] == d["exact_duplicates"]
    assert src["xapi_file"]["duplicate_files"] == d["redelivered_files"] == 1
    quarantined = {(source, reason): n for source, reason, n in out["quarantine"]}
    expected = {("xapi_file", k if k != "conflicting_duplicate_id" else "duplicate_id_conflict"): d[k]
                for k in ("malformed_json", "invalid_utf8", "invalid_id", "conflicting_duplicate_id",
                          "bad_timestamp", "missing_verb", "missing_actor")}
    expected[("lms", "bad_csv_row")] = d["lms_bad_csv_rows"]
    expected[("credential_events", "unknown_event_type")] = d["event_unknown_type"]
    expected[("consents", "bad_timestamp")] = d["consent_without_offset"]
    assert quarantined == expected
    assert src["credential_events"]["records_loaded"] == s["credential_events"]["total"]
    assert src["consents"]["records_read"] == s["consents"]["records"]
    assert src["consents"]["records_loaded"] == s["consents"]["records"] - d["consent_without_offset"]
    assert src["credential_events"]["records_duplicate"] == d["event_duplicates"]
