with source as (
    select * from {{ source('raw', 'lms_group_members') }}
),

renamed as (
    select
        {{ learning_clean_text('group_id') }} as group_id,
        {{ learning_clean_text('user_id') }} as user_id,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['group_id', 'user_id']) }}
)

select
    group_id,
    user_id,
    {{ pseudonymise('user_id') }} as learner_id,
    loaded_at
from latest
where group_id is not null and user_id is not null
