"""Credential status from status lists delivered in landing/status/ (skillpath/ingest/_credential_status.py).

The lists are built and signed here with generated Ed25519 keys (did:key); a list whose
proof does not hold is never used. No network: sockets refuse to connect."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from skillpath.ingest import _credential_status as status
from skillpath.ingest import _credential_verify as verify
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from tests.helpers import REFERENCE_DATA
from tests.unit.test_credential_verify import did_key_of, sign_data_integrity
from tests.unit.test_ingest_credentials import balanced, ob3, write

LIST_URL = "https://issuer.example/status/1"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a status test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def signer():
    key = ed25519.Ed25519PrivateKey.generate()
    return key, did_key_of(key.public_key())


def encoded(set_bits: set[int], size: int = 16384, multibase: bool = True) -> str:
    bits = bytearray(size // 8)
    for i in set_bits:
        bits[i // 8] |= 0x80 >> (i % 8)
    text = base64.urlsafe_b64encode(gzip.compress(bytes(bits))).rstrip(b"=").decode()
    return ("u" + text) if multibase else text


def bitstring_list(signer, set_bits: set[int], purpose="revocation", list_id=LIST_URL) -> dict:
    key, did = signer
    doc = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": list_id,
           "type": ["VerifiableCredential", "BitstringStatusListCredential"],
           "issuer": did, "validFrom": "2024-01-01T00:00:00Z",
           "credentialSubject": {"id": f"{list_id}#list", "type": "BitstringStatusList",
                                 "statusPurpose": purpose, "encodedList": encoded(set_bits)}}
    return sign_data_integrity(doc, key, did)


def entry(index: int, purpose="revocation", list_id=LIST_URL) -> dict:
    return {"id": f"{list_id}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": purpose,
            "statusListIndex": str(index), "statusListCredential": list_id}


def test_bitstring_list_revoked_active_and_out_of_range(signer):
    lists = status.StatusLists(None, verify.KeyDirectory(), documents=[bitstring_list(signer, {5, 16383})])
    assert status.check("urn:c", entry(5), lists).result == "revoked"
    assert status.check("urn:c", entry(16383), lists).result == "revoked"
    assert status.check("urn:c", entry(6), lists).result == "active"
    out = status.check("urn:c", entry(16384), lists)
    assert out.result == "unknown" and "outside the list" in out.detail
    assert status.check("urn:c", {**entry(5), "statusListIndex": "five"}, lists).result == "unknown"


def test_suspension_list(signer):
    lists = status.StatusLists(None, verify.KeyDirectory(),
                               documents=[bitstring_list(signer, {3}, purpose="suspension")])
    assert status.check("urn:c", entry(3, "suspension"), lists).result == "suspended"
    out = status.check("urn:c", entry(3, "revocation"), lists)
    assert out.result == "unknown" and "purpose" in out.detail


def test_a_tampered_or_missing_list_is_never_used(signer):
    tampered = bitstring_list(signer, set())
    tampered["credentialSubject"]["encodedList"] = encoded({5})       # bit 5 set after signing
    lists = status.StatusLists(None, verify.KeyDirectory(), documents=[tampered])
    out = status.check("urn:c", entry(5), lists)
    assert out.result == "unknown" and "proof is invalid" in out.detail
    unsigned = {k: v for k, v in bitstring_list(signer, {5}).items() if k != "proof"}
    lists = status.StatusLists(None, verify.KeyDirectory(), documents=[unsigned])
    assert "proof is unsigned" in status.check("urn:c", entry(5), lists).detail
    out = status.check("urn:c", entry(5, list_id="https://other.example/list"), lists)
    assert out.result == "unknown" and "was not delivered" in out.detail


def test_status_list_2021(signer):
    key, did = signer
    doc = {"@context": ["https://www.w3.org/2018/credentials/v1", "https://w3id.org/vc/status-list/2021/v1"],
           "id": LIST_URL, "type": ["VerifiableCredential", "StatusList2021Credential"], "issuer": did,
           "issuanceDate": "2024-01-01T00:00:00Z",
           "credentialSubject": {"id": f"{LIST_URL}#list", "type": "StatusList2021",
                                 "statusPurpose": "revocation", "encodedList": encoded({9}, multibase=False)}}
    lists = status.StatusLists(None, verify.KeyDirectory(), documents=[sign_data_integrity(doc, key, did)])
    e = {**entry(9), "type": "StatusList2021Entry"}
    assert status.check("urn:c", e, lists).result == "revoked"
    assert status.check("urn:c", {**e, "statusListIndex": "10"}, lists).result == "active"
    # a Bitstring entry does not read a StatusList2021 list
    assert status.check("urn:c", entry(9), lists).result == "unknown"


def test_1edtech_revocation_list():
    lists = status.StatusLists(None, verify.KeyDirectory(), documents=[
        {"id": "https://issuer.example/revocations", "type": "1EdTechRevocationList",
         "revokedCredentials": [{"id": "urn:c1", "revocationReason": "issued in error"}, "urn:c2"]}])
    e = {"id": "https://issuer.example/revocations", "type": "1EdTechRevocationList"}
    out = status.check("urn:c1", e, lists)
    assert (out.result, out.reason) == ("revoked", "issued in error")
    assert status.check("urn:c2", e, lists).result == "revoked"
    assert status.check("urn:c3", e, lists).result == "active"


def test_reference_bitstring_credential_without_its_list_is_unknown():
    cred = json.loads((REFERENCE_DATA / "credentials/ob30/bit-string-list/credential-status-revoked.json")
                      .read_text(encoding="utf-8"))
    entries = status.status_entries(cred)
    assert entries and entries[0]["type"] == "BitstringStatusListEntry"
    out = status.check(cred["id"], entries[0], status.StatusLists(None, verify.KeyDirectory()))
    assert out.result == "unknown" and "was not delivered" in out.detail


# --------------------------------------------------------------------------- ingestion


def test_ingestion_revokes_from_a_list_in_the_same_run_and_from_a_later_one(home, signer):
    landing = home / "landing"
    con = connect_raw(home / "lake.duckdb")
    try:
        first = ob3("urn:uuid:dddddddd-0000-4000-8000-000000000001", credentialStatus=entry(5))
        second = ob3("urn:uuid:dddddddd-0000-4000-8000-000000000002", credentialStatus=entry(6))
        (landing / "status").mkdir()
        (landing / "status" / "list-v1.json").write_text(json.dumps(bitstring_list(signer, {5})))
        write(landing, "a.json", [first, second])
        ingest_credentials(con, landing)

        def current():
            return dict(con.execute(
                "select award_id, revoked from raw.credential_awards qualify row_number() over "
                "(partition by award_id order by loaded_at desc, record_no desc) = 1").fetchall())
        assert current() == {first["id"]: True, second["id"]: False}
        reason = con.execute("select revocation_reason from raw.credential_awards where award_id = ?",
                             [first["id"]]).fetchone()[0]
        assert reason == "revoked (status list)"
        # a later list revokes the second award: a completed award row is appended
        (landing / "status" / "list-v2.json").write_text(json.dumps(bitstring_list(signer, {5, 6})))
        ingest_credentials(con, landing)
        assert current() == {first["id"]: True, second["id"]: True}
        checks = con.execute("select award_id, result from raw.credential_status_checks "
                             "order by loaded_at, record_no").fetchall()
        assert checks == [(first["id"], "revoked"), (second["id"], "active"), (second["id"], "revoked")]
        # a re-run changes nothing
        before = con.execute("select count(*) from raw.credential_awards").fetchone()
        ingest_credentials(con, landing)
        assert con.execute("select count(*) from raw.credential_awards").fetchone() == before
        # a file in landing/status that is no list is quarantined
        (landing / "status" / "notes.json").write_text(json.dumps({"hello": "world"}))
        ingest_credentials(con, landing)
        assert con.execute("select reason from raw.quarantine").fetchall() == [("unsupported_document",)]
        assert balanced(con)
    finally:
        con.close()


def test_ingestion_ignores_a_tampered_list(home, signer):
    landing = home / "landing"
    con = connect_raw(home / "lake.duckdb")
    try:
        tampered = copy.deepcopy(bitstring_list(signer, set()))
        tampered["credentialSubject"]["encodedList"] = encoded({5})
        (landing / "status").mkdir()
        (landing / "status" / "list.json").write_text(json.dumps(tampered))
        write(landing, "a.json", ob3("urn:uuid:eeeeeeee-0000-4000-8000-000000000001", credentialStatus=entry(5)))
        ingest_credentials(con, landing)
        assert con.execute("select revoked from raw.credential_awards").fetchall() == [(False,)]
        result, detail = con.execute("select result, detail from raw.credential_status_checks").fetchone()
        assert result == "unknown" and "invalid" in detail
    finally:
        con.close()
