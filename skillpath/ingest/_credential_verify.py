"""Verifying the proofs of Open Badges 3.0 / CLR 2.0 credentials, offline.

One credential (a JSON object or a compact VC-JWT) gives one :class:`Outcome`:

* ``verified``: every proof that could be checked holds, at least one did;
* ``invalid``: a proof does not hold (tampered document, wrong key, bad proof value,
  a JWT claim that contradicts the credential, an unusable verification method);
* ``unverifiable``: the proof could hold but cannot be checked here: its key is not
  resolvable offline (not a ``did:key``, not in the key directory), its proof type or
  cryptosuite is not supported, or a JSON-LD context it needs is not shipped;
* ``unsigned``: no proof at all (Open Badges 2.0 hosted assertions, unsigned VCs).

Proof formats (following the 1EdTech verification steps):

* Data Integrity ``DataIntegrityProof`` with cryptosuite ``eddsa-rdfc-2022`` or the
  older ``eddsa-2022``, and ``Ed25519Signature2020``: the document without ``proof`` and
  the proof options (with the document's ``@context``) are canonicalised (RDF dataset
  canonicalisation, PyLD), each hashed with SHA-256, and the Ed25519 signature in
  ``proofValue`` (multibase base58btc) is checked over the two hashes. JSON-LD contexts
  come only from ``contexts/`` beside this module: :func:`document_loader` refuses
  every other URL, so nothing is ever fetched.
* VC-JWT (RS256/384/512, PS256, ES256/384, EdDSA) with jwcrypto; ``iss``, ``sub``,
  ``jti``, ``nbf`` and ``exp`` must agree with the credential they carry.

Keys: ``did:key`` (Ed25519, multibase/multicodec) is decoded here; any other DID or URL
is looked up in the key directory (``landing/keys/``, :class:`KeyDirectory`), else the
credential is ``unverifiable``. Several proofs: each is checked; the credential is
verified when one verifies and none is invalid.

Signature arithmetic is the ``cryptography`` package's (through jwcrypto for JWTs);
nothing cryptographic is done by hand here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwcrypto import jwk as jw_jwk
from jwcrypto import jws as jw_jws
from pyld import jsonld

VERIFIED, INVALID, UNVERIFIABLE, UNSIGNED = "verified", "invalid", "unverifiable", "unsigned"
PROOF_STATUSES = (VERIFIED, INVALID, UNVERIFIABLE, UNSIGNED)

CONTEXT_DIR = Path(__file__).parent / "contexts"
CONTEXT_FILES = {
    "https://www.w3.org/2018/credentials/v1": "credentials-v1.json",
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.json",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.json",
    "https://w3id.org/security/data-integrity/v2": "data-integrity-v2.json",
    "https://w3id.org/security/suites/ed25519-2020/v1": "ed25519-signature-2020-v1.json",
    "https://w3id.org/vc/status-list/2021/v1": "vc-status-list-2021-v1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "ob-v3p0-context-3.0.0.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "ob-v3p0-context-3.0.1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "ob-v3p0-context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
}
DI_SUITES = ("eddsa-rdfc-2022", "eddsa-2022")
JWT_ALGS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
ED25519_MULTICODEC = b"\xed\x01"
CLOCK_SKEW = dt.timedelta(seconds=1)
_ALG_KEY_TYPES = {"RS": rsa.RSAPublicKey, "PS": rsa.RSAPublicKey, "ES": ec.EllipticCurvePublicKey,
                  "Ed": Ed25519PublicKey}


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str
    proof_types: str | None = None      # e.g. 'DataIntegrityProof/eddsa-rdfc-2022', 'VC-JWT/RS256'


class Unverifiable(Exception):
    """The proof cannot be checked offline (unknown key, unsupported suite, context not shipped)."""


class Invalid(Exception):
    """The proof does not hold or a value is wrong."""


# --------------------------------------------------------------------------- JSON-LD, offline only


class RemoteContextRefused(Exception):
    pass


_CONTEXT_CACHE: dict[str, Any] = {}


def document_loader(url: str, options: dict | None = None) -> dict:
    """PyLD document loader serving only the contexts shipped in ``contexts/``; any other URL raises."""
    key = url.split("#")[0].rstrip("/") if isinstance(url, str) else url
    name = CONTEXT_FILES.get(key) or CONTEXT_FILES.get(url)
    if name is None:
        raise RemoteContextRefused(f"JSON-LD context {url} is not shipped with Skillpath (never fetched)")
    if name not in _CONTEXT_CACHE:
        _CONTEXT_CACHE[name] = json.loads((CONTEXT_DIR / name).read_text(encoding="utf-8"))
    return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(_CONTEXT_CACHE[name])}


def _refused_context(exc: BaseException) -> str | None:
    """The message of a refused context somewhere in a PyLD error chain."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, RemoteContextRefused):
            return str(exc)
        details = getattr(exc, "details", None)
        if isinstance(details, dict) and isinstance(details.get("cause"), BaseException):
            exc = details["cause"]
        else:
            exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def canonize(doc: dict) -> str:
    """RDF dataset canonical form (N-Quads) of a JSON-LD document, contexts served locally."""
    try:
        return jsonld.normalize(doc, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                      "documentLoader": document_loader, "safe": True})
    except Exception as exc:  # noqa: BLE001 - PyLD wraps everything in JsonLdError
        refused = _refused_context(exc)
        if refused:
            raise Unverifiable(refused) from None
        raise Invalid(f"JSON-LD canonicalisation failed: {str(exc)[:200]}") from None


