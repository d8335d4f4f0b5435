{#- One row per issued credential (OB 2.0 assertion, OB 3.0 credential, CLR 2.0
    credential or a credential nested in one). The same award_id read again
    (another load, another file) keeps its latest loaded version. The recipient's
    identity stays here (staging is not published); intermediate models turn it
    into a learner_id. -#}
with source as (
    select * from {{ source('raw', 'credential_awards') }}
),

renamed as (
    select
        nullif(trim(award_id), '') as award_id,
        lower(trim(source_format)) as source_format,
        nullif(trim(parent_award_id), '') as parent_award_id,
        nullif(trim(achievement_id), '') as achievement_id,
        nullif(trim(achievement_name), '') as achievement_name,
        nullif(trim(achievement_type), '') as achievement_type,
        nullif(trim(issuer_id), '') as issuer_id,
        nullif(trim(issuer_name), '') as issuer_name,
        -- emails and 'sha256$<hex>' hashes compare case-insensitively
        lower(nullif(trim(recipient_identity), '')) as recipient_identity,
        coalesce(recipient_hashed, false) as is_recipient_hashed,
        coalesce(recipient_salt, '') as recipient_salt,
        issued_at,
        expires_at,
        coalesce(revoked, false) as is_revoked_in_document,
        nullif(trim(revocation_reason), '') as revocation_reason,
        payload_sha256,
        nullif(trim(conformance_problem), '') as conformance_problem,
        load_id,
        record_no,
        loaded_at
    from source
),

latest as (
    {{ latest_per_key('renamed', ['award_id']) }}
)

select
    award_id,
    source_format,
    parent_award_id,
    achievement_id,
    achievement_name,
    achievement_type,
    issuer_id,
    issuer_name,
    recipient_identity,
    is_recipient_hashed,
    recipient_salt,
    issued_at,
    expires_at,
    is_revoked_in_document,
    revocation_reason,
    payload_sha256,
    conformance_problem,
    loaded_at
from latest
where award_id is not null
