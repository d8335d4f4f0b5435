"""Proof verification of Open Badges 3.0 / CLR 2.0 credentials (skillpath/ingest/_credential_verify.py).

Two kinds of evidence:

* the 1EdTech validator's test files (``REFERENCE_DATA/credentials``), each with its expected
  outcome. Their verification methods are ``did:key`` or ``https://<issuer>#<multikey>`` URLs;
  the key directory of these tests publishes, for each issuer URL, the multikeys its files name
  (what the issuer's profile would list), so the signatures themselves are checked;
* credentials these tests sign themselves with generated Ed25519, RSA and EC keys, verified,
  then tampered with (one field changed): ``invalid``.

No test touches the network: every socket connection fails (``no_network``), and the
JSON-LD document loader refuses any context that is not shipped.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import socket

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk, jws

from skillpath.ingest import _credential_verify as v
from tests.helpers import REFERENCE_DATA

CREDENTIALS = REFERENCE_DATA / "credentials"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a verification test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _issuer_keys_from_reference() -> v.KeyDirectory:
    """Issuer profiles listing the multikeys the reference files' https verification methods name."""
    by_issuer: dict[str, set[str]] = {}
    for path in CREDENTIALS.rglob("*.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                vm = node.get("verificationMethod")
                if isinstance(vm, str) and vm.startswith("https://") and "#z6Mk" in vm:
                    base, frag = vm.split("#", 1)
                    try:
                        v.multibase_ed25519(frag)    # a mangled key id names no published key
                    except (v.Invalid, v.Unverifiable, ValueError):
                        continue
                    by_issuer.setdefault(base, set()).add(frag)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    docs = [{"id": issuer, "verificationMethod": [
        {"id": f"#{frag}", "type": "Multikey", "controller": issuer, "publicKeyMultibase": frag}
        for frag in sorted(frags)]} for issuer, frags in by_issuer.items()]
    return v.KeyDirectory(documents=docs)


REFERENCE_EXPECTED = {
    # file: (status of the document itself, a fragment of the detail)
    "ob30/simple.json": ("verified", "eddsa-rdfc-2022 verified"),
    "ob30/simple-eddsa-2022.json": ("verified", "eddsa-2022 verified"),
    "ob30/simple-did-key-method.json": ("verified", "verified"),
    "ob30/simple-did-web-method.json": ("verified", "verified"),
    "ob30/simple-context-alias.json": ("verified", "verified"),
    "ob30/simple-context-version.json": ("verified", "verified"),
    "ob30/simple-multiple-proofs.json": ("verified", "'SomeProofType' is not supported"),
    "ob30/simple-noproof.json": ("unsigned", "no proof"),
    "ob30/simple-err-proof-value.json": ("invalid", "signature does not match"),
    "ob30/simple-err-proof-method-no-scheme.json": ("invalid", "no scheme"),
    "ob30/simple-err-proof-method-unknown-scheme.json": ("invalid", "unknown scheme 'xxx'"),
    "ob30/simple-err-proof-method-unknown-did-method.json": ("unverifiable", "did:example"),
    "ob30/simple-err-proof-method.json": ("unverifiable", "not in the key directory"),
    # a type the contexts do not define: JSON-LD would drop it, so the signature cannot cover it
    # (jsonld.js "safe mode" refuses such documents too)
    "ob30/simple-err-credential-subject-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-issuer-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-evidence-type.json": ("invalid", "terms not defined"),
    # the Ed25519Signature2020 proof of complete_v1 names a key id ('#key-1') nobody published
    "ob30/complete_v1.json": ("unverifiable", "https://1edtech.edu/issuers/565049#key-1 is not in the key directory"),
    "ob30/credential-status-revoked.json": ("unverifiable", "did:web"),
    "ob30/bit-string-list/credential-status-revoked.json": ("verified", "verified"),
    # VC-JWTs: RS256 with the key only in the header (clr20) verifies, as in the 1EdTech steps;
    # without a kid or jwk the issuer's key is needed, which nobody delivered
    "ob30/simple.jwt": ("unverifiable", "no RS256 key for issuer https://example.edu/issuers/565049"),
    "ob30/velocity.jwt": ("unverifiable", "did:velocity"),
    "clr20/simple.jwt": ("verified", "JWT header's jwk"),
    # CLR 2.0: the container's Data Integrity proof needs the CLR context, which no registry ships
    "clr20/complex.json": ("unverifiable", "clr/v2p0/context.json is not shipped"),
    "clr20/simple-noproof.json": ("unsigned", "no proof"),
    "clr20/simple.json": ("unverifiable", "clr/v2p0/context-2.0.1.json is not shipped"),
    "clr20/simple_old_safesigned.json": ("unverifiable", "dc.imsglobal.org/draft/clr/v2p0/context is not shipped"),
    "clr20/simple_v1.json": ("unverifiable", "urn:uuid:4ca4a241-fc3b-4d92-978e-f56fa96ae795#z6Mk"),
    "ob30/bit-string-list/credential-status-revoked-blank-nodes.json": ("verified", "verified"),
    "ob30/complete.json": ("verified", "eddsa-rdfc-2022 verified"),
    "ob30/endorsement-valid.json": ("verified", "eddsa-rdfc-2022 verified"),
    "ob30/endorsement-err-schema-status-refresh.json": ("invalid", "signature does not match"),
    "ob30/sd/derivedcredential.json": ("unverifiable", "cryptosuite 'ecdsa-sd-2023' is not supported"),
    "ob30/simple_v1.json": ("verified", "Ed25519Signature2020 verified"),
    # errors of content, not of the proof: the signature holds (ingestion judges the content)
    "ob30/simple-err-expired.json": ("verified", "verified"),
    "ob30/simple-err-issued.json": ("verified", "verified"),
    "ob30/simple-err-issuer.json": ("verified", "verified"),
    # a type no context defines (the first context is not the VC context, or a made-up type)
    "ob30/simple-err-context.json": ("invalid", "terms not defined"),
    "ob30/simple-err-type.json": ("invalid", "(so not signed): OtherCredential"),
    "ob30/simple-err-credential-subject-achievement-result-description-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-credential-subject-identifier-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-credential-subject-profile-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-credential-subject-result-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-issuer-otheridentifier-type.json": ("invalid", "terms not defined"),
    "ob30/simple-err-issuer-parentorg-type.json": ("invalid", "terms not defined"),
}


def test_every_ob30_and_clr20_reference_file_has_an_expected_outcome():
    files = {str(p.relative_to(CREDENTIALS)) for folder in ("ob30", "clr20")
             for p in (CREDENTIALS / folder).rglob("*") if p.suffix in (".json", ".jwt")}
    assert files == set(REFERENCE_EXPECTED)


def test_reference_clr_nested_outcomes(reference_keys):
    nested = {rel: [o.status for o in _reference_outcomes(rel, reference_keys)[1:]]
              for rel in ("clr20/simple.json", "clr20/simple_v1.json", "clr20/simple_old_safesigned.json")}
    assert nested["clr20/simple.json"] == ["verified"]
    assert nested["clr20/simple_v1.json"] == ["unverifiable"] + ["verified"] * 5
    # the old nested credential uses a schema type (JsonSchemaValidator2020) no shipped context defines
    out = _reference_outcomes("clr20/simple_old_safesigned.json", reference_keys)[1]
    assert out.status == "invalid" and "JsonSchemaValidator2020" in out.detail


def _reference_outcomes(rel: str, keys: v.KeyDirectory) -> list[v.Outcome]:
    path = CREDENTIALS / rel
    text = path.read_text(encoding="utf-8").strip()
    if path.suffix == ".jwt":
        header, payload = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                           for p in text.split(".")[:2])
        vc = payload.get("vc", payload)
        fmt = "clr2_credential" if "ClrCredential" in vc.get("type", []) else "ob3_credential"
        return [o for _, o in v.verify_document(fmt, payload, text, True, keys)]
    doc = json.loads(text)
    fmt = "clr2_credential" if "ClrCredential" in doc.get("type", []) else "ob3_credential"
    return [o for _, o in v.verify_document(fmt, doc, text, False, keys)]


