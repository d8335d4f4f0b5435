"""Every file of the 1EdTech Open Badges / CLR test material is read, and each record ends in one place.

The files come from the 1EdTech validator's test resources (``REFERENCE_DATA/credentials``):
valid and deliberately invalid Open Badges 2.0 / 3.0 and CLR 2.0 documents, plus the
OB 2.0 badge classes, issuers and revocation lists the assertions point to (``ob20/assets``).

Loaded as one landing zone, many *valid* files clash: the validator reuses a handful of
ids (``https://example.org/beths-robotics-badge.json``, ``.../credentials/3527``,
``.../credentials/3732``) for unrelated test credentials. The first file in path order
wins; a later one with the same award id and different facts is ``duplicate_id_conflict``,
one with the same facts a ``duplicate``. ``test_each_clashing_file_alone_is_an_award``
shows each of those is a good award on its own.

Outcome per file: ``awards:N`` (loaded, N award rows), ``document`` (a badge class,
issuer or revocation list loaded), ``duplicate`` (adds nothing new), or the quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw
from skillpath.ingest.credentials import ingest_credentials
from skillpath.ingest.rawstore import reconciliation
from tests.helpers import REFERENCE_DATA

CREDENTIALS = REFERENCE_DATA / "credentials"

EXPECTED = {
    # CLR 2.0: complex.json holds 6 nested AchievementCredentials; the other CLRs reuse its id 3732
    # with other content; simple_v1.json is complex.json in VC 1.1 dress (same facts)
    "clr20/complex.json": "awards:7",
    "clr20/simple-noproof.json": "duplicate_id_conflict",
    "clr20/simple.json": "duplicate_id_conflict",
    "clr20/simple.jwt": "duplicate_id_conflict",
    "clr20/simple_old_safesigned.json": "duplicate_id_conflict",
    "clr20/simple_v1.json": "duplicate",
    "ob20/assertion-with-data-image.json": "awards:1",
    "ob20/assertion-with-endorsements.json": "duplicate_id_conflict",
    "ob20/assertion-with-extension-node-basic.json": "awards:1",
    "ob20/assertion-with-extension-node-invalid.json": "duplicate",
    "ob20/assertion-with-multiple-extensions.json": "duplicate",
    "ob20/assets/altbadgeurl.json": "document",
    "ob20/assets/bad-issuer.json": "document",
    "ob20/assets/badge-from-organization-with-empty-revocation-list.json": "document",
    "ob20/assets/badge-from-organization-with-revocation-list.json": "document",
    "ob20/assets/badge-with-bad-issuer.json": "document",
    "ob20/assets/badge-with-data-image.json": "document",
    "ob20/assets/badgeclass-with-complex-image.json": "document",
    "ob20/assets/badgeclass-with-endorsements.json": "document",
    "ob20/assets/badgeclass-with-language.json": "document",
    "ob20/assets/badgeclass-with-verification-invalid-multiple-starts-with.json": "document",
    "ob20/assets/badgeclass-with-verification-invalid-starts-with.json": "document",
    "ob20/assets/badgeclass-with-verification-valid-multiple-starts-with.json": "document",
    "ob20/assets/badgeclass-with-verification-valid-starts-with.json": "document",
    "ob20/assets/badgeclass-with-verification.json": "document",
    "ob20/assets/badgeclass1.json": "document",
    "ob20/assets/badgecriteria.json": "unsupported_document",
    "ob20/assets/basic-badge-no-public-key.json": "document",
    "ob20/assets/criteria-no-type.json": "unsupported_document",
    "ob20/assets/empty-revocation-list.json": "document",
    "ob20/assets/endorsement-1.json": "unsupported_document",
    "ob20/assets/endorsement-2.json": "unsupported_document",
    "ob20/assets/endorsement-3.json": "unsupported_document",
    "ob20/assets/endorsement-4.json": "unsupported_document",
    "ob20/assets/issuer-invalid-type.json": "unsupported_document",
    "ob20/assets/issuer-with-allowed-origins-invalid-multiple-starts-with.json": "document",
    "ob20/assets/issuer-with-allowed-origins-invalid-starts-with.json": "document",
    "ob20/assets/issuer-with-allowed-origins-valid-multiple-starts-with.json": "document",
    "ob20/assets/issuer-with-allowed-origins-valid-starts-with.json": "document",
    "ob20/assets/issuer-with-allowed-origins.json": "document",
    "ob20/assets/issuer1.json": "document",
    "ob20/assets/key1.json": "unsupported_document",
    "ob20/assets/key2.json": "unsupported_document",
    "ob20/assets/key3.json": "unsupported_document",
    "ob20/assets/openbadges_context.json": "malformed_json",
    "ob20/assets/organization-no-public-key.json": "document",
    "ob20/assets/organization-with-empty-revocation-list.json": "document",
    "ob20/assets/organization-with-revocation-list.json": "document",
    "ob20/assets/organization.json": "document",
    "ob20/assets/revocation-list.json": "document",
    "ob20/assets/robotics-badge.json": "document",
    "ob20/badge-class-with-language.json": "document",
    "ob20/basic-assertion-expired-before-issued.json": "invalid_credential",
    "ob20/basic-assertion-expired.json": "duplicate_id_conflict",
    "ob20/basic-assertion-in-future.json": "invalid_credential",
    "ob20/basic-assertion-invalid-context.json": "invalid_credential",
    "ob20/basic-assertion-invalid-type.json": "invalid_credential",
    "ob20/basic-assertion-no-public-key.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-allowed-origins-invalid-multiple-starts-with.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-allowed-origins-invalid-starts-with.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-allowed-origins-valid-multiple-starts-with.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-allowed-origins-valid-starts-with.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-allowed-origins.json": "duplicate_id_conflict",
    "ob20/basic-assertion-with-language.json": "duplicate_id_conflict",
    "ob20/basic-assertion.json": "duplicate",
    "ob20/issuer-compact-iri-validation.json": "document",
    "ob20/rdf-validation/badge-class-invalid-issuer-type.json": "document",
    "ob20/rdf-validation/invalid-class.json": "invalid_credential",
    "ob20/rdf-validation/invalid-empty-type.json": "invalid_credential",
    "ob20/rdf-validation/invalid-one-invalid-class.json": "invalid_credential",
    "ob20/rdf-validation/valid-alignment-object.json": "unsupported_document",
    "ob20/rdf-validation/valid-badge-class-empty-criteria-type.json": "document",
    "ob20/rdf-validation/valid-badge-class.json": "document",
    "ob20/rdf-validation/valid-cool-class.json": "unsupported_document",
    "ob20/rdf-validation/valid-issuer-extension.json": "document",
    "ob20/redirected-validation-subject.json": "malformed_json",
    "ob20/simple-not-revoked.jwt": "duplicate_id_conflict",
    "ob20/simple-revoked.jwt": "awards:1",
    "ob20/simple.jwt": "duplicate",
    "ob20/warning-issuer-non-http.json": "awards:1",
    "ob20/warning-with-redirection.json": "duplicate_id_conflict",
    "ob30/bit-string-list/credential-status-revoked-blank-nodes.json": "awards:1",
    "ob30/bit-string-list/credential-status-revoked.json": "duplicate",
    "ob30/complete.json": "awards:1",
    "ob30/complete_v1.json": "duplicate_id_conflict",
    "ob30/credential-status-revoked.json": "duplicate_id_conflict",
    "ob30/endorsement-err-schema-status-refresh.json": "unsupported_document",
    "ob30/endorsement-valid.json": "unsupported_document",
    "ob30/sd/derivedcredential.json": "awards:1",
    "ob30/simple-context-alias.json": "duplicate_id_conflict",
    "ob30/simple-context-version.json": "duplicate_id_conflict",
    "ob30/simple-did-key-method.json": "awards:1",
    "ob30/simple-did-web-method.json": "duplicate_id_conflict",
    "ob30/simple-eddsa-2022.json": "awards:1",
    "ob30/simple-err-context.json": "invalid_credential",
    "ob30/simple-err-credential-subject-achievement-result-description-type.json": "duplicate_id_conflict",
    "ob30/simple-err-credential-subject-identifier-type.json": "invalid_credential",
    "ob30/simple-err-credential-subject-profile-type.json": "duplicate_id_conflict",
    "ob30/simple-err-credential-subject-result-type.json": "duplicate_id_conflict",
    "ob30/simple-err-credential-subject-type.json": "invalid_credential",
    "ob30/simple-err-evidence-type.json": "duplicate_id_conflict",
    "ob30/simple-err-expired.json": "invalid_credential",
    "ob30/simple-err-issued.json": "invalid_credential",
    "ob30/simple-err-issuer-otheridentifier-type.json": "duplicate_id_conflict",
    "ob30/simple-err-issuer-parentorg-type.json": "duplicate_id_conflict",
    "ob30/simple-err-issuer-type.json": "invalid_credential",
    "ob30/simple-err-issuer.json": "invalid_credential",
    "ob30/simple-err-proof-method-no-scheme.json": "duplicate_id_conflict",
    "ob30/simple-err-proof-method-unknown-did-method.json": "duplicate_id_conflict",
    "ob30/simple-err-proof-method-unknown-scheme.json": "duplicate_id_conflict",
    "ob30/simple-err-proof-method.json": "duplicate_id_conflict",
    "ob30/simple-err-proof-value.json": "duplicate_id_conflict",
    "ob30/simple-err-type.json": "invalid_credential",
    "ob30/simple-multiple-proofs.json": "duplicate_id_conflict",
    "ob30/simple-noproof.json": "invalid_credential",
    "ob30/simple.json": "duplicate_id_conflict",
    "ob30/simple.jwt": "invalid_credential",
    "ob30/simple_v1.json": "duplicate_id_conflict",
    "ob30/velocity.jwt": "awards:1",
}

# What the names promise but the warehouse does not check, and why (everything else
# named *err* / *invalid* is quarantined as invalid_credential):
# - ob20/assertion-with-extension-node-invalid.json: the invalid part is an extension value
#   (RDF type of a custom property); the award itself equals assertion-with-extension-node-basic.
# - ob20/rdf-validation/badge-class-invalid-issuer-type.json: its issuer IRI points to a
#   document that is not an Issuer (assets/issuer-invalid-type.json, itself quarantined);
#   the badge class loads and its issuer stays unresolved.
# - ob30/simple-err-{credential-subject-*-result*, evidence-type, issuer-otheridentifier-type,
#   issuer-parentorg-type, credential-subject-profile-type, proof-*}.json: errors in evidence,
#   results, source/parent profiles and proofs, which the warehouse does not read (proofs
#   are not verified); they only clash on the reused id 3527 / 3732.
# - ob30/bit-string-list/*: revoked through a remote BitstringStatusList, which ingestion
#   does not fetch (only an explicit revoked flag in credentialStatus counts).


def outcome_per_file(con) -> dict[str, str]:
    rows = con.execute(
        """
        select m.source_ref,
               (select string_agg(reason, ',') from raw.quarantine q where q.load_id = m.load_id),
               (select count(*) from raw.credential_awards a where a.load_id = m.load_id),
               (select count(*) from raw.credential_documents d where d.load_id = m.load_id),
               m.records_read, m.records_duplicate
        from raw.load_manifest m where m.status = 'loaded'
        """
    ).fetchall()
    out = {}
    for ref, reasons, n_awards, n_docs, read, dup in rows:
        assert read == 1, ref        # every reference file is a single document
        out[ref.removeprefix("credentials/")] = (
            reasons or (f"awards:{n_awards}" if n_awards else "document" if n_docs else "duplicate" if dup else "?"))
    return out


@pytest.fixture(scope="module")
def reference_lake(tmp_path_factory):
    con = connect_raw(tmp_path_factory.mktemp("ref") / "lake.duckdb")
    results = ingest_credentials(con, REFERENCE_DATA)
    yield con, results
    con.close()


def test_every_reference_file_has_its_expected_outcome(reference_lake):
    con, results = reference_lake
    files = sorted(p.relative_to(CREDENTIALS).as_posix() for p in CREDENTIALS.rglob("*") if p.is_file())
    assert sorted(r["source_ref"].removeprefix("credentials/") for r in results) == files
    assert outcome_per_file(con) == EXPECTED


def test_reference_totals_reconcile(reference_lake):
    con, _ = reference_lake
    assert con.execute("select count(*) from raw.credential_awards").fetchone() == (17,)
    assert con.execute("select source_format, count(*) from raw.credential_awards group by 1 order by 1"
                       ).fetchall() == [("clr2", 1), ("ob2", 4), ("ob3", 12)]
    assert con.execute("select document_format, count(*) from raw.credential_documents group by 1 order by 1"
                       ).fetchall() == [("clr2_credential", 1), ("ob2_assertion", 4), ("ob2_badgeclass", 20),
                                        ("ob2_issuer", 13), ("ob2_revocationlist", 2), ("ob3_credential", 6)]
    assert dict(con.execute("select reason, count(*) from raw.quarantine group by 1").fetchall()) == {
        "duplicate_id_conflict": 34, "invalid_credential": 17, "malformed_json": 2, "unsupported_document": 14}
    assert con.execute("select count(*) from raw.credential_associations").fetchone() == (5,)
    (rec,) = reconciliation(con)
    assert (rec["records_read"], rec["records_loaded"], rec["records_quarantined"], rec["records_duplicate"]) == (
        119, 46, 67, 6)
    assert rec["balanced"]


def test_reference_revocation_list_marks_the_revoked_assertion(reference_lake):
    con, _ = reference_lake
    assert con.execute("select award_id, revoked, revocation_reason from raw.credential_awards where revoked"
                       ).fetchall() == [("https://example.org/beths-robotics-badge-revoked.json", True,
                                         "A good reason, for sure")]


def test_reference_rerun_loads_nothing(reference_lake):
    con, _ = reference_lake
    before = con.execute("select count(*) from raw.credential_documents").fetchone()
    manifest = con.execute("select count(*) from raw.load_manifest").fetchone()
    again = ingest_credentials(con, REFERENCE_DATA)
    assert {r["status"] for r in again} == {"seen_before"}
    assert con.execute("select count(*) from raw.credential_documents").fetchone() == before
    assert con.execute("select count(*) from raw.load_manifest").fetchone() == manifest


@pytest.fixture(scope="module")
def assets_lake(tmp_path_factory) -> Path:
    """A raw layer holding only the OB 2.0 assets (badge classes, issuers, revocation lists)."""
    home = tmp_path_factory.mktemp("assets")
    (home / "landing" / "credentials").mkdir(parents=True)
    os.symlink(CREDENTIALS / "ob20" / "assets", home / "landing" / "credentials" / "assets")
    con = connect_raw(home / "lake.duckdb")
    ingest_credentials(con, home / "landing")
    con.close()
    return home / "lake.duckdb"


def ingest_alone(tmp_path: Path, assets_lake: Path, rel: str):
    """One reference file in its own landing zone; OB 2.0 files on top of the assets' raw layer."""
    home = tmp_path / rel.replace("/", "_")
    (home / "landing" / "credentials").mkdir(parents=True)
    os.symlink(CREDENTIALS / rel, home / "landing" / "credentials" / Path(rel).name)
    if rel.startswith("ob20/"):
        shutil.copy(assets_lake, home / "lake.duckdb")
    con = connect_raw(home / "lake.duckdb")
    ingest_credentials(con, home / "landing")
    return con


