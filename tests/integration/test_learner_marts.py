"""Learner-progress marts on a small, hand-made raw layer.

Rows go straight into ``raw.*`` of a throw-away ``lake.duckdb`` (the raw-layer
contract, ``skillpath/ingest/contract.py``), one load per call, so the test
controls load times, duplicates, late arrivals and voiding exactly. The expected
marts come from :class:`Expected`, a plain-Python computation of the metric
definitions in ``docs/metrics.md`` (no SQL), and must match exactly (floats to
1e-9). Then the incremental ``fct_attempts`` is checked: a rerun changes nothing,
and after late, duplicate and voiding arrivals it equals a ``--full-refresh``
(EXCEPT both ways empty).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import uuid
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from skillpath.ingest.contract import connect_raw
from tests.helpers import ROOT, TEST_KEY, run_dbt

NS = uuid.UUID("6f1c1d5e-8d0b-4b7e-9a53-3f5e8a0c2b11")
ADL = "http://adlnet.gov/expapi/verbs/"
ANSWERED, ASKED, COMPLETED, EXPERIENCED, VOIDED = (
    ADL + "answered", ADL + "asked", ADL + "completed", ADL + "experienced", ADL + "voided")
BASE = "https://lms.example.org"
CAP = 7200          # dbt var duration_cap_seconds (default)
MASTERY = 80        # dbt var mastery_threshold_pct (default)
AS_OF = "2024-06-01"

STATEMENT_COLUMNS = [
    "load_id", "source", "source_ref", "record_no", "loaded_at", "statement_id", "payload", "payload_sha256",
    "actor_account_homepage", "actor_account_name", "actor_mbox", "actor_mbox_sha1sum", "actor_openid",
    "verb_id", "object_type", "object_id", "object_definition_type", "voided_statement_id",
    "statement_timestamp", "stored_at", "registration", "attempt_id", "parent_activity_id",
    "grouping_activity_id", "has_result", "result_score_scaled", "result_score_raw", "result_score_min",
    "result_score_max", "result_success", "result_completion", "result_duration", "result_duration_seconds",
    "result_extensions", "context_extensions",
]
LMS_COLUMNS = {
    "lms_accounts": ["account_id", "account_name"],
    "lms_users": ["user_id", "account_id", "email", "display_name", "role"],
    "lms_groups": ["group_id", "account_id", "group_name"],
    "lms_group_members": ["group_id", "user_id"],
    "lms_courses": ["course_id", "account_id", "course_title", "activity_id"],
    "lms_chapters": ["chapter_id", "course_id", "chapter_title", "position", "activity_id"],
    "lms_exercises": ["exercise_id", "chapter_id", "exercise_title", "position", "activity_id", "max_points"],
    "lms_enrollments": ["user_id", "course_id", "enrolled_at"],
    "collections": ["collection_id", "collection_name", "position", "achievement_id", "course_id"],
}


# --------------------------------------------------------------------------- raw layer
def sid(name: str) -> str:
    """A stable statement UUID for a readable name."""
    return str(uuid.uuid5(NS, name))


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def act(kind: str, key: str) -> str:
    return f"{BASE}/{kind}/{key}"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def statement(name: str, actor: dict, verb: str, object_id: str | None, at: str, *,
              raw: float | None = None, max_: float | None = None, min_: float | None = None,
              scaled: float | None = None, success: bool | None = None, duration: float | None = None,
              registration: str | None = None, attempt_id: str | None = None,
              parent: str | None = None, voids: str | None = None) -> dict:
    """One raw.xapi_statements row without load metadata. ``actor``: account / mbox / sha1."""
    row = {
        "statement_id": sid(name),
        "actor_account_homepage": BASE if "account" in actor else None,
        "actor_account_name": actor.get("account"),
        "actor_mbox": actor.get("mbox"),
        "actor_mbox_sha1sum": actor.get("sha1"),
        "actor_openid": None,
        "verb_id": verb,
        "object_type": "StatementRef" if voids else "Activity",
        "object_id": sid(voids) if voids else object_id,
        "object_definition_type": None,
        "voided_statement_id": sid(voids) if voids else None,
        "statement_timestamp": ts(at),
        "stored_at": None,
        "registration": registration,
        "attempt_id": attempt_id,
        "parent_activity_id": parent,
        "grouping_activity_id": None,
        "has_result": any(v is not None for v in (raw, max_, min_, scaled, success, duration)),
        "result_score_scaled": scaled,
        "result_score_raw": raw,
        "result_score_min": min_,
        "result_score_max": max_,
        "result_success": success,
        "result_completion": None,
        "result_duration": f"PT{duration}S" if duration is not None else None,
        "result_duration_seconds": duration,
        "result_extensions": None,
        "context_extensions": None,
    }
    row["payload"] = json.dumps({k: str(v) for k, v in row.items()}, sort_keys=True)
    row["payload_sha256"] = hashlib.sha256(row["payload"].encode()).hexdigest()
    return row


class RawLayer:
    """Appends loads to raw.* and remembers them for the Python expectation."""

    def __init__(self, lake: Path):
        self.lake = lake
        self.statement_loads: list[tuple[dt.datetime, list[dict]]] = []
        self.tables: dict[str, list[tuple[dt.datetime, list[tuple]]]] = defaultdict(list)
        self.awards: list[dict] = []

    def statements(self, rows: list[dict], loaded_at: str) -> None:
        """Like ingestion: only ids new to raw.xapi_statements are inserted (a later copy is a
        duplicate or a duplicate_id_conflict in quarantine); the expectation keeps every load."""
        con = connect_raw(self.lake)
        try:
            load_id = uuid.uuid4().hex
            seen = {r[0] for r in con.execute("select statement_id from raw.xapi_statements").fetchall()}
            values = []
            for i, r in enumerate(rows, start=1):
                if r["statement_id"] in seen:
                    continue
                meta = {"load_id": load_id, "source": "xapi_file", "source_ref": f"xapi/{load_id}.ndjson",
                        "record_no": i, "loaded_at": ts(loaded_at)}
                values.append([{**meta, **r}[c] for c in STATEMENT_COLUMNS])
            con.executemany(f"insert into raw.xapi_statements ({', '.join(STATEMENT_COLUMNS)}) values "
                            f"({', '.join('?' for _ in STATEMENT_COLUMNS)})", values)
        finally:
            con.close()
        self.statement_loads.append((ts(loaded_at), rows))

    def table(self, table: str, rows: list[tuple], loaded_at: str) -> None:
        cols = ["load_id", "source", "source_ref", "record_no", "loaded_at", *LMS_COLUMNS[table], "raw_line"]
        load_id = uuid.uuid4().hex
        values = [[load_id, "lms", f"lms/{table}.csv", i, ts(loaded_at), *[None if v is None else str(v) for v in r],
                   ",".join("" if v is None else str(v) for v in r)] for i, r in enumerate(rows, start=1)]
        con = connect_raw(self.lake)
        try:
            con.executemany(f"insert into raw.{table} ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})",
                            values)
        finally:
            con.close()
        self.tables[table].append((ts(loaded_at), rows))

    def credential_awards(self, rows: list[dict], loaded_at: str) -> None:
        con = connect_raw(self.lake)
        try:
            load_id = uuid.uuid4().hex
            for i, r in enumerate(rows, start=1):
                con.execute(
                    "insert into raw.credential_awards (load_id, source, source_ref, record_no, loaded_at, "
                    "award_id, source_format, achievement_id, achievement_name, achievement_type, issuer_id, "
                    "issuer_name, recipient_identity, recipient_hashed, recipient_salt, issued_at, expires_at, "
                    "revoked, payload_sha256) values (?, 'credentials', 'credentials/awards.json', ?, ?, ?, 'ob3', "
                    "?, ?, 'Badge', ?, 'Issuer', ?, false, null, ?, ?, ?, ?)",
                    [load_id, i, ts(loaded_at), r["award_id"], r["achievement_id"], r["achievement_id"],
                     f"{BASE}/issuer", r["email"], ts(r["issued_at"]),
                     ts(r["expires_at"]) if r.get("expires_at") else None, r.get("revoked", False),
                     hashlib.sha256(r["award_id"].encode()).hexdigest()])
        finally:
            con.close()
        self.awards += rows

    def latest(self, table: str, key: tuple[int, ...]) -> list[tuple]:
        """Latest loaded row per key (what staging keeps)."""
        out: dict[tuple, tuple] = {}
        for _, rows in sorted(self.tables[table], key=lambda x: x[0]):
            for r in rows:
                out[tuple(r[i] for i in key)] = r
        return list(out.values())


# --------------------------------------------------------------------------- the data set
EX = {k: act("exercise", k) for k in ("e1", "e2", "e3", "e4", "e5")}
U1, U2, U3 = {"account": "u1"}, {"mbox": "mailto:bob@acme.com"}, {"sha1": sha1("mailto:cy@acme.com")}
G1, G2, NOBODY = {"account": "g1"}, {"account": "g2"}, {"account": "nobody"}


def load_lms(raw: RawLayer) -> None:
    t0 = "2024-01-01T00:00:00"
    raw.table("lms_accounts", [("acme", "Acme"), ("globex", "Globex")], t0)
    raw.table("lms_users", [
        ("u1", "acme", " Ann@Acme.com ", "Ann", "learner"), ("u2", "acme", "bob@old.example", "Bob", "Learner"),
        ("u3", "acme", "cy@acme.com", "Cy", "learner"), ("m1", "acme", "max@acme.com", "Max", "manager"),
        ("g1", "globex", "gil@globex.com", "Gil", "learner"), ("g2", "globex", "gus@globex.com", "Gus", "learner"),
    ], t0)
    # a delta export: u2's new email (the statements use it) and name; the latest row wins
    raw.table("lms_users", [("u2", "acme", "Bob@Acme.com", "Bobby", "learner")], "2024-01-02T00:00:00")
    raw.table("lms_groups", [("grpA", "acme", "Team A"), ("grpB", "acme", "Team B"), ("grpG", "globex", "Team G")], t0)
    raw.table("lms_group_members", [("grpA", "u1"), ("grpA", "u2"), ("grpB", "u2"), ("grpB", "u3"),
                                    ("grpG", "g1"), ("grpG", "g2")], t0)
    raw.table("lms_courses", [("c1", "acme", "Course 1", act("course", "c1")),
                              ("c2", "globex", "Course 2", act("course", "c2"))], t0)
    raw.table("lms_chapters", [("ch1", "c1", "Ch 1", 1, act("chapter", "ch1")),
                               ("ch2", "c1", "Ch 2", 2, act("chapter", "ch2")),
                               ("ch3", "c2", "Ch 3", 1, act("chapter", "ch3"))], t0)
    raw.table("lms_exercises", [("e1", "ch1", "E1", 1, EX["e1"], 10), ("e2", "ch1", "E2", 2, EX["e2"], 5),
                                ("e3", "ch2", "E3", 1, EX["e3"], 20), ("e4", "ch3", "E4", 1, EX["e4"], 10),
                                ("e5", "ch3", "E5", 2, EX["e5"], 10)], t0)
    raw.table("lms_enrollments", [("u1", "c1", "2024-01-01T08:00:00Z"), ("u2", "c1", "2024-01-01T09:00:00+01:00"),
                                  ("u3", "c1", "2024-01-01"), ("g1", "c2", "2024-01-01"),
                                  ("g2", "c2", "2024-01-01")], t0)
    raw.table("collections", [("col1", "Collection 1", 1, f"{BASE}/badge/c1", "c1"),
                              ("col2", "Collection 2", 1, f"{BASE}/badge/c2", "c2")], t0)
    raw.credential_awards([
        {"award_id": "urn:uuid:aw-u1", "achievement_id": f"{BASE}/badge/c1", "email": "ann@acme.com",
         "issued_at": "2024-02-05T00:00:00"},
        {"award_id": "urn:uuid:aw-u2", "achievement_id": f"{BASE}/badge/c1", "email": "bob@acme.com",
         "issued_at": "2024-02-05T00:00:00", "revoked": True},
        {"award_id": "urn:uuid:aw-u3", "achievement_id": f"{BASE}/badge/c1", "email": "cy@acme.com",
         "issued_at": "2024-02-05T00:00:00", "expires_at": "2024-03-01T00:00:00"},
    ], t0)


def first_statements() -> list[dict]:
    return [
        statement("s1", U1, ANSWERED, EX["e1"], "2024-02-01T10:00:00", raw=6, max_=10, min_=0, success=False,
                  duration=60),
        statement("h1", U1, ASKED, EX["e1"] + "/hint/1", "2024-02-01T10:05:00"),
        statement("s2", U1, ANSWERED, EX["e1"], "2024-02-01T10:10:00", raw=9, max_=10, min_=0, success=True,
                  duration=30),
        statement("s3", U1, ANSWERED, EX["e2"], "2024-02-01T11:00:00", raw=1, max_=5, registration="R1"),
        statement("s4", U1, ANSWERED, EX["e2"], "2024-02-01T11:02:00", raw=4, max_=5, registration="R1"),
        statement("s5", U1, ANSWERED, EX["e3"], "2024-02-01T12:00:00", scaled=1.0, success=True, duration=3 * 3600),
        statement("s6", U1, COMPLETED, act("course", "c1"), "2024-02-01T13:00:00"),
        statement("s7", U2, ANSWERED, EX["e1"], "2024-02-01T09:00:00", success=True),
        statement("s8", U2, ANSWERED, EX["e1"], "2024-02-01T09:30:00", success=False),
        statement("s9", U2, VOIDED, None, "2024-02-01T09:40:00", voids="s8"),
        statement("h2", U2, ASKED, act("misc", "x"), "2024-02-01T09:20:00", parent=EX["e1"]),
        statement("s11", U3, ANSWERED, EX["e3"], "2024-02-01T08:00:00", raw=5, max_=20, attempt_id="a1"),
        statement("s12", U3, ANSWERED, EX["e3"], "2024-02-01T08:05:00", raw=15, max_=20, attempt_id="a1"),
        statement("s13", U3, ANSWERED, EX["e1"], "2024-02-01T14:00:00", raw=10, max_=10, duration=10),
        statement("s14", G1, ANSWERED, EX["e4"], "2024-02-02T10:00:00", raw=5, max_=10, scaled=0.5),
        statement("s15", G1, ANSWERED, EX["e4"], "2024-02-02T10:30:00", raw=10, max_=10),
        statement("s16", G1, ANSWERED, EX["e5"], "2024-02-02T11:00:00", raw=8, max_=10),
        statement("s17", G2, ANSWERED, EX["e4"], "2024-02-02T12:00:00", raw=2, max_=10),
        statement("s18", G2, EXPERIENCED, EX["e4"], "2024-02-02T12:01:00", raw=2, max_=10),
        statement("s19", NOBODY, ANSWERED, EX["e4"], "2024-02-02T12:02:00", raw=2, max_=10),
    ]


def late_statements() -> list[dict]:
    """Late, duplicate and voiding arrivals for the incremental run."""
    return [
        # late: before s1, so it becomes u1's attempt 1 on e1 and s1/s2 move to 2/3
        statement("s20", U1, ANSWERED, EX["e1"], "2024-02-01T09:50:00", raw=2, max_=10, duration=20),
        # duplicate id with another payload: the first loaded copy wins
        statement("s5", U1, ANSWERED, EX["e3"], "2024-02-01T12:00:00", scaled=0.1, success=False, duration=5),
        # voids u3's only attempt on e1: the pair must disappear
        statement("s21", U3, VOIDED, None, "2024-02-03T09:00:00", voids="s13"),
        # a late hint before g2's attempt, and a new attempt of g2 on e5
        statement("h3", G2, ASKED, EX["e4"] + "/hint/2", "2024-02-02T11:59:00"),
        statement("s22", G2, ANSWERED, EX["e5"], "2024-02-04T12:00:00", raw=10, max_=10, duration=8000),
    ]


# --------------------------------------------------------------------------- the expectation
def learner_id(user_id: str) -> str:
    return hashlib.sha256(f"{TEST_KEY}|{user_id}".encode()).hexdigest()[:24]


def rank(rows: list[dict], key) -> dict[int, int]:
    """Competition rank (1, 1, 3) of each row index by key (bigger first)."""
    order = sorted(range(len(rows)), key=lambda i: key(rows[i]), reverse=True)
    out: dict[int, int] = {}
    for pos, i in enumerate(order):
        prev = order[pos - 1] if pos else None
        out[i] = out[prev] if prev is not None and key(rows[prev]) == key(rows[i]) else pos + 1
    return out


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


class Expected:
    """The marts computed in plain Python from what :class:`RawLayer` loaded."""

    def __init__(self, raw: RawLayer):
        verbs = list(csv.DictReader(open(ROOT / "seeds" / "xapi_verbs.csv")))
        self.attempt_verbs = {v["verb_id"] for v in verbs if v["is_attempt"] == "true"}
        self.hint_verbs = {v["verb_id"] for v in verbs if v["is_hint"] == "true"}
        self.completion_verbs = {v["verb_id"] for v in verbs if v["is_completion"] == "true"}
        users = raw.latest("lms_users", (0,))
        self.user_account = {u[0]: u[1] for u in users}
        self.user_role = {u[0]: u[4].strip().lower() for u in users}
        emails = {u[0]: u[2].strip().lower() for u in users}
        self._raw, self._emails = raw, emails
        by_email = {e: u for u, e in emails.items()}
        self.emails = set(emails.values())
        self.courses = {c[0]: {"account": c[1], "activity": c[3]} for c in raw.latest("lms_courses", (0,))}
        self.chapters = {c[0]: {"course": c[1]} for c in raw.latest("lms_chapters", (0,))}
        self.exercises = {e[0]: {"chapter": e[1], "course": self.chapters[e[1]]["course"], "activity": e[4],
                                 "max_points": float(e[5])} for e in raw.latest("lms_exercises", (0,))}
        by_activity = {e["activity"]: k for k, e in self.exercises.items()}
        self.members = [(g, u) for g, u in raw.latest("lms_group_members", (0, 1))]
        self.groups = {g[0]: g[1] for g in raw.latest("lms_groups", (0,))}
        enrolled = {(e[0], e[1]) for e in raw.latest("lms_enrollments", (0, 1))}

        # statements: first loaded copy per id, voided and voiding removed, actors resolved
        first: dict[str, dict] = {}
        for loaded_at, rows in sorted(raw.statement_loads, key=lambda x: x[0]):
            for r in rows:
                first.setdefault(r["statement_id"], {**r, "loaded_at": loaded_at})
        voiding = {k: r["voided_statement_id"] for k, r in first.items() if r["verb_id"] == VOIDED}
        kept = [r for k, r in first.items() if k not in voiding and k not in voiding.values()]

        def roster_user(r):
            if r["actor_account_name"] in self.user_account:
                return r["actor_account_name"]
            if r["actor_mbox"]:
                return by_email.get(r["actor_mbox"].lower().removeprefix("mailto:"))
            return next((u for u, e in emails.items() if sha1("mailto:" + e) == r["actor_mbox_sha1sum"]), None)

        def user_of(r):
            """The LMS user of the actor, else the actor's own key (a learner all the same, in
            the account of its homePage's host: docs/raw_layer.md)."""
            user = roster_user(r)
            if user is not None:
                return user
            if r["actor_account_name"]:
                key = f"account:{(r['actor_account_homepage'] or '').rstrip('/')}|{r['actor_account_name']}"
            elif r["actor_mbox"]:
                key = "mbox_sha1sum:" + sha1(r["actor_mbox"].lower())
            else:
                key = "mbox_sha1sum:" + r["actor_mbox_sha1sum"].lower()
            self.user_account[key] = r["actor_account_homepage"].split("://")[1].split("/")[0].lower() \
                if r["actor_account_homepage"] else "unassigned"
            self.user_role[key] = "learner"
            return key

        for r in first.values():  # the actors of voided statements are learners too
            if r["statement_id"] in voiding.values():
                user_of(r)
        attempt_stmts, hints, completions = defaultdict(list), defaultdict(list), {}
        for r in kept:
            user = user_of(r)
            if user is None:
                continue
            if r["verb_id"] in self.attempt_verbs and r["has_result"] and r["object_id"] in by_activity:
                attempt_stmts[(user, by_activity[r["object_id"]])].append(r)
            elif r["verb_id"] in self.hint_verbs:
                obj = r["object_id"]
                cands = [obj, obj.rsplit("/", 1)[0], obj.rsplit("/", 2)[0], obj.rsplit("/", 3)[0],
                         r["parent_activity_id"]]
                ex = next((by_activity[c] for c in cands if c in by_activity), None)
                if ex:
                    hints[(user, ex)].append(r["statement_timestamp"])
            elif r["verb_id"] in self.completion_verbs:
                course = next((c for c, v in self.courses.items() if v["activity"] == r["object_id"]), None)
                if course:
                    key = (user, course)
                    completions[key] = min(completions.get(key, r["statement_timestamp"]), r["statement_timestamp"])

        # attempts
        self.attempts = []
        for (user, ex), stmts in attempt_stmts.items():
            groups = defaultdict(list)
            for r in stmts:
                key = (f"registration:{r['registration']}" if r["registration"] else
                       f"attempt-id:{r['attempt_id']}" if r["attempt_id"] else f"statement:{r['statement_id']}")
                groups[key].append(r)
            rows = []
            for key, g in groups.items():
                g.sort(key=lambda r: (r["statement_timestamp"], r["statement_id"]))
                last = g[-1]
                started, ended = g[0]["statement_timestamp"], last["statement_timestamp"]
                durations = [r["result_duration_seconds"] for r in g if r["result_duration_seconds"] is not None]
                raw_seconds = sum(durations) if durations else (ended - started).total_seconds()
                answers = [self._answers(r) for r in g]
                correct, incorrect = sum(a[0] for a in answers), sum(a[1] for a in answers)
                spans = [(r["result_score_raw"] - (r["result_score_min"] or 0),
                          r["result_score_max"] - (r["result_score_min"] or 0))
                         for r in g if r["result_score_raw"] is not None and r["result_score_max"] is not None]
                if len(spans) == len(g) and sum(m for _, m in spans) > 0:
                    score = min(max(sum(r for r, _ in spans) / sum(m for _, m in spans), 0.0), 1.0)
                else:
                    score = self._scaled(last)
                rows.append({"user": user, "exercise": ex, "key": key, "first": g[0]["statement_id"],
                             "started": started, "ended": ended, "raw_seconds": raw_seconds,
                             "seconds": min(raw_seconds, CAP), "capped": raw_seconds > CAP,
                             "correct": correct, "incorrect": incorrect, "score": score,
                             "success": last["result_success"], "statements": len(g)})
            rows.sort(key=lambda a: (a["started"], a["first"]))
            hint_count = defaultdict(int)
            for h in hints.get((user, ex), []):
                n = next((i for i, a in enumerate(rows) if h <= a["ended"]), None)
                if n is not None:
                    hint_count[n] += 1
            for i, a in enumerate(rows):
                a["number"] = i + 1
                a["hints"] = hint_count[i]
                a["points"] = self.exercises[ex]["max_points"] * (a["score"] or 0)
            self.attempts += rows

        # exercise summary
        self.summary = {}
        for user, ex in set(attempt_stmts) | set(hints):
            ats = [a for a in self.attempts if a["user"] == user and a["exercise"] == ex]
            scores = [a["score"] for a in ats if a["score"] is not None]
            best = max(scores) if scores else 0.0
            correct, incorrect = sum(a["correct"] for a in ats), sum(a["incorrect"] for a in ats)
            seconds = sum(a["seconds"] for a in ats)
            self.summary[(user, ex)] = {
                "attempts": len(ats), "mastery_pct": 100 * best, "is_mastered": 100 * best >= MASTERY,
                "correct": correct, "incorrect": incorrect,
                "score_pct": 100 * correct / (correct + incorrect) if correct + incorrect else None,
                "hints": len(hints.get((user, ex), [])), "seconds": seconds,
                "avg_seconds": seconds / len(ats) if ats else None,
                "capped": sum(a["capped"] for a in ats),
                "points": self.exercises[ex]["max_points"] * best,
                "first_at": min((a["started"] for a in ats), default=None),
            }

        # course participants and progress
        participants = enrolled | {(u, self.exercises[e]["course"]) for u, e in self.summary} | set(completions)
        certified = self._credentials()
        self.progress = []
        for user, course in sorted(participants):
            exs = [e for e, v in self.exercises.items() if v["course"] == course]
            summ = [self.summary[(user, e)] for e in exs if (user, e) in self.summary]
            attempted = sum(1 for s in summ if s["attempts"] > 0)
            correct, incorrect = sum(s["correct"] for s in summ), sum(s["incorrect"] for s in summ)
            cred = certified.get((user, course), {"held": 0, "certified": False})
            self.progress.append({
                "user": user, "course": course, "account": self.user_account[user],
                "is_enrolled": (user, course) in enrolled,
                "exercises_total": len(exs), "attempted": attempted,
                "mastered": sum(1 for s in summ if s["is_mastered"]),
                "progress_pct": 100 * attempted / len(exs), "mastery_pct": sum(s["mastery_pct"] for s in summ) / len(exs),
                "is_completed": attempted == len(exs) or (user, course) in completions,
                "is_certified": cred["certified"], "credentials_held": cred["held"],
                "attempts": sum(s["attempts"] for s in summ), "hints": sum(s["hints"] for s in summ),
                "score_pct": 100 * correct / (correct + incorrect) if correct + incorrect else None,
                "points": sum(s["points"] for s in summ), "seconds": sum(s["seconds"] for s in summ),
                "correct": correct, "incorrect": incorrect, "capped": sum(s["capped"] for s in summ),
            })
        for (account, course) in {(p["account"], p["course"]) for p in self.progress}:
            rows = [p for p in self.progress if (p["account"], p["course"]) == (account, course)]
            keys = {
                "rank_mastered": lambda p: p["mastered"],
                "rank_completed": lambda p: (p["is_completed"], p["progress_pct"]),
                "rank_certified": lambda p: (p["is_certified"], p["credentials_held"]),
                "rank_score": lambda p: (p["score_pct"] is not None, p["score_pct"] or 0),
                "rank_points": lambda p: p["points"],
                "rank_time_spent": lambda p: p["seconds"],
            }
            for name, key in keys.items():
                for i, r in rank(rows, key).items():
                    rows[i][name] = r

        # group league
        self.league = []
        for group, account in self.groups.items():
            users = {u for g, u in self.members if g == group}
            for course in {p["course"] for p in self.progress if p["user"] in users}:
                ps = [p for p in self.progress if p["user"] in users and p["course"] == course]
                n = len(ps)
                self.league.append({
                    "group": group, "course": course, "account": account, "members": n,
                    "avg_mastery_pct": mean(p["mastery_pct"] for p in ps),
                    "completion_rate_pct": 100 * sum(p["is_completed"] for p in ps) / n,
                    "certification_rate_pct": 100 * sum(p["is_certified"] for p in ps) / n,
                    "avg_score_pct": mean(p["score_pct"] for p in ps),
                    "avg_points": mean(p["points"] for p in ps), "total_points": sum(p["points"] for p in ps),
                    "avg_seconds": mean(p["seconds"] for p in ps),
                })
        for course in {row["course"] for row in self.league}:
            rows = [row for row in self.league if row["course"] == course]
            keys = {
                "rank_mastery": lambda r: r["avg_mastery_pct"],
                "rank_completion": lambda r: r["completion_rate_pct"],
                "rank_certification": lambda r: r["certification_rate_pct"],
                "rank_score": lambda r: (r["avg_score_pct"] is not None, r["avg_score_pct"] or 0),
                "rank_points": lambda r: r["avg_points"],
                "rank_time_spent": lambda r: r["avg_seconds"],
            }
            for name, key in keys.items():
                for i, r in rank(rows, key).items():
                    rows[i][name] = r

        # chapter mastery
        learner_chapters = []
        for p in self.progress:
            for ch, v in self.chapters.items():
                exs = [e for e, x in self.exercises.items() if x["chapter"] == ch]
                if v["course"] != p["course"] or not exs:
                    continue
                m = sum(self.summary.get((p["user"], e), {"mastery_pct": 0})["mastery_pct"] for e in exs) / len(exs)
                learner_chapters.append({"user": p["user"], "account": p["account"], "chapter": ch, "mastery": m})
        self.chapter_mastery = {}
        for lc in learner_chapters:
            self.chapter_mastery[("learner", learner_id(lc["user"]), lc["chapter"])] = lc["mastery"]
        scopes = defaultdict(list)
        for lc in learner_chapters:
            scopes[("account", lc["account"], lc["chapter"])].append(lc["mastery"])
            for g, u in self.members:
                if u == lc["user"]:
                    scopes[("group", g, lc["chapter"])].append(lc["mastery"])
        for k, values in scopes.items():
            self.chapter_mastery[k] = mean(values)

    @staticmethod
    def _answers(r) -> tuple[float, float]:
        raw, mx, mn, ok, scaled = (r["result_score_raw"], r["result_score_max"], r["result_score_min"],
                                   r["result_success"], r["result_score_scaled"])
        if raw is not None and mx is not None:
            return max(raw - (mn or 0), 0), max(mx - raw, 0)
        if ok is not None:
            return (1.0, 0.0) if ok else (0.0, 1.0)
        if scaled is not None:
            s = min(max(scaled, 0), 1)
            return s, 1 - s
        return 0.0, 0.0

    @staticmethod
    def _scaled(r) -> float | None:
        raw, mx, mn, ok, scaled = (r["result_score_raw"], r["result_score_max"], r["result_score_min"],
                                   r["result_success"], r["result_score_scaled"])
        if scaled is None and raw is not None and mx is not None and mx > (mn or 0):
            scaled = (raw - (mn or 0)) / (mx - (mn or 0))
        if scaled is None and ok is not None:
            scaled = 1.0 if ok else 0.0
        return None if scaled is None else min(max(scaled, 0.0), 1.0)

    def _credentials(self) -> dict:
        """Per (user, course): credentials held (not revoked) and certified (not revoked, not expired)."""
        by_badge = {}
        for _, rows in self._raw.tables["collections"]:
            for r in rows:
                by_badge[r[3]] = r[4]
        out = {}
        for a in self._raw.awards:
            user = next(u for u, e in self._emails.items() if e == a["email"])
            course = by_badge.get(a["achievement_id"])
            d = out.setdefault((user, course), {"held": 0, "certified": False})
            if not a.get("revoked"):
                d["held"] += 1
                if not a.get("expires_at") or ts(a["expires_at"]) > ts(AS_OF):
                    d["certified"] = True
        return out


