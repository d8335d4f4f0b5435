with source as (
    select * from {{ source('raw', 'lms_groups') }}
),

renamed as (
    select
        {{ learning_clean_text('group_id') }} as group_id,
        {{ learning_clean_text('account_id') }} as account_id,
        {{ learning_clean_text('group_name') }} as group_name,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['group_id']) }}
)

select group_id, account_id, group_name, loaded_at
from latest
where group_id is not null