BETH = "sha256$ecf5409f3f4b91ab60cc5ef4c02aef7032354375e70cf4d8e43f6a1d29891942"
T2016 = dt.datetime(2016, 12, 31, 23, 59, 59)
T2010 = dt.datetime(2010, 1, 1)


@pytest.mark.parametrize(("rel", "expected"), [
    ("ob20/basic-assertion.json", [
        ("https://example.org/beths-robotics-badge.json", "ob2", None, "https://example.org/robotics-badge.json",
         "Awesome Robotics Badge", "https://example.org/organization.json", "An Example Badge Issuer", BETH, True,
         "deadsea", T2016, None, False)]),
    ("ob20/simple-revoked.jwt", [
        ("https://example.org/beths-robotics-badge-revoked.json", "ob2", None,
         "https://example.org/badge-from-organization-with-revocation-list.json", "Awesome Robotics Badge",
         "https://example.org/organization-with-revocation-list.json", "An Example Badge Issuer", BETH, True,
         "deadsea", T2016, None, True)]),
    ("ob30/simple.json", [
        ("http://example.com/credentials/3527", "ob3", None,
         "https://example.com/achievements/21st-century-skills/teamwork", "Teamwork",
         "https://example.com/issuers/876543", "Example Corp", "did:example:ebfeb1f712ebc6f1c276e12ec21", False,
         None, T2010, None, False)]),
    ("ob30/complete.json", [
        ("http://1edtech.edu/credentials/3732", "ob3", None, "https://1edtech.edu/achievements/degree",
         "1EdTech University Degree", "https://1edtech.edu/issuers/565049", "1EdTech University",
         "student@1edtech.edu", False, None, T2010, dt.datetime(2030, 1, 1), False)]),
    ("clr20/simple.json", [
        ("http://example.com/credentials/3527", "ob3", "http://example.edu/credentials/3732",
         "https://example.com/achievements/21st-century-skills/teamwork", "Teamwork",
         "https://example.com/issuers/876543", "Example Corp", "did:example:ebfeb1f712ebc6f1c276e12ec21", False,
         None, T2010, None, False),
        ("http://example.edu/credentials/3732", "clr2", None, None, "Sample Transcript",
         "https://example.edu/issuers/565049", "Example University", "did:example:ebfeb1f712ebc6f1c276e12ec21",
         False, None, T2010, None, False)]),
    ("clr20/simple.jwt", [
        ("http://example.edu/credentials/3732", "clr2", None, None, "Sample Transcript",
         "https://example.edu/issuers/565049", "Example University", "did:example:ebfeb1f712ebc6f1c276e12ec21",
         False, None, T2010, None, False),
        ("urn:uuid:91537dba-56cb-11ec-bf63-0242ac130002", "ob3", "http://example.edu/credentials/3732",
         "urn:uuid:a7467ef6-56cb-11ec-bf63-0242ac130002", "Achievement 1", "https://example.edu/issuers/565049",
         "Example University", "did:example:ebfeb1f712ebc6f1c276e12ec21", False, None, T2010, None, False)]),
])
def test_key_files_alone_give_these_awards(tmp_path, assets_lake, rel, expected):
    con = ingest_alone(tmp_path, assets_lake, rel)
    rows = con.execute(
        "select award_id, source_format, parent_award_id, achievement_id, achievement_name, issuer_id, issuer_name, "
        "recipient_identity, recipient_hashed, recipient_salt, issued_at, expires_at, revoked "
        "from raw.credential_awards where source_ref = ? order by award_id", [f"credentials/{Path(rel).name}"]).fetchall()
    assert rows == expected
    con.close()


def test_clr_associations_are_kept(tmp_path, assets_lake):
    con = ingest_alone(tmp_path, assets_lake, "clr20/complex.json")
    assert con.execute("select association_type, count(*) from raw.credential_associations group by 1 order by 1"
                       ).fetchall() == [("isParentOf", 4), ("isPartOf", 1)]
    assert con.execute("select count(*) from raw.credential_awards where parent_award_id = "
                       "'http://example.edu/credentials/3732'").fetchone() == (6,)
    con.close()


def test_each_clashing_file_alone_is_an_award(tmp_path, assets_lake):
    clashing = [rel for rel, out in EXPECTED.items() if out in ("duplicate_id_conflict", "duplicate")]
    assert len(clashing) == 40
    for rel in clashing:
        con = ingest_alone(tmp_path, assets_lake, rel)
        own = f"credentials/{Path(rel).name}"
        assert con.execute("select count(*) from raw.quarantine where source_ref = ?", [own]).fetchone() == (0,), rel
        assert con.execute("select count(*) from raw.credential_awards where source_ref = ?", [own]
                           ).fetchone()[0] >= 1, rel
        con.close()
