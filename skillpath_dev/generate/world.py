"""The simulated world of the sample data: accounts, users, groups, courses, enrollments.

Sized from the requested number of statements (about one learner per 60
statements). Small enough to hold in memory at 10 million statements (~170k
learners); the statements themselves are streamed elsewhere.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from skillpath_dev.generate.common import (
    DAY_MS,
    END_MS,
    LMS_HOME,
    START_MS,
    allocate,
    fmt_ts,
    offset_str,
    sub_rng,
)

LMS_HEADERS: dict[str, list[str]] = {
    "accounts.csv": ["account_id", "account_name"],
    "users.csv": ["user_id", "account_id", "email", "display_name", "role"],
    "groups.csv": ["group_id", "account_id", "group_name"],
    "group_members.csv": ["group_id", "user_id"],
    "courses.csv": ["course_id", "account_id", "course_title", "activity_id"],
    "chapters.csv": ["chapter_id", "course_id", "chapter_title", "position", "activity_id"],
    "exercises.csv": ["exercise_id", "chapter_id", "exercise_title", "position", "activity_id", "max_points"],
    "enrollments.csv": ["user_id", "course_id", "enrolled_at"],
}

# (account_id, name, email domain, UTC offset in minutes, learner weight)
_ACCOUNTS = [
    ("acc-northwind", "Northwind Health", "northwind-health.example.com", 60, 0.40),
    ("acc-contoso", "Contoso Logistics", "contoso-logistics.example.com", -300, 0.30),
    ("acc-fabrikam", "Fabrikam Bank", "fabrikam-bank.example.com", 330, 0.30),
    ("acc-tailspin", "Tailspin Energy", "tailspin-energy.example.com", 0, 0.25),
    ("acc-litware", "Litware Retail", "litware-retail.example.com", 600, 0.20),
    ("acc-adventure", "Adventure Works", "adventure-works.example.com", -480, 0.20),
]

_COURSE_TITLES = [
    ["Data Literacy Foundations", "SQL for Analysts", "Dashboards that Work"],
    ["Cloud Fundamentals", "Infrastructure as Code", "Incident Response"],
    ["Feedback and Coaching", "Managing Projects", "Customer Conversations"],
    ["Safety at Work", "Energy Markets 101", "Excel Essentials"],
    ["Retail Analytics", "Inventory Planning", "Service Excellence"],
    ["Python Programming", "Machine Learning Basics", "Privacy by Design"],
]
_CHAPTER_WORDS = ["Introduction", "Core Concepts", "Hands-on Practice", "Going Further", "Case Studies"]
_FIRST = ["Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
          "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
          "Wen", "Ximena", "Yusuf", "Zoe"]
_LAST = ["Almeida", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
         "Kowalski", "Lopez", "Martin", "Nguyen", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Usman",
         "Varga", "Weber", "Yilmaz", "Zhang"]


@dataclass
class Exercise:
    exercise_id: str
    title: str
    position: int
    activity_id: str
    max_points: int
    difficulty: float


@dataclass
class Chapter:
    chapter_id: str
    title: str
    position: int
    activity_id: str
    exercises: list[Exercise] = field(default_factory=list)


@dataclass
class Course:
    course_id: str
    account_id: str
    title: str
    activity_id: str
    chapters: list[Chapter] = field(default_factory=list)


@dataclass
class Account:
    account_id: str
    name: str
    domain: str
    off_min: int
    off: str
    courses: list[Course] = field(default_factory=list)
    manager_ids: list[int] = field(default_factory=list)  # indexes into World.users


@dataclass
class User:
    user_id: str
    account: int  # index into World.accounts
    email: str
    display_name: str
    role: str


@dataclass
class Learner:
    user: int  # index into World.users
    account: int
    start_ms: int
    span_ms: int
    courses: list[Course]
    quota: int = 0


@dataclass
class World:
    accounts: list[Account]
    users: list[User]
    learners: list[Learner]
    groups: list[tuple[str, str, str]]
    members: list[tuple[str, str]]

    def course(self, course_id: str) -> Course:
        for a in self.accounts:
            for c in a.courses:
                if c.course_id == course_id:
                    return c
        raise KeyError(course_id)


def build_world(seed: int, statements: int) -> World:
    """Accounts, courses, users and enrollments for ``statements`` statements."""
    rng = sub_rng(seed, "world")
    n_accounts = min(len(_ACCOUNTS), 3 + statements // 2_000_000)
    n_learners = max(24, round(statements / 60))
    accounts: list[Account] = []
    for a in range(n_accounts):
        acc_id, name, domain, off_min, _ = _ACCOUNTS[a]
        acc = Account(acc_id, name, domain, off_min, offset_str(off_min))
        for k in range(2 + (rng.random() < 0.6)):
            cid = f"crs-{acc_id[4:]}-{k + 1}"
            ciri = f"{LMS_HOME}/courses/{cid}"
            course = Course(cid, acc_id, _COURSE_TITLES[a][k], ciri)
            for j in range(rng.randint(3, 5)):
                chid = f"{cid}-ch{j + 1}"
                chap = Chapter(chid, f"{_CHAPTER_WORDS[j]}: {course.title}", j + 1, f"{ciri}/chapters/{j + 1}")
                for e in range(rng.randint(3, 6)):
                    chap.exercises.append(Exercise(
                        exercise_id=f"{chid}-ex{e + 1}",
                        title=f"{course.title} {j + 1}.{e + 1}",
                        position=e + 1,
                        activity_id=f"{chap.activity_id}/exercises/{e + 1}",
                        max_points=rng.choice((4, 5, 6, 8, 10)),
                        difficulty=rng.gauss(0.25 * j, 0.5),
                    ))
                course.chapters.append(chap)
            acc.courses.append(course)
        accounts.append(acc)

    per_account = allocate(n_learners, [_ACCOUNTS[a][4] for a in range(n_accounts)])
    users: list[User] = []
    learners: list[Learner] = []
    groups: list[tuple[str, str, str]] = []
    members: list[tuple[str, str]] = []

    def new_user(a: int, role: str) -> int:
        n = len(users) + 1
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}.{n}@{accounts[a].domain}".lower()
        users.append(User(f"u{n:07d}", a, email, f"{first} {last}", role))
        return len(users) - 1

    for a, count in enumerate(per_account):
        acc = accounts[a]
        for _ in range(max(2, count // 40)):
            acc.manager_ids.append(new_user(a, "manager"))
        for _ in range(max(1, count // 200)):
            new_user(a, "executive")
        n_groups = max(2, count // 30)
        acc_groups = [f"grp-{acc.account_id[4:]}-{g + 1:03d}" for g in range(n_groups)]
        for g, gid in enumerate(acc_groups):
            groups.append((gid, acc.account_id, f"{acc.name} cohort {g + 1}"))
        for _ in range(count):
            u = new_user(a, "learner")
            start = START_MS + int(rng.random() * (END_MS - START_MS - 45 * DAY_MS))
            span = min(END_MS - start - 3 * DAY_MS, int(rng.lognormvariate(4.3, 0.6) * DAY_MS))
            k = rng.choices((1, 2, 3), (55, 35, 10))[0]
            picked = rng.sample(range(len(acc.courses)), min(k, len(acc.courses)))
            courses = [acc.courses[c] for c in sorted(picked)]
            learners.append(Learner(u, a, start, span, courses))
            g1 = rng.randrange(n_groups)
            members.append((acc_groups[g1], users[u].user_id))
            if rng.random() < 0.12 and n_groups > 1:
                g2 = (g1 + 1 + rng.randrange(n_groups - 1)) % n_groups
                members.append((acc_groups[g2], users[u].user_id))

    # statements per learner: heavy-tailed, at least 3, summing exactly to `statements`
    weights = [rng.lognormvariate(0, 0.8) for _ in learners]
    quotas = allocate(statements - 3 * len(learners), weights) if statements >= 3 * len(learners) else None
    if quotas is None:
        quotas = allocate(statements, [1.0] * len(learners))
    else:
        quotas = [q + 3 for q in quotas]
    for learner, q in zip(learners, quotas, strict=True):
        learner.quota = q
    return World(accounts, users, learners, groups, members)


def _csv_bytes(header: list[str], rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def write_lms(world: World, lms_dir: Path, rng: random.Random, defects: bool) -> dict:
    """Write the eight LMS CSV exports; returns row counts (and the bad-row count)."""
    lms_dir.mkdir(parents=True, exist_ok=True)
    accs = world.accounts
    rows: dict[str, list] = {name: [] for name in LMS_HEADERS}
    rows["accounts.csv"] = [(a.account_id, a.name) for a in accs]
    rows["users.csv"] = [(u.user_id, accs[u.account].account_id, u.email, u.display_name, u.role)
                         for u in world.users]
    rows["groups.csv"] = list(world.groups)
    rows["group_members.csv"] = list(world.members)
    for a in accs:
        for c in a.courses:
            rows["courses.csv"].append((c.course_id, c.account_id, c.title, c.activity_id))
            for ch in c.chapters:
                rows["chapters.csv"].append((ch.chapter_id, c.course_id, ch.title, ch.position, ch.activity_id))
                for e in ch.exercises:
                    rows["exercises.csv"].append(
                        (e.exercise_id, ch.chapter_id, e.title, e.position, e.activity_id, e.max_points))
    for lr in world.learners:
        acc = accs[lr.account]
        for i, c in enumerate(lr.courses):
            at = lr.start_ms - DAY_MS + i * 3_600_000 + rng.randrange(3_600_000)
            rows["enrollments.csv"].append(
                (world.users[lr.user].user_id, c.course_id, fmt_ts(at, acc.off_min, acc.off, millis=False)))
    counts = {name: len(r) for name, r in rows.items()}
    bad_rows = 0
    for name, header in LMS_HEADERS.items():
        data = _csv_bytes(header, rows[name])
        if name == "users.csv" and defects:
            # a row whose display name carries an unquoted comma: six fields instead of five
            data += b"u9999990,acc-northwind,broken.row@example.com,Broken, Row,learner\n"
            bad_rows = 1
        (lms_dir / name).write_bytes(data)
    counts["bad_csv_rows"] = bad_rows
    return counts