# --------------------------------------------------------------------------- comparing
def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float | int) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-6  # marts publish floating metrics rounded to 6 decimals
    return a == b


def assert_rows(actual: dict, wanted: dict, what: str) -> None:
    assert set(actual) == set(wanted), f"{what}: keys differ: {set(actual) ^ set(wanted)}"
    for k in wanted:
        a, w = actual[k], wanted[k]
        bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, w, strict=True)) if not close(x, y)]
        assert not bad, f"{what} {k}: (position, actual, expected) {bad}"


def fetch(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def check_marts(home: Path, exp: Expected) -> None:
    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        lid = {learner_id(u): u for u in exp.user_account}
        fct = fetch(con, "select learner_id, exercise_id, attempt_number, account_id, course_id, chapter_id, "
                         "attempt_key, started_at, ended_at, duration_seconds, duration_seconds_raw, "
                         "is_duration_capped, correct_answers, incorrect_answers, score_scaled, is_success, "
                         "hints_taken, points_earned, statement_count, is_first_attempt from marts.fct_attempts")
        assert_rows({(lid[r[0]], r[1], r[2]): r[3:] for r in fct},
                    {(a["user"], a["exercise"], a["number"]): (
                        exp.user_account[a["user"]], exp.exercises[a["exercise"]]["course"],
                        exp.exercises[a["exercise"]]["chapter"], a["key"], a["started"], a["ended"], a["seconds"],
                        a["raw_seconds"], a["capped"], a["correct"], a["incorrect"], a["score"], a["success"],
                        a["hints"], a["points"], a["statements"], a["number"] == 1) for a in exp.attempts},
                    "fct_attempts")

        summary = fetch(con, "select learner_id, exercise_id, attempts, mastery_pct, is_mastered, correct_answers, "
                             "incorrect_answers, score_pct, hints_taken, time_spent_seconds, avg_seconds_per_attempt, "
                             "capped_attempts, points, first_attempt_at from marts.mart_exercise_summary")
        assert_rows({(lid[r[0]], r[1]): r[2:] for r in summary},
                    {k: (s["attempts"], s["mastery_pct"], s["is_mastered"], s["correct"], s["incorrect"],
                         s["score_pct"], s["hints"], s["seconds"], s["avg_seconds"], s["capped"], s["points"],
                         s["first_at"]) for k, s in exp.summary.items()},
                    "mart_exercise_summary")

        progress = fetch(con, "select learner_id, course_id, account_id, is_enrolled, exercises_total, "
                              "exercises_attempted, exercises_mastered, progress_pct, mastery_pct, is_completed, "
                              "is_certified, credentials_held, attempts, hints_taken, score_pct, points, "
                              "time_spent_seconds, rank_mastered, rank_completed, rank_certified, rank_score, "
                              "rank_points, rank_time_spent from intermediate.int_learning__learner_course_progress")
        assert_rows({(lid[r[0]], r[1]): r[2:] for r in progress},
                    {(p["user"], p["course"]): (
                        p["account"], p["is_enrolled"], p["exercises_total"], p["attempted"], p["mastered"],
                        p["progress_pct"], p["mastery_pct"], p["is_completed"], p["is_certified"],
                        p["credentials_held"], p["attempts"], p["hints"], p["score_pct"], p["points"], p["seconds"],
                        p["rank_mastered"], p["rank_completed"], p["rank_certified"], p["rank_score"],
                        p["rank_points"], p["rank_time_spent"]) for p in exp.progress},
                    "int_learning__learner_course_progress")
        # the published copy: every learning column as computed, the credential columns only with
        # consent; nobody in this world sent a consent (and consent is required): all of them null
        cols = ("learner_id, course_id, account_id, is_enrolled, exercises_total, exercises_attempted, exercises_mastered, "
                "progress_pct, mastery_pct, is_completed, attempts, hints_taken, score_pct, points, time_spent_seconds, "
                "rank_mastered, rank_completed, rank_score, rank_points, rank_time_spent")
        published = fetch(con, f"select {cols} from marts.mart_learner_course_progress")
        assert sorted(published) == sorted(fetch(con, f"select {cols} from intermediate.int_learning__learner_course_progress"))
        assert fetch(con, "select count(*), count(is_certified), count(certified_at), count(credentials_held), "
                          "count(rank_certified) from marts.mart_learner_course_progress") == [(len(published), 0, 0, 0, 0)]
        assert any(p["is_certified"] for p in exp.progress)

        league = fetch(con, "select group_id, course_id, account_id, members, avg_mastery_pct, completion_rate_pct, "
                            "certification_rate_pct, avg_score_pct, avg_points, total_points, avg_time_spent_seconds, "
                            "rank_mastery, rank_completion, rank_certification, rank_score, rank_points, "
                            "rank_time_spent from marts.mart_group_league")
        assert_rows({(r[0], r[1]): r[2:] for r in league},
                    {(g["group"], g["course"]): (
                        g["account"], g["members"], g["avg_mastery_pct"], g["completion_rate_pct"],
                        g["certification_rate_pct"], g["avg_score_pct"], g["avg_points"], g["total_points"],
                        g["avg_seconds"], g["rank_mastery"], g["rank_completion"], g["rank_certification"],
                        g["rank_score"], g["rank_points"], g["rank_time_spent"]) for g in exp.league},
                    "mart_group_league")

        chapters = fetch(con, "select scope_type, scope_id, chapter_id, mastery_pct from marts.mart_chapter_mastery")
        assert_rows({r[:3]: r[3:] for r in chapters}, {k: (v,) for k, v in exp.chapter_mastery.items()},
                    "mart_chapter_mastery")

        overview = fetch(con, "select account_id, course_id, enrolled_users, learners, mastery_pct, "
                              "completed_learners, certified_learners, capped_attempts from marts.mart_course_overview")
        want = {}
        for account, course in {(p["account"], p["course"]) for p in exp.progress}:
            ps = [p for p in exp.progress if (p["account"], p["course"]) == (account, course)]
            want[(account, course)] = (sum(p["is_enrolled"] for p in ps), len(ps), mean(p["mastery_pct"] for p in ps),
                                       sum(p["is_completed"] for p in ps), sum(p["is_certified"] for p in ps),
                                       sum(p["capped"] for p in ps))
        assert_rows({r[:2]: r[2:] for r in overview}, want, "mart_course_overview")

        learners = fetch(con, "select learner_id, account_id, role from marts.dim_learners")
        assert sorted(learners) == sorted((learner_id(u), a, exp.user_role[u]) for u, a in exp.user_account.items())

        # no email or display name in any learner-progress mart, not even as a value
        marts = [t for (t,) in fetch(con, "select table_name from information_schema.tables "
                                          "where table_schema = 'marts'")]
        for table in marts:
            cols = [c for (c,) in fetch(con, "select column_name from information_schema.columns "
                                             f"where table_schema = 'marts' and table_name = '{table}'")]
            assert not {"email", "display_name", "user_id"} & set(cols), table
            if table.startswith(("fct_attempts", "mart_exercise", "mart_chapter", "mart_learner", "mart_group",
                                 "mart_course", "dim_")):
                for c in cols:
                    hits = fetch(con, f'select count(*) from marts."{table}" where cast("{c}" as varchar) in '
                                      f"({', '.join(repr(e) for e in exp.emails)})")
                    assert hits == [(0,)], (table, c)
    finally:
        con.close()


def fct_snapshot(home: Path, name: str) -> None:
    """Copy marts.fct_attempts into snapshots.duckdb as table <name>."""
    con = duckdb.connect(str(home / "snapshots.duckdb"))
    try:
        con.execute(f"attach '{home / 'build.duckdb'}' as b (read_only)")
        con.execute(f"create or replace table {name} as select * from b.marts.fct_attempts")
    finally:
        con.close()


def fct_differences(home: Path, name: str) -> tuple[int, int]:
    """Rows only in the snapshot, rows only in the current fct_attempts."""
    con = duckdb.connect(str(home / "snapshots.duckdb"), read_only=True)
    try:
        con.execute(f"attach '{home / 'build.duckdb'}' as b (read_only)")
        only_old = con.execute(f"select count(*) from (select * from {name} except all "
                               "select * from b.marts.fct_attempts)").fetchone()[0]
        only_new = con.execute(f"select count(*) from (select * from b.marts.fct_attempts except all "
                               f"select * from {name})").fetchone()[0]
        return only_old, only_new
    finally:
        con.close()


def build(home: Path, *extra: str, unit_tests: bool = False) -> None:
    """dbt build of the learner-progress marts and everything upstream of them."""
    args = ["build", "--select", "+path:models/marts/learning", "--indirect-selection", "cautious", *extra]
    if not unit_tests:
        args += ["--exclude", "test_type:unit"]
    run_dbt(home, *args, vars={"as_of_date": AS_OF})


# --------------------------------------------------------------------------- tests
@pytest.fixture
def raw(home: Path) -> RawLayer:
    r = RawLayer(home / "lake.duckdb")
    load_lms(r)
    r.statements(first_statements(), "2024-02-03T00:00:00")
    return r


def test_marts_match_an_independent_calculation_and_incremental_equals_full_refresh(home: Path, raw: RawLayer):
    build(home, unit_tests=True)
    exp = Expected(raw)
    # the hand-made data set exercises what it claims to
    assert {a["key"] for a in exp.attempts} >= {"registration:R1", "attempt-id:a1"}
    assert any(a["capped"] for a in exp.attempts)
    assert len(exp.attempts) == 12  # s19's actor matches no LMS user: a learner of lms.example.org
    check_marts(home, exp)

    # a rerun on the same input changes nothing
    fct_snapshot(home, "first_run")
    run_dbt(home, "build", "--select", "fct_attempts", vars={"as_of_date": AS_OF})
    assert fct_differences(home, "first_run") == (0, 0)

    # late, duplicate and voiding arrivals: the incremental run re-derives the touched pairs
    raw.statements(late_statements(), "2024-02-05T00:00:00")
    build(home)
    exp = Expected(raw)
    u1_e1 = sorted((a["number"], a["started"]) for a in exp.attempts if (a["user"], a["exercise"]) == ("u1", "e1"))
    assert [n for n, _ in u1_e1] == [1, 2, 3] and u1_e1[0][1] == ts("2024-02-01T09:50:00")
    assert not [a for a in exp.attempts if (a["user"], a["exercise"]) == ("u3", "e1")]
    check_marts(home, exp)
    fct_snapshot(home, "incremental")
    assert fct_differences(home, "first_run") != (0, 0)

    run_dbt(home, "build", "--select", "fct_attempts", vars={"as_of_date": AS_OF})
    assert fct_differences(home, "incremental") == (0, 0)

    # a full refresh on the same input gives exactly the incremental rows
    run_dbt(home, "build", "--select", "fct_attempts", "--full-refresh", vars={"as_of_date": AS_OF})
    assert fct_differences(home, "incremental") == (0, 0)

    # staging relies on ingestion's one row per statement id; a copy written around it
    # fails the source's unique test, and dbt build skips every model that reads raw statements
    con = connect_raw(raw.lake)
    try:
        con.execute("insert into raw.xapi_statements select * from raw.xapi_statements "
                    "where statement_id = ?", [sid("s5")])
    finally:
        con.close()
    proc = run_dbt(home, "build", "--select", "source:raw.xapi_statements+", "--exclude-resource-type",
                   "unit_test", vars={"as_of_date": AS_OF}, check=False)
    assert proc.returncode == 1
    status = {r["unique_id"]: r["status"] for r in
              json.loads((home / "dbt_target" / "run_results.json").read_text())["results"]}
    assert [st for uid, st in status.items() if "unique_raw_xapi_statements_statement_id" in uid] == ["fail"]
    for model in ("stg_xapi__statements", "stg_xapi__voided_statements", "fct_attempts"):
        assert status[f"model.skillpath.{model}"] == "skipped", model
    assert fct_differences(home, "incremental") == (0, 0)


def test_generated_demo_data_invariants_and_pandas_recomputation(home: Path):
    """20,000 generated statements through real ingestion and dbt; a few metrics
    recomputed in pandas from the raw layer must match the marts exactly."""
    import pandas as pd

    from skillpath.config import settings
    from skillpath.ingest.runner import ingest_landing
    from skillpath_dev.generate import generate_landing

    summary = generate_landing(home / "landing", statements=20_000, seed=7)
    ingest_landing(settings(), include_lrs=False)
    build(home)

    lake = duckdb.connect(str(home / "lake.duckdb"), read_only=True)
    try:
        st = lake.execute("select * from raw.xapi_statements").df()
        users = lake.execute("select * from raw.lms_users").df()
        exercises = lake.execute("select * from raw.lms_exercises").df()
    finally:
        lake.close()
    verbs = pd.read_csv(ROOT / "seeds" / "xapi_verbs.csv")

    users = users.sort_values(["loaded_at", "load_id", "record_no"]).drop_duplicates("user_id", keep="last")
    users["email"] = users["email"].str.strip().str.lower()
    exercises = exercises.sort_values(["loaded_at", "load_id", "record_no"]).drop_duplicates("exercise_id", keep="last")
    st = st.sort_values(["loaded_at", "load_id", "record_no"]).drop_duplicates("statement_id", keep="first")
    voiding = st[(st.verb_id == VOIDED) & st.voided_statement_id.notna()]
    st = st[~st.statement_id.isin(voiding.statement_id) & ~st.statement_id.isin(voiding.voided_statement_id)]
    by_mbox = dict(zip("mailto:" + users.email, users.user_id, strict=True))
    by_sha1 = {sha1("mailto:" + e): u for e, u in zip(users.email, users.user_id, strict=True)}
    known = set(users.user_id)
    st = st.assign(user_id=[
        a if a in known else by_mbox.get(m.lower() if isinstance(m, str) else None, by_sha1.get(s))
        for a, m, s in zip(st.actor_account_name, st.actor_mbox, st.actor_mbox_sha1sum, strict=True)])
    attempt_verbs = set(verbs.loc[verbs.is_attempt, "verb_id"])
    att = st[st.verb_id.isin(attempt_verbs) & st.has_result & st.user_id.notna()].merge(
        exercises[["exercise_id", "activity_id", "max_points"]], left_on="object_id", right_on="activity_id")
    att["key"] = att.registration.fillna(att.attempt_id).fillna(att.statement_id)
    att["span"] = att.result_score_raw - att.result_score_min.fillna(0)
    att["range"] = att.result_score_max - att.result_score_min.fillna(0)
    per_attempt = att.groupby(["user_id", "exercise_id", "key"]).agg(
        span=("span", "sum"), range=("range", "sum"), seconds=("result_duration_seconds", "sum"))
    # every generated answer carries raw and max, and a duration
    assert att.result_score_raw.notna().all() and att.result_duration_seconds.notna().all()
    per_attempt["score"] = per_attempt.span / per_attempt.range
    per_attempt["capped"] = per_attempt.seconds > CAP
    per_attempt["seconds"] = per_attempt.seconds.clip(upper=CAP)
    per_pair = per_attempt.groupby(["user_id", "exercise_id"]).agg(
        attempts=("score", "size"), mastery=("score", "max"), seconds=("seconds", "sum"), capped=("capped", "sum"))
    per_pair.index = pd.MultiIndex.from_tuples([(learner_id(u), e) for u, e in per_pair.index])

    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        fct = con.execute("select learner_id, exercise_id, attempt_number, score_scaled, duration_seconds "
                          "from marts.fct_attempts").df()
        mart = con.execute("select learner_id, exercise_id, attempts, mastery_pct, time_spent_seconds, "
                           "capped_attempts from marts.mart_exercise_summary where attempts > 0").df()
        progress = con.execute("select * from intermediate.int_learning__learner_course_progress").df()
        chapters = con.execute("select * from marts.mart_chapter_mastery").df()
    finally:
        con.close()

    # the generator's own counts: every attempt is there, minus those voided whole (at most one per voiding)
    gen = summary["xapi"]
    assert gen["attempts"] - gen["voiding_statements"] <= len(fct) <= gen["attempts"]
    assert len(fct) == len(per_attempt)
    assert int(per_attempt.capped.sum()) == int(mart.capped_attempts.sum()) > 0
    # attempt numbers run 1..n per learner and exercise
    numbers = fct.groupby(["learner_id", "exercise_id"]).attempt_number.agg(["min", "max", "size"])
    assert (numbers["min"] == 1).all() and (numbers["max"] == numbers["size"]).all()
    assert fct.duration_seconds.between(0, CAP).all() and fct.score_scaled.between(0, 1).all()

    got = mart.set_index(["learner_id", "exercise_id"]).sort_index()
    want = per_pair.sort_index()
    assert list(got.index) == list(want.index)
    assert (got.attempts.to_numpy() == want.attempts.to_numpy()).all()
    assert abs(got.mastery_pct.to_numpy() - 100 * want.mastery.to_numpy()).max() < 1e-9
    assert abs(got.time_spent_seconds.to_numpy() - want.seconds.to_numpy()).max() < 1e-6

    assert progress.mastery_pct.between(0, 100).all() and progress.progress_pct.between(0, 100).all()
    assert not progress.duplicated(["learner_id", "course_id"]).any()
    assert set(chapters.scope_type) == {"learner", "group", "account"}
    assert progress.is_certified.any() and progress.is_completed.any()