@pytest.fixture(scope="module")
def reference_keys():
    return _issuer_keys_from_reference()


@pytest.mark.parametrize("rel", sorted(REFERENCE_EXPECTED))
def test_reference_file_outcome(rel, reference_keys):
    status, fragment = REFERENCE_EXPECTED[rel]
    outcome = _reference_outcomes(rel, reference_keys)[0]
    assert outcome.status == status, outcome
    assert fragment in outcome.detail, outcome


def test_reference_clr_nested_credentials_verify_on_their_own(reference_keys):
    outcomes = _reference_outcomes("clr20/complex.json", reference_keys)
    assert len(outcomes) == 7
    assert [o.status for o in outcomes[1:]] == ["verified"] * 6


def test_reference_https_method_without_key_directory_is_unverifiable():
    outcome = _reference_outcomes("ob30/simple.json", v.KeyDirectory())[0]
    assert outcome.status == "unverifiable"
    assert "https://example.com/issuers/876543#z6Mk" in outcome.detail


def test_reference_did_key_needs_no_key_directory():
    assert _reference_outcomes("ob30/simple-did-key-method.json", v.KeyDirectory())[0].status == "verified"


# --------------------------------------------------------------------------- self-signed credentials


def did_key_of(public: ed25519.Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "did:key:z" + base58.b58encode(b"\xed\x01" + raw).decode()


def ob3(cred_id="urn:uuid:11111111-2222-3333-4444-555555555555", issuer="https://issuer.example/profile",
        name="Data Literacy") -> dict:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": cred_id, "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Issuer"},
        "validFrom": "2024-01-15T09:30:00Z", "validUntil": "2030-01-15T09:30:00Z",
        "name": name,
        "credentialSubject": {"type": ["AchievementSubject"], "id": "did:example:learner",
                              "achievement": {"id": "https://issuer.example/ach/1", "type": ["Achievement"],
                                              "name": name, "criteria": {"narrative": "Pass."},
                                              "description": "d"}},
    }


