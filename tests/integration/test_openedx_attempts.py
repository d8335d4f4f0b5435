"""Real Open edX statements (reference data) through ingestion and dbt into attempts and hints.

The landing zone holds the 77 Open edX files of ``REFERENCE_DATA/xapi/openedx`` and
a small LMS export: the one learner they are about, the demo course, and one
exercise per problem block they mention. The expected attempts and hints are
computed here from the JSON files themselves (problem checks are
``acrossx/verbs/evaluated`` with a result on the problem block; hints are
``verbs/asked`` below the problem, e.g. ``<problem>/hint/1``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb

from skillpath.config import settings
from skillpath.ingest.runner import ingest_landing
from tests.helpers import REFERENCE_DATA, ROOT, TEST_KEY, run_dbt

OPENEDX = REFERENCE_DATA / "xapi" / "openedx"
LEARNER = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"
BLOCK = "http://localhost:18000/xblock/block-v1:edX+DemoX+Demo_Course+type@problem+block@"
PROBLEMS = {
    "p_3fc5": BLOCK + "3fc5461f86764ad7bdbdf6cbdde61e66",
    "p_a0ef": BLOCK + "a0effb954cca4759994f1ac9e9434bf4",
    "p_07ad": BLOCK + "07adfed616844fa780c606b55270a090",
}
COURSE = "http://localhost:18000/course/course-v1:edX+DemoX+Demo_Course"


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def reference_statements() -> list[dict]:
    """Every statement copy of the reference files (some ids occur in several files)."""
    out = []
    for path in sorted(OPENEDX.glob("*.json")):
        doc = json.loads(path.read_text())
        out += doc if isinstance(doc, list) else [doc]
    return out


def classify(st: dict, attempt_verbs: set[str], hint_verbs: set[str]) -> tuple[str, str] | None:
    """('attempt' | 'hint', problem) for a statement of the learner, else None."""
    obj = st["object"].get("id") or ""
    if st["actor"].get("account", {}).get("name") != LEARNER:
        return None
    for key, activity in PROBLEMS.items():
        if st["verb"]["id"] in attempt_verbs and "result" in st and obj == activity:
            return "attempt", key
        if st["verb"]["id"] in hint_verbs and (obj == activity or obj.startswith(activity + "/")):
            return "hint", key
    return None


def test_openedx_problem_checks_become_attempts_and_hints(home: Path):
    landing = home / "landing"
    shutil.copytree(OPENEDX, landing / "xapi")
    lms = landing / "lms"
    write_csv(lms / "accounts.csv", ["account_id", "account_name"], [("edx", "edX demo")])
    write_csv(lms / "users.csv", ["user_id", "account_id", "email", "display_name", "role"],
              [(LEARNER, "edx", "learner@example.org", "Demo Learner", "learner")])
    write_csv(lms / "courses.csv", ["course_id", "account_id", "course_title", "activity_id"],
              [("demo", "edx", "Demonstration Course", COURSE)])
    write_csv(lms / "chapters.csv", ["chapter_id", "course_id", "chapter_title", "position", "activity_id"],
              [("demo_ch", "demo", "Problems", 1, COURSE + "/problems")])
    write_csv(lms / "exercises.csv",
              ["exercise_id", "chapter_id", "exercise_title", "position", "activity_id", "max_points"],
              [(k, "demo_ch", k, i, v, 10) for i, (k, v) in enumerate(PROBLEMS.items(), start=1)])
    write_csv(lms / "enrollments.csv", ["user_id", "course_id", "enrolled_at"],
              [(LEARNER, "demo", "2020-07-01T00:00:00Z")])
    ingest_landing(settings(), include_lrs=False)
    run_dbt(home, "build", "--select", "+path:models/marts/learning", "--indirect-selection", "cautious",
            "--exclude", "test_type:unit")

    # the expectation, from the JSON files and the verb seed
    verbs = list(csv.DictReader(open(ROOT / "seeds" / "xapi_verbs.csv")))
    attempt_verbs = {v["verb_id"] for v in verbs if v["is_attempt"] == "true"}
    hint_verbs = {v["verb_id"] for v in verbs if v["is_hint"] == "true"}
    kinds: dict[str, set] = {}
    for st in reference_statements():
        kinds.setdefault(st["id"], set()).add(classify(st, attempt_verbs, hint_verbs))
    # copies of one id agree, so whichever copy ingestion keeps gives the same answer
    assert all(len(k) == 1 for k in kinds.values())
    found = Counter(k for (k,) in kinds.values() if k is not None)
    attempts = Counter({p: n for (kind, p), n in found.items() if kind == "attempt"})
    hints = Counter({p: n for (kind, p), n in found.items() if kind == "hint"})
    # what that is, spelled out: 5 problem checks on two problems (sub-question
    # statements such as <problem>_2_1 are parts, not attempts); the demand hint on
    # p_07ad and the shown answer (<problem>/answer) on p_3fc5
    assert attempts == {"p_a0ef": 4, "p_3fc5": 1}
    assert hints == {"p_07ad": 1, "p_3fc5": 1}

    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        con.execute(f"attach '{home / 'lake.duckdb'}' as lake (read_only)")  # staging views read it
        got_attempts = Counter(dict(con.execute(
            "select exercise_id, count(*) from marts.fct_attempts group by 1").fetchall()))
        summary = {r[0]: r[1:] for r in con.execute(
            "select exercise_id, attempts, hints_taken, mastery_pct from marts.mart_exercise_summary").fetchall()}
        learner_ids = {r[0] for r in con.execute("select learner_id from marts.fct_attempts").fetchall()}
        evaluated = con.execute(
            "select count(*) from staging.stg_xapi__statements "
            "where verb_id = 'https://w3id.org/xapi/acrossx/verbs/evaluated'").fetchone()[0]
    finally:
        con.close()
    assert got_attempts == attempts
    assert {k: v[:2] for k, v in summary.items()} == {
        k: (attempts[k], hints[k]) for k in set(attempts) | set(hints)}
    # the multiple-questions problem: best of raw 3/3, 0/3, 2/3 and the list-answers check
    a0ef = [st for st in reference_statements() if classify(st, attempt_verbs, hint_verbs) == ("attempt", "p_a0ef")]
    best = max(st["result"]["score"]["raw"] / st["result"]["score"]["max"] for st in a0ef)
    assert abs(summary["p_a0ef"][2] - 100 * best) < 1e-9
    # one pseudonymous learner, not the LMS id
    assert learner_ids == {hashlib.sha256(f"{TEST_KEY}|{LEARNER}".encode()).hexdigest()[:24]}
    # every evaluated statement with an id survived staging (the one without an object id is quarantined)
    evaluated_ids = {st["id"] for st in reference_statements()
                     if st["verb"]["id"].endswith("acrossx/verbs/evaluated") and st["object"].get("id")}
    assert evaluated == len(evaluated_ids)
