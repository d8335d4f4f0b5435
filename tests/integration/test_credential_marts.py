"""Credential marts against an independent Python computation.

A seeded, hand-made raw layer (raw.credential_awards, raw.credential_events,
raw.collections, raw.lms_users, raw.lms_enrollments, written straight into a
throw-away lake.duckdb) goes through ``dbt run`` + ``dbt test`` of the credential
models. Every mart is then compared, row by row, with what the definitions in
docs/metrics.md ("Credential metrics") give when computed here in plain Python.
A second batch of raw rows (late awards, a revocation, duplicate events, a new
LMS user matching an earlier unmatched recipient, a verifier withdrawing
consent, a recipient withdrawing and another re-granting consent) is built
incrementally and compared with the same Python computation and with a
``--full-refresh`` of the incremental facts. Recipient consent (raw.consent_events,
docs/privacy.md): the complete facts (int_credentials__*_facts) hold everyone, the
published recipient-level marts only the recipients whose detailed_tracking consent
holds at the run date, computed here from the consent rows; the same build with
SKILLPATH_CONSENT_DEFAULT=assumed publishes everyone but the withdrawn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import pytest

from skillpath.ingest.contract import connect_raw
from tests.helpers import TEST_KEY, query, run_dbt

AS_OF = dt.date(2024, 12, 31)
AS_OF_END = dt.datetime(2025, 1, 1)
K = 3                      # small_cell_k for this test: a mix of published and suppressed cells
DRIFT = 90
CHANNELS = ["linkedin", "facebook", "x", "email", "link", "other"]
CHANNEL_ALIASES = {"linkedin": "linkedin", "facebook": "facebook", "x": "x", "twitter": "x", "email": "email",
                   "mail": "email", "link": "link", "url": "link", "other": "other"}
ENGAGEMENT = {"accepted", "viewed", "shared", "added_to_profile", "downloaded"}
REGIONS = {"DE": "Europe", "FR": "Europe", "US": "Americas"}
COLLECTIONS = [  # collection_id, name, position, achievement_id, course_id
    ("c1", "Data path", "1", "A", "co1"),
    ("c1", "Data path", "2", "B", "co2"),
    ("c1", "Data path", "3", "C", ""),
    ("c2", "Ops path", "1", "D", ""),
    ("c2", "Ops path", "2", "B", "co2"),
]
NAMES = {"A": "Alpha", "B": "Beta", "C": "Gamma", "D": "Delta", "E": "Epsilon"}
TYPES = {"A": "Badge", "B": "Badge", "C": "Certificate", "D": "Badge", "E": "Certificate"}
# organisation, industry, country (as sent), consent: True / False / "mixed"
ORGS = [("o1", "Tech", "de", True), ("o2", "finance", "FR", False), ("o3", "tech", "us", "mixed"),
        ("o4", None, None, True), ("o5", "health", "ZZ", True)]
SELECT = ("+path:models/marts/credentials", "path:models/intermediate/credentials", "path:models/staging/credentials",
          "path:tests/credentials", "credential_event_types", "share_channels", "country_regions")
# the LMS staging models are built as parents; their own tests belong to the learner-progress suite, as
# does the consent test of the learner progress (a child of int_credentials__recipient_consent)
OTHERS_TESTS = ("resource_type:test,path:models/staging/lms", "resource_type:unit_test,path:models/staging/lms",
                "path:tests/learning")


def pseudo(text: str) -> str:
    return hashlib.sha256(f"{TEST_KEY}|{text}".encode()).hexdigest()[:24]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def month(ts: dt.datetime) -> dt.date:
    return dt.date(ts.year, ts.month, 1)


def quantile(values: list[float], p: float) -> float | None:
    """Continuous percentile with linear interpolation (DuckDB quantile_cont)."""
    if not values:
        return None
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


# --------------------------------------------------------------------------- raw layer


@dataclass
class Raw:
    """Every raw row written so far, as dicts, in load order."""

    users: list[dict] = field(default_factory=list)
    enrollments: list[dict] = field(default_factory=list)
    collections: list[dict] = field(default_factory=list)
    awards: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    consents: list[dict] = field(default_factory=list)


class Loader:
    """Appends rows to raw.* with load metadata, one load per call."""

    def __init__(self, lake, raw: Raw):
        self.lake, self.raw, self.n = lake, raw, 0

    def load(self, table: str, rows: list[dict], loaded_at: dt.datetime, sink: list[dict]) -> None:
        self.n += 1
        load_id = f"load{self.n:03d}"
        con = connect_raw(self.lake)
        try:
            for i, row in enumerate(rows, start=1):
                # a row copied from an earlier load gets this load's metadata
                full = {**row, "load_id": load_id, "source": "test", "source_ref": f"{table}/{load_id}",
                        "record_no": i, "loaded_at": loaded_at}
                cols = ", ".join(full)
                con.execute(f"insert into raw.{table} ({cols}) values ({', '.join('?' * len(full))})",
                            list(full.values()))
                sink.append(full)
        finally:
            con.close()


def award_row(award_id, ach, identity, hashed, salt, issued, *, expires=None, revoked=False, reason=None,
              fmt="ob3", parent=None, name=True) -> dict:
    return {"award_id": award_id, "source_format": fmt, "parent_award_id": parent, "achievement_id": ach,
            "achievement_name": NAMES[ach] if name else None, "achievement_type": TYPES[ach],
            "issuer_id": "https://issuer.example.org", "issuer_name": "Example Issuer",
            "recipient_identity": identity, "recipient_hashed": hashed, "recipient_salt": salt,
            "issued_at": issued, "expires_at": expires, "revoked": revoked, "revocation_reason": reason,
            "payload_sha256": sha256(award_id)}


class World:
    """A seeded population of learners earning credentials through the collections."""

    def __init__(self, seed: int = 11):
        self.rng = random.Random(seed)
        self.users = [(f"u{n:02d}", f"acc{1 + n % 2}", f"Learner.{n}@Example.ORG" if n <= 34 else None)
                      for n in range(1, 37)]
        self.externals = [f"guest{n}@mail.test" for n in range(1, 9)]
        self.n_award = 0
        self.n_event = 0
        self.o3_events = 0

    def identity(self, email: str) -> tuple[str, bool, str | None]:
        r = self.rng.random()
        if r < 0.4:
            return (email.upper() if self.rng.random() < 0.3 else email), False, None
        salt = "" if r < 0.6 else f"s{self.rng.randint(0, 3)}"
        return "sha256$" + sha256(email.lower() + salt), True, (salt or None)

    def award(self, ach: str, email: str, issued: dt.datetime, **kw) -> dict:
        self.n_award += 1
        ident, hashed, salt = self.identity(email)
        rng = self.rng
        expires = kw.pop("expires", None)
        if expires is None and rng.random() < 0.3:
            expires = issued + dt.timedelta(days=rng.choice([60, 200, 400]))
        revoked = kw.pop("revoked", rng.random() < 0.06)
        return award_row(f"urn:uuid:award-{self.n_award:04d}", ach, ident, hashed, salt, issued,
                         expires=expires, revoked=revoked, reason="misconduct" if revoked else None,
                         fmt=rng.choice(["ob2", "ob3"]), **kw)

    def paths(self) -> list[dict]:
        """Awards: each recipient walks c1 (A -> B -> C, skipping sometimes), some walk c2 (D -> B), some get E."""
        rng = self.rng
        out = []
        recipients = [u[2] for u in self.users if u[2]] + self.externals
        for email in recipients:
            t = dt.datetime(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 150), hours=rng.randint(8, 18))
            steps = ["A", "B", "C"] if rng.random() < 0.75 else ["B", "C"]
            if rng.random() < 0.2:
                steps = [s for s in steps if s != "B"]            # skips B
            took = []
            for i, ach in enumerate(steps):
                if i and rng.random() < 0.3:
                    break                                          # stops
                if i:
                    gap = rng.choice([0, 0, 3, 20, 45, 100, 150])
                    t = t if gap == 0 and rng.random() < 0.5 else t + dt.timedelta(days=gap, hours=3)
                took.append((ach, t))
            if rng.random() < 0.3:
                took.append(("D", took[0][1] - dt.timedelta(days=rng.randint(1, 40))))
            if rng.random() < 0.2:
                took.append(("E", t + dt.timedelta(days=5)))
            for ach, at in took:
                out.append(self.award(ach, email, at))
        return out

    def events(self, awards: list[dict], start: dt.datetime | None = None) -> list[dict]:
        rng = self.rng
        out = []

        def ev(award_id, etype, at, channel=None, org=None, reason=None):
            self.n_event += 1
            row = {"event_id": f"ev-{self.n_event:05d}", "event_type": etype, "occurred_at": at,
                   "credential_id": award_id, "channel": channel, "verifier_organization_id": None,
                   "verifier_industry": None, "verifier_country": None, "verifier_consented": None,
                   "payload": "{}" if reason is None else f'{{"reason": "{reason}"}}',
                   "payload_sha256": f"h{self.n_event}"}
            if org is not None:
                oid, industry, country, consent = org
                if consent == "mixed":
                    self.o3_events += 1
                    consent = self.o3_events % 2 == 1
                row.update(verifier_organization_id=oid, verifier_industry=industry, verifier_country=country,
                           verifier_consented=consent)
            out.append(row)

        for a in awards:
            t0 = max(a["issued_at"], start) if start else a["issued_at"]
            day = dt.timedelta(days=1)
            ev(a["award_id"], "issued", a["issued_at"])
            if rng.random() < 0.6:
                ev(a["award_id"], "accepted", t0 + day * rng.randint(0, 3))
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                ev(a["award_id"], "viewed", t0 + day * rng.randint(0, 120))
            for _ in range(rng.choice([0, 0, 1, 2])):
                ch = rng.choice(["linkedin", "LinkedIn", "facebook", "x", "twitter", "email", "link", "myspace", None])
                ev(a["award_id"], "shared", t0 + day * rng.randint(0, 60), channel=ch)
            if rng.random() < 0.25:
                ev(a["award_id"], "added_to_profile", t0 + day * rng.randint(0, 30))
            for _ in range(rng.choice([0, 0, 1, 2])):
                ev(a["award_id"], "downloaded", t0 + day * rng.randint(0, 30))
            if rng.random() < 0.35:
                for _ in range(rng.randint(1, 3)):
                    org = rng.choice(ORGS)
                    vt = t0 + day * rng.randint(0, 90)
                    ev(a["award_id"], "verified", vt, org=org)
                    if rng.random() < 0.3:
                        ev(a["award_id"], "hired", vt + day * 20, org=org)
        return out


def consent(subject_type: str, subject: str, action: str, at: dt.datetime, scope: str = "detailed_tracking") -> dict:
    """A raw.consent_events row as ingestion writes it (subject already normalised)."""
    key = sha256(f"{subject_type}|{subject}|{scope}|{action}|{at.isoformat()}")
    return {"event_key": key, "payload": "{}", "payload_sha256": key, "subject_type": subject_type,
            "subject": subject, "subject_type_given": True, "scope": scope, "action": action, "occurred_at": at,
            "consent_source": "test"}


def consents_phase1(raw: Raw) -> list[dict]:
    """Consent stories: granted under each kind of name, never given, withdrawn, withdrawn and
    granted again, a tie (withdrawn wins), a grant after the run date, other scopes only."""
    t = dt.datetime(2024, 6, 1, 12)
    day = dt.timedelta(days=1)
    externals = [f"guest{n}@mail.test" for n in range(4, 9)]
    hashed = next(a["recipient_identity"] for a in raw.awards if a["recipient_hashed"] and any(
        a["recipient_identity"] == "sha256$" + sha256(e + (a["recipient_salt"] or "")) for e in externals))
    out = [consent("user_id", f"u{n:02d}", "granted", t + day * n) for n in range(1, 15)]
    out += [consent("email", f"learner.{n}@example.org", "granted", t + day * n) for n in range(15, 22)]
    out += [consent("email", "guest1@mail.test", "granted", t),          # an external recipient (plain or hashed)
            consent("email", "guest3@mail.test", "granted", t),
            consent("recipient_identity", hashed, "granted", t)]         # one award's hashed identity
    out += [consent("user_id", "u05", "withdrawn", t + day * 30),       # granted, then withdrawn
            consent("email", "learner.16@example.org", "withdrawn", t + day * 40),
            consent("user_id", "u16", "granted", t + day * 50),          # ... and granted again
            consent("user_id", "u22", "granted", t + day * 3),           # a tie: withdrawn wins
            consent("email", "learner.22@example.org", "withdrawn", t + day * 3),
            consent("user_id", "u23", "granted", dt.datetime(2025, 3, 1)),   # after the run date: not yet
            consent("user_id", "u24", "granted", t, scope="share_with_employers"),
            consent("user_id", "u25", "granted", t, scope="newsletter"),
            consent("user_id", "u99", "granted", t)]                     # nobody's user id
    return out


def build_phase1(lake, raw: Raw, world: World) -> None:
    ld = Loader(lake, raw)
    early, main = dt.datetime(2024, 12, 20), dt.datetime(2025, 1, 1)
    users = [{"user_id": u, "account_id": acc, "email": email, "display_name": u, "role": "learner",
              "raw_line": ""} for u, acc, email in world.users]
    ld.load("lms_users", users, early, raw.users)
    enrol = [{"user_id": u, "course_id": c, "enrolled_at": f"2024-0{1 + i % 6}-01T00:00:00Z", "raw_line": ""}
             for i, (u, _, _) in enumerate(world.users) for c in ("co1", "co2") if (i + len(c)) % 3]
    enrol.append({"user_id": "u01", "course_id": "co1", "enrolled_at": None, "raw_line": ""})
    ld.load("lms_enrollments", enrol, early, raw.enrollments)
    cols = [{"collection_id": c, "collection_name": n, "position": p, "achievement_id": a, "course_id": co,
             "raw_line": ""} for c, n, p, a, co in COLLECTIONS]
    ld.load("collections", cols, early, raw.collections)

    awards = world.paths()
    # CLR 2.0: a container award (no achievement) holding nested OB 3.0 awards of its recipient
    for n, child in enumerate(awards[20:26:2]):
        clr_id = f"urn:uuid:clr-{n}"
        child.update(parent_award_id=clr_id, source_format="ob3")
        awards.append(dict(child, award_id=clr_id, source_format="clr2", parent_award_id=None, achievement_id=None,
                           achievement_name="Transcript", achievement_type=None, expires_at=None, revoked=False,
                           revocation_reason=None, payload_sha256=sha256(clr_id)))
    # a recipient's award revoked by a 'revoked' event, one of them dated after the run date
    revoked_by_event = [a for a in awards if not a["revoked"] and a["expires_at"] is None and a["achievement_id"]][3:6]
    # five awards first arrive in an older version (other expiry, no name): the latest row must win
    stale = [dict(a, expires_at=dt.datetime(2024, 2, 1), achievement_name=None) for a in awards[10:15]]
    ld.load("credential_awards", stale, early, raw.awards)
    ld.load("credential_awards", awards, main, raw.awards)

    events = world.events(awards)
    for i, a in enumerate(revoked_by_event):
        at = dt.datetime(2025, 2, 1) if i == 0 else a["issued_at"] + dt.timedelta(days=10)
        world.n_event += 1
        events.append({"event_id": f"ev-{world.n_event:05d}", "event_type": "revoked", "occurred_at": at,
                       "credential_id": a["award_id"], "channel": None, "verifier_organization_id": None,
                       "verifier_industry": None, "verifier_country": None, "verifier_consented": None,
                       "payload": '{"reason": "issued in error"}', "payload_sha256": "r"})
    events.append({"event_id": "ev-orphan", "event_type": "viewed", "occurred_at": dt.datetime(2024, 5, 1),
                   "credential_id": "urn:uuid:no-such-award", "channel": None, "verifier_organization_id": None,
                   "verifier_industry": None, "verifier_country": None, "verifier_consented": None,
                   "payload": "{}", "payload_sha256": "o"})
    ld.load("credential_events", events, early, raw.events)
    # re-delivered events (same event_id, later load, other time): the first delivery wins
    again = [dict(e, occurred_at=e["occurred_at"] + dt.timedelta(days=400)) for e in events[::17]]
    ld.load("credential_events", again, main, raw.events)
    ld.load("consent_events", consents_phase1(raw), main, raw.consents)


def build_phase2(lake, raw: Raw, world: World) -> None:
    """Late and new data for the incremental run."""
    ld = Loader(lake, raw)
    ld.n = 100
    at = dt.datetime(2025, 1, 10)
    current = {}
    for a in raw.awards:
        current[a["award_id"]] = a
    # guest1 becomes an LMS user: its earlier awards now belong to u90's learner_id
    ld.load("lms_users", [{"user_id": "u90", "account_id": "acc2", "email": "guest1@mail.test",
                           "display_name": "u90", "role": "learner", "raw_line": ""}], at, raw.users)
    rng = world.rng
    new = []
    for email in ["learner.1@example.org", "learner.2@example.org", "guest2@mail.test", "learner.7@example.org"]:
        # a late award issued long ago (reorders the learner's path) and a fresh one
        new.append(world.award("C", email, dt.datetime(2024, 1, 2, 9), revoked=False))
        new.append(world.award("E", email, dt.datetime(2024, 12, 1, 9) + dt.timedelta(hours=rng.randint(0, 9)),
                               revoked=False))
    ld.load("credential_awards", new, at, raw.awards)
    # everything of one learner revoked afterwards: their transitions must disappear
    victim = next(a for a in current.values() if a["achievement_id"] == "A" and not a["revoked"])
    victim_identity = victim["recipient_identity"]
    gone = [dict(a, revoked=True, revocation_reason="withdrawn") for a in current.values()
            if a["recipient_identity"] == victim_identity]
    ld.load("credential_awards", gone, at, raw.awards)
    events = world.events(new, start=dt.datetime(2024, 12, 2))
    old = next(a for a in current.values() if a["achievement_id"] == "B" and not a["revoked"])
    world.n_event += 1
    events.append({"event_id": f"ev-{world.n_event:05d}", "event_type": "revoked",
                   "occurred_at": dt.datetime(2024, 12, 5), "credential_id": old["award_id"], "channel": None,
                   "verifier_organization_id": None, "verifier_industry": None, "verifier_country": None,
                   "verifier_consented": None, "payload": "{}", "payload_sha256": "r2"})
    # o1 withdraws consent: it must vanish from every published row, old ones too
    world.n_event += 1
    events.append({"event_id": f"ev-{world.n_event:05d}", "event_type": "verified",
                   "occurred_at": dt.datetime(2024, 12, 20), "credential_id": old["award_id"], "channel": None,
                   "verifier_organization_id": "o1", "verifier_industry": "Tech", "verifier_country": "de",
                   "verifier_consented": False, "payload": "{}", "payload_sha256": "v2"})
    events += [dict(e, occurred_at=e["occurred_at"] + dt.timedelta(days=3)) for e in raw.events[:5]]
    ld.load("credential_events", events, at, raw.events)
    # a consenting recipient withdraws (delivered now, dated before the run date): their published rows
    # go; a withdrawn one grants again; guest1, now LMS user u90, stays covered by its email's grant
    ld.load("consent_events", [consent("user_id", "u03", "withdrawn", dt.datetime(2024, 12, 30)),
                               consent("email", "learner.5@example.org", "granted", dt.datetime(2024, 12, 29))],
            at, raw.consents)


# --------------------------------------------------------------------------- the independent computation


def latest(rows: list[dict], key) -> dict:
    out = {}
    for r in sorted(rows, key=lambda r: (r["loaded_at"], r["record_no"])):
        out[key(r)] = r
    return out


def first(rows: list[dict], key) -> dict:
    out = {}
    for r in sorted(rows, key=lambda r: (r["loaded_at"], r["record_no"])):
        out.setdefault(key(r), r)
    return out


def expected(raw: Raw, k: int = K, consent_default: str = "required") -> dict[str, list[tuple]]:  # noqa: C901
    users = {u: r for u, r in latest(raw.users, lambda r: r["user_id"]).items()}
    by_email = defaultdict(list)
    for u, r in users.items():
        if r["email"]:
            by_email[r["email"].strip().lower()].append(u)
    awards = latest(raw.awards, lambda r: r["award_id"])
    events = first(raw.events, lambda r: r["event_id"])
    members = latest(raw.collections, lambda r: (r["collection_id"], r["achievement_id"]))

    # awards ------------------------------------------------------------
    fct, recipients = {}, {}
    for aid, a in awards.items():
        ident = a["recipient_identity"].strip().lower()
        salt = a["recipient_salt"] or ""
        if ident.startswith("sha256$"):
            matches = [u for e, us in by_email.items() for u in us if "sha256$" + sha256(e + salt) == ident]
        else:
            matches = by_email.get(ident, [])
        user = min(matches) if matches else None
        learner = pseudo(user) if user else pseudo("recipient:" + ident)
        evs = [e for e in events.values() if e["credential_id"] == aid]
        revoked_times = [e["occurred_at"] for e in evs if e["event_type"] == "revoked"]
        accepted = [e["occurred_at"] for e in evs if e["event_type"] == "accepted"]
        reasons = [json.loads(e["payload"]).get("reason") for e in evs if e["event_type"] == "revoked"]
        is_revoked = bool(a["revoked"]) or bool(revoked_times)
        revoked_at = min(revoked_times) if revoked_times else None
        if is_revoked and (revoked_at is None or revoked_at < AS_OF_END):
            status = "revoked"
        elif a["expires_at"] is not None and a["expires_at"] < AS_OF_END:
            status = "expired"
        else:
            status = "active"
        recipients[aid] = (aid, learner, pseudo("recipient:" + ident), user,
                           users[user]["account_id"] if user else None, user is not None)
        fct[aid] = dict(award_id=aid, learner_id=learner, account_id=users[user]["account_id"] if user else None,
                        is_lms_matched=user is not None, achievement_id=a["achievement_id"],
                        achievement_type=a["achievement_type"] or "Badge", source_format=a["source_format"],
                        parent_award_id=a["parent_award_id"], issued_at=a["issued_at"], expires_at=a["expires_at"],
                        is_revoked=is_revoked, revoked_at=revoked_at,
                        revocation_reason=a["revocation_reason"] or max((r for r in reasons if r), default=None),
                        status=status, accepted_at=min(accepted) if accepted else None)
    out: dict[str, list[tuple]] = {"int_credentials__recipients": list(recipients.values())}

    # consent (docs/privacy.md): a recipient's names are their user id and email and their awards'
    # identities; the latest detailed_tracking event by the run date decides, withdrawn wins a tie
    names = defaultdict(set)
    for u, r in users.items():
        names[pseudo(u)].add(("user_id", u))
        if r["email"]:
            names[pseudo(u)].add(("email", r["email"].strip().lower()))
    for aid, a in awards.items():
        ident = a["recipient_identity"].strip().lower()
        names[fct[aid]["learner_id"]] |= {("email", ident), ("recipient_identity", ident)}
    decided = {}
    for learner in {a["learner_id"] for a in fct.values()}:
        evs = [c for c in raw.consents if c["scope"] == "detailed_tracking" and c["occurred_at"] <= AS_OF_END
               and (c["subject_type"], c["subject"]) in names[learner]]
        last = max(evs, key=lambda c: (c["occurred_at"], c["action"] == "withdrawn"), default=None)
        decided[learner] = last
    consenting = {learner for learner, c in decided.items()
                  if (c["action"] == "granted" if c else consent_default == "assumed")}
    out["int_credentials__recipient_consent"] = [
        (learner, c and c["action"], c and c["occurred_at"], learner in consenting) for learner, c in decided.items()]
    out["_consenting"] = [(learner,) for learner in consenting]
    out["int_credentials__award_facts"] = [
        tuple(r[c] for c in ("award_id", "learner_id", "account_id", "is_lms_matched", "achievement_id",
                             "achievement_type", "source_format", "parent_award_id", "issued_at", "expires_at",
                             "is_revoked", "revoked_at", "revocation_reason", "status", "accepted_at"))
        for r in fct.values()]
    out["fct_credential_awards"] = [r for r in out["int_credentials__award_facts"] if r[1] in consenting]

    # events ------------------------------------------------------------
    org_consent = defaultdict(list)
    for e in events.values():
        if e["verifier_organization_id"]:
            org_consent[e["verifier_organization_id"]].append(bool(e["verifier_consented"]))
    disclosed = {o for o, flags in org_consent.items() if all(flags)}
    fev = {}
    for eid, e in events.items():
        a = fct.get(e["credential_id"])
        is_verifier = e["verifier_organization_id"] is not None or e["event_type"] in ("verified", "hired")
        industry = (e["verifier_industry"] or "").strip().lower() or "unknown"
        country = (e["verifier_country"] or "").strip().upper() or "unknown"
        channel = None
        if e["event_type"] == "shared":
            channel = CHANNEL_ALIASES.get((e["channel"] or "").lower(), "other")
        fev[eid] = dict(event_id=eid, event_type=e["event_type"], occurred_at=e["occurred_at"],
                        event_month=month(e["occurred_at"]), award_id=e["credential_id"], has_award=a is not None,
                        achievement_id=a and a["achievement_id"], learner_id=a and a["learner_id"],
                        account_id=a and a["account_id"], channel=channel,
                        verifier_industry=industry if is_verifier else None,
                        verifier_country=country if is_verifier else None,
                        verifier_region=REGIONS.get(country, "unknown") if is_verifier else None,
                        verifier_organization_id=e["verifier_organization_id"]
                        if e["verifier_organization_id"] in disclosed else None,
                        org_key=e["verifier_organization_id"])
    out["int_credentials__event_facts"] = [
        tuple(r[c] for c in ("event_id", "event_type", "occurred_at", "event_month", "award_id", "has_award",
                             "achievement_id", "learner_id", "account_id", "channel", "verifier_industry",
                             "verifier_country", "verifier_region", "verifier_organization_id"))
        for r in fev.values()]
    # an event of no award has no recipient: published only when consent is assumed
    out["fct_credential_events"] = [r for r in out["int_credentials__event_facts"]
                                    if r[7] in consenting or (r[7] is None and consent_default == "assumed")]

    # transitions -------------------------------------------------------
    position = {(c, a): int(m["position"]) for (c, a), m in members.items()}
    trans = []
    for coll in sorted({c for c, _ in members}):
        per_learner = defaultdict(dict)
        for a in sorted(fct.values(), key=lambda a: (a["issued_at"], a["award_id"])):
            if a["is_revoked"] or (coll, a["achievement_id"]) not in position:
                continue
            per_learner[a["learner_id"]].setdefault(a["achievement_id"], a)
        for learner, held in per_learner.items():
            path = sorted(held.values(), key=lambda a: (a["issued_at"], position[(coll, a["achievement_id"])],
                                                        a["achievement_id"]))
            for i, a in enumerate(path):
                prev = path[i - 1] if i else None
                nxt = path[i + 1] if i + 1 < len(path) else None
                trans.append(dict(
                    collection_id=coll, learner_id=learner, account_id=a["account_id"],
                    achievement_id=a["achievement_id"], award_id=a["award_id"],
                    position=position[(coll, a["achievement_id"])], issued_at=a["issued_at"], sequence_number=i + 1,
                    previous_achievement_id=prev and prev["achievement_id"],
                    next_achievement_id=nxt and nxt["achievement_id"],
                    entry_type="continuing" if prev else "new", exit_type="advanced" if nxt else "stopped",
                    days_since_previous=(a["issued_at"].date() - prev["issued_at"].date()).days if prev else None,
                    days_to_next=(nxt["issued_at"].date() - a["issued_at"].date()).days if nxt else None))
    tcols = ("collection_id", "learner_id", "account_id", "achievement_id", "award_id", "position", "issued_at",
             "sequence_number", "previous_achievement_id", "next_achievement_id", "entry_type", "exit_type",
             "days_since_previous", "days_to_next")
    out["int_credentials__transition_facts"] = [tuple(t[c] for c in tcols) for t in trans]
    out["fct_credential_transitions"] = [r for r in out["int_credentials__transition_facts"] if r[1] in consenting]

    # learner flow and pathway progress ----------------------------------
    names = {}
    for a in sorted(awards.values(), key=lambda a: (a["issued_at"], a["loaded_at"], a["award_id"])):
        if a["achievement_name"]:
            names[a["achievement_id"]] = a["achievement_name"]
    coll_name = {c: m["collection_name"] for (c, _), m in members.items()}
    edges = defaultdict(int)
    for t in trans:
        edges[(t["collection_id"], t["previous_achievement_id"] or "__new__", t["achievement_id"],
               t["entry_type"])] += 1
        if t["exit_type"] == "stopped":
            edges[(t["collection_id"], t["achievement_id"], "__stopped__", "stopped")] += 1

    def node(c, n):
        return {"__new__": "New learners", "__stopped__": "Stopped"}.get(n, names.get(n, n))

    out["mart_learner_flow"] = [
        (c, coll_name[c], s, node(c, s), position.get((c, s)), t, node(c, t), position.get((c, t)), kind, n)
        for (c, s, t, kind), n in edges.items()]
    progress = []
    new_total = defaultdict(int)
    for t in trans:
        new_total[t["collection_id"]] += t["entry_type"] == "new"
    for (c, a) in members:
        rows = [t for t in trans if t["collection_id"] == c and t["achievement_id"] == a]
        n = len(rows)
        new = sum(t["entry_type"] == "new" for t in rows)
        adv = sum(t["exit_type"] == "advanced" for t in rows)
        days = [t["days_to_next"] for t in rows if t["days_to_next"] is not None]
        progress.append((
            c, coll_name[c], a, names.get(a, a), position[(c, a)], n, new, n - new, adv, n - adv,
            adv / n if n else None, (n - adv) / n if n else None, quantile(days, 0.5), quantile(days, 0.9),
            sum(t["exit_type"] == "stopped" and (AS_OF - t["issued_at"].date()).days > DRIFT for t in rows),
            sum((t["days_since_previous"] or 0) > DRIFT for t in rows),
            new > 0, new / new_total[c] if n and new_total[c] else None))
    out["mart_pathway_progress"] = progress

    # engagement -----------------------------------------------------------
    def cell(n):
        return (None, True) if k and n < k else (n, False)

    def rate(n, d):
        return None if (k and n < k) or not d else n / d

    cohorts = defaultdict(list)
    for a in fct.values():
        if a["achievement_id"] is None:
            continue
        cohorts[(a["achievement_id"], month(a["issued_at"]))].append(a)
    by_award = defaultdict(list)
    for e in fev.values():
        if e["has_award"]:
            by_award[e["award_id"]].append(e)
    engagement = []
    for (ach, m), group in cohorts.items():
        issued = len(group)
        learners = {a["learner_id"] for a in group}

        def awards_with(etype, group=group):
            return sum(any(e["event_type"] == etype for e in by_award[a["award_id"]]) for a in group)

        def events_of(etype, channel=None, group=group):
            return sum(e["event_type"] == etype and (channel is None or e["channel"] == channel)
                       for a in group for e in by_award[a["award_id"]])

        months = defaultdict(set)
        for a in group:
            for e in by_award[a["award_id"]]:
                if e["event_type"] in ENGAGEMENT and e["occurred_at"] >= a["issued_at"]:
                    months[a["learner_id"]].add(e["event_month"])
        re_engaged = sum(len(v) >= 2 for v in months.values())
        accepted = sum(a["accepted_at"] is not None for a in group)
        viewed, shared, added = awards_with("viewed"), awards_with("shared"), awards_with("added_to_profile")
        row = [ach, m, issued, len(learners), *cell(accepted), rate(accepted, issued), *cell(viewed),
               rate(viewed, issued), *cell(shared), rate(shared, issued)]
        for ch in CHANNELS:
            row += [*cell(events_of("shared", ch))]
        row += [*cell(added), rate(added, issued), *cell(events_of("downloaded")), *cell(re_engaged),
                rate(re_engaged, len(learners))]
        engagement.append(tuple(row))
    out["mart_credential_engagement"] = engagement
    out["_engagement_true_shares"] = [(ach, m, sum(e["event_type"] == "shared" for a in g for e in by_award[a["award_id"]]))
                                      for (ach, m), g in cohorts.items()]

    # verification -----------------------------------------------------------
    cells = defaultdict(lambda: {"v": 0, "orgs": set(), "h": 0})
    for e in fev.values():
        if not e["has_award"] or e["achievement_id"] is None or e["event_type"] not in ("verified", "hired"):
            continue
        org = e["org_key"] if e["org_key"] in disclosed else "undisclosed"
        c = cells[(e["achievement_id"], e["event_month"], e["verifier_industry"], e["verifier_country"],
                   e["verifier_region"], org)]
        if e["event_type"] == "verified":
            c["v"] += 1
            if e["org_key"]:
                c["orgs"].add(e["org_key"])
        else:
            c["h"] += 1
    verification = []
    for key, c in cells.items():
        v, o, h = c["v"], len(c["orgs"]), c["h"]
        hire_rate = None if (k and (v < k or h < k)) or v == 0 else h / v
        verification.append((*key, *cell(v), *cell(o), *cell(h), hire_rate))
    out["mart_credential_verification"] = verification

    # issuance trends ---------------------------------------------------------
    courses = defaultdict(set)
    for (_c, a), m in members.items():
        if m["course_id"]:
            courses[a].add(m["course_id"])
    enrol = latest(raw.enrollments, lambda r: (r["user_id"], r["course_id"]))
    trends = []
    for (ach, m), group in cohorts.items():
        course = min(courses[ach]) if courses.get(ach) else None
        month_end = dt.datetime(m.year + (m.month == 12), m.month % 12 + 1, 1)
        enrolled = certified = None
        if course:
            enrolled_l = {pseudo(u) for (u, c), r in enrol.items() if c == course and
                          (r["enrolled_at"] is None or dt.datetime.fromisoformat(r["enrolled_at"][:19]) < month_end)}
            holders = {a["learner_id"] for a in fct.values() if course in courses.get(a["achievement_id"], set())
                       and not a["is_revoked"] and a["issued_at"] < month_end}
            enrolled, certified = len(enrolled_l), len(enrolled_l & holders)
        trends.append((m, TYPES[ach], ach, names.get(ach, ach), len(group), len({a["learner_id"] for a in group}),
                       sum(a["status"] == "revoked" for a in group), sum(a["status"] == "expired" for a in group),
                       sum(a["status"] == "active" for a in group), course, enrolled, certified,
                       certified / enrolled if enrolled else None))
    out["mart_issuance_trends"] = trends

    # recipient view -----------------------------------------------------------
    held = defaultdict(list)
    for a in fct.values():
        if a["achievement_id"] is None:
            continue
        held[(a["learner_id"], a["achievement_id"])].append(a)
    recipients = []
    for (learner, ach), group in held.items():
        last = max(group, key=lambda a: (a["issued_at"], a["award_id"]))
        evs = [e for a in group for e in by_award[a["award_id"]]]
        recipients.append((learner, max((a["account_id"] for a in group if a["account_id"]), default=None), ach,
                           names.get(ach, ach), TYPES[ach], len(group), min(a["issued_at"] for a in group),
                           last["issued_at"], last["expires_at"], last["status"],
                           sum(e["event_type"] == "viewed" for e in evs), sum(e["event_type"] == "shared" for e in evs),
                           sum(e["event_type"] == "verified" for e in evs)))
    out["mart_recipient_credentials"] = [r for r in recipients if r[0] in consenting]

    # learner x course ---------------------------------------------------------
    lc = defaultdict(list)
    for a in fct.values():
        for course in courses.get(a["achievement_id"], ()):
            lc[(a["learner_id"], course)].append(a)
    out["int_credentials__learner_course"] = [
        (learner, course, max((a["account_id"] for a in g if a["account_id"]), default=None),
         len({a["achievement_id"] for a in g if a["status"] != "revoked"}),
         any(a["status"] == "active" for a in g),
         min((a["issued_at"] for a in g if a["status"] == "active"), default=None))
        for (learner, course), g in lc.items()]
    return out


# --------------------------------------------------------------------------- reading the marts

COLUMNS = {
    "fct_credential_awards": "award_id, learner_id, account_id, is_lms_matched, achievement_id, achievement_type, "
                             "source_format, parent_award_id, issued_at, expires_at, is_revoked, revoked_at, "
                             "revocation_reason, status, accepted_at",
    "fct_credential_events": "event_id, event_type, occurred_at, event_month, award_id, has_award, achievement_id, "
                             "learner_id, account_id, channel, verifier_industry, verifier_country, verifier_region, "
                             "verifier_organization_id",
    "fct_credential_transitions": "collection_id, learner_id, account_id, achievement_id, award_id, position, "
                                  "issued_at, sequence_number, previous_achievement_id, next_achievement_id, "
                                  "entry_type, exit_type, days_since_previous, days_to_next",
    "int_credentials__recipient_consent": "learner_id, consent_action, consent_decided_at, has_detailed_tracking",
    "mart_learner_flow": "collection_id, collection_name, source_node_id, source_node, source_position, "
                         "target_node_id, target_node, target_position, edge_type, learners",
    "mart_pathway_progress": "collection_id, collection_name, achievement_id, credential_name, position, completed, "
                             "new_entrants, continuing_entrants, advanced, stopped, advance_rate, stop_rate, "
                             "median_days_to_next, p90_days_to_next, drifting, returners, is_entry_point, entry_share",
    "mart_credential_engagement": "achievement_id, issue_month, awards_issued, recipients, accepted, "
                                  "is_accepted_suppressed, acceptance_rate, viewed, is_viewed_suppressed, view_rate, "
                                  "shared, is_shared_suppressed, share_rate, "
                                  + ", ".join(f"shares_{c}, is_shares_{c}_suppressed" for c in CHANNELS)
                                  + ", added_to_profile, is_added_to_profile_suppressed, profile_add_rate, downloads, "
                                  "is_downloads_suppressed, re_engaged_recipients, "
                                  "is_re_engaged_recipients_suppressed, re_engagement_rate",
    "mart_credential_verification": "achievement_id, event_month, verifier_industry, verifier_country, "
                                    "verifier_region, verifier_organization_id, verifications, "
                                    "is_verifications_suppressed, verifying_organizations, "
                                    "is_verifying_organizations_suppressed, hires, is_hires_suppressed, "
                                    "verification_to_hire_rate",
    "mart_issuance_trends": "issue_month, achievement_type, achievement_id, credential_name, awards_issued, "
                            "recipients, revoked, expired, active, certified_course_id, enrolled_learners, "
                            "certified_learners, completion_rate",
    "mart_recipient_credentials": "learner_id, account_id, achievement_id, credential_name, achievement_type, awards, "
                                  "first_issued_at, latest_issued_at, expires_at, status, views, shares, verifications",
    "int_credentials__learner_course": "learner_id, course_id, account_id, credentials_held, is_certified, "
                                       "certified_at",
    "int_credentials__recipients": "award_id, learner_id, unmatched_learner_id, user_id, account_id, is_lms_matched",
}


# the complete facts the aggregates read have the columns of their published, consent-filtered copies
COLUMNS.update({f"int_credentials__{kind}_facts": COLUMNS[f"fct_credential_{kind}s"]
                for kind in ("award", "event", "transition")})
#: the published recipient-level marts (consent-filtered) and the position of learner_id in COLUMNS
RECIPIENT_LEVEL = {"fct_credential_awards": 1, "fct_credential_events": 7, "fct_credential_transitions": 1,
                   "mart_recipient_credentials": 0}


def norm(rows) -> list[tuple]:
    """Rows comparable as multisets: floats rounded, sorted with None first."""
    def fix(v):
        return round(v, 9) if isinstance(v, float) else v
    fixed = [tuple(fix(v) for v in r) for r in rows]
    return sorted(fixed, key=lambda r: tuple((v is not None, str(v)) for v in r))


def read(home, name: str) -> list[tuple]:
    schema = "intermediate" if name.startswith("int_") else "marts"
    return query(home / "build.duckdb", f"select {COLUMNS[name]} from {schema}.{name}")


INCREMENTAL = ("int_credentials__recipients", "int_credentials__award_facts", "int_credentials__event_facts",
               "int_credentials__transition_facts")


def read_all(home, name: str) -> list[tuple]:
    schema = "intermediate" if name.startswith("int_") else "marts"
    return query(home / "build.duckdb", f"select * from {schema}.{name}")


def build(home, **vars_) -> None:
    """dbt build of the credential models (and their LMS parents) with this test's run date and k."""
    run_dbt(home, "build", "--select", *SELECT, "--exclude", *OTHERS_TESTS,
            vars={"as_of_date": AS_OF.isoformat(), "small_cell_k": K, **vars_})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Phase 1 built (results read), then phase 2 built incrementally (results read), then full refresh."""
    home = tmp_path_factory.mktemp("credentials") / "home"
    (home / "landing").mkdir(parents=True)
    lake = home / "lake.duckdb"
    connect_raw(lake).close()
    raw, gen = Raw(), World()
    build_phase1(lake, raw, gen)
    build(home)
    phase1 = {name: read(home, name) for name in COLUMNS}
    expected1 = expected(raw)
    build_phase2(lake, raw, gen)
    build(home)
    incremental = {name: read(home, name) for name in COLUMNS}
    expected2 = expected(raw)
    incremental_all = {name: read_all(home, name) for name in INCREMENTAL}
    run_dbt(home, "run", "--full-refresh", "--select", *INCREMENTAL,
            vars={"as_of_date": AS_OF.isoformat(), "small_cell_k": K})
    full = {name: read_all(home, name) for name in INCREMENTAL}
    # the same data where consent is assumed (a deployment that collects none): everyone but the withdrawn
    run_dbt(home, "run", "--select", "int_credentials__recipient_consent+", "--exclude", "path:models/marts/learning",
            vars={"as_of_date": AS_OF.isoformat(), "small_cell_k": K}, SKILLPATH_CONSENT_DEFAULT="assumed")
    run_dbt(home, "test", "--select", "assert_no_unconsented_recipient_published",
            vars={"as_of_date": AS_OF.isoformat(), "small_cell_k": K}, SKILLPATH_CONSENT_DEFAULT="assumed")
    assumed = {name: read(home, name) for name in (*RECIPIENT_LEVEL, "int_credentials__recipient_consent")}
    return {"home": home, "raw": raw, "phase1": phase1, "expected1": expected1, "incremental": incremental,
            "expected2": expected2, "incremental_all": incremental_all, "full": full, "assumed": assumed,
            "expected_assumed": expected(raw, consent_default="assumed")}


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(COLUMNS))
def test_marts_equal_independent_computation(world, name):
    assert len(world["expected1"][name]) > 0
    assert norm(world["phase1"][name]) == norm(world["expected1"][name])


@pytest.mark.parametrize("name", list(COLUMNS))
def test_incremental_run_equals_independent_computation(world, name):
    assert norm(world["incremental"][name]) == norm(world["expected2"][name])


@pytest.mark.parametrize("name", INCREMENTAL)
def test_incremental_facts_equal_full_refresh(world, name):
    """Every column, bookkeeping included, both ways."""
    inc, full = world["incremental_all"][name], world["full"][name]
    assert set(inc) - set(full) == set()
    assert set(full) - set(inc) == set()
    assert len(inc) == len(full) > 0


def test_the_world_exercises_every_case(world):
    """The generated data really contains what the other tests rely on."""
    exp = world["expected1"]
    kinds = {r[8] for r in exp["mart_learner_flow"]}
    assert kinds == {"new", "continuing", "stopped"}
    awards = exp["int_credentials__award_facts"]
    assert any(r[6] == "clr2" and r[4] is None for r in awards), "a CLR container"
    assert any(r[7] and r[4] for r in awards), "a credential nested in a CLR"
    statuses = {r[13] for r in awards}
    assert statuses == {"active", "expired", "revoked"}
    assert any(not r[3] for r in awards) and any(r[3] for r in awards)
    trans = exp["int_credentials__transition_facts"]
    assert any(r[3] == "A" and r[9] == "C" for r in trans), "a learner who skips B"
    assert any(r[13] == 0 for r in trans), "two credentials on the same day"
    engagement = exp["mart_credential_engagement"]
    flags = [v for r in engagement for v in r if isinstance(v, bool)]
    assert True in flags and False in flags, "both published and suppressed cells"
    # the revoked event dated after the run date: revoked but still active as of the run
    assert any(r[10] and r[13] == "active" for r in awards)
    assert any(r[5] == "undisclosed" for r in exp["mart_credential_verification"])
    assert any(r[5] == "o1" for r in exp["mart_credential_verification"])
    inc = world["expected2"]["mart_credential_verification"]
    assert not any(r[5] == "o1" for r in inc), "o1 withdrew consent in phase 2"


def test_consent_stories_and_published_recipients(world):
    """Every consent story is in the data, and each published recipient-level mart holds exactly the
    consenting recipients (computed above from the consent rows), while the aggregates count everyone."""
    for stage, exp in (("phase1", "expected1"), ("incremental", "expected2")):
        decided = {r[0]: r for r in world[exp]["int_credentials__recipient_consent"]}
        consenting = {r[0] for r in world[exp]["_consenting"]}
        everyone = {r[1] for r in world[exp]["int_credentials__award_facts"]}
        assert 0 < len(consenting) < len(everyone)
        assert any(r[1] is None for r in decided.values()), "recipients who never consented"
        assert any(r[1] == "withdrawn" for r in decided.values()), "recipients who withdrew"
        for name, at in RECIPIENT_LEVEL.items():
            published = {r[at] for r in world[stage][name]}
            assert published <= consenting and published, (stage, name)
        assert {r[0] for r in world[stage]["mart_recipient_credentials"]} == consenting
        awards = world[stage]["int_credentials__award_facts"]
        assert len(world[stage]["fct_credential_awards"]) < len(awards)
        trends = world[stage]["mart_issuance_trends"]
        assert sum(r[4] for r in trends) == sum(1 for r in awards if r[4] is not None)  # everyone counts
        assert not any(r[7] is None for r in world[stage]["fct_credential_events"]), "no event without a recipient"
    p1, p2 = ({r[0] for r in world[e]["_consenting"]} for e in ("expected1", "expected2"))
    assert pseudo("u16") in p1, "withdrawn, then granted again"
    assert pseudo("u05") not in p1 and pseudo("u22") not in p1 and pseudo("u23") not in p1
    assert pseudo("u03") in p1 and pseudo("u03") not in p2, "a withdrawal delivered later"
    assert pseudo("u05") in p2, "granted again later"
    assert pseudo("u90") in p2, "an external recipient who became an LMS user keeps the email's grant"
    assert p1 - {pseudo(u["user_id"]) for u in world["raw"].users}, "an external recipient (email or hashed identity)"


def test_assumed_consent_publishes_everyone_but_the_withdrawn(world):
    got, exp = world["assumed"], world["expected_assumed"]
    for name in (*RECIPIENT_LEVEL, "int_credentials__recipient_consent"):
        assert norm(got[name]) == norm(exp[name]), name
    withdrawn = {r[0] for r in exp["int_credentials__recipient_consent"] if r[1] == "withdrawn"}
    assert withdrawn and not withdrawn & {r[0] for r in got["mart_recipient_credentials"]}
    assert len(got["fct_credential_awards"]) > len(world["incremental"]["fct_credential_awards"])
    assert any(r[7] is None for r in got["fct_credential_events"]), "the event of no award is published"


def test_flow_balances_for_every_credential(world):
    for stage in ("phase1", "incremental"):
        flow = world[stage]["mart_learner_flow"]
        progress = world[stage]["mart_pathway_progress"]
        for row in progress:
            coll, ach, completed = row[0], row[2], row[5]
            inflow = sum(r[9] for r in flow if r[0] == coll and r[5] == ach)
            outflow = sum(r[9] for r in flow if r[0] == coll and r[2] == ach)
            assert inflow == completed == outflow, (stage, coll, ach)
            assert row[6] + row[7] == completed == row[8] + row[9]


def test_no_small_cell_visible_and_none_recoverable(world):
    home = world["home"]
    for stage in ("phase1", "incremental"):
        eng = world[stage]["mart_credential_engagement"]
        cols = [c.strip() for c in COLUMNS["mart_credential_engagement"].split(",")]
        true_shares = {(a, m): n for a, m, n in world["expected1" if stage == "phase1" else "expected2"][
            "_engagement_true_shares"]}
        exposed = []
        for row in eng:
            rec = dict(zip(cols, row, strict=True))
            for col, value in rec.items():
                flag = f"is_{col}_suppressed"
                if flag in rec:
                    assert (value is None) == rec[flag], (col, rec)
                    assert value is None or value >= K, (col, rec)
            for num, rate in (("accepted", "acceptance_rate"), ("viewed", "view_rate"), ("shared", "share_rate"),
                              ("added_to_profile", "profile_add_rate"),
                              ("re_engaged_recipients", "re_engagement_rate")):
                if rec[f"is_{num}_suppressed"]:
                    assert rec[rate] is None, (rate, rec)
            # rows where a hidden channel count would be recoverable if the mart published the share total
            if any(rec[f"is_shares_{c}_suppressed"] for c in CHANNELS):
                total = true_shares[(rec["achievement_id"], rec["issue_month"])]
                if total != sum(rec[f"shares_{c}"] or 0 for c in CHANNELS):
                    exposed.append((rec, total))
        assert len(exposed) >= 5
        ver = world[stage]["mart_credential_verification"]
        for row in ver:
            for value, flag in ((row[6], row[7]), (row[8], row[9]), (row[10], row[11])):
                assert (value is None) == flag and (value is None or value >= K)
            if row[7] or row[11]:
                assert row[12] is None
    # no column of the published mart (all of them, not only the known ones) acts as the all-channel share
    # total, i.e. equals it on every row where a hidden channel count would then be recoverable
    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        cur = con.execute("select * from marts.mart_credential_engagement")
        names = [d[0] for d in cur.description]
        live = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    true_shares = {(a, m): n for a, m, n in world["expected2"]["_engagement_true_shares"]}
    exposed = [(rec, true_shares[(rec["achievement_id"], rec["issue_month"])]) for rec in live
               if any(rec[f"is_shares_{c}_suppressed"] for c in CHANNELS)
               and true_shares[(rec["achievement_id"], rec["issue_month"])] != sum(rec[f"shares_{c}"] or 0
                                                                                  for c in CHANNELS)]
    assert len(exposed) >= 5
    for col in names:
        values = [(rec[col], total) for rec, total in exposed]
        if all(isinstance(v, int) and not isinstance(v, bool) for v, _ in values):
            assert any(v != total for v, total in values), f"{col} publishes the share total"
    # no total rows: every mart row is one cell of the finest grain
    grain = query(home / "build.duckdb", "select count(*), count(distinct (achievement_id, issue_month)) "
                                         "from marts.mart_credential_engagement")
    assert grain[0][0] == grain[0][1]
    nulls = query(home / "build.duckdb", "select count(*) from marts.mart_credential_verification where "
                                         "achievement_id is null or event_month is null or verifier_industry is null "
                                         "or verifier_country is null")
    assert nulls == [(0,)]


def test_unconsented_verifier_organisations_absent(world):
    raw = world["raw"]
    consent = defaultdict(set)
    for e in raw.events:
        if e["verifier_organization_id"]:
            consent[e["verifier_organization_id"]].add(bool(e["verifier_consented"]))
    hidden = {o for o, flags in consent.items() if False in flags}
    assert {"o1", "o2", "o3"} <= hidden
    con = duckdb.connect(str(world["home"] / "build.duckdb"), read_only=True)
    try:
        for table in ("fct_credential_events", "mart_credential_verification"):
            found = {r[0] for r in con.execute(f"select distinct verifier_organization_id from marts.{table}").fetchall()}
            assert not found & hidden, table
        assert {r[0] for r in con.execute("select distinct verifier_organization_id from "
                                          "marts.mart_credential_verification").fetchall()} >= {"o4", "undisclosed"}
        # recipient-level rows carry pseudonymous ids only: no e-mail, no identity hash, no award IRI
        text = " ".join(str(v) for r in con.execute("select * from marts.mart_recipient_credentials").fetchall()
                        for v in r)
    finally:
        con.close()
    assert "@" not in text and "sha256$" not in text and "urn:uuid" not in text


def test_learner_ids_match_the_lms_pseudonyms(world):
    """A recipient who is an LMS user carries pseudonymise(user_id), like the learner-progress marts."""
    rows = world["incremental"]["int_credentials__award_facts"]
    matched = {r[1] for r in rows if r[3]}
    assert pseudo("u90") in matched            # guest1, matched only after phase 2 added the user
    assert pseudo("recipient:guest1@mail.test") not in {r[1] for r in rows}
    con = duckdb.connect(str(world["home"] / "build.duckdb"), read_only=True)
    try:
        con.execute(f"attach '{world['home'] / 'lake.duckdb'}' as lake (read_only)")
        lms = {r[0] for r in con.execute("select learner_id from staging.stg_lms__users").fetchall()}
    finally:
        con.close()
    assert matched <= lms


def test_generated_demo_data(tmp_path, monkeypatch):
    """The generator's landing zone, ingested, builds the credential marts; the invariants hold."""
    from skillpath.config import settings
    from skillpath.ingest.runner import ingest_landing
    from skillpath_dev.generate import generate_landing

    home = tmp_path / "home"
    monkeypatch.setenv("SKILLPATH_HOME", str(home))
    monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(home / "landing"))
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", TEST_KEY)
    generate_landing(home / "landing", statements=2000, seed=5)
    ingest_landing(settings(), include_lrs=False)
    run_dbt(home, "build", "--select", *SELECT, "--exclude", *OTHERS_TESTS,
            vars={"as_of_date": "2026-01-01"})     # default small_cell_k (5); includes the flow-balance test
    db = home / "build.duckdb"
    raw_awards = query(home / "lake.duckdb", "select count(distinct award_id) from raw.credential_awards")[0][0]
    assert raw_awards > 0
    assert query(db, "select count(*) from intermediate.int_credentials__award_facts") == [(raw_awards,)]
    # published: only the recipients whose consent holds (the generator's stories: some never, some withdrew)
    published = query(db, "select count(*), count(distinct learner_id) from marts.fct_credential_awards")[0]
    everyone = query(db, "select count(distinct learner_id) from intermediate.int_credentials__award_facts")[0][0]
    assert 0 < published[0] < raw_awards and 0 < published[1] < everyone
    unbalanced = query(db, """
        select p.collection_id, p.achievement_id
        from marts.mart_pathway_progress as p
        left join (select collection_id, target_node_id as a, sum(learners) as n from marts.mart_learner_flow
                   group by 1, 2) as i on p.collection_id = i.collection_id and p.achievement_id = i.a
        left join (select collection_id, source_node_id as a, sum(learners) as n from marts.mart_learner_flow
                   group by 1, 2) as o on p.collection_id = o.collection_id and p.achievement_id = o.a
        where p.completed <> coalesce(i.n, 0) or p.completed <> coalesce(o.n, 0)
           or p.new_entrants + p.continuing_entrants <> p.completed or p.advanced + p.stopped <> p.completed""")
    assert unbalanced == []
    assert query(db, "select sum(completed) from marts.mart_pathway_progress")[0][0] > 0
    assert query(db, "select count(*) from intermediate.int_credentials__award_facts where is_lms_matched")[0][0] > 0
    small = query(db, """
        select count(*) from marts.mart_credential_verification
        where verifications < 5 or verifying_organizations < 5 or hires < 5""")
    assert small == [(0,)]
    hidden = {r[0] for r in query(home / "lake.duckdb", "select distinct verifier_organization_id "
                                  "from raw.credential_events where not coalesce(verifier_consented, false)")}
    shown = {r[0] for r in query(db, "select distinct verifier_organization_id from marts.fct_credential_events "
                                 "where verifier_organization_id is not null")}
    assert hidden and not shown & hidden