def sign_data_integrity(cred: dict, private: ed25519.Ed25519PrivateKey, vm: str,
                        proof_type="DataIntegrityProof", cryptosuite="eddsa-rdfc-2022") -> dict:
    proof = {"type": proof_type, "created": "2024-01-15T09:30:00Z", "verificationMethod": vm,
             "proofPurpose": "assertionMethod"}
    if cryptosuite:
        proof["cryptosuite"] = cryptosuite
    config = {**proof, "@context": cred["@context"]}
    data = (hashlib.sha256(v.canonize(config).encode()).digest()
            + hashlib.sha256(v.canonize(cred).encode()).digest())
    proof["proofValue"] = "z" + base58.b58encode(private.sign(data)).decode()
    return {**cred, "proof": proof}


def test_self_signed_eddsa_rdfc_2022_did_key_verifies_and_tampering_is_invalid():
    private = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(private.public_key())
    signed = sign_data_integrity(ob3(), private, f"{did}#{did.removeprefix('did:key:')}")
    assert v.verify_credential(signed, v.KeyDirectory()).status == "verified"
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["name"] = "Rocket Science"
    out = v.verify_credential(tampered, v.KeyDirectory())
    assert out.status == "invalid" and "signature does not match" in out.detail
    later = copy.deepcopy(signed)
    later["validUntil"] = "2099-01-01T00:00:00Z"
    assert v.verify_credential(later, v.KeyDirectory()).status == "invalid"


