{#- CLR 2.0 associations between achievements (isParentOf, ...), one row per
    CLR, type, source and target. -#}
with source as (
    select * from {{ source('raw', 'credential_associations') }}
),

renamed as (
    select
        trim(clr_id) as clr_id,
        trim(association_type) as association_type,
        trim(source_id) as source_achievement_id,
        trim(target_id) as target_achievement_id,
        load_id,
        record_no,
        loaded_at
    from source
),

latest as (
    {{ latest_per_key('renamed', ['clr_id', 'association_type', 'source_achievement_id', 'target_achievement_id']) }}
)

select clr_id, association_type, source_achievement_id, target_achievement_id, loaded_at
from latest