UNDEFINED_VOCAB = "urn:skillpath:undefined-term#"


def undefined_terms(doc: dict) -> list[str]:
    """Properties and types the document's contexts do not define (JSON-LD would drop them
    silently, so they are not covered by the signature; jsonld.js "safe mode" refuses them).

    Found by expanding a copy with a sentinel ``@vocab`` appended to its context: whatever
    expands to the sentinel namespace was undefined.
    """
    ctx = doc.get("@context")
    probe = {**doc, "@context": [*(ctx if isinstance(ctx, list) else [ctx]), {"@vocab": UNDEFINED_VOCAB}]}
    try:
        expanded = jsonld.expand(probe, {"documentLoader": document_loader})
    except Exception as exc:  # noqa: BLE001
        refused = _refused_context(exc)
        if refused:
            raise Unverifiable(refused) from None
        raise Invalid(f"JSON-LD expansion failed: {str(exc)[:200]}") from None
    found: set[str] = set()
    stack: list[Any] = [expanded]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, val in node.items():
                if k.startswith(UNDEFINED_VOCAB):
                    found.add(k.removeprefix(UNDEFINED_VOCAB))
                if k == "@type":
                    found.update(t.removeprefix(UNDEFINED_VOCAB) for t in (val if isinstance(val, list) else [val])
                                 if isinstance(t, str) and t.startswith(UNDEFINED_VOCAB))
                stack.append(val)
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _context_urls(ctx: Any) -> list[str]:
    return [c for c in (ctx if isinstance(ctx, list) else [ctx]) if isinstance(c, str)]


# --------------------------------------------------------------------------- keys


def did_key_public_key(did: str) -> Ed25519PublicKey:
    """The Ed25519 key of a ``did:key:z6Mk...`` (fragment ignored)."""
    ident = did.split("#")[0].removeprefix("did:key:")
    return multibase_ed25519(ident)


def multibase_ed25519(value: str) -> Ed25519PublicKey:
    if not value.startswith("z"):
        raise Invalid(f"public key {value[:20]!r} is not multibase base58btc")
    try:
        raw = base58.b58decode(value[1:])
    except ValueError as exc:
        raise Invalid(f"public key is not base58: {exc}") from None
    if raw[:2] != ED25519_MULTICODEC or len(raw) != 34:
        raise Unverifiable(f"public key {value[:20]}... is not an Ed25519 multikey")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def _key_from_method(method: dict) -> Any:
    """A cryptography public key from a verification method / JWK / CryptographicKey object."""
    if isinstance(method.get("publicKeyMultibase"), str):
        return multibase_ed25519(method["publicKeyMultibase"])
    jwk = method.get("publicKeyJwk") or (method if "kty" in method else None)
    if isinstance(jwk, dict):
        public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        return jw_jwk.JWK(**public).get_op_key("verify")
    if isinstance(method.get("publicKeyPem"), str):
        return serialization.load_pem_public_key(method["publicKeyPem"].encode())
    raise Unverifiable(f"key {method.get('id') or method.get('kid')} has no publicKeyMultibase, "
                       "publicKeyJwk or publicKeyPem")


