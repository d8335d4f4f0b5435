"""Ingestion verifies each new credential's proof once and stores it in raw.credential_verifications;
Open Badges 3.0 credentials without a recipient load as unattributed awards."""

from __future__ import annotations

import copy
import json
import shutil
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwcrypto import jwk

from skillpath.ingest import _credential_verify as verify
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from tests.helpers import REFERENCE_DATA
from tests.unit.test_credential_verify import did_key_of, jwt_of, sign_data_integrity, vc_jwt_payload
from tests.unit.test_credential_verify import ob3 as signed_ob3
from tests.unit.test_ingest_credentials import balanced, ob3, write


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ingestion tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def lake(home):
    con = connect_raw(home / "lake.duckdb")
    yield con
    con.close()


def verifications(con) -> dict[str, tuple[str, str]]:
    return {a: (s, d) for a, s, d in con.execute(
        "select award_id, proof_status, proof_detail from raw.credential_verifications").fetchall()}


def test_each_award_gets_one_verification_and_tampering_is_invalid(home, lake):
    landing = home / "landing"
    ed = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(ed.public_key())
    good = sign_data_integrity(signed_ob3("urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"), ed, did)
    tampered = copy.deepcopy(sign_data_integrity(signed_ob3("urn:uuid:aaaaaaaa-0000-4000-8000-000000000002"),
                                                 ed, did))
    tampered["credentialSubject"]["achievement"]["name"] = "Rocket Science"
    web = sign_data_integrity(signed_ob3("urn:uuid:aaaaaaaa-0000-4000-8000-000000000003",
                                         issuer="did:web:issuer.example"), ed, "did:web:issuer.example#key-1")
    rs = jwk.JWK.from_pyca(rsa.generate_private_key(65537, 2048))
    token = jwt_of(vc_jwt_payload(signed_ob3("urn:uuid:aaaaaaaa-0000-4000-8000-000000000004")), rs, "RS256",
                   {"kid": "https://issuer.example/profile#rsa"})
    write(landing, "signed/a.json", [good, tampered, web])
    write(landing, "signed/b.jwt", token + "\n")
    write(landing, "unsigned.json", ob3("urn:uuid:aaaaaaaa-0000-4000-8000-000000000005"))
    (landing / "keys").mkdir()
    (landing / "keys" / "issuer-jwks.json").write_text(json.dumps(
        {"id": "https://issuer.example/profile",
         "keys": [{**json.loads(rs.export_public()), "kid": "https://issuer.example/profile#rsa"}]}))
    ingest_credentials(lake, landing)
    got = verifications(lake)
    assert {a[-1]: s for a, (s, _) in got.items()} == {
        "1": "verified", "2": "invalid", "3": "unverifiable", "4": "verified", "5": "unsigned"}
    assert "did:web" in got["urn:uuid:aaaaaaaa-0000-4000-8000-000000000003"][1]
    assert balanced(lake)


def test_verification_runs_once_per_content(home, lake, monkeypatch):
    landing = home / "landing"
    ed = ed25519.Ed25519PrivateKey.generate()
    good = sign_data_integrity(signed_ob3("urn:uuid:bbbbbbbb-0000-4000-8000-000000000001"), ed,
                               did_key_of(ed.public_key()))
    write(landing, "a.json", good)
    calls = []
    real = verify.verify_document

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(verify, "verify_document", counting)
    ingest_credentials(lake, landing)
    assert len(calls) == 1
    # the same credential again (another file, other bytes: a JSON array around it) and a re-run
    write(landing, "again/b.json", [good])
    ingest_credentials(lake, landing)
    ingest_credentials(lake, landing)
    assert len(calls) == 1
    assert lake.execute("select count(*), min(proof_status) from raw.credential_verifications").fetchone() == (
        1, "verified")


def test_ob3_without_recipient_loads_unattributed(home, lake):
    landing = home / "landing"
    wallet = ob3("urn:uuid:cccccccc-0000-4000-8000-000000000001",
                 credentialSubject={"type": ["AchievementSubject"], "name": "Lin",
                                    "achievement": {"id": "https://uni.example/achievements/data",
                                                    "type": ["Achievement"], "name": "Data Literacy"}})
    write(landing, "wallet.json", wallet)
    ingest_credentials(lake, landing)
    assert lake.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    row = lake.execute("select recipient_identity, recipient_hashed, conformance_problem, achievement_id "
                       "from raw.credential_awards").fetchone()
    assert row[0] is None and row[1] is False
    assert "no recipient" in row[2] and "unattributed" in row[2]
    assert row[3] == "https://uni.example/achievements/data"
    assert verifications(lake)["urn:uuid:cccccccc-0000-4000-8000-000000000001"][0] == "unsigned"
    # still quarantined when something else is wrong too
    broken = {**wallet, "id": "urn:uuid:cccccccc-0000-4000-8000-000000000002", "validFrom": "soon"}
    write(landing, "broken.json", broken)
    ingest_credentials(lake, landing)
    reason, detail = lake.execute("select reason, detail from raw.quarantine").fetchone()
    assert reason == "invalid_credential" and "no recipient" in detail


