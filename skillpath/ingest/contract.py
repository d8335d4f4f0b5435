"""The raw layer's contract: its sources, their landing folders and tables, and the DDL of
every table in ``$SKILLPATH_HOME/lake.duckdb`` (schema ``raw``).

This module is the one place that names them: ingestion appends here, the Dagster
assets (``skillpath/defs/ingest.py``) and the reconciliation read :data:`SOURCES`, and
the dbt sources (``dbt_project/models/staging/_raw__sources.yml``) declare the same
tables (tests/unit/test_contract.py checks both). ``docs/raw_layer.md`` describes each
column. All timestamps are naive ``TIMESTAMP`` values in UTC.

Every raw table carries the load metadata columns ``load_id``, ``source``,
``source_ref`` (path relative to the landing dir, or the LRS page URL),
``record_no`` (1-based position of the record in its file or page) and
``loaded_at``. Rows are only ever appended.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from skillpath.config import Settings, connect_duckdb


@dataclass(frozen=True)
class RawSource:
    """One source of raw records (``load_manifest.source``)."""

    name: str
    #: landing sub-folder it reads (None: the xAPI LRS)
    folder: str | None
    #: raw tables its records land in
    tables: tuple[str, ...]
    #: each loaded record is one row of ``tables`` (the reconciliation cross-checks the count);
    #: false for credentials, where one document yields awards, associations, checks...
    one_row_per_record: bool = True


LMS_TABLES = ("lms_accounts", "lms_users", "lms_groups", "lms_group_members", "lms_courses",
              "lms_chapters", "lms_exercises", "lms_enrollments")
CREDENTIAL_TABLES = ("collections", "credential_documents", "credential_awards", "credential_associations",
                     "credential_verifications", "credential_status_checks")

#: every source, in the order a run reads them (LMS, credentials, xAPI files, events, consents, then the LRS)
SOURCES: tuple[RawSource, ...] = (
    RawSource("lms", "lms", LMS_TABLES),
    RawSource("credentials", "credentials", CREDENTIAL_TABLES, one_row_per_record=False),
    RawSource("xapi_file", "xapi", ("xapi_statements",)),
    RawSource("credential_events", "credential_events", ("credential_events",)),
    RawSource("consents", "consents", ("consent_events",)),
    RawSource("xapi_lrs", None, ("xapi_statements",)),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}

#: the landing zone's folders, in the order a run reads them
LANDING_FOLDERS = tuple(s.folder for s in SOURCES if s.folder)

#: what every load writes besides its records, and the LRS extraction state
SUMMARY_TABLES = ("load_manifest", "quarantine")
#: erasure (skillpath/privacy/erasure.py): the keyed hashes of erased identities, the audit log
#: and how far ingestion has checked new rows against the list
ERASURE_TABLES = ("erased_identities", "erasure_log", "erasure_checks")
STATE_TABLES = ("lrs_cursor", *ERASURE_TABLES)
#: raw tables only ingestion reads back (the LRS cursor, status checks reused by later loads,
#: the erasure tables); every other table is a dbt source (dbt_project/models/staging/_raw__sources.yml)
INGESTION_ONLY_TABLES = ("lrs_cursor", "credential_status_checks", *ERASURE_TABLES)

#: LMS CSV exports: file name -> (raw table, contract columns in table order, key columns)
LMS_FILES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "accounts.csv": ("lms_accounts", ("account_id", "account_name"), ("account_id",)),
    "users.csv": ("lms_users", ("user_id", "account_id", "email", "display_name", "role"), ("user_id",)),
    "groups.csv": ("lms_groups", ("group_id", "account_id", "group_name"), ("group_id",)),
    "group_members.csv": ("lms_group_members", ("group_id", "user_id"), ("group_id", "user_id")),
    "courses.csv": ("lms_courses", ("course_id", "account_id", "course_title", "activity_id"), ("course_id",)),
    "chapters.csv": ("lms_chapters", ("chapter_id", "course_id", "chapter_title", "position", "activity_id"),
                     ("chapter_id",)),
    "exercises.csv": ("lms_exercises", ("exercise_id", "chapter_id", "exercise_title", "position", "activity_id",
                                        "max_points"), ("exercise_id",)),
    "enrollments.csv": ("lms_enrollments", ("user_id", "course_id", "enrolled_at"), ("user_id", "course_id")),
}

LOAD_META = """
    load_id varchar not null,
    source varchar not null,
    source_ref varchar not null,
    record_no bigint not null,
    loaded_at timestamp not null
"""

DDL = f"""
create schema if not exists raw;

