"""Proof verification, status lists and unattributed awards from the landing zone through dbt to the marts.

Credentials signed here (generated Ed25519 key, did:key), one tampered with, one unsigned,
one from a wallet without a recipient, one revoked by a signed status list, plus an OB 2.0
hosted assertion; ingested, built with dbt, and each mart checked. No network."""

from __future__ import annotations

import copy
import json
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from tests.helpers import TEST_KEY, query, run_dbt
from tests.integration.test_credential_marts import OTHERS_TESTS, SELECT
from tests.unit.test_credential_status import bitstring_list, entry
from tests.unit.test_credential_verify import did_key_of, sign_data_integrity
from tests.unit.test_ingest_credentials import write

ISSUER = "https://uni.example/issuer"
ACH = "https://uni.example/achievements/data"


def cred(n: int, *, email: str | None = "lin@example.com", **extra) -> dict:
    subject = {"type": ["AchievementSubject"],
               "achievement": {"id": ACH, "type": ["Achievement"], "name": "Data Literacy",
                               "criteria": {"narrative": "Pass."}, "description": "d"}}
    if email:
        subject["id"] = f"mailto:{email}"
    else:
        subject["name"] = "Someone"
    c = {"@context": ["https://www.w3.org/ns/credentials/v2",
                      "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
         "id": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "type": ["VerifiableCredential", "OpenBadgeCredential"],
         "issuer": {"id": ISSUER, "type": ["Profile"], "name": "Uni"},
         "validFrom": "2024-01-15T09:30:00Z", "name": "Data Literacy", "credentialSubject": subject}
    c.update(extra)
    return c


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("trust") / "home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    key = ed25519.Ed25519PrivateKey.generate()
    did = did_key_of(key.public_key())
    signer = (key, did)
    good = sign_data_integrity(cred(1), key, did)
    tampered = copy.deepcopy(sign_data_integrity(cred(2, email="kim@example.com"), key, did))
    tampered["validFrom"] = "2023-01-15T09:30:00Z"
    unsigned = cred(3, email="max@example.com")
    wallet = sign_data_integrity(cred(4, email=None), key, did)
    revoked = sign_data_integrity(cred(5, email="ada@example.com", credentialStatus=entry(7)), key, did)
    write(landing, "ob3.json", [good, tampered, unsigned, wallet, revoked])
    write(landing, "collections.csv", f"collection_id,collection_name,position,achievement_id\nc1,Data,1,{ACH}\n")
    (landing / "status").mkdir()
    (landing / "status" / "list.json").write_text(json.dumps(bitstring_list(signer, {7})))
    lake = connect_raw(home / "lake.duckdb")

    def refuse(*args, **kwargs):
        raise AssertionError("ingestion tried to open a network connection")
    try:
        with pytest.MonkeyPatch.context() as mp:     # no network while verifying
            mp.setattr(socket.socket, "connect", refuse)
            mp.setattr(socket, "create_connection", refuse)
            ingest_credentials(lake, landing)
    finally:
        lake.close()
    # no consent files here: the deployment's default is that consent is assumed, so the recipient-level
    # marts show every recipient (tests/integration/test_consent.py covers consent)
    run_dbt(home, "build", "--select", *SELECT, "--exclude", *OTHERS_TESTS,
            vars={"as_of_date": "2025-06-01", "small_cell_k": 1}, SKILLPATH_PSEUDONYM_KEY=TEST_KEY,
            SKILLPATH_CONSENT_DEFAULT="assumed")
    ids = {n: cred(n)["id"] for n in range(1, 6)}
    return home, ids


def test_fct_has_proof_status_attribution_and_status(built):
    home, ids = built
    rows = {r[0]: r[1:] for r in query(home / "build.duckdb", "select award_id, proof_status, is_attributed, "
                                       "status, conformance_problem from marts.fct_credential_awards")}
    assert rows[ids[1]][:3] == ("verified", True, "active")
    assert rows[ids[2]][:2] == ("invalid", True)
    assert rows[ids[3]][:2] == ("unsigned", True)
    assert rows[ids[4]][:2] == ("verified", False) and "no recipient" in rows[ids[4]][3]
    assert rows[ids[5]][:3] == ("verified", True, "revoked")
    detail = query(home / "build.duckdb", "select proof_detail from marts.fct_credential_awards "
                                          "where award_id = ?", [ids[2]])[0][0]
    assert "signature does not match" in detail


def test_trust_mart_share_by_issuer_and_collection(built):
    home, _ = built
    rows = query(home / "build.duckdb", "select issuer_id, collection_id, awards, verified, invalid, unverifiable, "
                                        "unsigned, unattributed, verified_share, issuer_awards "
                                        "from marts.mart_credential_trust")
    assert rows == [(ISSUER, "c1", 5, 3, 1, 0, 1, 1, 0.6, 5)]
    dim = query(home / "build.duckdb", "select awards, verified_awards, verified_share from marts.dim_credentials")
    assert dim == [(5, 3, 0.6)]


def test_invalid_credentials_listed_pseudonymously(built):
    home, ids = built
    con_rows = query(home / "build.duckdb", "select * from marts.mart_invalid_credentials")
    assert len(con_rows) == 1
    text = " ".join(str(v) for v in con_rows[0])
    assert "urn:uuid" not in text and "@" not in text and "kim" not in text
    assert "signature does not match" in text


def test_unattributed_award_counts_in_issuance_not_in_learner_flow(built):
    home, ids = built
    db = home / "build.duckdb"
    assert query(db, "select sum(awards_issued) from marts.mart_issuance_trends") == [(5,)]
    flow_awards = {r[0] for r in query(db, "select award_id from marts.fct_credential_transitions")}
    assert ids[4] not in flow_awards and ids[1] in flow_awards
    wallet_learner = query(db, "select learner_id from marts.fct_credential_awards where award_id = ?", [ids[4]])[0][0]
    assert wallet_learner not in {r[0] for r in query(db, "select learner_id from marts.mart_recipient_credentials")}
    statuses = dict(query(db, "select proof_status, count(*) from marts.mart_recipient_credentials group by 1"))
    assert statuses == {"verified": 2, "invalid": 1, "unsigned": 1}


def test_report_trust_section(built, tmp_path):
    from skillpath.report import build_report

    home, ids = built
    out = build_report(home / "build.duckdb", tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    section = html[html.index('<section class="page" id="trust">'):]
    section = section[:section.index("</section>")]
    assert 'id="trust-table"' in section and 'id="invalid-credentials-table"' in section
    assert "60.0" in section or "60 %" in section or "60%" in section       # 3 of 5 verified
    assert "signature does not match" in section
    assert "urn:uuid" not in section and "@example.com" not in section
    assert 'id="verified-funnel-note"' in section
