with source as (
    select * from {{ source('raw', 'lms_courses') }}
),

renamed as (
    select
        {{ learning_clean_text('course_id') }} as course_id,
        {{ learning_clean_text('account_id') }} as account_id,
        {{ learning_clean_text('course_title') }} as course_title,
        {{ learning_clean_text('activity_id') }} as activity_id,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['course_id']) }}
)

select course_id, account_id, course_title, activity_id, loaded_at
from latest
where course_id is not null
