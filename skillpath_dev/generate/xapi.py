"""xAPI statements of the sample data: one learner at a time, written through `XapiOutput`.

Statements are rendered from precomputed JSON fragments (orjson once per actor,
exercise and course) with %-templates (JSON is full of braces, so not str.format/f-strings), which
keeps the generator well above 50k statements a second on one core.
"""
# ruff: noqa: UP031

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

import orjson

from skillpath.ingest.xapi import VOIDED
from skillpath_dev.generate.common import (
    DAY_MS,
    HOUR_MS,
    LMS_HOME,
    XAPI_EXT,
    RotatingWriter,
    fmt_ts,
    iso_duration,
    sha1_hex,
    uuid4,
)
from skillpath_dev.generate.world import Course, Exercise, Learner, User, World

V_ANSWERED = "http://adlnet.gov/expapi/verbs/answered"
V_ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
V_ASKED = "http://adlnet.gov/expapi/verbs/asked"
V_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
V_VOIDED = VOIDED
V_EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
V_INITIALIZED = "http://adlnet.gov/expapi/verbs/initialized"

MAX_PER_FILE = 250_000
PLATFORM = "Skillpath Demo LMS"


def _verb(vid: str) -> str:
    return orjson.dumps({"id": vid, "display": {"en-US": vid.rsplit("/", 1)[1]}}).decode()


_VERB = {v: _verb(v) for v in (V_ANSWERED, V_ATTEMPTED, V_ASKED, V_COMPLETED, V_VOIDED, V_EXPERIENCED,
                               V_INITIALIZED)}


def _act(iri: str, atype: str, name: str | None = None, **extra) -> dict:
    d: dict = {"type": atype}
    if name:
        d["name"] = {"en-US": name}
    d.update(extra)
    return {"objectType": "Activity", "id": iri, "definition": d}


def _ref(iri: str) -> dict:
    return {"id": iri, "objectType": "Activity"}


def actor_forms(user: User) -> tuple[str, str, str]:
    """The three JSON renderings of a user as an xAPI Agent: account, mbox, mbox_sha1sum."""
    mbox = "mailto:" + user.email
    return (
        orjson.dumps({"objectType": "Agent", "account": {"homePage": LMS_HOME, "name": user.user_id}}).decode(),
        orjson.dumps({"objectType": "Agent", "name": user.display_name, "mbox": mbox}).decode(),
        orjson.dumps({"objectType": "Agent", "mbox_sha1sum": sha1_hex(mbox)}).decode(),
    )


class _ExTemplates:
    """Precomputed JSON fragments for one exercise."""

    __slots__ = ("ex", "obj", "ctx_tail", "hint_ctx_tail")

    def __init__(self, ex: Exercise, chapter_iri: str, course_iri: str, single_parent: bool):
        self.ex = ex
        self.obj = orjson.dumps(_act(ex.activity_id, "http://adlnet.gov/expapi/activities/cmi.interaction",
                                     ex.title, interactionType="choice")).decode()
        parent = _ref(chapter_iri) if single_parent else [_ref(chapter_iri)]
        ctx = {"contextActivities": {"parent": parent, "grouping": [_ref(course_iri)]},
               "platform": PLATFORM, "language": "en-US"}
        self.ctx_tail = orjson.dumps(ctx).decode()[1:]  # without the leading '{'
        hctx = {"contextActivities": {"parent": [_ref(ex.activity_id)], "grouping": [_ref(course_iri)]},
                "platform": PLATFORM}
        self.hint_ctx_tail = orjson.dumps(hctx).decode()[1:]