def test_self_signed_ed25519signature2020_with_key_directory():
    private = ed25519.Ed25519PrivateKey.generate()
    mk = did_key_of(private.public_key()).removeprefix("did:key:")
    cred = ob3()
    cred["@context"] = ["https://www.w3.org/2018/credentials/v1",
                        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                        "https://w3id.org/security/suites/ed25519-2020/v1"]
    cred["issuanceDate"] = cred.pop("validFrom")
    cred["expirationDate"] = cred.pop("validUntil")
    signed = sign_data_integrity(cred, private, "https://issuer.example/profile#key-1",
                                 proof_type="Ed25519Signature2020", cryptosuite=None)
    keys = v.KeyDirectory(documents=[{"id": "https://issuer.example/profile", "verificationMethod": [
        {"id": "#key-1", "type": "Ed25519VerificationKey2020", "publicKeyMultibase": mk}]}])
    assert v.verify_credential(signed, keys).status == "verified"
    assert v.verify_credential(signed, v.KeyDirectory()).status == "unverifiable"
    tampered = {**signed, "issuanceDate": "2023-01-01T00:00:00Z"}
    assert v.verify_credential(tampered, keys).status == "invalid"


def test_a_term_no_context_defines_is_invalid_even_when_the_signature_holds():
    private = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(private.public_key())
    cred = {**ob3(), "grade": "A+"}                # signed, but JSON-LD drops it: not covered
    out = v.verify_credential(sign_data_integrity(cred, private, did), v.KeyDirectory())
    assert out.status == "invalid" and "grade" in out.detail
    signed = sign_data_integrity(ob3(), private, did)
    added = copy.deepcopy(signed)
    added["credentialSubject"]["achievement"]["grade"] = "A+"   # added after signing
    out = v.verify_credential(added, v.KeyDirectory())
    assert out.status == "invalid" and "grade" in out.detail
    assert v.undefined_terms({k: x for k, x in signed.items() if k != "proof"}) == []


def test_wrong_key_is_invalid():
    private, other = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    signed = sign_data_integrity(ob3(), private, "https://issuer.example/profile#k")
    keys = v.KeyDirectory(documents=[{"id": "https://issuer.example/profile", "verificationMethod": [
        {"id": "#k", "publicKeyMultibase": did_key_of(other.public_key()).removeprefix("did:key:")}]}])
    out = v.verify_credential(signed, keys)
    assert out.status == "invalid" and "wrong key" in out.detail


def test_multiple_proofs_one_invalid_is_invalid_unsupported_plus_verified_is_verified():
    a, b = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    did_a = did_key_of(a.public_key())
    good = sign_data_integrity(ob3(), a, did_a)["proof"]
    bad = {**sign_data_integrity(ob3(), b, did_a)["proof"]}      # b's signature, a's key
    assert v.verify_credential({**ob3(), "proof": [good, bad]}, v.KeyDirectory()).status == "invalid"
    other = {"type": "BbsBlsSignature2020", "proofValue": "zabc"}
    out = v.verify_credential({**ob3(), "proof": [other, good]}, v.KeyDirectory())
    assert out.status == "verified" and "not supported" in out.detail
    assert v.verify_credential({**ob3(), "proof": [other]}, v.KeyDirectory()).status == "unverifiable"


def test_bad_proof_values_are_invalid():
    private = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(private.public_key())
    signed = sign_data_integrity(ob3(), private, did)
    for value in ("not-multibase", "z0OIl", "z" + base58.b58encode(b"short").decode()):
        broken = {**signed, "proof": {**signed["proof"], "proofValue": value}}
        assert v.verify_credential(broken, v.KeyDirectory()).status == "invalid", value
    purpose = {**signed, "proof": {**signed["proof"], "proofPurpose": "authentication"}}
    assert v.verify_credential(purpose, v.KeyDirectory()).status == "invalid"


def test_unknown_cryptosuite_is_unverifiable():
    private = ed25519.Ed25519PrivateKey.generate()
    signed = sign_data_integrity(ob3(), private, did_key_of(private.public_key()), cryptosuite="ecdsa-rdfc-2019")
    out = v.verify_credential(signed, v.KeyDirectory())
    assert out.status == "unverifiable" and "ecdsa-rdfc-2019" in out.detail


# --------------------------------------------------------------------------- JSON-LD loader: local only


def test_document_loader_serves_shipped_contexts_and_refuses_remote_urls():
    doc = v.document_loader("https://www.w3.org/ns/credentials/v2")
    assert "@context" in doc["document"]
    for url in ("https://example.org/evil-context.json", "http://localhost:8000/ctx.json",
                "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json", "file:///etc/passwd"):
        with pytest.raises(v.RemoteContextRefused):
            v.document_loader(url)


