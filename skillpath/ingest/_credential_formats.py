"""Reading Open Badges 2.0 / 3.0 and CLR 2.0 documents (pure functions, no I/O).

A *document* is one JSON object or one compact JWT. :func:`parse_document`
detects its format, checks what the warehouse relies on and returns a
:class:`Document` with the awards (issued credentials) and CLR associations it
holds, or raises :class:`Rejected` with a quarantine reason and a detail.

Lenient where the standards are (a value may be an IRI or an embedded object,
a single value or an array, a language map), strict where a row would be
wrong (no id, no issuer, no achievement, an OB 2.0 assertion without a
recipient, a date that does not parse, a credential that expires before it is
issued or is issued in the future, an unknown ``@context`` or ``type``). An
Open Badges 3.0 / CLR credential without any recipient is still an award
(unattributed, its ``conformance_problem`` says why). Proofs are verified by
``_credential_verify`` at ingestion, not here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from skillpath.ingest.records import (  # noqa: F401 - canonical_sha256 re-exported for the loader
    Rejected,
    canonical_sha256,
    dumps,
    iso_to_utc,
)

OB2_CONTEXTS = ("https://w3id.org/openbadges/v2", "https://openbadgespec.org/v2/context.json")
VC_CONTEXTS = ("https://www.w3.org/2018/credentials/v1", "https://www.w3.org/ns/credentials/v2")
# context IRIs of OB 3.0 and CLR 2.0 (final and draft locations)
OB3_CONTEXT_MARKERS = ("purl.imsglobal.org/spec/ob/v3p0", "purl.imsglobal.org/spec/clr/v2p0",
                       "imsglobal.github.io/openbadges-specification", "dc.imsglobal.org/draft/clr")

OB2_FORMATS = {"Assertion": "ob2_assertion", "BadgeClass": "ob2_badgeclass", "Issuer": "ob2_issuer",
               "Profile": "ob2_issuer", "RevocationList": "ob2_revocationlist"}
# Open Badges 2.0 classes that are valid documents but carry nothing the warehouse uses
OB2_UNUSED = {"Endorsement", "CryptographicKey", "AlignmentObject", "Criteria", "Image", "Evidence",
              "Extension", "VerificationObject", "IdentityObject", "FrameValidation"}
OB3_TYPES = {"OpenBadgeCredential", "AchievementCredential"}
VC_UNUSED = {"EndorsementCredential"}

JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
HASHED_RE = re.compile(r"^(sha256|md5)\$([0-9a-f]+)$", re.IGNORECASE)
HASH_HEX_LEN = {"sha256": 64, "md5": 32}
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Award:
    """One issued credential, in the columns of ``raw.credential_awards``.

    ``badge`` is the OB 2.0 assertion's embedded BadgeClass (None when the badge
    is given as an IRI); the names it lacks are filled from the registry.
    """

    award_id: str
    source_format: str
    parent_award_id: str | None
    achievement_id: str | None
    achievement_name: str | None
    achievement_type: str | None
    issuer_id: str | None
    issuer_name: str | None
    recipient_identity: str | None       # None: an unattributed Open Badges 3.0 / CLR award
    recipient_hashed: bool
    recipient_salt: str | None
    issued_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked: bool
    revocation_reason: str | None
    payload_sha256: str
    conformance_problem: str | None = None
    badge: dict | None = field(default=None, compare=False, repr=False)

    COLUMNS = ("award_id", "source_format", "parent_award_id", "achievement_id", "achievement_name",
               "achievement_type", "issuer_id", "issuer_name", "recipient_identity", "recipient_hashed",
               "recipient_salt", "issued_at", "expires_at", "revoked", "revocation_reason", "payload_sha256",
               "conformance_problem")

    def values(self) -> tuple:
        return tuple(getattr(self, c) for c in self.COLUMNS)

    def core(self) -> tuple:
        """What makes an award: a second document with the same id must agree on these."""
        return (self.source_format, self.achievement_id, self.recipient_identity, self.recipient_hashed,
                self.recipient_salt, self.issued_at, self.expires_at)

    def merge_into(self, known: Award) -> Award:
        """The award as known after this document: new values win, gaps are kept, revocation sticks."""
        def pick(attr: str):
            new = getattr(self, attr)
            return new if new is not None else getattr(known, attr)

        return replace(
            known,
            parent_award_id=pick("parent_award_id"), achievement_name=pick("achievement_name"),
            achievement_type=pick("achievement_type"), issuer_id=pick("issuer_id"),
            issuer_name=pick("issuer_name"), revoked=known.revoked or self.revoked,
            revocation_reason=self.revocation_reason or known.revocation_reason,
        )


@dataclass
class Document:
    """One parsed document: a ``raw.credential_documents`` row plus what it holds."""

    document_format: str
    document_id: str | None
    payload: dict                 # the JSON object (for a JWT: its decoded claims)
    raw_text: str
    awards: list[Award] = field(default_factory=list)
    associations: list[tuple[str, str, str, str]] = field(default_factory=list)  # clr_id, type, source, target
    revoked: dict[str, str | None] = field(default_factory=dict)   # revocation list: assertion id -> reason

    @property
    def payload_json(self) -> str:
        return dumps(self.payload).decode()

    @property
    def payload_sha256(self) -> str:
        return canonical_sha256(self.payload)


# --------------------------------------------------------------------------- helpers


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def types_of(obj: dict) -> list[str]:
    return [t for t in as_list(obj.get("type", obj.get("@type"))) if isinstance(t, str) and t]


def ref_id(value: Any) -> str | None:
    """The id of an IRI-or-object value (the first one when it is an array)."""
    for v in as_list(value):
        if isinstance(v, str) and v.strip():
            return v.strip()
        if isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"].strip():
            return v["id"].strip()
    return None


def text(value: Any) -> str | None:
    """A display string from a string, a language map ({"en": ..}) or JSON-LD value objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "@value" in value:
            return text(value["@value"])
        for lang in ("en", "en-US", "en-GB"):
            if isinstance(value.get(lang), str):
                return value[lang]
        for v in value.values():
            if isinstance(v, str):
                return v
    if isinstance(value, list):
        values = [v for v in value if isinstance(v, dict) and "@value" in v]
        for v in values:
            if str(v.get("@language", "")).lower().startswith("en"):
                return text(v)
        for v in value:
            t = text(v)
            if t is not None:
                return t
    return None