class KeyDirectory:
    """Public keys delivered in the landing zone: ``landing/keys/**/*.json``.

    Each file is one JSON object, one of:

    * a DID document, issuer profile or controller document: ``id`` (the DID or URL) and
      ``verificationMethod`` (and/or ``assertionMethod``) entries with ``id`` (absolute or
      ``#fragment``) and ``publicKeyMultibase`` (Ed25519 multikey) or ``publicKeyJwk``;
    * a JWKS: ``keys`` (JWKs, each found by its ``kid``), with an optional ``id`` (the
      issuer or JWKS URL) under which all its keys are found;
    * one JWK (``kty``), found by its ``kid`` or the ``id`` beside it;
    * an Open Badges 2.0 ``CryptographicKey``: ``id`` and ``publicKeyPem``.

    A file that is not such an object is ignored (and listed in ``problems``).
    """

    def __init__(self, root: Path | str | None = None, documents: list[dict] | None = None):
        self.methods: dict[str, dict] = {}        # method id -> method object
        self.controllers: dict[str, list[str]] = {}   # document id -> its method ids
        self.problems: list[str] = []
        self.fingerprint_parts: list[str] = []
        for path in sorted(Path(root).rglob("*.json")) if root and Path(root).is_dir() else []:
            if any(p.startswith(".") for p in path.relative_to(root).parts):
                continue
            try:
                data = path.read_bytes()
                self.add(json.loads(data))
                self.fingerprint_parts.append(hashlib.sha256(data).hexdigest())
            except (ValueError, UnicodeDecodeError) as exc:
                self.problems.append(f"{path.name}: {exc}")
        for doc in documents or []:
            self.add(doc)

    @property
    def fingerprint(self) -> str:
        """sha256 over the key files: verification results depend on the keys known."""
        return hashlib.sha256("".join(sorted(self.fingerprint_parts)).encode()).hexdigest()

    def _add_method(self, owner: str | None, method: dict, fallback_id: str | None = None) -> None:
        mid = method.get("id") or method.get("kid") or fallback_id
        if not isinstance(mid, str) or not mid:
            return
        if mid.startswith("#") and owner:
            mid = owner + mid
        elif owner and ":" not in mid:   # a JWK kid such as 'key-1' under a JWKS with an id
            mid = f"{owner}#{mid}"
        self.methods[mid] = method
        if owner:
            self.controllers.setdefault(owner, []).append(mid)
        controller = method.get("controller")
        if isinstance(controller, str) and controller != owner:
            self.controllers.setdefault(controller, []).append(mid)

    def add(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            self.problems.append("a key file that is not a JSON object")
            return
        owner = doc.get("id") if isinstance(doc.get("id"), str) else None
        found = False
        for rel in ("verificationMethod", "assertionMethod", "authentication", "publicKey"):
            for m in doc.get(rel) or []:
                if isinstance(m, dict):
                    self._add_method(owner, m)
                    found = True
        for k in doc.get("keys") or []:
            if isinstance(k, dict):
                self._add_method(owner, k)
                found = True
        if not found and ("kty" in doc or "publicKeyPem" in doc or "publicKeyMultibase" in doc):
            kid = doc.get("kid") if isinstance(doc.get("kid"), str) else None
            self._add_method(None, doc, fallback_id=owner or kid)
            if owner and kid and kid != owner:
                self.methods[kid] = doc
            found = True
        if not found:
            self.problems.append(f"key file {owner or '?'}: no verificationMethod, keys, JWK or key")

    def lookup(self, ref: str) -> list[Any]:
        """The public keys a verification method / kid / issuer id names ([] when unknown)."""
        if ref in self.methods:
            return [_key_from_method(self.methods[ref])]
        base, _, frag = ref.partition("#")
        if frag:
            return []
        return [_key_from_method(self.methods[m]) for m in dict.fromkeys(self.controllers.get(base, []))]


def resolve_method(ref: Any, keys: KeyDirectory) -> Any:
    """The one public key a Data Integrity ``verificationMethod`` names."""
    if isinstance(ref, dict):
        ref = ref.get("id")
    if not isinstance(ref, str) or not ref.strip():
        raise Invalid("proof has no verificationMethod")
    ref = ref.strip()
    scheme = ref.split(":", 1)[0].lower() if ":" in ref else ""
    if scheme not in ("did", "http", "https", "urn"):
        raise Invalid(f"verificationMethod {ref[:80]!r} is not a DID or URL"
                      + (" (no scheme)" if not scheme else f" (unknown scheme {scheme!r})"))
    found = keys.lookup(ref)
    if found:
        return found[0]
    if ref.startswith("did:key:"):
        return did_key_public_key(ref)
    if ref.startswith("did:"):
        method = ref.split(":")[1] if ref.count(":") >= 2 else ""
        raise Unverifiable(f"verificationMethod {ref[:100]} (did:{method}) is not in the key directory")
    raise Unverifiable(f"verificationMethod {ref[:100]} is not in the key directory")


# --------------------------------------------------------------------------- Data Integrity


def _ed25519_verify(key: Any, signature: bytes, data: bytes) -> None:
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid(f"verification method key is {type(key).__name__}, not Ed25519")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise Invalid("signature does not match the document (tampered or wrong key)") from None


def verify_data_integrity(document: dict, proof: dict, keys: KeyDirectory) -> str:
    """Check one Ed25519 Data Integrity / Ed25519Signature2020 proof; returns its label."""
    ptype = proof.get("type")
    suite = proof.get("cryptosuite")
    label = f"{ptype}/{suite}" if suite else str(ptype)
    if ptype == "DataIntegrityProof":
        if suite not in DI_SUITES:
            raise Unverifiable(f"cryptosuite {suite!r} is not supported (only {', '.join(DI_SUITES)})")
    elif ptype != "Ed25519Signature2020":
        raise Unverifiable(f"proof type {ptype!r} is not supported")
    if proof.get("proofPurpose") not in (None, "assertionMethod"):
        raise Invalid(f"proofPurpose {proof.get('proofPurpose')!r} is not assertionMethod")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise Invalid("proofValue is missing or not multibase base58btc")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError:
        raise Invalid("proofValue is not base58") from None
    if len(signature) != 64:
        raise Invalid(f"proofValue decodes to {len(signature)} bytes, not an Ed25519 signature (64)")
    key = resolve_method(proof.get("verificationMethod"), keys)
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    undefined = undefined_terms(unsecured)
    if undefined:
        raise Invalid(f"terms not defined by the credential's JSON-LD contexts (so not signed): "
                      f"{', '.join(undefined[:10])}")
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = document.get("@context")
    data = (hashlib.sha256(canonize(config).encode()).digest()
            + hashlib.sha256(canonize(unsecured).encode()).digest())
    _ed25519_verify(key, signature, data)
    return label


# --------------------------------------------------------------------------- VC-JWT


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _epoch(value: Any) -> dt.datetime | None:
    from skillpath.ingest._credential_formats import parse_datetime
    try:
        return parse_datetime(value)
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def _check_jwt_claims(payload: dict, cred: dict) -> list[str]:
    """The registered claims must agree with the credential (VC-JWT, 1EdTech step 'JWT claims')."""
    problems = []
    issuer = cred.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if "iss" in payload and issuer_id is not None and payload["iss"] != issuer_id:
        problems.append(f"iss {payload['iss']!r} is not the issuer {issuer_id!r}")
    if "jti" in payload and cred.get("id") is not None and payload["jti"] != cred.get("id"):
        problems.append(f"jti {payload['jti']!r} is not the credential id {cred.get('id')!r}")
    subject = cred.get("credentialSubject")
    subject = subject[0] if isinstance(subject, list) and subject else subject
    sid = subject.get("id") if isinstance(subject, dict) else None
    if "sub" in payload and sid is not None and payload["sub"] != sid:
        problems.append("sub is not credentialSubject.id")   # values left out: they identify the learner
    for claim, fields in (("nbf", ("validFrom", "issuanceDate")), ("exp", ("validUntil", "expirationDate"))):
        if claim not in payload:
            continue
        when = _epoch(payload[claim])
        if when is None:
            problems.append(f"{claim} {payload[claim]!r} is not a date")
            continue
        for f in fields:
            if cred.get(f) is not None:
                stated = _epoch(cred[f])
                if stated is None or abs(stated - when) > CLOCK_SKEW:
                    problems.append(f"{claim} ({when.isoformat()}) does not match {f} {cred[f]!r}")
                break
    return problems


def verify_jwt(token: str, keys: KeyDirectory) -> Outcome:
    token = token.strip()
    try:
        head, body, _sig = token.split(".")
        header, payload = _b64json(head), _b64json(body)
    except (ValueError, binascii.Error):
        return Outcome(INVALID, "not a compact JWS", "VC-JWT")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return Outcome(INVALID, "JWT header or payload is not a JSON object", "VC-JWT")
    alg = header.get("alg")
    label = f"VC-JWT/{alg}"
    if alg not in JWT_ALGS:
        return Outcome(INVALID if alg in (None, "none") else UNVERIFIABLE,
                       f"JWT alg {alg!r} is not accepted (only {', '.join(JWT_ALGS)})", label)
    vc = payload.get("vc") if isinstance(payload.get("vc"), dict) else payload
    claim_problems = _check_jwt_claims(payload, vc) if isinstance(payload.get("vc"), dict) else []
    candidates: list[Any] = []
    source = ""
    try:
        kid = header.get("kid")
        if isinstance(kid, str) and kid:
            candidates = keys.lookup(kid)
            if not candidates and kid.startswith("did:key:"):
                candidates = [did_key_public_key(kid)]
            source = f"kid {kid[:100]}"
            if not candidates and not isinstance(header.get("jwk"), dict):
                return Outcome(UNVERIFIABLE, f"JWT key {kid[:100]} is not in the key directory", label)
        if not candidates and isinstance(header.get("jwk"), dict):
            candidates = [_key_from_method(header["jwk"])]
            source = "the JWT header's jwk"
        if not candidates:
            issuer = vc.get("issuer") if isinstance(vc, dict) else None
            issuer_id = payload.get("iss") or (issuer.get("id") if isinstance(issuer, dict) else issuer)
            if not isinstance(issuer_id, str):
                return Outcome(UNVERIFIABLE, "JWT names no key (kid, jwk) and no issuer", label)
            candidates = keys.lookup(issuer_id)
            if not candidates and issuer_id.startswith("did:key:"):
                candidates = [did_key_public_key(issuer_id)]
            source = f"issuer {issuer_id[:100]}"
            if not candidates:
                return Outcome(UNVERIFIABLE, f"JWT names no key and issuer {issuer_id[:100]} is not in "
                                             "the key directory", label)
    except Unverifiable as exc:
        return Outcome(UNVERIFIABLE, str(exc), label)
    except Invalid as exc:
        return Outcome(INVALID, str(exc), label)
    except Exception as exc:  # noqa: BLE001 - an unusable key value
        return Outcome(INVALID, f"unusable JWT key: {type(exc).__name__}: {exc}", label)
    fitting = [k for k in candidates if isinstance(k, _ALG_KEY_TYPES[alg[:2]])]
    if not fitting:
        return Outcome(UNVERIFIABLE, f"no {alg} key for {source} (the keys found are of another type)", label)
    ok = False
    for key in fitting:
        try:
            obj = jw_jws.JWS()
            obj.deserialize(token)
            obj.verify(jw_jwk.JWK.from_pyca(key), alg=alg)
            ok = True
            break
        except Exception:  # noqa: BLE001, S112 - try the next key of the issuer
            continue
    if not ok:
        return Outcome(INVALID, f"JWT signature does not verify with {source} (tampered or wrong key)", label)
    if claim_problems:
        return Outcome(INVALID, "JWT claims contradict the credential: " + "; ".join(claim_problems), label)
    return Outcome(VERIFIED, f"JWT signature verified with {source}", label)


# --------------------------------------------------------------------------- entry points


def verify_credential(cred: dict | str, keys: KeyDirectory, *, inherited_context: Any = None) -> Outcome:
    """Verify one credential: a JSON object with ``proof``, or a compact VC-JWT string.

    ``inherited_context``: the CLR's ``@context`` for a nested credential that has none.
    """
    if isinstance(cred, str):
        return verify_jwt(cred, keys)
    proofs = cred.get("proof")
    proofs = [p for p in (proofs if isinstance(proofs, list) else [proofs]) if p is not None]
    if not proofs:
        return Outcome(UNSIGNED, "no proof", None)
    document = cred
    if "@context" not in cred and inherited_context is not None:
        document = {"@context": inherited_context, **cred}
    results: list[tuple[str, str, str]] = []
    for i, proof in enumerate(proofs):
        where = f"proof[{i}]" if len(proofs) > 1 else "proof"
        if not isinstance(proof, dict):
            results.append((INVALID, f"{where} is not an object", "?"))
            continue
        label = str(proof.get("type"))
        try:
            label = verify_data_integrity(document, proof, keys)
            results.append((VERIFIED, f"{where} {label} verified", label))
        except Invalid as exc:
            results.append((INVALID, f"{where} {label}: {exc}", label))
        except Unverifiable as exc:
            results.append((UNVERIFIABLE, f"{where} {label}: {exc}", label))
        except Exception as exc:  # noqa: BLE001 - a proof that cannot even be read is a bad value
            results.append((INVALID, f"{where} {label}: {type(exc).__name__}: {exc}", label))
    statuses = [r[0] for r in results]
    if INVALID in statuses:
        status = INVALID
    elif VERIFIED in statuses:
        status = VERIFIED
    else:
        status = UNVERIFIABLE
    return Outcome(status, "; ".join(r[1] for r in results)[:2000], ",".join(dict.fromkeys(r[2] for r in results)))


def verify_ob2_jws(token: str, keys: KeyDirectory) -> Outcome:
    """An Open Badges 2.0 signed assertion (JWS): the key is ``verification.creator``."""
    try:
        head, body, _ = token.strip().split(".")
        header, payload = _b64json(head), _b64json(body)
    except (ValueError, binascii.Error):
        return Outcome(INVALID, "not a compact JWS", "JWS")
    alg = header.get("alg") if isinstance(header, dict) else None
    creator = (payload.get("verification") or {}).get("creator") if isinstance(payload, dict) else None
    if not isinstance(creator, str):
        return Outcome(UNVERIFIABLE, "signed assertion names no verification.creator key", f"JWS/{alg}")
    try:
        candidates = keys.lookup(creator)
    except (Unverifiable, Invalid) as exc:
        return Outcome(UNVERIFIABLE, str(exc), f"JWS/{alg}")
    if not candidates:
        return Outcome(UNVERIFIABLE, f"key {creator[:100]} is not in the key directory", f"JWS/{alg}")
    if alg not in JWT_ALGS:
        return Outcome(INVALID, f"JWS alg {alg!r} is not accepted", f"JWS/{alg}")
    for key in candidates:
        try:
            obj = jw_jws.JWS()
            obj.deserialize(token.strip())
            obj.verify(jw_jwk.JWK.from_pyca(key), alg=alg)
            return Outcome(VERIFIED, f"JWS signature verified with {creator[:100]}", f"JWS/{alg}")
        except Exception:  # noqa: BLE001, S112
            continue
    return Outcome(INVALID, f"JWS signature does not verify with {creator[:100]}", f"JWS/{alg}")


def verify_document(doc_format: str, payload: dict, raw_text: str, is_jwt: bool,
                    keys: KeyDirectory) -> list[tuple[int, Outcome]]:
    """Outcomes of a parsed document's credentials, in the order of its awards.

    Index 0 is the document itself (the OB 2.0 assertion, the OB 3.0 credential or the CLR
    container); for a CLR, index ``i + 1`` is ``credentialSubject.verifiableCredential[i]``.
    """
    if doc_format == "ob2_assertion":
        if is_jwt:
            return [(0, verify_ob2_jws(raw_text, keys))]
        return [(0, Outcome(UNSIGNED, "Open Badges 2.0 hosted assertion (no signature)", "hosted"))]
    if doc_format not in ("ob3_credential", "clr2_credential"):
        return []
    outcomes = [(0, verify_jwt(raw_text, keys) if is_jwt else verify_credential(payload, keys))]
    if doc_format == "clr2_credential":
        cred = payload.get("vc") if is_jwt and isinstance(payload.get("vc"), dict) else payload
        subject = cred.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) and subject else subject
        nested = subject.get("verifiableCredential") if isinstance(subject, dict) else None
        for i, item in enumerate(nested if isinstance(nested, list) else []):
            if isinstance(item, dict | str):
                outcomes.append((i + 1, verify_credential(item, keys, inherited_context=cred.get("@context"))))
    return outcomes