-- one row per file or LRS page handled (also for files skipped as already seen)
create table if not exists raw.load_manifest (
    load_id varchar primary key,
    source varchar not null,            -- xapi_file | xapi_lrs | lms | credentials | credential_events | consents
    source_ref varchar not null,
    content_sha256 varchar,             -- sha256 of the file bytes / page body
    status varchar not null,            -- loaded | duplicate_content | failed
    started_at timestamp not null,
    finished_at timestamp,
    records_read bigint not null default 0,
    records_loaded bigint not null default 0,
    records_quarantined bigint not null default 0,
    records_duplicate bigint not null default 0,
    detail varchar,                      -- JSON: e.g. {{"duplicate_of": "<load_id>"}}
    records_erased bigint default 0      -- records removed later by erasure or retention, or dropped
                                         -- at ingestion as belonging to an erased person
);
alter table raw.load_manifest add column if not exists records_erased bigint default 0;

-- every record that could not be loaded, with the reason; raw bytes kept
create table if not exists raw.quarantine (
    {LOAD_META},
    reason varchar not null,            -- malformed_json | invalid_utf8 | missing_actor | missing_verb |
                                        -- missing_object | missing_id | bad_timestamp | duplicate_id_conflict |
                                        -- not_a_statement | bad_csv_row | missing_key | unknown_event_type |
                                        -- unsupported_document | invalid_credential | no_recipient |
                                        -- malformed_jwt | unsupported_file | bad_csv_header | bad_header |
                                        -- invalid_id | unknown_file | unreadable_file | ... (docs/raw_layer.md)
    detail varchar,                     -- human readable explanation
    raw_record blob,                    -- the record's bytes exactly as read
    raw_sha256 varchar                  -- sha256 of raw_record: the same bad record read again is a duplicate
);
alter table raw.quarantine add column if not exists raw_sha256 varchar;

create table if not exists raw.xapi_statements (
    {LOAD_META},
    statement_id varchar not null,      -- lower-case UUID (assigned by ingestion when id_assigned)
    payload varchar not null,           -- the statement as JSON text (verbatim line for ndjson)
    payload_sha256 varchar not null,    -- sha256 of canonical JSON without stored/authority/version
    actor_account_homepage varchar,
    actor_account_name varchar,
    actor_mbox varchar,                 -- 'mailto:...' as sent
    actor_mbox_sha1sum varchar,
    actor_openid varchar,
    verb_id varchar not null,
    object_type varchar,                -- Activity (default) | Agent | Group | StatementRef | SubStatement
    object_id varchar,
    object_definition_type varchar,
    voided_statement_id varchar,        -- target id when verb is .../voided and object is a StatementRef
    statement_timestamp timestamp not null,   -- timestamp, else stored (UTC)
    stored_at timestamp,                -- LRS 'stored' (UTC), null for files without it
    registration varchar,
    attempt_id varchar,                 -- '.../extension/attempt-id' (object definition, context or result extensions)
    parent_activity_id varchar,         -- first contextActivities.parent id
    grouping_activity_id varchar,       -- first contextActivities.grouping id
    has_result boolean not null,
    result_score_scaled double,
    result_score_raw double,
    result_score_min double,
    result_score_max double,
    result_success boolean,
    result_completion boolean,
    result_duration varchar,            -- ISO 8601 duration as sent
    result_duration_seconds double,     -- parsed; null when absent or unparsable
    result_extensions varchar,          -- JSON text
    context_extensions varchar,         -- JSON text
    id_assigned boolean,                -- true: the statement came without an id; statement_id is
                                        -- the name-based UUID of its canonical form (docs/raw_layer.md)
    actor_object_type varchar,          -- Agent (default) | Group
    object_name varchar,                -- object.definition.name (en-US, en, else the first language)
    parent_activity_type varchar,       -- definition.type of the first contextActivities.parent
    parent_activity_name varchar,
    grouping_activity_type varchar,     -- definition.type of the first contextActivities.grouping
    grouping_activity_name varchar,
    course_activity_id varchar,         -- the first parent or grouping activity whose definition.type is
    course_activity_name varchar        -- a course type (xapi.COURSE_TYPES), and its name
);
-- columns added after the first release: a lake created before them gets them here (null in old rows)
alter table raw.xapi_statements add column if not exists id_assigned boolean;
alter table raw.xapi_statements add column if not exists actor_object_type varchar;
alter table raw.xapi_statements add column if not exists object_name varchar;
alter table raw.xapi_statements add column if not exists parent_activity_type varchar;
alter table raw.xapi_statements add column if not exists parent_activity_name varchar;
alter table raw.xapi_statements add column if not exists grouping_activity_type varchar;
alter table raw.xapi_statements add column if not exists grouping_activity_name varchar;
alter table raw.xapi_statements add column if not exists course_activity_id varchar;
alter table raw.xapi_statements add column if not exists course_activity_name varchar;

