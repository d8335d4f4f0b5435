{#- Credential lifecycle events, one row per event_id. A re-delivered event (same
    event_id in a later load) keeps its first loaded version: events are facts that
    happened once. The verifier's organisation id stays here (staging is not
    published); the marts show it only when the verifier consented. -#}
with source as (
    select * from {{ source('raw', 'credential_events') }}
),

renamed as (
    select
        nullif(trim(event_id), '') as event_id,
        lower(trim(event_type)) as event_type,
        occurred_at,
        nullif(trim(credential_id), '') as award_id,
        lower(nullif(trim(channel), '')) as channel,
        nullif(trim(verifier_organization_id), '') as verifier_organization_id,
        lower(nullif(trim(verifier_industry), '')) as verifier_industry,
        upper(nullif(trim(verifier_country), '')) as verifier_country,
        coalesce(verifier_consented, false) as is_verifier_consented,
        {{ json_str('payload', '$.reason') }} as reason,
        load_id,
        record_no,
        loaded_at
    from source
),

first_loaded as (
    {{ deduplicate('renamed', 'event_id', 'loaded_at, load_id, record_no') }}
)

select
    event_id,
    event_type,
    occurred_at,
    award_id,
    channel,
    verifier_organization_id,
    verifier_industry,
    verifier_country,
    is_verifier_consented,
    reason,
    loaded_at
from first_loaded
where event_id is not null