def parse_datetime(value: Any) -> dt.datetime:
    """ISO 8601 (with or without offset; no offset = UTC) or Unix seconds -> naive UTC."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(value)
    s = value.strip()
    if s.isdigit():
        return dt.datetime.fromtimestamp(int(s), dt.UTC).replace(tzinfo=None)
    return iso_to_utc(s, clamp=False)


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _b64url_json(part: str, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise Rejected("malformed_jwt", f"JWT {what} is not base64url-encoded JSON: {exc}") from None


def decode_jwt(token: str) -> tuple[dict, dict]:
    """Header and payload of a compact JWS (the signature is not verified)."""
    token = token.strip()
    if not JWT_RE.match(token):
        raise Rejected("malformed_jwt", "not a compact JWT (three base64url parts separated by '.')")
    head, body, _sig = token.split(".")
    header = _b64url_json(head, "header")
    payload = _b64url_json(body, "payload")
    if not isinstance(header, dict) or "alg" not in header:
        raise Rejected("malformed_jwt", "JWT header is not a JSON object with 'alg'")
    if not isinstance(payload, dict):
        raise Rejected("malformed_jwt", "JWT payload is not a JSON object")
    return header, payload


def credential_from_jwt_payload(payload: dict) -> dict:
    """The credential a JWT carries: its ``vc`` claim (registered claims filling gaps) or the payload."""
    vc = payload.get("vc")
    if not isinstance(vc, dict):
        return payload
    vc = copy.deepcopy(vc)
    if "id" not in vc and isinstance(payload.get("jti"), str):
        vc["id"] = payload["jti"]
    if "issuer" not in vc and isinstance(payload.get("iss"), str):
        vc["issuer"] = payload["iss"]
    subject = vc.get("credentialSubject")
    if isinstance(subject, dict) and "id" not in subject and isinstance(payload.get("sub"), str):
        subject["id"] = payload["sub"]
    if not any(k in vc for k in ("validFrom", "issuanceDate")) and isinstance(payload.get("nbf"), int | float):
        vc["issuanceDate"] = payload["nbf"]
    if not any(k in vc for k in ("validUntil", "expirationDate")) and isinstance(payload.get("exp"), int | float):
        vc["expirationDate"] = payload["exp"]
    return vc


def _context_iris(obj: dict) -> tuple[list[str], bool]:
    """The context IRIs and whether an inline Open Badges 2.0 context is embedded."""
    iris, inline_ob2 = [], False
    for c in as_list(obj.get("@context")):
        if isinstance(c, str):
            iris.append(c.strip())
        elif isinstance(c, dict) and any(isinstance(v, str) and "w3id.org/openbadges" in v for v in c.values()):
            inline_ob2 = True
    return iris, inline_ob2


def _has_ob2_context(obj: dict) -> bool:
    iris, inline_ob2 = _context_iris(obj)
    return inline_ob2 or any(i.rstrip("/") in OB2_CONTEXTS for i in iris)


def _has_ob3_context(obj: dict) -> bool:
    iris, _ = _context_iris(obj)
    return any(m in i for i in iris for m in OB3_CONTEXT_MARKERS)


def _is_iri(t: str) -> bool:
    return ":" in t


# --------------------------------------------------------------------------- detection


def detect_format(obj: Any) -> str:
    """ob2_assertion | ob2_badgeclass | ob2_issuer | ob2_revocationlist | ob3_credential | clr2_credential."""
    if not isinstance(obj, dict):
        raise Rejected("unsupported_document", f"a JSON {type(obj).__name__}, not a JSON object")
    types = types_of(obj)
    if "ClrCredential" in types:
        return "clr2_credential"
    if OB3_TYPES & set(types):
        return "ob3_credential"
    if "VerifiableCredential" in types:
        others = sorted(set(types) - {"VerifiableCredential"})
        if VC_UNUSED & set(types):
            raise Rejected("unsupported_document", f"{'/'.join(others)} is not an issued award")
        if _has_ob3_context(obj):
            raise Rejected("invalid_credential",
                           f"invalid type {types}: no OpenBadgeCredential, AchievementCredential or ClrCredential")
        raise Rejected("unsupported_document", f"a verifiable credential of type {others}, not Open Badges / CLR")
    known = [t for t in types if t in OB2_FORMATS]
    ob2_ctx = _has_ob2_context(obj)
    if known:
        unknown = [t for t in types if t not in OB2_FORMATS and t not in OB2_UNUSED and not _is_iri(t)]
        if unknown:
            raise Rejected("invalid_credential", f"invalid type: unknown class {unknown} in {types}")
        return OB2_FORMATS[known[0]]
    if "type" in obj or "@type" in obj:
        if not types:
            if ob2_ctx:
                raise Rejected("invalid_credential", "invalid type: empty")
            raise Rejected("unsupported_document", "empty type")
        if all(t in OB2_UNUSED or _is_iri(t) for t in types):
            raise Rejected("unsupported_document", f"{types} document: not an assertion, badge class, "
                                                   "issuer or revocation list")
        if ob2_ctx:
            raise Rejected("invalid_credential", f"invalid type: unknown class {types}")
        raise Rejected("unsupported_document", f"unknown document type {types}")
    raise Rejected("unsupported_document", "JSON object without a type: not an Open Badges / CLR document")


# --------------------------------------------------------------------------- recipients


def _identity(value: Any, hashed: Any, salt: Any, is_email: bool, where: str,
              problems: list[str]) -> tuple[str, bool, str | None] | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: identity is empty")
        return None
    v = value.strip()
    flag = to_bool(hashed)
    m = HASHED_RE.match(v)
    if flag or (flag is None and m):
        if not m or len(m.group(2)) != HASH_HEX_LEN[m.group(1).lower()]:
            problems.append(f"{where}: hashed identity {v!r} is not 'sha256$<64 hex>' or 'md5$<32 hex>'")
            return None
        return f"{m.group(1).lower()}${m.group(2).lower()}", True, salt if isinstance(salt, str) else None
    if is_email:
        v = v.removeprefix("mailto:").removeprefix("MAILTO:").lower()
    return v, False, None


def _ob3_recipient(subject: dict, where: str, problems: list[str]) -> tuple[str, bool, str | None] | None:
    """Email identifier (plain or hashed) first, then credentialSubject.id (mailto: -> email)."""
    found = None
    for i, ident in enumerate(as_list(subject.get("identifier"))):
        w = f"{where}.identifier[{i}]"
        if not isinstance(ident, dict):
            problems.append(f"{w} is not an object")
            continue
        itypes = types_of(ident)
        if itypes and not {"IdentityObject", "IdentifierEntry"} & set(itypes):
            problems.append(f"{w}.type {itypes} is not IdentityObject")
            continue
        if found is None and str(ident.get("identityType", "")).strip() in ("emailAddress", "email"):
            found = _identity(ident.get("identityHash"), ident.get("hashed"), ident.get("salt"), True, w, problems)
    if found:
        return found
    sid = subject.get("id")
    if isinstance(sid, str) and sid.strip():
        sid = sid.strip()
        if sid.lower().startswith("mailto:"):
            return sid[7:].lower(), False, None
        return sid, False, None
    return None


# --------------------------------------------------------------------------- dates


def _date(obj: dict, keys: tuple[str, ...], problems: list[str], where: str) -> dt.datetime | None:
    for key in keys:
        if obj.get(key) is not None:
            try:
                return parse_datetime(obj[key])
            except (ValueError, TypeError, OverflowError, OSError):
                problems.append(f"{where}unparsable date {key}={obj[key]!r}")
                return None
    return None


def _check_dates(issued, expires, now: dt.datetime, problems: list[str], where: str) -> None:
    if issued and expires and expires <= issued:
        problems.append(f"{where}expired before issued (expires {expires.isoformat()} <= issued {issued.isoformat()})")
    if issued and issued > now + FUTURE_TOLERANCE:
        problems.append(f"{where}issued in the future ({issued.isoformat()})")


def _fail(problems: list[str], no_recipient: bool) -> None:
    if problems:
        if no_recipient:
            problems.append("no recipient")
        raise Rejected("invalid_credential", "; ".join(problems))
    if no_recipient:
        raise Rejected("no_recipient", "no recipient identity: nothing to attribute the award to")


# --------------------------------------------------------------------------- Open Badges 2.0


def _ob2_common(obj: dict, what: str, problems: list[str]) -> str | None:
    if not _has_ob2_context(obj):
        problems.append(f"invalid @context {obj.get('@context')!r}: not Open Badges 2.0")
    doc_id = ref_id(obj.get("id"))
    if not doc_id:
        problems.append(f"missing id ({what})")
    return doc_id


def ob2_assertion(obj: dict, now: dt.datetime) -> Award:
    problems: list[str] = []
    award_id = _ob2_common(obj, "assertion", problems)
    recipient, no_recipient = None, False
    rec = obj.get("recipient")
    if not isinstance(rec, dict) or not rec.get("identity"):
        no_recipient = True
    else:
        rtype = str(rec.get("type", "email")).strip().lower()
        recipient = _identity(rec.get("identity"), rec.get("hashed"), rec.get("salt"), rtype == "email",
                              "recipient", problems)
    badge = obj.get("badge")
    embedded = badge if isinstance(badge, dict) else None
    achievement_id = ref_id(badge)
    if badge is None:
        problems.append("missing badge")
    elif not achievement_id:
        problems.append("badge has no id")
    elif embedded is not None and not ref_id(embedded.get("issuer")):
        problems.append("missing issuer (embedded badge has no issuer)")
    issued = _date(obj, ("issuedOn",), problems, "")
    if obj.get("issuedOn") is None:
        problems.append("missing issuedOn")
    expires = _date(obj, ("expires",), problems, "")
    _check_dates(issued, expires, now, problems, "")
    _fail(problems, no_recipient)
    revoked = to_bool(obj.get("revoked")) is True
    return Award(
        award_id=award_id, source_format="ob2", parent_award_id=None, achievement_id=achievement_id,
        achievement_name=None, achievement_type="Badge", issuer_id=None, issuer_name=None,
        recipient_identity=recipient[0], recipient_hashed=recipient[1], recipient_salt=recipient[2],
        issued_at=issued, expires_at=expires, revoked=revoked,
        revocation_reason=text(obj.get("revocationReason")) if revoked else None,
        payload_sha256=canonical_sha256(obj), badge=embedded,
    )


def ob2_check_badgeclass(obj: dict) -> str:
    problems: list[str] = []
    doc_id = _ob2_common(obj, "badge class", problems)
    if not ref_id(obj.get("issuer")):
        problems.append("missing issuer")
    _fail(problems, False)
    return doc_id


def ob2_check_issuer(obj: dict) -> str:
    problems: list[str] = []
    doc_id = _ob2_common(obj, "issuer", problems)
    _fail(problems, False)
    return doc_id


def ob2_revocations(obj: dict) -> tuple[str, dict[str, str | None]]:
    problems: list[str] = []
    doc_id = _ob2_common(obj, "revocation list", problems)
    revoked: dict[str, str | None] = {}
    entries = obj.get("revokedAssertions", [])
    if not isinstance(entries, list):
        problems.append("revokedAssertions is not an array")
        entries = []
    for i, entry in enumerate(entries):
        rid = ref_id(entry)
        if not rid:
            problems.append(f"revokedAssertions[{i}] has no id")
            continue
        revoked[rid] = text(entry.get("revocationReason")) if isinstance(entry, dict) else None
    _fail(problems, False)
    return doc_id, revoked


@dataclass
class Registry:
    """OB 2.0 badge classes, issuers and revoked assertion ids known so far (latest wins)."""

    badgeclasses: dict[str, dict] = field(default_factory=dict)
    issuers: dict[str, dict] = field(default_factory=dict)
    revoked: dict[str, str | None] = field(default_factory=dict)

    def add(self, doc: Document) -> None:
        if doc.document_format == "ob2_badgeclass":
            self.badgeclasses[doc.document_id] = doc.payload
        elif doc.document_format == "ob2_issuer":
            self.issuers[doc.document_id] = doc.payload
        elif doc.document_format == "ob2_revocationlist":
            self.revoked.update(doc.revoked)

    def resolve(self, award: Award) -> Award:
        """Fill an OB 2.0 award's gaps (achievement name, issuer, revocation) from the registry."""
        if award.source_format != "ob2":
            return award
        badge = award.badge or self.badgeclasses.get(award.achievement_id) or {}
        name = award.achievement_name or text(badge.get("name"))
        issuer = badge.get("issuer")
        issuer_id = award.issuer_id or ref_id(issuer)
        issuer_obj = issuer if isinstance(issuer, dict) and issuer.get("name") else self.issuers.get(issuer_id, {})
        issuer_name = award.issuer_name or text(issuer_obj.get("name"))
        revoked, reason = award.revoked, award.revocation_reason
        if award.award_id in self.revoked:
            revoked, reason = True, reason or self.revoked[award.award_id]
        return replace(award, achievement_name=name, issuer_id=issuer_id, issuer_name=issuer_name,
                       revoked=revoked, revocation_reason=reason)


