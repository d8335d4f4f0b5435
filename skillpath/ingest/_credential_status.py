"""Credential status (revocation / suspension) from status lists delivered in the landing zone.

A credential's ``credentialStatus`` entries of type

* ``BitstringStatusListEntry`` (``statusListCredential``, ``statusListIndex``, ``statusPurpose``)
  against a ``BitstringStatusListCredential`` (``encodedList``: multibase base64url, ``u``, of
  the GZIP-compressed bitstring);
* ``StatusList2021Entry`` (same fields) against a ``StatusList2021Credential`` (``encodedList``:
  base64url of the GZIP-compressed bitstring, no multibase prefix);
* ``1EdTechRevocationList`` (``id`` = the list's URL) against a revocation list document
  ``{"id": <url>, "revokedCredentials": [{"id": <credential id>, "revocationReason": ...}]}``
  (``revokedAssertions`` accepted too)

are resolved against the lists in ``<landing>/status/`` (``*.json``, one list per file, read
on every run; never fetched). Bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (the first
bit is the most significant one). A status list credential's own proof is verified
(:mod:`_credential_verify`, same keys): only a ``verified`` list is used; a 1EdTech revocation
list, for which the standard defines no proof, is used when unsigned too, and never when
its proof is ``invalid``.

:func:`check` gives one :class:`StatusResult` per entry: ``revoked``, ``suspended``,
``active``, or ``unknown`` (no such list delivered, list not trusted, index out of range,
bad entry) with a detail.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillpath.ingest import _credential_verify as verify

BITSTRING_TYPES = {"BitstringStatusListEntry": "BitstringStatusListCredential",
                   "StatusList2021Entry": "StatusList2021Credential"}
REVOCATION_LIST = "1EdTechRevocationList"
STATUS_TYPES = (*BITSTRING_TYPES, REVOCATION_LIST)


@dataclass(frozen=True)
class StatusResult:
    status_type: str
    list_id: str | None
    status_index: str | None
    purpose: str | None
    result: str            # revoked | suspended | active | unknown
    detail: str
    list_sha256: str | None
    reason: str | None = None


@dataclass
class StatusList:
    list_id: str
    kind: str                       # BitstringStatusListCredential | StatusList2021Credential | 1EdTechRevocationList
    sha256: str
    proof: verify.Outcome
    purpose: str | None = None
    bits: bytes | None = None
    revoked: dict[str, str | None] | None = None
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        if self.kind == REVOCATION_LIST:
            return self.proof.status in (verify.VERIFIED, verify.UNSIGNED)
        return self.proof.status == verify.VERIFIED


def _types(obj: dict) -> list[str]:
    t = obj.get("type")
    return [x for x in (t if isinstance(t, list) else [t]) if isinstance(x, str)]


def _decode_bits(encoded: str, multibase: bool) -> bytes:
    if multibase:
        if not encoded.startswith("u"):
            raise ValueError("encodedList is not multibase base64url ('u' prefix)")
        encoded = encoded[1:]
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"encodedList is not GZIP-compressed: {exc}") from None


def read_list(doc: Any, keys: verify.KeyDirectory, sha256: str) -> StatusList | None:
    """A status list from a delivered document (None: not a status list)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return None
    types = _types(doc)
    proof = verify.verify_credential(doc, keys) if doc.get("proof") else verify.Outcome(
        verify.UNSIGNED, "no proof")
    for kind in BITSTRING_TYPES.values():
        if kind in types:
            lst = StatusList(doc["id"], kind, sha256, proof)
            subject = doc.get("credentialSubject")
            subject = subject[0] if isinstance(subject, list) and subject else subject
            try:
                if not isinstance(subject, dict) or not isinstance(subject.get("encodedList"), str):
                    raise ValueError("credentialSubject.encodedList is missing")
                lst.purpose = subject.get("statusPurpose")
                lst.bits = _decode_bits(subject["encodedList"], kind == "BitstringStatusListCredential")
            except (ValueError, binascii.Error) as exc:
                lst.problem = str(exc)
            return lst
    if REVOCATION_LIST in types or "revokedCredentials" in doc:
        revoked: dict[str, str | None] = {}
        for entry in (doc.get("revokedCredentials") or doc.get("revokedAssertions") or []):
            if isinstance(entry, str):
                revoked[entry] = None
            elif isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry.get("revoked", True):
                reason = entry.get("revocationReason")
                revoked[entry["id"]] = reason if isinstance(reason, str) else None
        return StatusList(doc["id"], REVOCATION_LIST, sha256, proof, revoked=revoked)
    return None


