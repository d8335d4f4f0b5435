{#- credentials/collections.csv: which credentials form a collection (pathway), in
    which position, and which LMS course a credential certifies. One row per
    collection and credential; the latest loaded row wins. -#}
with source as (
    select * from {{ source('raw', 'collections') }}
),

renamed as (
    select
        nullif(trim(collection_id), '') as collection_id,
        nullif(trim(collection_name), '') as collection_name,
        {{ dbt.safe_cast('trim(position)', dbt.type_int()) }} as position,
        nullif(trim(achievement_id), '') as achievement_id,
        nullif(trim(course_id), '') as course_id,
        load_id,
        record_no,
        loaded_at
    from source
),

latest as (
    {{ latest_per_key('renamed', ['collection_id', 'achievement_id']) }}
)

select collection_id, collection_name, position, achievement_id, course_id, loaded_at
from latest
where collection_id is not null and achievement_id is not null