def test_credential_with_a_context_not_shipped_is_unverifiable_and_fetches_nothing():
    private = ed25519.Ed25519PrivateKey.generate()
    cred = ob3()
    cred["@context"].append("https://example.org/my-context.json")
    proof = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod",
             "verificationMethod": did_key_of(private.public_key()), "proofValue": "z" + base58.b58encode(bytes(range(64))).decode()}
    out = v.verify_credential({**cred, "proof": proof}, v.KeyDirectory())
    assert out.status == "unverifiable"
    assert "https://example.org/my-context.json is not shipped" in out.detail


# --------------------------------------------------------------------------- VC-JWT


def jwt_of(payload: dict, key: jwk.JWK, alg: str, header: dict | None = None) -> str:
    token = jws.JWS(json.dumps(payload).encode())
    token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "typ": "JWT", **(header or {})}))
    return token.serialize(compact=True)


def vc_jwt_payload(cred: dict) -> dict:
    return {"iss": cred["issuer"]["id"], "sub": cred["credentialSubject"]["id"], "jti": cred["id"],
            "nbf": _ts(cred["validFrom"]), "exp": _ts(cred["validUntil"]), "vc": cred}


def _ts(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


@pytest.mark.parametrize("alg,make", [
    ("RS256", lambda: jwk.JWK.from_pyca(rsa.generate_private_key(65537, 2048))),
    ("ES256", lambda: jwk.JWK.from_pyca(ec.generate_private_key(ec.SECP256R1()))),
    ("EdDSA", lambda: jwk.JWK.from_pyca(ed25519.Ed25519PrivateKey.generate())),
])
def test_self_signed_jwt_verifies_with_the_key_directory_and_tampering_is_invalid(alg, make, tmp_path):
    key = make()
    public = json.loads(key.export_public())
    (tmp_path / "issuer.json").write_text(json.dumps(
        {"id": "https://issuer.example/profile", "keys": [{**public, "kid": "https://issuer.example/profile#k1"}]}))
    keys = v.KeyDirectory(tmp_path)
    payload = vc_jwt_payload(ob3())
    token = jwt_of(payload, key, alg, {"kid": "https://issuer.example/profile#k1"})
    out = v.verify_jwt(token, keys)
    assert out.status == "verified" and out.proof_types == f"VC-JWT/{alg}", out
    # found through the issuer when the header names no key
    assert v.verify_jwt(jwt_of(payload, key, alg), keys).status == "verified"
    # tampered: the payload changed, the signature kept
    head, _body, sig = token.split(".")
    forged = copy.deepcopy(payload)
    forged["vc"]["credentialSubject"]["achievement"]["name"] = "Rocket Science"
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    out = v.verify_jwt(f"{head}.{body}.{sig}", keys)
    assert out.status == "invalid" and "does not verify" in out.detail
    # unknown key
    assert v.verify_jwt(token, v.KeyDirectory()).status == "unverifiable"


def test_jwt_claims_must_agree_with_the_credential():
    key = jwk.JWK.from_pyca(rsa.generate_private_key(65537, 2048))
    keys = v.KeyDirectory(documents=[{**json.loads(key.export_public()), "kid": "urn:k"}])
    for claim, value in (("iss", "https://other.example"), ("jti", "urn:other"), ("sub", "did:example:other"),
                         ("nbf", 1), ("exp", 1)):
        payload = {**vc_jwt_payload(ob3()), claim: value}
        payload["vc"]["validFrom"] = "2024-01-15T09:30:00Z"
        payload["vc"]["validUntil"] = "2030-01-15T09:30:00Z"
        out = v.verify_jwt(jwt_of(payload, key, "RS256", {"kid": "urn:k"}), keys)
        assert out.status == "invalid" and claim in out.detail, (claim, out)


def test_jwt_alg_none_is_invalid():
    body = base64.urlsafe_b64encode(json.dumps(vc_jwt_payload(ob3())).encode()).rstrip(b"=").decode()
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert v.verify_jwt(f"{head}.{body}.", v.KeyDirectory()).status == "invalid"


def test_clr_nested_jwt_and_embedded_credentials_each_get_an_outcome():
    ed = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(ed.public_key())
    rs = jwk.JWK.from_pyca(rsa.generate_private_key(65537, 2048))
    keys = v.KeyDirectory(documents=[{**json.loads(rs.export_public()), "kid": "urn:rs"}])
    nested_ok = sign_data_integrity(ob3("urn:uuid:a"), ed, did)
    nested_bad = copy.deepcopy(sign_data_integrity(ob3("urn:uuid:b"), ed, did))
    nested_bad["name"] = "changed"
    nested_jwt = jwt_of(vc_jwt_payload(ob3("urn:uuid:c")), rs, "RS256", {"kid": "urn:rs"})
    clr = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:clr", "type": ["ClrCredential"],
           "credentialSubject": {"verifiableCredential": [nested_ok, nested_bad, nested_jwt, ob3("urn:uuid:d")]}}
    outcomes = v.verify_document("clr2_credential", clr, json.dumps(clr), False, keys)
    assert [o.status for _, o in outcomes] == ["unsigned", "verified", "invalid", "verified", "unsigned"]


