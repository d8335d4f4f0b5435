with source as (
    select * from {{ source('raw', 'lms_accounts') }}
),

renamed as (
    select
        {{ learning_clean_text('account_id') }} as account_id,
        {{ learning_clean_text('account_name') }} as account_name,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['account_id']) }}
)

select account_id, account_name, loaded_at
from latest
where account_id is not null
