"""Sample-data generator: a complete landing zone in the raw input contract.

``generate_landing`` writes accounts, users, groups, courses, enrollments (LMS CSV),
xAPI statements (gzip NDJSON, one LRS page, one JSON array), credentials in
collections (Open Badges 2.0 / 3.0 JSON and JWT, CLR 2.0) and their lifecycle
events, the recipients' consent history, plus a small, counted share of defects. ``generate_increment`` adds one
new batch of statements (some of them late) for the incremental benchmark.

Deterministic: the same arguments give byte-identical files. Memory stays flat:
statements are simulated and written one learner at a time. See
``docs/sample_data.md`` for the model, the knobs and the measured speed.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable
from pathlib import Path

import orjson

from skillpath_dev.generate.common import (
    BASE_DATE,
    DAY_MS,
    END_MS,
    HISTORY_DAYS,
    LMS_HOME,
    XAPI_EXT,
    fmt_ts,
    iso_duration,
    sub_rng,
    uuid4,
)
from skillpath_dev.generate.consents import write_consents
from skillpath_dev.generate.credentials import CredentialSim, collections_csv
from skillpath_dev.generate.world import build_world, write_lms
from skillpath_dev.generate.xapi import (
    DEFECT_KINDS,
    PLATFORM,
    V_ANSWERED,
    V_ASKED,
    XapiOutput,
    XapiSim,
)

Progress = Callable[[str, int, int], None]
LANDING_DIRS = ("xapi", "lms", "credentials", "credential_events", "consents")
MIN_STATEMENTS = 100


def generate_landing(landing_dir: Path, *, statements: int = 20_000, seed: int = 42, defects: bool = True,
                     progress: Progress | None = None) -> dict:
    """Write a complete landing zone under ``landing_dir``; return a JSON-able summary.

    ``statements`` is the number of distinct, valid statements by known users.
    Defect records (when ``defects``) come on top and are counted in
    ``summary["defects"]`` so that ingestion can be reconciled exactly:
    ``xapi.records == xapi.statements + xapi.defect_records + defects.redelivered_records``.
    """
    if statements < MIN_STATEMENTS:
        raise ValueError(f"statements must be at least {MIN_STATEMENTS}, got {statements}")
    landing_dir = Path(landing_dir)
    for sub in LANDING_DIRS:
        d = landing_dir / sub
        if d.exists() and any(d.iterdir()):
            raise FileExistsError(f"{d} is not empty; generate into an empty landing zone")

    world = build_world(seed, statements)
    lms = write_lms(world, landing_dir / "lms", sub_rng(seed, "lms"), defects)
    if progress:
        progress("lms", 1, 1)

    creds = CredentialSim(world, landing_dir / "credentials", landing_dir / "credential_events",
                          sub_rng(seed, "credentials"), defects)
    (landing_dir / "credentials" / "collections.csv").write_bytes(collections_csv(creds.catalog))

    sim = XapiSim(world)
    out = XapiOutput(landing_dir / "xapi", statements, sub_rng(seed, "xapi-defects"), defects)
    rng = sub_rng(seed, "xapi")
    step = max(1, statements // 100)
    next_report = 0
    recipients: list[int] = []
    for lr in world.learners:
        lines, completed = sim.learner(lr, rng)
        for line in lines:
            out.add(line)
        if creds.learner(lr, completed):
            recipients.append(lr.user)
        if progress and out.n >= next_report:
            progress("statements", out.n, statements)
            next_report = out.n + step
    files = out.close()
    cred = creds.close()
    consents = write_consents(world, sorted(set(recipients)), landing_dir / "consents", sub_rng(seed, "consents"),
                              defects)
    if progress:
        progress("statements", out.n, statements)

    xapi_defects = {k: out.counts[k] for k in DEFECT_KINDS}
    redelivered = sum(files[name] for name in out.resent)
    n_roles = {r: sum(1 for u in world.users if u.role == r) for r in ("learner", "manager", "executive")}
    events = cred.pop("events")
    return {
        "seed": seed,
        "base_date": BASE_DATE.isoformat().replace("+00:00", "Z"),
        "history_days": HISTORY_DAYS,
        "defects_enabled": defects,
        "file_counts": {
            "xapi": len(files),
            "lms": len(list((landing_dir / "lms").glob("*.csv"))),
            "credentials": len(cred["files"]) + 1,
            "credential_events": len(events["files"]),
            "consents": len(consents["files"]),
        },
        "lms": {**{k: v for k, v in lms.items() if k != "bad_csv_rows"}, "roles": n_roles},
        "xapi": {
            "statements": out.n,
            "records": sum(files.values()),
            "defect_records": sum(xapi_defects.values()),
            "files": files,
            "resent_files": out.resent,
            "by_verb": dict(sorted(sim.by_verb.items())),
            "attempts": sim.attempts,
            "multi_statement_attempts": sim.multi_statement_attempts,
            "voiding_statements": sim.voided_ids,
            "course_completions": sim.completions,
            "attempts_over_2h": sim.long_attempts,
        },
        "credentials": cred,
        "credential_events": events,
        "consents": consents,
        "defects": {
            **xapi_defects,
            "exact_duplicates": xapi_defects["duplicate_same_file"] + xapi_defects["duplicate_other_file"],
            "late_arrivals": out.counts["late_arrivals"],
            "redelivered_files": len(out.resent),
            "redelivered_records": redelivered,
            "lms_bad_csv_rows": lms["bad_csv_rows"],
            "event_unknown_type": cred["defects"]["event_unknown_type"],
            "event_duplicates": cred["defects"]["event_duplicates"],
            "consent_without_offset": consents["quarantined"],
        },
    }


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return [dict(zip(header, row, strict=True)) for row in reader if len(row) == len(header)]


def generate_increment(landing_dir: Path, *, statements: int, seed: int, batch: str, late_share: float = 0.2,
                       duplicates: int = 0) -> dict:
    """Add one batch: ``xapi/increment-<batch>.ndjson.gz`` and ``credential_events/increment-<batch>.ndjson``.

    The batch covers the day after the previous data (the base ends at the base
    date; each earlier increment adds a day). ``round(statements * late_share)`` of
    its statements are late: timestamped inside the three days before that day.
    ``duplicates`` lines of the first base statements file are repeated verbatim
    (exact duplicates across loads). Existing files are never touched.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", batch):
        raise ValueError(f"batch must match [A-Za-z0-9_-]+, got {batch!r}")
    if statements < 1 or not 0 <= late_share <= 1:
        raise ValueError("statements must be >= 1 and late_share within [0, 1]")
    landing_dir = Path(landing_dir)
    xapi_dir, ev_dir, lms_dir = landing_dir / "xapi", landing_dir / "credential_events", landing_dir / "lms"
    target = xapi_dir / f"increment-{batch}.ndjson.gz"
    ev_target = ev_dir / f"increment-{batch}.ndjson"
    if target.exists() or ev_target.exists():
        raise FileExistsError(f"increment {batch!r} already exists in {landing_dir}")
    n_prev = len(list(xapi_dir.glob("increment-*.ndjson.gz")))
    window_start = END_MS + n_prev * DAY_MS
    rng = sub_rng(seed, f"increment:{batch}")

    learners = [u for u in _read_csv(lms_dir / "users.csv") if u["role"] == "learner"]
    offsets: dict[str, str] = {}
    enrolled: dict[str, list[str]] = {}
    for e in _read_csv(lms_dir / "enrollments.csv"):
        enrolled.setdefault(e["user_id"], []).append(e["course_id"])
        offsets[e["user_id"]] = e["enrolled_at"][-6:]
    chapters = {c["chapter_id"]: c for c in _read_csv(lms_dir / "chapters.csv")}
    courses = {c["course_id"]: c for c in _read_csv(lms_dir / "courses.csv")}
    by_course: dict[str, list[dict]] = {}
    for x in _read_csv(lms_dir / "exercises.csv"):
        by_course.setdefault(chapters[x["chapter_id"]]["course_id"], []).append(x)
    learners = [u for u in learners if u["user_id"] in enrolled]
    if not learners:
        raise ValueError(f"no enrolled learners in {lms_dir}; run generate_landing first")

    late = set(rng.sample(range(statements), round(statements * late_share)))
    kinds = {"answered": 0, "asked": 0}
    xapi_dir.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1,
                                                  mtime=0) as gz:
        for i in range(statements):
            u = rng.choice(learners)
            course = courses[rng.choice(enrolled[u["user_id"]])]
            ex = rng.choice(by_course[course["course_id"]])
            ts = _increment_ts(rng, window_start, i in late)
            off = offsets[u["user_id"]]
            off_min = (1 if off[0] == "+" else -1) * (int(off[1:3]) * 60 + int(off[4:6]))
            doc = {"id": uuid4(rng),
                   "actor": {"objectType": "Agent", "account": {"homePage": LMS_HOME, "name": u["user_id"]}}}
            ctx = {"registration": uuid4(rng), "platform": PLATFORM,
                   "contextActivities": {"parent": [{"id": chapters[ex["chapter_id"]]["activity_id"],
                                                     "objectType": "Activity"}],
                                         "grouping": [{"id": course["activity_id"], "objectType": "Activity"}]}}
            if rng.random() < 0.15:
                kinds["asked"] += 1
                doc["verb"] = {"id": V_ASKED, "display": {"en-US": "asked"}}
                doc["object"] = {"objectType": "Activity", "id": f"{ex['activity_id']}/hint/1",
                                 "definition": {"type": "http://id.tincanapi.com/activitytype/hint"}}
                ctx["contextActivities"]["parent"] = [{"id": ex["activity_id"], "objectType": "Activity"}]
            else:
                kinds["answered"] += 1
                mx = int(ex["max_points"])
                raw_score = sum(rng.random() < 0.7 for _ in range(mx))
                doc["verb"] = {"id": V_ANSWERED, "display": {"en-US": "answered"}}
                doc["object"] = {"objectType": "Activity", "id": ex["activity_id"],
                                 "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                                                "name": {"en-US": ex["exercise_title"]}, "interactionType": "choice"}}
                scaled = round(raw_score / mx, 4)
                doc["result"] = {"score": {"raw": raw_score, "min": 0, "max": mx, "scaled": scaled},
                                 "success": scaled >= 0.8, "completion": True,
                                 "duration": iso_duration(max(15, int(mx * 25 * rng.lognormvariate(0, 0.55)))),
                                 "extensions": {f"{XAPI_EXT}/correct-answers": raw_score,
                                                f"{XAPI_EXT}/incorrect-answers": mx - raw_score}}
            doc["context"] = ctx
            doc["timestamp"] = fmt_ts(ts, off_min, off)
            doc["version"] = "1.0.3"
            gz.write(orjson.dumps(doc) + b"\n")
        for line in _base_lines(xapi_dir, duplicates):
            gz.write(line + b"\n")

    n_events, late_events = _increment_events(landing_dir, ev_target, rng, window_start, statements, late_share)
    return {
        "batch": batch,
        "xapi_file": f"xapi/{target.name}",
        "statements": statements,
        "late": len(late),
        "duplicates": duplicates,
        "by_verb": kinds,
        "window_start": fmt_ts(window_start, 0, "Z", millis=False),
        "late_from": fmt_ts(window_start - 3 * DAY_MS, 0, "Z", millis=False),
        "events_file": f"credential_events/{ev_target.name}" if n_events else None,
        "events": n_events,
        "late_events": late_events,
    }


def _increment_ts(rng, window_start: int, is_late: bool) -> int:
    if is_late:
        return window_start - rng.randint(60_000, 3 * DAY_MS)
    return window_start + rng.randint(0, DAY_MS - 60_000)


def _base_lines(xapi_dir: Path, n: int) -> list[bytes]:
    """The first ``n`` valid statement lines of the first base statements file."""
    if n <= 0:
        return []
    src = sorted(xapi_dir.glob("statements-0*.ndjson.gz"))
    if not src:
        raise FileNotFoundError(f"no base statements file in {xapi_dir} to duplicate from")
    out: list[bytes] = []
    with gzip.open(src[0], "rb") as fh:
        for line in fh:
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and "actor" in doc and "verb" in doc and line.rstrip(b"\n") not in out:
                out.append(line.rstrip(b"\n"))
                if len(out) == n:
                    break
    return out


def _increment_events(landing_dir: Path, target: Path, rng, window_start: int, statements: int,
                      late_share: float) -> tuple[int, int]:
    """New engagement events (viewed, shared, verified) for existing credentials; returns (events, late)."""
    issued: list[tuple[str, str]] = []
    verifiers: list[dict] = []
    ev_dir = landing_dir / "credential_events"
    for path in sorted(ev_dir.glob("events-*.ndjson")):
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    ev = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if ev.get("event_type") == "issued":
                    issued.append((ev["credential_id"], ev["occurred_at"][-6:]))
                elif ev.get("event_type") == "verified" and len(verifiers) < 50:
                    verifiers.append(ev["verifier"])
    n = max(1, statements // 20) if issued else 0
    if not n:
        return 0, 0
    late = set(rng.sample(range(n), round(n * late_share)))
    with open(target, "wb") as fh:
        for i in range(n):
            cid, off = rng.choice(issued)
            off_min = (1 if off[0] == "+" else -1) * (int(off[1:3]) * 60 + int(off[4:6]))
            etype = rng.choices(("viewed", "shared", "verified"), (70, 20, 10 if verifiers else 0))[0]
            ev = {"event_id": uuid4(rng), "event_type": etype,
                  "occurred_at": fmt_ts(_increment_ts(rng, window_start, i in late), off_min, off),
                  "credential_id": cid, "channel": "linkedin" if etype == "shared" else None,
                  "verifier": rng.choice(verifiers) if etype == "verified" else None}
            fh.write(orjson.dumps(ev) + b"\n")
    return n, len(late)