-- LMS CSV exports: every value kept as text; latest row per key wins in staging
create table if not exists raw.lms_accounts ({LOAD_META}, account_id varchar, account_name varchar, raw_line varchar);
create table if not exists raw.lms_users ({LOAD_META}, user_id varchar, account_id varchar, email varchar,
    display_name varchar, role varchar, raw_line varchar);
create table if not exists raw.lms_groups ({LOAD_META}, group_id varchar, account_id varchar, group_name varchar, raw_line varchar);
create table if not exists raw.lms_group_members ({LOAD_META}, group_id varchar, user_id varchar, raw_line varchar);
create table if not exists raw.lms_courses ({LOAD_META}, course_id varchar, account_id varchar, course_title varchar,
    activity_id varchar, raw_line varchar);
create table if not exists raw.lms_chapters ({LOAD_META}, chapter_id varchar, course_id varchar, chapter_title varchar,
    position varchar, activity_id varchar, raw_line varchar);
create table if not exists raw.lms_exercises ({LOAD_META}, exercise_id varchar, chapter_id varchar, exercise_title varchar,
    position varchar, activity_id varchar, max_points varchar, raw_line varchar);
create table if not exists raw.lms_enrollments ({LOAD_META}, user_id varchar, course_id varchar, enrolled_at varchar, raw_line varchar);

-- credentials/collections.csv
create table if not exists raw.collections ({LOAD_META}, collection_id varchar, collection_name varchar, position varchar,
    achievement_id varchar, course_id varchar, raw_line varchar);

-- every credential document read (OB 2.0 assertion / badge class / issuer / revocation list,
-- OB 3.0 credential, CLR 2.0 credential); JWTs are stored decoded in payload, verbatim in raw_text
create table if not exists raw.credential_documents (
    {LOAD_META},
    document_format varchar not null,   -- ob2_assertion | ob2_badgeclass | ob2_issuer | ob2_revocationlist |
                                        -- ob3_credential | clr2_credential
    document_id varchar,
    payload varchar not null,           -- JSON text
    raw_text varchar not null,          -- the document exactly as read (JSON or compact JWT)
    payload_sha256 varchar not null
);

-- one row per issued credential found in the documents (CLR nested credentials included)
create table if not exists raw.credential_awards (
    {LOAD_META},
    award_id varchar not null,          -- assertion id / credential id (IRI or urn:uuid)
    source_format varchar not null,     -- ob2 | ob3 | clr2
    parent_award_id varchar,            -- the CLR credential holding this one
    achievement_id varchar,             -- badge class / achievement id
    achievement_name varchar,
    achievement_type varchar,           -- OB3 achievementType, else 'Badge'
    issuer_id varchar,
    issuer_name varchar,
    recipient_identity varchar,         -- plain email or 'sha256$<hex>'; null: unattributed (OB 3.0 / CLR)
    recipient_hashed boolean,
    recipient_salt varchar,
    issued_at timestamp,
    expires_at timestamp,
    revoked boolean not null default false,
    revocation_reason varchar,
    payload_sha256 varchar not null
);

-- an Open Badges 3.0 / CLR award that loads but does not conform (e.g. no recipient: unattributed)
alter table raw.credential_awards add column if not exists conformance_problem varchar;