class StatusLists:
    """The status lists in ``<landing>/status/`` (each file read on every run)."""

    def __init__(self, root: Path | str | None, keys: verify.KeyDirectory, documents: list[dict] | None = None):
        self.lists: dict[str, StatusList] = {}
        self.problems: list[str] = []
        root = Path(root) if root else None
        for path in sorted(root.rglob("*.json")) if root and root.is_dir() else []:
            if any(p.startswith(".") for p in path.relative_to(root).parts):
                continue
            try:
                data = path.read_bytes()
                self._add(json.loads(data), keys, hashlib.sha256(data).hexdigest(), path.name)
            except (ValueError, UnicodeDecodeError) as exc:
                self.problems.append(f"{path.name}: {exc}")
        for doc in documents or []:
            self._add(doc, keys, hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(), "?")

    def _add(self, doc: Any, keys: verify.KeyDirectory, sha: str, name: str) -> None:
        lst = read_list(doc, keys, sha)
        if lst is None:
            self.problems.append(f"{name}: not a status list")
        else:
            self.lists[lst.list_id] = lst


def status_entries(cred: dict) -> list[dict]:
    st = cred.get("credentialStatus")
    return [e for e in (st if isinstance(st, list) else [st]) if isinstance(e, dict)
            and any(t in STATUS_TYPES for t in _types(e))]


def check(cred_id: str, entry: dict, lists: StatusLists) -> StatusResult:
    """The status one ``credentialStatus`` entry gives, against the delivered lists."""
    types = _types(entry)
    stype = next(t for t in types if t in STATUS_TYPES)
    if stype == REVOCATION_LIST:
        list_id, index, purpose = entry.get("id"), None, "revocation"
    else:
        list_id, index, purpose = entry.get("statusListCredential"), entry.get("statusListIndex"), entry.get(
            "statusPurpose")
    index_s = None if index is None else str(index)

    def result(res: str, detail: str, lst: StatusList | None = None, reason: str | None = None) -> StatusResult:
        return StatusResult(stype, list_id if isinstance(list_id, str) else None, index_s,
                            purpose if isinstance(purpose, str) else None, res, detail,
                            lst.sha256 if lst else None, reason)

    if not isinstance(list_id, str):
        return result("unknown", "status entry names no list")
    lst = lists.lists.get(list_id)
    if lst is None:
        return result("unknown", f"status list {list_id[:150]} was not delivered (landing/status/)")
    if not lst.trusted:
        return result("unknown", f"status list proof is {lst.proof.status}: {lst.proof.detail[:200]}", lst)
    if stype == REVOCATION_LIST:
        if lst.kind != REVOCATION_LIST:
            return result("unknown", f"{list_id[:150]} is a {lst.kind}, not a 1EdTech revocation list", lst)
        if cred_id in (lst.revoked or {}):
            return result("revoked", "listed in the 1EdTech revocation list", lst, lst.revoked[cred_id])
        return result("active", "not in the 1EdTech revocation list", lst)
    if lst.kind != BITSTRING_TYPES[stype]:
        return result("unknown", f"{list_id[:150]} is a {lst.kind}, not a {BITSTRING_TYPES[stype]}", lst)
    if lst.problem or lst.bits is None:
        return result("unknown", f"status list unreadable: {lst.problem}", lst)
    if lst.purpose and purpose and lst.purpose != purpose:
        return result("unknown", f"entry purpose {purpose!r} is not the list's {lst.purpose!r}", lst)
    try:
        i = int(str(index))
    except ValueError:
        return result("unknown", f"statusListIndex {index!r} is not a number", lst)
    if i < 0 or i // 8 >= len(lst.bits):
        return result("unknown", f"statusListIndex {i} is outside the list ({len(lst.bits) * 8} entries)", lst)
    is_set = bool(lst.bits[i // 8] & (0x80 >> (i % 8)))
    if not is_set:
        return result("active", f"bit {i} of the {purpose or 'status'} list is not set", lst)
    if purpose == "suspension":
        return result("suspended", f"bit {i} of the suspension list is set", lst, "suspended (status list)")
    if purpose in (None, "revocation"):
        return result("revoked", f"bit {i} of the revocation list is set", lst, "revoked (status list)")
    return result("active", f"bit {i} set for purpose {purpose!r} (neither revocation nor suspension)", lst)