def test_ob2_hosted_assertion_is_unsigned():
    out = v.verify_document("ob2_assertion", {"type": "Assertion"}, "{}", False, v.KeyDirectory())
    assert out[0][1].status == "unsigned"


def test_key_directory_files(tmp_path):
    ed = ed25519.Ed25519PrivateKey.generate()
    mk = did_key_of(ed.public_key()).removeprefix("did:key:")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "did-web.json").write_text(json.dumps(
        {"id": "did:web:issuer.example", "verificationMethod": [
            {"id": "did:web:issuer.example#key-1", "type": "Multikey", "publicKeyMultibase": mk}]}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.json").write_text(json.dumps({"id": "urn:hidden", "kty": "OKP"}))
    keys = v.KeyDirectory(tmp_path)
    signed = sign_data_integrity(ob3(issuer="did:web:issuer.example"), ed, "did:web:issuer.example#key-1")
    assert v.verify_credential(signed, keys).status == "verified"
    assert keys.problems and "broken.json" in keys.problems[0]
    assert keys.lookup("urn:hidden") == []


def test_reference_jwt_without_any_issuer_key_is_unverifiable():
    out = _reference_outcomes("ob30/simple.jwt", v.KeyDirectory())[0]
    assert out.status == "unverifiable"
    assert "issuer https://example.edu/issuers/565049 is not in the key directory" in out.detail


def test_reference_ob20_hosted_assertions_are_unsigned_and_signed_ones_need_their_key():
    for path in sorted((CREDENTIALS / "ob20").glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:      # the reference set has deliberately broken JSON too
            continue
        if not isinstance(doc, dict) or doc.get("type") != "Assertion":
            continue
        out = v.verify_document("ob2_assertion", doc, path.read_text(encoding="utf-8"), False, v.KeyDirectory())
        assert out[0][1].status == "unsigned", path.name
    # the CryptographicKeys the assertions name (verification.creator) are in ob20/assets
    keys = v.KeyDirectory(documents=[json.loads((CREDENTIALS / "ob20/assets" / f"key{i}.json").read_text())
                                     for i in (1, 2, 3)])
    for path in sorted((CREDENTIALS / "ob20").glob("*.jwt")):
        token = path.read_text(encoding="utf-8").strip()
        out = v.verify_document("ob2_assertion", {}, token, True, v.KeyDirectory())[0][1]
        assert out.status == "unverifiable" and "is not in the key directory" in out.detail, path.name
        out = v.verify_document("ob2_assertion", {}, token, True, keys)[0][1]
        assert out.status == "verified" and out.proof_types == "JWS/RS256", path.name
        head, body, sig = token.split(".")
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        payload["issuedOn"] = "2030-01-01T00:00:00Z"
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        assert v.verify_document("ob2_assertion", {}, f"{head}.{forged}.{sig}", True, keys)[0][1].status == "invalid"