# --------------------------------------------------------------------------- Open Badges 3.0 / CLR 2.0


def _status(cred: dict) -> tuple[bool, str | None]:
    """Revocation stated in credentialStatus ({"revoked": true} or {"status": "revoked"}); lists are not fetched."""
    for st in as_list(cred.get("credentialStatus")):
        if isinstance(st, dict) and (to_bool(st.get("revoked")) is True
                                     or str(st.get("status", "")).strip().lower() == "revoked"):
            return True, text(st.get("revocationReason") or st.get("reason"))
    return False, None


def vc_award(cred: dict, now: dt.datetime, *, clr: bool, where: str = "",
             parent: str | None = None, fallback_recipient: tuple | None = None) -> Award:
    """An OB 3.0 credential (or the CLR container when ``clr``) as an award."""
    problems: list[str] = []
    iris, _ = _context_iris(cred)
    if parent is None or iris:      # nested credentials may inherit the CLR's context
        if not iris or iris[0].rstrip("/") not in VC_CONTEXTS:
            problems.append(f"{where}invalid @context: the first entry must be the W3C VC context")
    types = types_of(cred)
    wanted = {"ClrCredential"} if clr else OB3_TYPES
    if not wanted & set(types):
        problems.append(f"{where}invalid type {types}")
    award_id = ref_id(cred.get("id"))
    if not award_id:
        problems.append(f"{where}missing id")
    issuer = cred.get("issuer")
    issuer_id = ref_id(issuer)
    if not issuer_id:
        problems.append(f"{where}missing issuer")
    elif isinstance(issuer, dict) and types_of(issuer) and "Profile" not in types_of(issuer):
        problems.append(f"{where}issuer type {types_of(issuer)} is not Profile")
    issued = _date(cred, ("validFrom", "issuanceDate", "awardedDate"), problems, where)
    if all(cred.get(k) is None for k in ("validFrom", "issuanceDate", "awardedDate")):
        problems.append(f"{where}missing validFrom / issuanceDate")
    expires = _date(cred, ("validUntil", "expirationDate"), problems, where)
    _check_dates(issued, expires, now, problems, where)
    subject = cred.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    recipient = None
    achievement_id = achievement_name = achievement_type = None
    if not isinstance(subject, dict):
        problems.append(f"{where}missing credentialSubject" if subject is None
                        else f"{where}credentialSubject is not one object")
    else:
        stypes = types_of(subject)
        want_subject = "ClrSubject" if clr else "AchievementSubject"
        if stypes and want_subject not in stypes:
            problems.append(f"{where}credentialSubject type {stypes} is not {want_subject}")
        recipient = _ob3_recipient(subject, f"{where}credentialSubject", problems)
        if not clr:
            ach = subject.get("achievement")
            achievement_id = ref_id(ach)
            if not achievement_id:
                problems.append(f"{where}missing credentialSubject.achievement" if ach is None
                                else f"{where}credentialSubject.achievement has no id")
            elif isinstance(ach, dict):
                if types_of(ach) and "Achievement" not in types_of(ach):
                    problems.append(f"{where}achievement type {types_of(ach)} is not Achievement")
                achievement_name = text(ach.get("name"))
                achievement_type = text(ach.get("achievementType")) or "Badge"
    if recipient is None and fallback_recipient and fallback_recipient[0] is not None:
        recipient = fallback_recipient
    _fail(problems, recipient is None and bool(problems))  # with other problems: invalid_credential (naming "no recipient")
    conformance = None
    if recipient is None:
        # wallets emit subjects with a name but no id / identifier: an award all the same, unattributed
        recipient = (None, False, None)
        conformance = (f"{where}no recipient: credentialSubject has no id and no email identifier "
                       "(unattributed award)")
    revoked, reason = _status(cred)
    return Award(
        award_id=award_id, source_format="clr2" if clr else "ob3", parent_award_id=parent,
        achievement_id=achievement_id, achievement_name=achievement_name if not clr else text(cred.get("name")),
        achievement_type=achievement_type, issuer_id=issuer_id,
        issuer_name=text(issuer.get("name")) if isinstance(issuer, dict) else None,
        recipient_identity=recipient[0], recipient_hashed=recipient[1], recipient_salt=recipient[2],
        issued_at=issued, expires_at=expires, revoked=revoked, revocation_reason=reason,
        payload_sha256=canonical_sha256(cred), conformance_problem=conformance,
    )