class XapiSim:
    """Renders the statements of one learner at a time and tallies what it wrote."""

    def __init__(self, world: World):
        self.world = world
        self.ex: dict[str, list[list[_ExTemplates]]] = {}  # course_id -> chapters -> exercises
        self.course_obj: dict[str, str] = {}
        self.course_ctx: dict[str, str] = {}
        self.chapter_obj: dict[str, list[str]] = {}
        flip = 0
        for acc in world.accounts:
            for c in acc.courses:
                self.course_obj[c.course_id] = orjson.dumps(
                    _act(c.activity_id, "http://adlnet.gov/expapi/activities/course", c.title)).decode()
                self.course_ctx[c.course_id] = orjson.dumps({"platform": PLATFORM}).decode()
                self.chapter_obj[c.course_id] = [
                    orjson.dumps(_act(ch.activity_id, "http://adlnet.gov/expapi/activities/module",
                                      ch.title)).decode() for ch in c.chapters]
                chapters = []
                for ch in c.chapters:
                    row = []
                    for e in ch.exercises:
                        flip += 1
                        row.append(_ExTemplates(e, ch.activity_id, c.activity_id, flip % 7 == 0))
                    chapters.append(row)
                self.ex[c.course_id] = chapters
        self.manager_actor = [actor_forms(world.users[a.manager_ids[0]])[0] for a in world.accounts]
        self.by_verb: dict[str, int] = {}
        self.attempts = 0
        self.multi_statement_attempts = 0
        self.voided_ids = 0
        self.long_attempts = 0
        self.completions = 0

    # --- one learner -----------------------------------------------------------------
    def learner(self, lr: Learner, rng: random.Random) -> tuple[list[str], dict[str, int]]:
        """All statements of ``lr`` (exactly ``lr.quota``, time-ordered) and the courses completed."""
        w = self.world
        user = w.users[lr.user]
        acc = w.accounts[lr.account]
        off_min, off = acc.off_min, acc.off
        forms = actor_forms(user)
        r = rng.random()
        primary = forms[0] if r < 0.85 else forms[1] if r < 0.95 else forms[2]
        quota = lr.quota
        out: list[str] = []
        completed: dict[str, int] = {}
        by_verb = self.by_verb
        skill = rng.gauss(0.0, 0.8)
        persistence = rng.uniform(0.45, 0.85)
        hint_rate = rng.uniform(0.05, 0.45)

        n_sessions = max(1, quota // rng.randint(8, 20))
        # sessions start during the learner's local day (07:00-22:00)
        starts = sorted(
            (lr.start_ms + int(rng.random() * lr.span_ms)) // DAY_MS * DAY_MS
            + rng.randint(7 * HOUR_MS, 22 * HOUR_MS) - off_min * 60_000
            for _ in range(n_sessions))
        per_session = -(-quota // n_sessions)
        clock = [lr.start_ms, 0]  # current time, current session

        def tick(ms: int) -> int:
            session = min(len(out) // per_session, n_sessions - 1)
            if session > clock[1]:
                clock[1] = session
                clock[0] = max(clock[0] + 60_000, starts[session])
            clock[0] += ms
            return clock[0]

        def emit(verb: str, obj: str, tail: str) -> None:
            actor = primary if rng.random() >= 0.02 else forms[rng.randrange(3)]
            out.append('{"id":"%s","actor":%s,"verb":%s,"object":%s%s' % (uuid4(rng), actor, _VERB[verb], obj, tail))
            by_verb[verb] = by_verb.get(verb, 0) + 1

        def simple(verb: str, obj: str, ctx: str, at: int) -> None:
            emit(verb, obj, ',"context":%s,"timestamp":"%s","version":"1.0.3"}' % (ctx, fmt_ts(at, off_min, off)))

        tries: dict[str, int] = {}

        def attempt(t: _ExTemplates) -> float:
            """One attempt (1-2 statements, plus hints and a voiding when room allows)."""
            ex = t.ex
            k = tries.get(ex.exercise_id, 0)
            tries[ex.exercise_id] = k + 1
            reg = uuid4(rng)
            room = quota - len(out)
            if room >= 2 and rng.random() < hint_rate / (1 + k):
                for h in range(1, min(room - 1, rng.choice((1, 1, 1, 2, 3))) + 1):
                    at = tick(rng.randint(20_000, 90_000))
                    emit(V_ASKED, orjson.dumps(_act(f"{ex.activity_id}/hint/{h}",
                                                    "http://id.tincanapi.com/activitytype/hint")).decode(),
                         ',"context":{"registration":"%s",%s,"timestamp":"%s","version":"1.0.3"}'
                         % (reg, t.hint_ctx_tail, fmt_ts(at, off_min, off)))
            p = 1 / (1 + math.exp(-(1.3 * (skill - ex.difficulty) + 0.8 * k)))
            mx = ex.max_points
            raw = sum(rng.random() < p for _ in range(mx))
            if rng.random() < 0.003:
                secs = rng.randint(7300, 21_600)
                self.long_attempts += 1
            else:
                secs = max(15, int(mx * 25 * rng.lognormvariate(0, 0.55)))
            room = quota - len(out)
            form = rng.random()
            self.attempts += 1
            if room >= 2 and form < 0.05:
                # two answered parts under one registration, each scoring its share of the questions
                self.multi_statement_attempts += 1
                m1 = mx // 2
                r1 = min(raw, m1)
                half = secs // 2
                self._answered(emit, t, reg, r1, m1, half, fmt_ts(tick(half * 1000), off_min, off))
                self._answered(emit, t, reg, raw - r1, mx - m1, secs - half,
                               fmt_ts(tick((secs - half) * 1000), off_min, off))
            else:
                if room >= 2 and form < 0.25:
                    self.multi_statement_attempts += 1
                    emit(V_ATTEMPTED, t.obj, ',"context":{"registration":"%s",%s,"timestamp":"%s","version":"1.0.3"}'
                         % (reg, t.ctx_tail, fmt_ts(tick(5_000), off_min, off)))
                self._answered(emit, t, reg, raw, mx, secs, fmt_ts(tick(secs * 1000), off_min, off))
            if quota - len(out) >= 1 and rng.random() < 0.003:
                target = out[-1][7:43]
                mgr = self.manager_actor[lr.account]
                out.append('{"id":"%s","actor":%s,"verb":%s,"object":{"objectType":"StatementRef","id":"%s"},'
                           '"timestamp":"%s","version":"1.0.3"}'
                           % (uuid4(rng), mgr, _VERB[V_VOIDED], target,
                              fmt_ts(clock[0] + rng.randint(1, 48) * HOUR_MS, off_min, off)))
                by_verb[V_VOIDED] = by_verb.get(V_VOIDED, 0) + 1
                self.voided_ids += 1
            tick(rng.randint(10_000, 120_000))
            return raw / mx

        for course in lr.courses:
            if len(out) >= quota:
                break
            self._course(course, lr, rng, simple, attempt, tick, out, quota, persistence, completed)
        # practice: revisit exercises of the enrolled courses until the quota is used
        pool = [t for c in lr.courses for ch in self.ex[c.course_id] for t in ch]
        while len(out) < quota:
            attempt(rng.choice(pool))
        return out, completed

    def _answered(self, emit, t: _ExTemplates, reg: str, raw: int, mx: int, secs: int, ts: str) -> None:
        scaled = round(raw / mx, 4) if mx else 0.0
        emit(V_ANSWERED, t.obj,
             ',"result":{"score":{"raw":%d,"min":0,"max":%d,"scaled":%r},"success":%s,"completion":true,'
             '"duration":"%s","extensions":{"%s/correct-answers":%d,"%s/incorrect-answers":%d}},'
             '"context":{"registration":"%s",%s,"timestamp":"%s","version":"1.0.3"}'
             % (raw, mx, scaled, "true" if scaled >= 0.8 else "false", iso_duration(secs),
                XAPI_EXT, raw, XAPI_EXT, mx - raw, reg, t.ctx_tail, ts))

    def _course(self, course: Course, lr: Learner, rng, simple, attempt, tick, out, quota, persistence,
                completed) -> None:
        cid = course.course_id
        if quota - len(out) >= 2:
            simple(V_INITIALIZED, self.course_obj[cid], self.course_ctx[cid], tick(30_000))
        for j, chapter in enumerate(self.ex[cid]):
            if quota - len(out) >= 2 and rng.random() < 0.6:
                simple(V_EXPERIENCED, self.chapter_obj[cid][j], self.course_ctx[cid], tick(45_000))
            for t in chapter:
                n = 0
                while len(out) < quota:
                    score = attempt(t)
                    n += 1
                    if (score >= 0.8 and rng.random() < 0.9) or n >= 6 or rng.random() > persistence:
                        break
                if len(out) >= quota:
                    return
        at = tick(60_000)
        completed[cid] = at
        if quota - len(out) >= 1 and rng.random() < 0.92:
            self.completions += 1
            simple(V_COMPLETED, self.course_obj[cid], self.course_ctx[cid], at)
            # a completion statement carries a result
            out[-1] = out[-1].replace(',"context":', ',"result":{"completion":true},"context":', 1)


DEFECT_KINDS = (
    "duplicate_same_file", "duplicate_other_file", "malformed_json", "invalid_utf8", "invalid_id",
    "conflicting_duplicate_id", "bad_timestamp", "missing_verb", "missing_actor",
)


class XapiOutput:
    """Places statements into files and injects the planned defects.

    Layout: the first statements go to one LRS page (``lrs-page-00001.json``) and
    one JSON array (``batch-array-00001.json``); the rest to ``statements-NNNNN.ndjson.gz``
    (at most ``max_per_file`` statements each); late arrivals and cross-file duplicates
    to ``statements-late-00001.ndjson.gz``; with defects, a copy of the first
    statements file is re-delivered as ``statements-resent-00001.ndjson.gz``.
    """

    def __init__(self, xapi_dir: Path, total: int, rng: random.Random, defects: bool,
                 max_per_file: int = MAX_PER_FILE):
        self.dir = xapi_dir
        self.rng = rng
        self.total = total
        self.defects = defects
        self.n = 0
        self.page_n = min(200, total // 20)
        self.array_n = min(100, total // 40)
        self.page: list[str] = []
        self.array: list[str] = []
        self.late: list[bytes] = []
        self.held: list[bytes] = []  # duplicates / conflicts waiting for the next file
        per_file = max(1, min(max_per_file, -(-(total - self.page_n - self.array_n) // 4)))
        self.main = RotatingWriter(xapi_dir, "statements", ".ndjson.gz", per_file, gz=True)
        self.counts = dict.fromkeys(DEFECT_KINDS, 0)
        self.counts["late_arrivals"] = 0
        lo = self.page_n + self.array_n
        body = range(lo, total)
        self.plan: dict[int, str] = {}
        self.late_at: set[int] = set()
        if defects and len(body) >= 200:
            n_late = min(20_000, round(total * 0.005))
            shares = [("duplicate_same_file", 0.0020), ("duplicate_other_file", 0.0010),
                      ("malformed_json", 0.0010), ("invalid_id", 0.0010),
                      ("conflicting_duplicate_id", 0.0005), ("bad_timestamp", 0.0004),
                      ("missing_verb", 0.0003), ("missing_actor", 0.0003)]
            sizes = [(kind, max(2 if kind.startswith("duplicate") else 1, round(total * share)))
                     for kind, share in shares]
            picks = rng.sample(body, n_late + sum(k for _, k in sizes) + 1)
            self.late_at = set(picks[:n_late])
            rest = picks[n_late:]
            pos = 0
            for kind, k in sizes:
                for i in rest[pos:pos + k]:
                    self.plan[i] = kind
                pos += k
            self.plan[rest[pos]] = "invalid_utf8"

    def add(self, line: str) -> None:
        i = self.n
        self.n += 1
        if i < self.page_n:
            self.page.append(line)
            return
        if i < self.page_n + self.array_n:
            self.array.append(line)
            return
        b = line.encode()
        if i in self.late_at:
            self.late.append(b)
            self.counts["late_arrivals"] += 1
            return
        if self.held and self.main.will_rotate() and self.main.files:
            for h in self.held:
                self.main.write(h)
            self.held = []
        self.main.write(b)
        kind = self.plan.get(i)
        if kind:
            self._defect(kind, b)

    def _fresh(self, line: bytes) -> dict:
        doc = orjson.loads(line)
        doc["id"] = uuid4(self.rng)
        return doc

    def _defect(self, kind: str, b: bytes) -> None:
        rng = self.rng
        self.counts[kind] += 1
        w = self.main
        if kind == "duplicate_same_file":
            w.write_same_file(b)
        elif kind == "duplicate_other_file":
            self.held.append(b)
        elif kind == "malformed_json":
            w.write_same_file(b[: len(b) // 2])
        elif kind == "invalid_utf8":
            doc = self._fresh(b)
            raw = orjson.dumps(doc)
            w.write_same_file(raw.replace(b'"version":"1.0.3"', b'"version":"1.0.3","note":"caf\xe9 \xff"'))
        elif kind == "invalid_id":
            doc = self._fresh(b)
            doc["id"] = f"stmt-{rng.randrange(10**6):06d}"  # an id that is not a UUID
            w.write_same_file(orjson.dumps(doc))
        elif kind == "conflicting_duplicate_id":
            doc = orjson.loads(b)
            doc["timestamp"] = doc["timestamp"][:11] + "23:59:59.999" + doc["timestamp"][23:]
            doc.setdefault("context", {})["platform"] = "Skillpath Demo LMS (replayed)"
            self.held.append(orjson.dumps(doc))
        elif kind == "bad_timestamp":
            doc = self._fresh(b)
            doc["timestamp"] = rng.choice(("2025-02-30T25:61:00+01:00", "yesterday at noon", "2025-13-01T00:00:00Z"))
            w.write_same_file(orjson.dumps(doc))
        elif kind in ("missing_verb", "missing_actor"):
            doc = self._fresh(b)
            del doc[kind.split("_")[1]]
            w.write_same_file(orjson.dumps(doc))

    def close(self) -> dict[str, int]:
        """Write the remaining files; returns records per xapi file."""
        self.main.close()
        files = dict(self.main.files)
        if self.page:
            name = "lrs-page-00001.json"
            body = '{"statements":[' + ",".join(self.page) + '],"more":""}'
            (self.dir / name).write_bytes(body.encode())
            files[name] = len(self.page)
        if self.array:
            name = "batch-array-00001.json"
            (self.dir / name).write_bytes(("[\n" + ",\n".join(self.array) + "\n]\n").encode())
            files[name] = len(self.array)
        tail = self.late + self.held
        if tail:
            late = RotatingWriter(self.dir, "statements-late", ".ndjson.gz", len(tail) + 1, gz=True)
            for b in tail:
                late.write(b)
            late.close()
            files.update(late.files)
        self.resent: dict[str, str] = {}
        if self.defects and self.main.files:
            src = next(iter(self.main.files))
            shutil.copyfile(self.dir / src, self.dir / "statements-resent-00001.ndjson.gz")
            files["statements-resent-00001.ndjson.gz"] = files[src]
            self.resent["statements-resent-00001.ndjson.gz"] = src
        return files


def late_window(rng: random.Random, end_ms: int, days: int = 3) -> int:
    """A timestamp inside the last ``days`` days before ``end_ms``."""
    return end_ms - rng.randint(60_000, days * DAY_MS)
