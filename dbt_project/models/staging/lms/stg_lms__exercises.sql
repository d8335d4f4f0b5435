with source as (
    select * from {{ source('raw', 'lms_exercises') }}
),

renamed as (
    select
        {{ learning_clean_text('exercise_id') }} as exercise_id,
        {{ learning_clean_text('chapter_id') }} as chapter_id,
        {{ learning_clean_text('exercise_title') }} as exercise_title,
        {{ dbt.safe_cast(learning_clean_text('position'), api.Column.translate_type('integer')) }} as position,
        {{ learning_clean_text('activity_id') }} as activity_id,
        coalesce(
            {{ dbt.safe_cast(learning_clean_text('max_points'), 'double') }}, 0
        ) as max_points,
        loaded_at,
        load_id,
        record_no
    from source
),

latest as (
    {{ latest_per_key('renamed', ['exercise_id']) }}
)

select exercise_id, chapter_id, exercise_title, position, activity_id, max_points, loaded_at
from latest
where exercise_id is not null
