with source as (
    select * from {{ source('raw', 'lms_enrollments') }}
),

renamed as (
    select
        {{ learning_clean_text('user_id') }} as user_id,
        {{ learning_clean_text('course_id') }} as course_id,
        {{ learning_utc_timestamp('enrolled_at') }} as enrolled_at,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['user_id', 'course_id']) }}
)

select
    user_id,
    {{ pseudonymise('user_id') }} as learner_id,
    course_id,
    enrolled_at,
    loaded_at
from latest
where user_id is not null and course_id is not null
