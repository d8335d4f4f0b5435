"""Credentials ingestion: hand-written documents of every format, with the exact rows expected."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from skillpath.ingest.rawstore import reconciliation

OB2 = "https://w3id.org/openbadges/v2"
VC1 = "https://www.w3.org/2018/credentials/v1"
VC2 = "https://www.w3.org/ns/credentials/v2"
OB3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"

AWARD_COLS = ("award_id, source_format, parent_award_id, achievement_id, achievement_name, achievement_type, "
              "issuer_id, issuer_name, recipient_identity, recipient_hashed, recipient_salt, issued_at, "
              "expires_at, revoked, revocation_reason")


def salted(email: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((email + salt).encode()).hexdigest()


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(payload: dict) -> str:
    """A compact JWS with a made-up signature (signatures are not verified)."""
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(payload)}.c2lnbmF0dXJl"


def write(root: Path, rel: str, content) -> Path:
    path = root / "credentials" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


def t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


@pytest.fixture
def lake(home: Path):
    con = connect_raw(home / "lake.duckdb")
    yield con
    con.close()


def awards(con, where: str = "true") -> list[tuple]:
    return con.execute(f"select {AWARD_COLS} from raw.credential_awards where {where} "
                       "order by source_ref, record_no, award_id").fetchall()


def quarantine(con) -> list[tuple]:
    return con.execute("select source_ref, record_no, reason from raw.quarantine order by 1, 2").fetchall()


def balanced(con) -> bool:
    return all(r["balanced"] for r in reconciliation(con))


# --------------------------------------------------------------------------- Open Badges 2.0


ISSUER = {"@context": OB2, "type": "Issuer", "id": "https://org.example/issuer", "name": "Example Org",
          "url": "https://org.example", "revocationList": "https://org.example/revoked"}
BADGE = {"@context": OB2, "type": "BadgeClass", "id": "https://org.example/badges/python", "name": "Python",
         "criteria": {"narrative": "Write code"}, "issuer": "https://org.example/issuer"}
ASSERT_HASHED = {
    "@context": OB2, "type": "Assertion", "id": "https://org.example/assertions/1",
    "recipient": {"type": "email", "hashed": True, "salt": "pepper",
                  "identity": salted("ada@example.com", "pepper").upper().replace("SHA256$", "sha256$")},
    "badge": "https://org.example/badges/python",
    "issuedOn": "2024-03-01T10:00:00+02:00", "expires": "2025-03-01T00:00:00Z",
    "verification": {"type": "hosted"},
}
ASSERT_EMBEDDED = {
    "@context": OB2, "type": "Assertion", "id": "urn:uuid:2f0e7c0a-0000-4000-8000-000000000002",
    "recipient": {"type": "email", "hashed": False, "identity": "Grace@Example.COM"},
    "badge": {"type": "BadgeClass", "id": "https://other.example/badges/sql", "name": {"en-US": "SQL"},
              "issuer": {"type": "Profile", "id": "https://other.example", "name": "Other School"}},
    "issuedOn": "2024-05-02",
}
REVOCATIONS = {"@context": OB2, "type": "RevocationList", "id": "https://org.example/revoked",
               "revokedAssertions": [{"id": "https://org.example/assertions/1", "revocationReason": "cheated"},
                                     "urn:uuid:never-issued"]}


def test_ob2_assertions_resolve_badge_class_issuer_and_revocation_list(home, lake):
    landing = home / "landing"
    write(landing, "ob2/issuer.json", ISSUER)
    write(landing, "ob2/z-badge.json", BADGE)              # after the assertions: order does not matter
    write(landing, "ob2/assertions.json", [ASSERT_HASHED, ASSERT_EMBEDDED])
    write(landing, "ob2/revocations.json", REVOCATIONS)
    results = ingest_credentials(lake, landing)

    assert {r["source_ref"]: (r["records_read"], r["records_loaded"]) for r in results} == {
        "credentials/ob2/assertions.json": (2, 2), "credentials/ob2/issuer.json": (1, 1),
        "credentials/ob2/revocations.json": (1, 1), "credentials/ob2/z-badge.json": (1, 1)}
    assert awards(lake) == [
        ("https://org.example/assertions/1", "ob2", None, "https://org.example/badges/python", "Python", "Badge",
         "https://org.example/issuer", "Example Org", salted("ada@example.com", "pepper"), True, "pepper",
         t("2024-03-01 08:00:00"), t("2025-03-01 00:00:00"), True, "cheated"),
        ("urn:uuid:2f0e7c0a-0000-4000-8000-000000000002", "ob2", None, "https://other.example/badges/sql", "SQL",
         "Badge", "https://other.example", "Other School", "grace@example.com", False, None,
         t("2024-05-02 00:00:00"), None, False, None),
    ]
    docs = lake.execute("select source_ref, record_no, document_format, document_id from raw.credential_documents "
                        "order by 1, 2").fetchall()
    assert docs == [
        ("credentials/ob2/assertions.json", 1, "ob2_assertion", "https://org.example/assertions/1"),
        ("credentials/ob2/assertions.json", 2, "ob2_assertion", "urn:uuid:2f0e7c0a-0000-4000-8000-000000000002"),
        ("credentials/ob2/issuer.json", 1, "ob2_issuer", "https://org.example/issuer"),
        ("credentials/ob2/revocations.json", 1, "ob2_revocationlist", "https://org.example/revoked"),
        ("credentials/ob2/z-badge.json", 1, "ob2_badgeclass", "https://org.example/badges/python"),
    ]
    # payload is the document as JSON, its hash the sha256 of the canonical (sorted-key) form
    payload, sha = lake.execute("select payload, payload_sha256 from raw.credential_documents "
                                "where source_ref like '%issuer.json'").fetchone()
    assert json.loads(payload) == ISSUER
    assert sha == hashlib.sha256(json.dumps(ISSUER, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert quarantine(lake) == [] and balanced(lake)


def test_ob2_documents_arriving_in_a_later_run_complete_earlier_awards(home, lake):
    landing = home / "landing"
    write(landing, "day1/assertion.json", ASSERT_HASHED)
    ingest_credentials(lake, landing)
    first = ("https://org.example/assertions/1", "ob2", None, "https://org.example/badges/python", None, "Badge",
             None, None, salted("ada@example.com", "pepper"), True, "pepper",
             t("2024-03-01 08:00:00"), t("2025-03-01 00:00:00"), False, None)
    assert awards(lake) == [first]

    write(landing, "day2/issuer.json", ISSUER)
    write(landing, "day2/badge.json", BADGE)
    write(landing, "day2/revocations.json", REVOCATIONS)
    ingest_credentials(lake, landing)
    # raw stays append-only: the first row is kept, one completed row is appended
    completed = (*first[:4], "Python", "Badge", "https://org.example/issuer", "Example Org", *first[8:13],
                 True, "cheated")
    assert awards(lake) == [first, completed]
    latest = lake.execute(
        f"select {AWARD_COLS} from raw.credential_awards qualify row_number() over "
        "(partition by award_id order by loaded_at desc, record_no desc) = 1").fetchall()
    assert latest == [completed]
    assert balanced(lake)


# --------------------------------------------------------------------------- Open Badges 3.0


def ob3(cred_id: str, **extra) -> dict:
    cred = {
        "@context": [VC2, OB3], "id": cred_id, "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "https://uni.example/issuer", "type": ["Profile"], "name": "Example University"},
        "validFrom": "2024-01-15T09:30:00-05:00", "validUntil": "2026-01-15T14:30:00Z", "name": "Data badge",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
                            "salt": "s4lt", "identityHash": salted("lin@example.com", "s4lt")}],
            "achievement": {"id": "https://uni.example/achievements/data", "type": ["Achievement"],
                            "achievementType": "Certificate", "name": "Data Literacy"},
        },
    }
    cred.update(extra)
    return cred


def test_ob3_json_vc11_jwt_and_ndjson(home, lake):
    landing = home / "landing"
    write(landing, "ob3/vc2.json", ob3("urn:uuid:00000000-0000-4000-8000-000000000001"))
    vc11 = ob3("urn:uuid:00000000-0000-4000-8000-000000000002",
               credentialStatus={"id": "https://uni.example/status/2", "type": "1EdTechRevocationList",
                                 "revoked": True, "revocationReason": "issued in error"})
    vc11["@context"] = [VC1, OB3]
    del vc11["validFrom"], vc11["validUntil"]
    vc11.update(issuanceDate="2023-06-30T23:00:00Z", expirationDate="2024-06-30T23:00:00Z")
    vc11["issuer"] = "https://uni.example/issuer"
    vc11["credentialSubject"] = {"id": "mailto:Bo@Example.com", "type": "AchievementSubject",
                                 "achievement": {"id": "https://uni.example/achievements/stats",
                                                 "name": {"en": "Statistics", "fr": "Statistiques"}}}
    write(landing, "ob3/vc11.json", vc11)
    # JWT-VC: id, issuer, subject and dates given only as registered claims
    inner = ob3("ignored")
    for key in ("id", "issuer", "validFrom", "validUntil"):
        del inner[key]
    inner["credentialSubject"] = {"type": ["AchievementSubject"],
                                  "achievement": {"id": "https://uni.example/achievements/ml", "name": "ML"}}
    token = jwt({"vc": inner, "jti": "urn:uuid:00000000-0000-4000-8000-000000000003",
                 "iss": "did:web:uni.example", "sub": "did:example:learner-7",
                 "nbf": 1704067200, "exp": 1767225600})
    write(landing, "ob3/one.jwt", token + "\n\n")
    plain = ob3("urn:uuid:00000000-0000-4000-8000-000000000004")
    plain["credentialSubject"]["identifier"] = [{"type": "IdentityObject", "identityType": "emailAddress",
                                                 "hashed": False, "identityHash": " Kim@Example.org "}]
    write(landing, "ob3/stream.ndjson",
          json.dumps(jwt(ob3("urn:uuid:00000000-0000-4000-8000-000000000005"))) + "\n"
          + json.dumps(plain) + "\n"
          + "{not json\n"
          + json.dumps("definitely.not a.jwt") + "\n")
    results = {r["source_ref"]: r for r in ingest_credentials(lake, landing)}

    ach = ("https://uni.example/achievements/data", "Data Literacy", "Certificate")
    uni = ("https://uni.example/issuer", "Example University")
    lin = (salted("lin@example.com", "s4lt"), True, "s4lt")
    assert awards(lake) == [
        ("urn:uuid:00000000-0000-4000-8000-000000000003", "ob3", None, "https://uni.example/achievements/ml",
         "ML", "Badge", "did:web:uni.example", None, "did:example:learner-7", False, None,
         t("2024-01-01 00:00:00"), t("2026-01-01 00:00:00"), False, None),
        ("urn:uuid:00000000-0000-4000-8000-000000000005", "ob3", None, *ach, *uni, *lin,
         t("2024-01-15 14:30:00"), t("2026-01-15 14:30:00"), False, None),
        ("urn:uuid:00000000-0000-4000-8000-000000000004", "ob3", None, *ach, *uni, "kim@example.org", False, None,
         t("2024-01-15 14:30:00"), t("2026-01-15 14:30:00"), False, None),
        ("urn:uuid:00000000-0000-4000-8000-000000000002", "ob3", None, "https://uni.example/achievements/stats",
         "Statistics", "Badge", "https://uni.example/issuer", None, "bo@example.com", False, None,
         t("2023-06-30 23:00:00"), t("2024-06-30 23:00:00"), True, "issued in error"),
        ("urn:uuid:00000000-0000-4000-8000-000000000001", "ob3", None, *ach, *uni, *lin,
         t("2024-01-15 14:30:00"), t("2026-01-15 14:30:00"), False, None),
    ]
    assert quarantine(lake) == [("credentials/ob3/stream.ndjson", 3, "malformed_json"),
                                ("credentials/ob3/stream.ndjson", 4, "malformed_jwt")]
    stream = results["credentials/ob3/stream.ndjson"]
    assert (stream["records_read"], stream["records_loaded"], stream["records_quarantined"]) == (4, 2, 2)
    # a JWT is stored decoded in payload and verbatim in raw_text
    payload, raw_text = lake.execute("select payload, raw_text from raw.credential_documents "
                                     "where source_ref = 'credentials/ob3/one.jwt'").fetchone()
    assert raw_text == token and json.loads(payload)["jti"] == "urn:uuid:00000000-0000-4000-8000-000000000003"
    assert lake.execute("select raw_record from raw.quarantine where record_no = 3").fetchone()[0] == b"{not json"
    assert balanced(lake)


# --------------------------------------------------------------------------- CLR 2.0


def clr() -> dict:
    nested_jwt = jwt({"vc": ob3("urn:uuid:c1a00000-0000-4000-8000-000000000002",
                                credentialSubject={"type": ["AchievementSubject"],
                                                   "achievement": {"id": "urn:ach:unit-2", "name": "Unit 2"}})})
    return {
        "@context": [VC2, CLR, OB3], "id": "urn:uuid:c1a00000-0000-4000-8000-000000000000",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": {"id": "https://uni.example/issuer", "type": ["Profile"], "name": "Example University"},
        "validFrom": "2024-09-01T00:00:00Z", "name": "Transcript",
        "credentialSubject": {
            "type": ["ClrSubject"], "id": "mailto:lin@example.com",
            "verifiableCredential": [
                ob3("urn:uuid:c1a00000-0000-4000-8000-000000000001",
                    credentialSubject={"id": "mailto:LIN@example.com", "type": ["AchievementSubject"],
                                       "achievement": {"id": "urn:ach:unit-1", "type": "Achievement",
                                                       "achievementType": "Course", "name": "Unit 1"}}),
                nested_jwt,
            ],
            "association": [
                {"type": "Association", "associationType": "isParentOf", "sourceId": "urn:ach:program",
                 "targetId": "urn:ach:unit-1"},
                {"type": "Association", "associationType": "isParentOf", "sourceId": "urn:ach:program",
                 "targetId": "urn:ach:unit-2"},
            ],
        },
    }


def test_clr_container_nested_credentials_and_associations(home, lake):
    landing = home / "landing"
    write(landing, "clr/transcript.json", clr())
    ingest_credentials(lake, landing)
    clr_id = "urn:uuid:c1a00000-0000-4000-8000-000000000000"
    uni = ("https://uni.example/issuer", "Example University")
    assert awards(lake) == [
        (clr_id, "clr2", None, None, "Transcript", None, *uni, "lin@example.com", False, None,
         t("2024-09-01 00:00:00"), None, False, None),
        ("urn:uuid:c1a00000-0000-4000-8000-000000000001", "ob3", clr_id, "urn:ach:unit-1", "Unit 1", "Course",
         *uni, "lin@example.com", False, None, t("2024-01-15 14:30:00"), t("2026-01-15 14:30:00"), False, None),
        # nested credential without a subject id: the CLR's learner
        ("urn:uuid:c1a00000-0000-4000-8000-000000000002", "ob3", clr_id, "urn:ach:unit-2", "Unit 2", "Badge",
         *uni, "lin@example.com", False, None, t("2024-01-15 14:30:00"), t("2026-01-15 14:30:00"), False, None),
    ]
    assert lake.execute("select clr_id, association_type, source_id, target_id from raw.credential_associations "
                        "order by target_id").fetchall() == [
        (clr_id, "isParentOf", "urn:ach:program", "urn:ach:unit-1"),
        (clr_id, "isParentOf", "urn:ach:program", "urn:ach:unit-2")]
    assert lake.execute("select document_format, document_id from raw.credential_documents").fetchall() == [
        ("clr2_credential", clr_id)]


def test_clr_as_jwt_is_the_same_award_set(home, lake):
    landing = home / "landing"
    write(landing, "clr/transcript.jwt", jwt({"vc": clr()}) + "\n")
    ingest_credentials(lake, landing)
    assert lake.execute("select source_format, count(*) from raw.credential_awards group by 1 order by 1"
                        ).fetchall() == [("clr2", 1), ("ob3", 2)]
    assert lake.execute("select count(*) from raw.credential_associations").fetchone() == (2,)
    # the same CLR delivered again as JSON adds nothing: a duplicate record, not a conflict
    write(landing, "clr/transcript-again.json", clr())
    (result,) = [r for r in ingest_credentials(lake, landing) if r["status"] == "loaded"]
    assert (result["records_read"], result["records_duplicate"], result["records_loaded"]) == (1, 1, 0)
    assert lake.execute("select count(*) from raw.credential_awards").fetchone() == (3,)


# --------------------------------------------------------------------------- bad input


def test_every_kind_of_bad_record_is_quarantined_with_its_reason(home, lake):
    landing = home / "landing"
    good = ob3("urn:uuid:00000000-0000-4000-8000-0000000000aa")
    bad = {
        "missing_id": ob3(None),
        "missing_issuer": ob3("urn:x:2", issuer=None),
        "missing_achievement": ob3("urn:x:3", credentialSubject={"id": "mailto:a@b.c"}),
        "bad_date": ob3("urn:x:4", validFrom="next tuesday"),
        "expired_first": ob3("urn:x:5", validUntil="2024-01-01T00:00:00Z"),
        "bad_context": {**ob3("urn:x:6"), "@context": [OB3]},
        # an OB 2.0 assertion needs its recipient; an OB 3.0 credential without one loads unattributed
        "no_recipient": {"@context": "https://w3id.org/openbadges/v2", "type": "Assertion", "id": "urn:x:7",
                         "badge": "https://org.example/badges/x", "issuedOn": "2024-01-01T00:00:00Z",
                         "verification": {"type": "hosted"}},
        "conflict": ob3(good["id"], validFrom="2020-01-01T00:00:00Z"),
        "duplicate": good,
    }
    write(landing, "bad/a-good.json", good)
    write(landing, "bad/b-batch.json", list(bad.values()))
    write(landing, "bad/c-lines.jwt", "not-a-jwt\n" + jwt({"vc": "nope"}).replace(".", "!", 1) + "\n")
    write(landing, "bad/d-latin1.ndjson", b'{"type": "Assertion", "id": "caf\xe9"}\n')
    write(landing, "bad/e-unknown.json", {"hello": "world"})
    write(landing, "bad/f-truncated.json", '{"@context": "https://w3id.org/openbadges/v2", "type": ')
    write(landing, "bad/g-picture.png", b"\x89PNG\r\n")
    write(landing, "bad/h-notes.txt", "notes")
    ingest_credentials(lake, landing)

    rows = lake.execute("select source_ref, record_no, reason, detail from raw.quarantine order by 1, 2").fetchall()
    got = [(ref.removeprefix("credentials/bad/"), no, reason) for ref, no, reason, _ in rows]
    assert got == [
        ("b-batch.json", 1, "invalid_credential"), ("b-batch.json", 2, "invalid_credential"),
        ("b-batch.json", 3, "invalid_credential"), ("b-batch.json", 4, "invalid_credential"),
        ("b-batch.json", 5, "invalid_credential"), ("b-batch.json", 6, "invalid_credential"),
        ("b-batch.json", 7, "no_recipient"), ("b-batch.json", 8, "duplicate_id_conflict"),
        ("c-lines.jwt", 1, "malformed_jwt"), ("c-lines.jwt", 2, "malformed_jwt"),
        ("d-latin1.ndjson", 1, "invalid_utf8"), ("e-unknown.json", 1, "unsupported_document"),
        ("f-truncated.json", 1, "malformed_json"), ("g-picture.png", 1, "unsupported_file"),
        ("h-notes.txt", 1, "unsupported_file"),
    ]
    details = [d for *_, d in rows[:8]]
    for detail, expected in zip(details, ["missing id", "missing issuer", "missing credentialSubject.achievement",
                                          "unparsable date validFrom='next tuesday'", "expired before issued",
                                          "invalid @context", "no recipient identity", "with a different"],
                                     strict=True):
        assert expected in detail, (expected, detail)
    batch = lake.execute("select records_read, records_loaded, records_quarantined, records_duplicate "
                         "from raw.load_manifest where source_ref like '%b-batch.json'").fetchone()
    assert batch == (9, 0, 8, 1)
    assert lake.execute("select raw_record from raw.quarantine where source_ref like '%g-picture.png'"
                        ).fetchone()[0] == b"\x89PNG\r\n"
    assert lake.execute("select count(*) from raw.credential_awards").fetchone() == (1,)
    assert balanced(lake)


# --------------------------------------------------------------------------- collections.csv


def test_collections_csv_rows_and_bad_rows(home, lake):
    landing = home / "landing"
    write(landing, "collections.csv",
          "collection_id,collection_name,position,achievement_id,course_id\n"
          "data,Data Pathway,1,https://uni.example/achievements/data,course-1\n"
          "data,Data Pathway,2,https://uni.example/achievements/stats,\n"
          "data,\"Data, advanced\",3,https://uni.example/achievements/ml,course-3\n"
          "data,Data Pathway,4\n"
          ",Data Pathway,5,https://uni.example/achievements/x,\n"
          "data,Data Pathway,first,https://uni.example/achievements/y,\n")
    ingest_credentials(lake, landing)
    assert lake.execute("select record_no, collection_id, collection_name, position, achievement_id, course_id, "
                        "raw_line from raw.collections order by record_no").fetchall() == [
        (2, "data", "Data Pathway", "1", "https://uni.example/achievements/data", "course-1",
         "data,Data Pathway,1,https://uni.example/achievements/data,course-1"),
        (3, "data", "Data Pathway", "2", "https://uni.example/achievements/stats", None,
         "data,Data Pathway,2,https://uni.example/achievements/stats,"),
        (4, "data", "Data, advanced", "3", "https://uni.example/achievements/ml", "course-3",
         'data,"Data, advanced",3,https://uni.example/achievements/ml,course-3'),
    ]
    assert quarantine(lake) == [("credentials/collections.csv", 5, "bad_csv_row"),
                                ("credentials/collections.csv", 6, "missing_key"),
                                ("credentials/collections.csv", 7, "bad_csv_row")]


def test_collections_csv_without_course_column(home, lake):
    landing = home / "landing"
    write(landing, "collections.csv", "collection_id,collection_name,position,achievement_id\nc1,One,1,urn:a\n")
    ingest_credentials(lake, landing)
    assert lake.execute("select collection_id, position, achievement_id, course_id from raw.collections"
                        ).fetchall() == [("c1", "1", "urn:a", None)]


# --------------------------------------------------------------------------- exactly once


def test_files_are_loaded_exactly_once(home, lake):
    landing = home / "landing"
    write(landing, "ob2/all.json", [ISSUER, BADGE, ASSERT_HASHED])
    write(landing, "collections.csv", "collection_id,collection_name,position,achievement_id\nc1,One,1,urn:a\n")
    first = ingest_credentials(lake, landing)
    assert [r["status"] for r in first] == ["loaded", "loaded"]
    counts = lambda: lake.execute(  # noqa: E731
        "select (select count(*) from raw.credential_documents), (select count(*) from raw.credential_awards), "
        "(select count(*) from raw.collections), (select count(*) from raw.load_manifest)").fetchone()
    before = counts()
    assert before == (3, 1, 1, 2)

    rerun = ingest_credentials(lake, landing)
    assert [r["status"] for r in rerun] == ["seen_before", "seen_before"]
    assert counts() == (3, 1, 1, 2)          # a re-run leaves the manifest as it was
    ingest_credentials(lake, landing)
    assert counts() == (3, 1, 1, 2)          # nor does a third

    shutil.copy(landing / "credentials/ob2/all.json", landing / "credentials/ob2/all-resent.json")
    (resent,) = [r for r in ingest_credentials(lake, landing) if r["source_ref"].endswith("all-resent.json")]
    assert resent["status"] == "duplicate_content"
    detail = lake.execute("select detail from raw.load_manifest where source_ref like '%all-resent.json'").fetchone()
    original = lake.execute("select load_id from raw.load_manifest where source_ref like '%/all.json' "
                            "and status = 'loaded'").fetchone()[0]
    assert json.loads(detail[0]) == {"duplicate_of": original}
    assert counts()[:3] == (3, 1, 1)

    # same documents, different bytes: read again, every record a duplicate
    write(landing, "ob2/all-reformatted.json", json.dumps([ISSUER, BADGE, ASSERT_HASHED]))
    (ref,) = [r for r in ingest_credentials(lake, landing) if r["source_ref"].endswith("all-reformatted.json")]
    assert (ref["records_read"], ref["records_duplicate"], ref["records_loaded"]) == (3, 3, 0)
    assert counts()[:3] == (3, 1, 1) and balanced(lake)


def test_progress_is_reported_per_file(home, lake):
    landing = home / "landing"
    write(landing, "a.json", ISSUER)
    write(landing, "b.json", BADGE)
    calls = []
    ingest_credentials(lake, landing, progress=lambda label, done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_no_credentials_folder_is_no_load(home, lake):
    assert ingest_credentials(lake, home / "landing") == []