def test_reference_files_get_their_verification(home, lake):
    """The 1EdTech files as a landing zone: every loaded award has one verification row."""
    landing = home / "landing"
    for rel in ("ob30/simple.json", "ob30/simple-noproof.json", "ob30/simple-err-proof-value.json",
                "ob30/simple-did-key-method.json", "clr20/complex.json", "ob20/basic-assertion.json"):
        dst = landing / "credentials" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REFERENCE_DATA / "credentials" / rel, dst)
    ingest_credentials(lake, landing)
    missing = lake.execute("select count(*) from raw.credential_awards a where not exists (select 1 from "
                           "raw.credential_verifications v where v.award_id = a.award_id)").fetchone()[0]
    assert missing == 0
    statuses = lake.execute(
        "select a.source_ref, v.proof_status, count(*) from raw.credential_awards a join "
        "raw.credential_verifications v using (award_id) group by 1, 2 order by 1, 2").fetchall()
    by_file = {(ref.removeprefix("credentials/"), s): n for ref, s, n in statuses}
    assert by_file[("clr20/complex.json", "unverifiable")] == 1       # the CLR container: context not shipped
    assert by_file[("clr20/complex.json", "verified")] == 6           # its nested credentials (did:key)
    assert by_file[("ob20/basic-assertion.json", "unsigned")] == 1
    # simple-err-proof-value, simple-noproof and simple-did-key-method share simple.json's id: the
    # first file (path order) is the award; the others clash or are duplicates
    assert ("ob30/simple-did-key-method.json", "verified") in by_file


def test_a_key_delivered_later_verifies_what_was_unverifiable(home, lake):
    landing = home / "landing"
    ed = ed25519.Ed25519PrivateKey.generate()
    mk = did_key_of(ed.public_key()).removeprefix("did:key:")
    web = sign_data_integrity(signed_ob3("urn:uuid:ffffffff-0000-4000-8000-000000000001",
                                         issuer="did:web:issuer.example"), ed, "did:web:issuer.example#key-1")
    other = sign_data_integrity(signed_ob3("urn:uuid:ffffffff-0000-4000-8000-000000000002",
                                           issuer="did:web:other.example"), ed, "did:web:other.example#key-1")
    write(landing, "web.json", [web, other])
    ingest_credentials(lake, landing)
    assert {s for s, _ in verifications(lake).values()} == {"unverifiable"}
    (landing / "keys").mkdir()
    (landing / "keys" / "issuer.json").write_text(json.dumps(
        {"id": "did:web:issuer.example", "verificationMethod": [
            {"id": "#key-1", "type": "Multikey", "publicKeyMultibase": mk}]}))
    (landing / "keys" / "junk.json").write_text(json.dumps({"hello": "world"}))
    ingest_credentials(lake, landing)
    latest = dict(lake.execute(
        "select award_id, proof_status from raw.credential_verifications qualify row_number() over "
        "(partition by award_id order by loaded_at desc, record_no desc) = 1").fetchall())
    assert latest == {web["id"]: "verified", other["id"]: "unverifiable"}
    assert lake.execute("select reason from raw.quarantine").fetchall() == [("unsupported_document",)]
    # another key file: the one still unverifiable is tried again (and stays so), the verified one is not
    (landing / "keys" / "third.json").write_text(json.dumps(
        {"id": "did:web:third.example", "verificationMethod": [
            {"id": "#k", "type": "Multikey", "publicKeyMultibase": mk}]}))
    ingest_credentials(lake, landing)
    rows = lake.execute("select award_id, count(*) from raw.credential_verifications group by 1").fetchall()
    assert dict(rows) == {web["id"]: 2, other["id"]: 3}
    n = lake.execute("select count(*) from raw.credential_verifications").fetchone()
    ingest_credentials(lake, landing)
    assert lake.execute("select count(*) from raw.credential_verifications").fetchone() == n
    assert balanced(lake)