-- proof verification of each credential, computed once per credential content at ingestion
-- (docs/credentials_input.md, "Proofs"): verified | invalid | unverifiable | unsigned
create table if not exists raw.credential_verifications (
    {LOAD_META},
    award_id varchar not null,          -- = raw.credential_awards.award_id
    verified_sha256 varchar not null,   -- sha256 of what was verified: the compact JWT as read, else the
                                        -- canonical JSON of the credential (proof included); the cache key
    proof_status varchar not null,      -- verified | invalid | unverifiable | unsigned
    proof_detail varchar,               -- why (each proof's result)
    proof_types varchar,                -- e.g. DataIntegrityProof/eddsa-rdfc-2022, VC-JWT/RS256, hosted
    keys_sha256 varchar                 -- fingerprint of landing/keys/ when verified
);

-- credentialStatus entries checked against the status lists in landing/status/ (docs/credentials_input.md,
-- "Status"): one row per check whose result or list content is new; a revocation also appends an award row
create table if not exists raw.credential_status_checks (
    {LOAD_META},
    award_id varchar not null,
    status_type varchar not null,       -- BitstringStatusListEntry | StatusList2021Entry | 1EdTechRevocationList
    status_list_id varchar,             -- statusListCredential / the revocation list's id
    status_index varchar,
    status_purpose varchar,             -- revocation | suspension | ...
    status_entry varchar not null,      -- the credentialStatus entry (canonical JSON)
    result varchar not null,            -- revoked | suspended | active | unknown
    detail varchar,
    list_sha256 varchar                 -- sha256 of the list file checked against (null: none usable)
);

-- CLR 2.0 associations between achievements (isParentOf, ...)
create table if not exists raw.credential_associations (
    {LOAD_META},
    clr_id varchar not null,
    association_type varchar not null,
    source_id varchar not null,
    target_id varchar not null
);

create table if not exists raw.credential_events (
    {LOAD_META},
    event_id varchar not null,
    event_type varchar not null,        -- issued | accepted | viewed | shared | added_to_profile | downloaded |
                                        -- verified | hired | revoked | expired
    occurred_at timestamp not null,     -- UTC
    credential_id varchar not null,     -- = raw.credential_awards.award_id
    channel varchar,
    verifier_organization_id varchar,
    verifier_industry varchar,
    verifier_country varchar,
    verifier_consented boolean,
    payload varchar not null,
    payload_sha256 varchar not null
);

-- recipient consent history (landing/consents, docs/privacy.md "Consent"): one row per event, only appended
create table if not exists raw.consent_events (
    {LOAD_META},
    event_key varchar not null,         -- sha256 of the normalised fields: the same event again is a duplicate
    payload varchar not null,           -- the record as read (CSV line or JSON text)
    payload_sha256 varchar not null,    -- = event_key
    subject_type varchar not null,      -- user_id | email | recipient_identity
    subject varchar not null,           -- normalised: emails without mailto:, lower-cased; hashes lower-cased
    subject_type_given boolean not null, -- false: subject_type was inferred from the subject
    scope varchar not null,             -- detailed_tracking | share_with_employers | any other (lower-cased)
    action varchar not null,            -- granted | withdrawn
    occurred_at timestamp not null,     -- the event's 'at' (sent with an offset), UTC
    consent_source varchar              -- the 'source' column: the system that collected the consent
);

-- LRS extraction cursor (one row per LRS endpoint)
create table if not exists raw.lrs_cursor (
    lrs_url varchar primary key,
    last_stored timestamp,              -- greatest 'stored' seen
    updated_at timestamp not null
);
-- full re-scans of the LRS (no 'since', docs/lrs.md): when the last complete one started (everything the
-- LRS stored before then has been read) and finished; when one was requested that has not completed since
alter table raw.lrs_cursor add column if not exists full_scan_started_at timestamp;
alter table raw.lrs_cursor add column if not exists full_scan_finished_at timestamp;
alter table raw.lrs_cursor add column if not exists full_scan_requested_at timestamp;

-- erasure (docs/privacy.md): the erased identities as keyed hashes only,
-- sha256(SKILLPATH_PSEUDONYM_KEY || '|' || kind || '|' || value); never the identifiers themselves
create table if not exists raw.erased_identities (
    digest varchar primary key,
    kind varchar not null,              -- user | account | mbox_sha1sum | openid | award | recipient |
                                        -- recipient_hash
    erasure_id varchar not null,
    erased_at timestamp not null
);
-- one row per erasure or retention pass: what was removed, without personal data
create table if not exists raw.erasure_log (
    erasure_id varchar primary key,
    kind varchar not null,              -- erasure | retention
    started_at timestamp not null,
    finished_at timestamp,
    subject_digest varchar,             -- keyed hash of the identifier asked for (erasure)
    requested_by varchar,
    reason varchar,
    rows_removed varchar,               -- JSON: raw table -> rows
    files_rewritten bigint,
    detail varchar                      -- JSON: published versions, exports, logs scrubbed; the rebuild
);
-- per source: rows loaded up to this time have been checked against raw.erased_identities
create table if not exists raw.erasure_checks (
    source varchar primary key,
    checked_through timestamp not null
);
"""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and tables if they do not exist (idempotent)."""
    con.execute(DDL)


def connect_raw(path, read_only: bool = False, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Open the raw DuckDB file, creating the schema when writable, held to the threads and
    memory limit of ``settings`` (default: the environment's)."""
    from pathlib import Path

    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    # held to the limits: each batch's duplicate check scans the raw key columns (docs/benchmarks.md)
    con = connect_duckdb(path, read_only=read_only, s=settings)
    if not read_only:
        ensure_raw_schema(con)
    return con
