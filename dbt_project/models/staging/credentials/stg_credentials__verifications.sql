{#- The proof verification of each award (raw.credential_verifications, written at
    ingestion, once per credential content): the latest row per award_id, so a later
    copy of the credential (another file, other bytes) that was verified again wins. -#}
with source as (
    select * from {{ source('raw', 'credential_verifications') }}
),

renamed as (
    select
        nullif(trim(award_id), '') as award_id,
        lower(trim(proof_status)) as proof_status,
        nullif(trim(proof_detail), '') as proof_detail,
        nullif(trim(proof_types), '') as proof_types,
        verified_sha256,
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
    proof_status,
    proof_detail,
    proof_types,
    loaded_at
from latest
where award_id is not null
