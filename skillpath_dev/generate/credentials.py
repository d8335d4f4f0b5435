"""Credentials of the sample data: pathways, award documents (OB 2.0, OB 3.0, CLR 2.0) and events.

Learners earn the credentials of a collection in order, one learner at a time,
right after their xAPI activity is simulated (a credential that certifies a
course needs that course completed). Documents and lifecycle events are
streamed to batched files.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import random
from dataclasses import dataclass
from pathlib import Path

import orjson

from skillpath_dev.generate.common import (
    CRED_HOME,
    DAY_MS,
    END_MS,
    HOUR_MS,
    HS256_DEMO_SECRET,
    RotatingWriter,
    fmt_ts,
    fmt_utc,
    sha256_hex,
    uuid4,
)
from skillpath_dev.generate.world import Learner, World

COLLECTIONS_HEADER = ["collection_id", "collection_name", "position", "achievement_id", "course_id"]
EVENT_TYPES = ("issued", "accepted", "viewed", "shared", "added_to_profile", "downloaded", "verified",
               "hired", "revoked", "expired")
CHANNELS = (("linkedin", 45), ("email", 15), ("link", 15), ("facebook", 10), ("x", 10), ("other", 5))
ISSUER_ID = f"{CRED_HOME}/issuers/skillpath-academy"
ISSUER_NAME = "Skillpath Academy"
REVOCATION_LIST_ID = f"{CRED_HOME}/ob2/revocation-list.json"
OB2_CONTEXT = "https://w3id.org/openbadges/v2"
VC2 = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
VC11 = ["https://www.w3.org/2018/credentials/v1", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
CLR_CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json",
               "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
AWARDS_PER_FILE = 50_000
EVENTS_PER_FILE = 250_000

# collection id, name, index of the account whose learners it mostly serves, steps:
# (slug, name, index of that account's course it certifies or None, validity days or None, type)
_CATALOG = [
    ("col-data", "Data Analytics Pathway", 0, [
        ("data-foundations", "Data Foundations", None, None, "Badge"),
        ("data-literacy", "Data Literacy", 0, 730, "Certificate"),
        ("sql-practitioner", "SQL Practitioner", 1, 730, "Certificate"),
        ("data-storytelling", "Data Storytelling Capstone", None, None, "Certification"),
    ]),
    ("col-cloud", "Cloud Operations Pathway", 1, [
        ("cloud-fundamentals", "Cloud Fundamentals", 0, 365, "Certificate"),
        ("networking-basics", "Networking Basics", None, None, "Badge"),
        ("infrastructure-as-code", "Infrastructure as Code", 1, 365, "Certificate"),
        ("observability", "Observability in Practice", None, None, "Badge"),
        ("cloud-operations-professional", "Cloud Operations Professional", None, 365, "Certification"),
    ]),
    ("col-lead", "Leadership Essentials", 2, [
        ("feedback-conversations", "Feedback Conversations", None, None, "Badge"),
        ("coaching-others", "Coaching Others", 0, None, "Certificate"),
        ("leading-change", "Leading Change", None, 730, "Certificate"),
    ]),
]
_INDUSTRIES = ["Technology", "Healthcare", "Finance", "Education", "Manufacturing", "Retail", "Government"]
_COUNTRIES = ["US", "GB", "DE", "IN", "FR", "CA", "NL", "BR", "JP", "AU"]
_REVOCATION_REASONS = ["Issued in error", "Assessment integrity review", "Requested by the recipient"]


@dataclass(frozen=True)
class Achievement:
    achievement_id: str
    slug: str
    name: str
    collection_id: str
    position: int
    course_id: str | None
    validity_days: int | None
    achievement_type: str


@dataclass(frozen=True)
class Collection:
    collection_id: str
    name: str
    account: int
    steps: tuple[Achievement, ...]


def build_catalog(world: World) -> list[Collection]:
    out = []
    for cid, name, acc, steps in _CATALOG:
        courses = world.accounts[acc].courses
        achs = tuple(
            Achievement(f"{CRED_HOME}/achievements/{slug}", slug, aname, cid, pos + 1,
                        courses[ci].course_id if ci is not None else None, validity, atype)
            for pos, (slug, aname, ci, validity, atype) in enumerate(steps))
        out.append(Collection(cid, name, acc, achs))
    return out


def collections_csv(catalog: list[Collection]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLLECTIONS_HEADER)
    for col in catalog:
        for a in col.steps:
            w.writerow([col.collection_id, col.name, a.position, a.achievement_id, a.course_id or ""])
    return buf.getvalue().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact_jwt(payload: dict, hs256: bool) -> str:
    """A compact JWT: ``alg: none`` (empty signature) or HS256 with the fixed demo secret."""
    header = {"alg": "HS256", "typ": "JWT"} if hs256 else {"alg": "none", "typ": "JWT"}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(payload))}"
    sig = _b64(hmac.new(HS256_DEMO_SECRET, signing_input.encode(), hashlib.sha256).digest()) if hs256 else ""
    return f"{signing_input}.{sig}"


class CredentialSim:
    """Earns, documents and narrates (events) the credentials of one learner at a time."""

    def __init__(self, world: World, out_dir: Path, events_dir: Path, rng: random.Random, defects: bool):
        self.world = world
        self.rng = rng
        self.defects = defects
        self.catalog = build_catalog(world)
        self.cred_dir = out_dir
        self.awards = RotatingWriter(out_dir / "awards", "awards", ".ndjson", AWARDS_PER_FILE)
        self.jwts = RotatingWriter(out_dir / "awards", "awards", ".jwt", AWARDS_PER_FILE)
        self.events = RotatingWriter(events_dir, "events", ".ndjson", EVENTS_PER_FILE)
        self.single_dir = out_dir / "single"
        self.singles: list[str] = []
        self.revoked_ob2: list[tuple[str, str]] = []
        self.by_format = dict.fromkeys(("ob2_assertion", "ob3_json_vc2", "ob3_json_vc11", "ob3_jwt",
                                        "clr", "clr_nested"), 0)
        self.awards_total = 0
        self.revoked = 0
        self.revoked_in_status = 0
        self.expired = 0
        self.by_event = dict.fromkeys(EVENT_TYPES, 0)
        self.flow = {"entrants": 0, "advanced": 0, "stopped": 0, "skipped": 0, "same_day": 0,
                     "returned_after_pause": 0, "completers": 0}
        self.defect_counts = {"event_unknown_type": 0, "event_duplicates": 0}
        self.orgs = [(f"org-{i + 1:03d}",
                      "Staffing & Recruiting" if i < 2 else rng.choice(_INDUSTRIES),
                      ("US", "GB")[i] if i < 2 else rng.choices(_COUNTRIES, (30, 15, 10, 10, 8, 8, 6, 5, 4, 4))[0],
                      rng.random() < 0.25)
                     for i in range(40)]
        # two background-check firms verify in bulk; the rest follow a long tail
        self.org_weights = [60, 40] + [12 / (i + 1) ** 0.8 for i in range(38)]
        self._last_event: tuple | None = None
        self.badge_classes: dict[str, dict] = {}
        for col in self.catalog:
            for a in col.steps:
                self.badge_classes[a.achievement_id] = self._badge_class(a)

    # --- documents -----------------------------------------------------------------------------
    def _badge_class(self, a: Achievement, embedded_issuer: bool = False) -> dict:
        return {
            "@context": OB2_CONTEXT, "type": "BadgeClass", "id": a.achievement_id, "name": a.name,
            "description": f"Awarded for {a.name.lower()} in the {a.collection_id[4:]} pathway.",
            "image": f"{CRED_HOME}/images/{a.slug}.png",
            "criteria": {"narrative": f"Complete the {a.name} assessment."},
            "issuer": self._ob2_issuer() if embedded_issuer else ISSUER_ID,
        }

    @staticmethod
    def _ob2_issuer() -> dict:
        return {"@context": OB2_CONTEXT, "type": "Issuer", "id": ISSUER_ID, "name": ISSUER_NAME,
                "url": CRED_HOME, "email": "badges@credentials.example.org",
                "revocationList": REVOCATION_LIST_ID}

    def _identity(self, email: str) -> tuple[str, bool, str]:
        r = self.rng.random()
        if r < 0.25:
            return email, False, ""
        salt = "" if r < 0.35 else f"{self.rng.getrandbits(32):08x}"
        return "sha256$" + sha256_hex(email + salt), True, salt

    def _ob3(self, a: Achievement, email: str, issued: int, expires: int | None, vc11: bool,
             revoked: tuple[int, str] | None = None) -> dict:
        ident, hashed, salt = self._identity(email)
        identifier = {"type": "IdentityObject", "identityHash": ident, "identityType": "emailAddress",
                      "hashed": hashed}
        if salt:
            identifier["salt"] = salt
        cid = "urn:uuid:" + uuid4(self.rng)
        issuer: dict | str = {"id": ISSUER_ID, "type": ["Profile"], "name": ISSUER_NAME}
        if vc11 and self.rng.random() < 0.3:
            issuer = ISSUER_ID
        doc = {
            "@context": VC11 if vc11 else VC2,
            "id": cid,
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": issuer,
            ("issuanceDate" if vc11 else "validFrom"): fmt_utc(issued),
            "name": a.name,
            "credentialSubject": {
                "type": ["AchievementSubject"] if self.rng.random() < 0.8 else "AchievementSubject",
                "identifier": [identifier],
                "achievement": {
                    "id": a.achievement_id, "type": ["Achievement"], "achievementType": a.achievement_type,
                    "name": a.name, "description": f"Awarded for {a.name.lower()}.",
                    "criteria": {"narrative": f"Complete the {a.name} assessment."},
                },
            },
            "credentialStatus": {"id": f"{CRED_HOME}/status/revocations#{cid[9:]}", "type": "1EdTechRevocationList"},
        }
        if expires is not None:
            doc["expirationDate" if vc11 else "validUntil"] = fmt_utc(expires)
        if revoked is not None and self.rng.random() < 0.5:
            # an export taken after the revocation states it in the credential's status
            doc["credentialStatus"].update(status="revoked", revocationReason=revoked[1])
            self.revoked_in_status += 1
        return doc

    def _ob2(self, a: Achievement, email: str, issued: int, expires: int | None) -> dict:
        ident, hashed, salt = self._identity(email)
        recipient: dict = {"type": "email", "hashed": hashed, "identity": ident}
        if salt:
            recipient["salt"] = salt
        r = self.rng.random()
        badge = self.badge_classes[a.achievement_id]["id"] if r < 0.6 else self._badge_class(a, r > 0.85)
        doc = {"@context": OB2_CONTEXT, "type": "Assertion",
               "id": f"{CRED_HOME}/assertions/{uuid4(self.rng)}", "recipient": recipient, "badge": badge,
               "issuedOn": fmt_utc(issued), "verification": {"type": "hosted"}}
        if expires is not None:
            doc["expires"] = fmt_utc(expires)
        if self.rng.random() < 0.3:
            doc["evidence"] = f"{CRED_HOME}/evidence/{uuid4(self.rng)}"
        return doc

    def _write_doc(self, doc: dict, single_ok: bool) -> None:
        if single_ok and len(self.singles) < 6 and self.rng.random() < 0.5:
            name = f"award-{len(self.singles) + 1:02d}.json"
            self.single_dir.mkdir(parents=True, exist_ok=True)
            (self.single_dir / name).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
            self.singles.append(name)
        else:
            self.awards.write(orjson.dumps(doc))

    # --- one learner ---------------------------------------------------------------------------
    def learner(self, lr: Learner, completed: dict[str, int]) -> int:
        """Earn, write and narrate the credentials of ``lr``; returns the number of awards."""
        rng = self.rng
        user = self.world.users[lr.user]
        acc = self.world.accounts[lr.account]
        n = 0
        for col in self.catalog:
            p_enter = 0.55 if col.account == lr.account else 0.08
            if rng.random() >= p_enter:
                continue
            earned = self._walk(col, lr, completed)
            if not earned:
                continue
            n += len(earned)
            completer = earned[-1][0].position == len(col.steps)
            if completer and earned[-1][1] + DAY_MS < END_MS:
                self._clr(col, earned, user.email, acc)
            else:
                for a, t in earned:
                    self._standalone(a, t, user.email, acc)
        return n

    def _walk(self, col: Collection, lr: Learner, completed: dict[str, int]) -> list[tuple[Achievement, int]]:
        rng = self.rng
        t = lr.start_ms + int(rng.uniform(3, 60) * DAY_MS)
        i = 0
        earned: list[tuple[Achievement, int]] = []
        steps = col.steps
        while i < len(steps):
            a = steps[i]
            if a.course_id is not None:
                done = completed.get(a.course_id)
                if done is None:
                    if rng.random() < 0.2 and i + 1 < len(steps):
                        self.flow["skipped"] += 1
                        i += 1
                        continue
                    break
                t = max(t, done + int(rng.uniform(0.1, 3) * DAY_MS))
            if t >= END_MS:
                break
            if earned and t - earned[-1][1] > 90 * DAY_MS:
                self.flow["returned_after_pause"] += 1
            if earned and fmt_utc(t)[:10] == fmt_utc(earned[-1][1])[:10]:
                self.flow["same_day"] += 1
            earned.append((a, t))
            if rng.random() > 0.7:
                break
            r = rng.random()
            if r < 0.05:
                t += rng.randint(1, 6) * HOUR_MS // 2
            elif r < 0.17:
                t += int(rng.uniform(95, 220) * DAY_MS)
            else:
                t += int(min(80.0, max(1.0, rng.lognormvariate(2.5, 0.7))) * DAY_MS)
            if rng.random() < 0.04 and i + 2 < len(steps):
                self.flow["skipped"] += 1
                i += 2
            else:
                i += 1
        if earned:
            self.flow["entrants"] += 1
            self.flow["advanced"] += len(earned) - 1
            self.flow["stopped"] += 1
            if earned[-1][0].position == len(steps):
                self.flow["completers"] += 1
        return earned

    def _fate(self, a: Achievement, issued: int, revoke_rate: float = 0.03
              ) -> tuple[int | None, tuple[int, str] | None]:
        """(expires_at, (revoked_at, reason)) of an award."""
        expires = issued + a.validity_days * DAY_MS if a.validity_days else None
        revoked = None
        if self.rng.random() < revoke_rate:
            at = issued + int(self.rng.uniform(3, 120) * DAY_MS)
            if at < END_MS:
                revoked = (at, self.rng.choice(_REVOCATION_REASONS))
        return expires, revoked

    def _standalone(self, a: Achievement, t: int, email: str, acc) -> None:
        rng = self.rng
        r = rng.random()
        # the legacy OB 2.0 issuer revokes more often than the OB 3.0 platform
        expires, revoked = self._fate(a, t, 0.08 if r < 0.25 else 0.03)
        if r < 0.25:
            doc = self._ob2(a, email, t, expires)
            self.by_format["ob2_assertion"] += 1
            self._write_doc(doc, True)
            if revoked is not None:
                self.revoked_ob2.append((doc["id"], revoked[1]))
        elif r < 0.37:
            vc = self._ob3(a, email, t, expires, vc11=True, revoked=revoked)
            payload = {"vc": vc, "iss": ISSUER_ID, "nbf": t // 1000, "jti": vc["id"]}
            if expires is not None:
                payload["exp"] = expires // 1000
            self.jwts.write(compact_jwt(payload, hs256=rng.random() < 0.5).encode())
            self.by_format["ob3_jwt"] += 1
            doc = vc
        else:
            vc11 = r < 0.5
            doc = self._ob3(a, email, t, expires, vc11=vc11, revoked=revoked)
            self.by_format["ob3_json_vc11" if vc11 else "ob3_json_vc2"] += 1
            self._write_doc(doc, True)
        self.awards_total += 1
        self._events(doc["id"], t, expires, revoked, acc)

    def _clr(self, col: Collection, earned: list[tuple[Achievement, int]], email: str, acc) -> None:
        rng = self.rng
        nested = []
        fates = []
        for a, t in earned:
            expires, revoked = self._fate(a, t)
            nested.append(self._ob3(a, email, t, expires, vc11=False, revoked=revoked))
            fates.append((t, expires, revoked))
        issued = earned[-1][1] + int(rng.uniform(0.5, 1) * DAY_MS)
        ident, hashed, salt = self._identity(email)
        identifier = {"type": "IdentityObject", "identityHash": ident, "identityType": "emailAddress",
                      "hashed": hashed}
        if salt:
            identifier["salt"] = salt
        pathway_id = f"{CRED_HOME}/achievements/{col.collection_id}"
        achievements = [{"id": pathway_id, "type": ["Achievement"], "achievementType": "LearningProgram",
                         "name": col.name, "criteria": {"narrative": f"Earn every credential of the {col.name}."}}]
        achievements += [n["credentialSubject"]["achievement"] for n in nested]
        doc = {
            "@context": CLR_CONTEXT, "id": "urn:uuid:" + uuid4(rng), "type": ["VerifiableCredential", "ClrCredential"],
            "issuer": {"id": ISSUER_ID, "type": ["Profile"], "name": ISSUER_NAME},
            "validFrom": fmt_utc(issued), "name": f"{col.name} record",
            "credentialSubject": {
                "type": ["ClrSubject"], "identifier": [identifier], "verifiableCredential": nested,
                "achievement": achievements,
                "association": [{"type": "Association", "associationType": "isParentOf", "sourceId": pathway_id,
                                 "targetId": a.achievement_id} for a, _ in earned],
            },
        }
        self._write_doc(doc, True)
        self.by_format["clr"] += 1
        self.by_format["clr_nested"] += len(nested)
        self.awards_total += len(nested) + 1
        for n, (t, expires, revoked) in zip(nested, fates, strict=True):
            self._events(n["id"], t, expires, revoked, acc)
        self._events(doc["id"], issued, None, None, acc)

    # --- events --------------------------------------------------------------------------------
    def _events(self, cid: str, issued: int, expires: int | None, revoked: tuple[int, str] | None,
                acc) -> None:
        rng = self.rng
        evs: list[tuple[int, str, dict]] = [(issued, "issued", {})]
        stop = min(END_MS, revoked[0] if revoked else END_MS, expires or END_MS)
        shared = False
        if rng.random() < 0.7:
            evs.append((issued + int(rng.expovariate(1 / 1.5) * DAY_MS), "accepted", {}))
        if rng.random() < 0.6:
            t = issued + int(rng.expovariate(1 / 3) * DAY_MS)
            for _ in range(1 + int(rng.expovariate(1 / 1.2))):
                evs.append((t, "viewed", {}))
                t += int(rng.expovariate(1 / 35) * DAY_MS) + HOUR_MS
        if rng.random() < 0.3:
            shared = True
            for _ in range(rng.choice((1, 1, 1, 2))):
                ch = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
                evs.append((issued + int(rng.expovariate(1 / 7) * DAY_MS), "shared", {"channel": ch}))
        if rng.random() < (0.4 if shared else 0.18):
            evs.append((issued + int(rng.expovariate(1 / 10) * DAY_MS), "added_to_profile", {}))
        if rng.random() < 0.2:
            evs.append((issued + int(rng.expovariate(1 / 5) * DAY_MS), "downloaded", {}))
        if rng.random() < (0.2 if shared else 0.06):
            t = issued + int(rng.expovariate(1 / 30) * DAY_MS)
            for _ in range(rng.choice((1, 1, 2, 3))):
                k = rng.choices(range(len(self.orgs)), self.org_weights)[0]
                org = self.orgs[k]
                verifier = {"organization_id": org[0], "industry": org[1], "country": org[2], "consented": org[3]}
                evs.append((t, "verified", {"verifier": verifier}))
                # background-check firms re-verify a few times while a hiring process runs
                for _ in range(rng.randint(1, 6) if k < 2 else 0):
                    evs.append((t + rng.randint(1, 72) * HOUR_MS, "verified", {"verifier": verifier}))
                if rng.random() < 0.15:
                    evs.append((t + int(rng.uniform(7, 45) * DAY_MS), "hired", {"verifier": verifier}))
                t += int(rng.expovariate(1 / 20) * DAY_MS)
        evs = [e for e in evs if e[0] < stop]
        if revoked is not None:
            evs.append((revoked[0], "revoked", {"reason": revoked[1]}))
            self.revoked += 1
        elif expires is not None and expires < END_MS:
            evs.append((expires, "expired", {}))
            self.expired += 1
        evs.sort(key=lambda e: (e[0], EVENT_TYPES.index(e[1])))
        for t, etype, extra in evs:
            ev = {"event_id": uuid4(rng), "event_type": etype, "occurred_at": fmt_ts(t, acc.off_min, acc.off),
                  "credential_id": cid, "channel": extra.get("channel"), "verifier": extra.get("verifier")}
            if "reason" in extra:
                ev["reason"] = extra["reason"]
            line = orjson.dumps(ev)
            self.events.write(line)
            self._last_event = (line, cid, t, acc)
            self.by_event[etype] += 1
            if self.defects and rng.random() < 0.001:
                self.events.write_same_file(line)
                self.defect_counts["event_duplicates"] += 1
            if self.defects and rng.random() < 0.0005:
                self._unknown_event(cid, t, acc)

    def _unknown_event(self, cid: str, t: int, acc) -> None:
        ev = {"event_id": uuid4(self.rng), "event_type": "badge_clicked",
              "occurred_at": fmt_ts(t, acc.off_min, acc.off), "credential_id": cid, "channel": None,
              "verifier": None}
        self.events.write_same_file(orjson.dumps(ev))
        self.defect_counts["event_unknown_type"] += 1

    def close(self) -> dict:
        """Write the OB 2.0 issuer, badge classes and revocation list; close the batched files."""
        if self.defects and self._last_event is not None:
            # small landings: make sure each event defect occurs at least once
            line, cid, t, acc = self._last_event
            if self.defect_counts["event_duplicates"] == 0:
                self.events.write_same_file(line)
                self.defect_counts["event_duplicates"] += 1
            if self.defect_counts["event_unknown_type"] == 0:
                self._unknown_event(cid, t, acc)
        ob2 = self.cred_dir / "ob2"
        ob2.mkdir(parents=True, exist_ok=True)
        (ob2 / "issuer.json").write_bytes(orjson.dumps(self._ob2_issuer(), option=orjson.OPT_INDENT_2))
        (ob2 / "badgeclasses.json").write_bytes(
            orjson.dumps(list(self.badge_classes.values()), option=orjson.OPT_INDENT_2))
        revoked = [{"id": i, "revocationReason": reason} if k % 3 else i
                   for k, (i, reason) in enumerate(self.revoked_ob2)]
        (ob2 / "revocation-list.json").write_bytes(orjson.dumps(
            {"@context": OB2_CONTEXT, "id": REVOCATION_LIST_ID, "type": "RevocationList",
             "issuer": ISSUER_ID, "revokedAssertions": revoked}, option=orjson.OPT_INDENT_2))
        self.awards.close()
        self.jwts.close()
        self.events.close()
        return {
            "awards": self.awards_total,
            "by_format": dict(self.by_format),
            "revoked": self.revoked,
            "revoked_in_ob2_revocation_list": len(self.revoked_ob2),
            "revoked_in_ob3_status": self.revoked_in_status,
            "expired_by_base_date": self.expired,
            "flow": dict(self.flow),
            "files": {**{f"awards/{k}": v for k, v in self.awards.files.items()},
                      **{f"awards/{k}": v for k, v in self.jwts.files.items()},
                      **{f"single/{k}": 1 for k in self.singles},
                      "ob2/issuer.json": 1, "ob2/badgeclasses.json": len(self.badge_classes),
                      "ob2/revocation-list.json": 1},
            "events": {"total": sum(self.by_event.values()), "by_type": dict(self.by_event),
                       "files": dict(self.events.files)},
            "defects": dict(self.defect_counts),
        }
