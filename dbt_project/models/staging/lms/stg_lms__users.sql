with source as (
    select * from {{ source('raw', 'lms_users') }}
),

renamed as (
    select
        {{ learning_clean_text('user_id') }} as user_id,
        {{ learning_clean_text('account_id') }} as account_id,
        lower({{ learning_clean_text('email') }}) as email,
        {{ learning_clean_text('display_name') }} as display_name,
        coalesce(lower({{ learning_clean_text('role') }}), 'learner') as role,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['user_id']) }}
)

select
    user_id,
    {{ pseudonymise('user_id') }} as learner_id,
    account_id,
    email,
    case when email is not null then {{ sha1_hex("concat('mailto:', email)") }} end as mbox_sha1sum,
    display_name,
    role,
    loaded_at
from latest
where user_id is not null