def clr_awards(cred: dict, now: dt.datetime) -> tuple[list[Award], list[tuple[str, str, str, str]]]:
    """The CLR container award, its nested credentials' awards and its associations."""
    container = vc_award(cred, now, clr=True)
    subject = cred["credentialSubject"]
    subject = subject[0] if isinstance(subject, list) else subject
    awards = [container]
    problems: list[str] = []
    nested = subject.get("verifiableCredential")
    if not isinstance(nested, list) or not nested:
        problems.append("credentialSubject.verifiableCredential is missing or empty")
        nested = []
    recipient = (container.recipient_identity, container.recipient_hashed, container.recipient_salt)
    for i, item in enumerate(nested):
        where = f"verifiableCredential[{i}]: "
        try:
            inner = credential_from_jwt_payload(decode_jwt(item)[1]) if isinstance(item, str) else item
            if not isinstance(inner, dict):
                raise Rejected("invalid_credential", f"{where}not an object or a compact JWT")
            awards.append(vc_award(inner, now, clr=False, where=where, parent=container.award_id,
                                   fallback_recipient=recipient))
        except Rejected as exc:
            problems.append(exc.detail if exc.detail.startswith(where) else where + exc.detail)
    associations = []
    for i, assoc in enumerate(as_list(subject.get("association"))):
        vals = [assoc.get(k) if isinstance(assoc, dict) else None
                for k in ("associationType", "sourceId", "targetId")]
        if not all(isinstance(v, str) and v.strip() for v in vals):
            problems.append(f"association[{i}] needs associationType, sourceId and targetId")
            continue
        associations.append((container.award_id, *(v.strip() for v in vals)))
    ids = [a.award_id for a in awards]
    if len(set(ids)) != len(ids):
        problems.append("a nested credential has the same id as another credential in this CLR")
    _fail(problems, False)
    return awards, associations


# --------------------------------------------------------------------------- entry point


def parse_document(obj: Any, raw_text: str, now: dt.datetime, *, from_jwt: bool = False) -> Document:
    """Detect, check and extract one document (``obj`` is the JSON object or decoded JWT payload)."""
    cred = credential_from_jwt_payload(obj) if from_jwt and isinstance(obj, dict) else obj
    fmt = detect_format(cred)
    doc = Document(document_format=fmt, document_id=None, payload=obj, raw_text=raw_text)
    if fmt == "ob2_assertion":
        award = ob2_assertion(cred, now)
        doc.document_id, doc.awards = award.award_id, [award]
    elif fmt == "ob2_badgeclass":
        doc.document_id = ob2_check_badgeclass(cred)
    elif fmt == "ob2_issuer":
        doc.document_id = ob2_check_issuer(cred)
    elif fmt == "ob2_revocationlist":
        doc.document_id, doc.revoked = ob2_revocations(cred)
    elif fmt == "ob3_credential":
        award = vc_award(cred, now, clr=False)
        doc.document_id, doc.awards = award.award_id, [award]
    else:
        doc.awards, doc.associations = clr_awards(cred, now)
        doc.document_id = doc.awards[0].award_id
    return doc
