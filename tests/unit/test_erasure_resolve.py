"""``skillpath erase`` finds the same person whichever identifier it is given: the LMS user id,
an email, an xAPI mbox, mbox_sha1sum or account (skillpath/privacy/erasure.py ``resolve``)."""

from __future__ import annotations

import hashlib
import json

import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.privacy.erasure import ErasureError, resolve, seed_identity

KEY = "resolve-key"
EMAIL = "ada.l@example.org"
SHA1 = hashlib.sha1(f"mailto:{EMAIL}".encode()).hexdigest()
META = "'t', 'x', 'f', 1, now()"


@pytest.fixture
def lake(tmp_path):
    con = connect_raw(tmp_path / "lake.duckdb")
    con.execute(f"insert into raw.lms_users values ({META}, 'u1', 'acc', 'Ada.L@Example.org', 'Ada L', 'learner', '')")
    con.execute(f"insert into raw.lms_users values ({META}, 'u2', 'acc', 'bob@example.org', 'Bob', 'learner', '')")
    for n, (actor, cols) in enumerate([
        ({"mbox": f"mailto:{EMAIL.upper()}", "name": "Ada from the LRS"}, ("actor_mbox", f"mailto:{EMAIL.upper()}")),
        ({"account": {"homePage": "https://lms.example.org/", "name": "u1"}},
         ("actor_account_homepage", "https://lms.example.org/")),
        ({"mbox_sha1sum": SHA1}, ("actor_mbox_sha1sum", SHA1)),
        ({"account": {"homePage": "https://lms.example.org", "name": "u2"}}, ("actor_account_name", "u2")),
    ]):
        payload = json.dumps({"actor": actor})
        con.execute(f"insert into raw.xapi_statements (load_id, source, source_ref, record_no, loaded_at, statement_id, "
                    f"payload, payload_sha256, verb_id, statement_timestamp, has_result, {cols[0]}"
                    + (", actor_account_name" if "account" in actor and cols[0] != "actor_account_name" else "")
                    + ") values ('t', 'x', 'f', ?, now(), ?, ?, 'h', 'v', now(), false, ?"
                    + (", 'u1'" if "account" in actor and cols[0] != "actor_account_name" else "") + ")",
                    [n, f"s{n}", payload, cols[1]])
    salted = "sha256$" + hashlib.sha256(f"{EMAIL}9f".encode()).hexdigest()
    for award, identity, hashed, salt, parent in [("urn:a1", EMAIL, False, None, None),
                                                  ("urn:a2", salted, True, "9f", None),
                                                  ("urn:a3", None, False, None, "urn:a2"),
                                                  ("urn:b1", "bob@example.org", False, None, None)]:
        con.execute(f"insert into raw.credential_awards (load_id, source, source_ref, record_no, loaded_at, award_id, "
                    "source_format, parent_award_id, recipient_identity, recipient_hashed, recipient_salt, "
                    f"payload_sha256) values ({META}, ?, 'ob2', ?, ?, ?, ?, 'h')",
                    [award, parent, identity, hashed, salt])
    yield con
    con.close()


@pytest.mark.parametrize("asked", [
    {"user_id": "u1"}, {"email": "ADA.L@example.org"}, {"mbox": f"mailto:{EMAIL}"},
    {"mbox_sha1sum": SHA1.upper()}, {"account": "https://lms.example.org|u1"},
])
def test_every_identifier_finds_the_same_person(lake, asked) -> None:
    ident = resolve(lake, seed_identity(**asked), KEY)
    assert ident.user_ids == {"u1"}
    assert ident.emails == {EMAIL}
    assert SHA1 in ident.sha1s
    assert ident.accounts == {"https://lms.example.org|u1"}
    assert ident.award_ids == {"urn:a1", "urn:a2", "urn:a3"}  # plain, salted hash, nested in the hashed one
    assert ident.names == {"Ada L", "Ada from the LRS"}
    assert hashlib.sha256(f"{KEY}|u1".encode()).hexdigest()[:24] in ident.learner_ids
    assert "u2" not in ident.tokens() and "bob@example.org" not in ident.tokens()


def test_nothing_to_go_by_is_refused() -> None:
    with pytest.raises(ErasureError):
        seed_identity()
    with pytest.raises(ErasureError, match="HOMEPAGE"):
        seed_identity(account="u1")


def test_a_did_recipient_is_found_by_its_identity_in_any_case(lake) -> None:
    """An Open Badges 3.0 recipient known only by a DID (no email, no LMS user): ``--recipient``."""
    did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    lake.execute(f"insert into raw.credential_awards (load_id, source, source_ref, record_no, loaded_at, award_id, "
                 "source_format, recipient_identity, recipient_hashed, payload_sha256) "
                 f"values ({META}, 'urn:d1', 'ob3', ?, false, 'h'), ({META}, 'urn:d2', 'ob3', ?, false, 'h')",
                 [did, "did:key:z6MkOTHER"])
    ident = resolve(lake, seed_identity(recipient=did.upper().replace("DID:KEY:", "did:key:")), KEY)
    assert ident.award_ids == {"urn:d1"}
    assert ident.recipients == {did.lower() + "|"}
    assert ident.user_ids == set() and ident.emails == set()
    assert hashlib.sha256(f"{KEY}|recipient:{did.lower()}".encode()).hexdigest()[:24] in ident.learner_ids
    # an email given as --recipient is an email
    assert seed_identity(recipient="mailto:Ada.L@Example.org").emails == {EMAIL}


def test_an_openid_actor_is_found_by_its_openid(lake) -> None:
    """The last xAPI actor identifier: an openid actor (no roster links it) is its own learner."""
    openid = "https://openid.example.org/ada"
    lake.execute("insert into raw.xapi_statements (load_id, source, source_ref, record_no, loaded_at, statement_id, "
                 "payload, payload_sha256, verb_id, statement_timestamp, has_result, actor_openid) "
                 "values ('t', 'x', 'f', 9, now(), 's9', ?, 'h', 'v', now(), false, ?)",
                 [json.dumps({"actor": {"openid": openid, "name": "Ada by OpenID"}}), openid])
    ident = resolve(lake, seed_identity(openid=openid), KEY)
    assert ident.openids == {openid}
    assert ident.names == {"Ada by OpenID"}
    assert hashlib.sha256(f"{KEY}|openid:{openid}".encode()).hexdigest()[:24] in ident.learner_ids
    assert ident.user_ids == set() and ident.award_ids == set()
