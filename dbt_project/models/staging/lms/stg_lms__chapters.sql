with source as (
    select * from {{ source('raw', 'lms_chapters') }}
),

renamed as (
    select
        {{ learning_clean_text('chapter_id') }} as chapter_id,
        {{ learning_clean_text('course_id') }} as course_id,
        {{ learning_clean_text('chapter_title') }} as chapter_title,
        {{ dbt.safe_cast(learning_clean_text('position'), api.Column.translate_type('integer')) }} as position,
        {{ learning_clean_text('activity_id') }} as activity_id,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['chapter_id']) }}
)

select chapter_id, course_id, chapter_title, position, activity_id, loaded_at
from latest
where chapter_id is not null
