{#- Exercises with their chapter, course and the course's account: the hierarchy
    every learner-progress model maps statements onto. The LMS export's exercises,
    and the exercises only the statements describe (int_learning__xapi_exercises,
    numbered within their chapter in the order they were first attempted). -#}
with lms_exercises as (
    select
        exercises.exercise_id,
        exercises.chapter_id,
        chapters.course_id,
        exercises.exercise_title,
        exercises.position,
        exercises.activity_id,
        exercises.max_points,
        greatest(exercises.loaded_at, chapters.loaded_at) as loaded_at
    from {{ ref('stg_lms__exercises') }} as exercises
    inner join {{ ref('stg_lms__chapters') }} as chapters on exercises.chapter_id = chapters.chapter_id
),

xapi_exercises as (
    select
        exercise_id,
        chapter_id,
        course_id,
        exercise_title,
        cast(row_number() over (partition by chapter_id order by first_seen_at, exercise_id)
            as {{ api.Column.translate_type('integer') }}) as position,
        activity_id,
        max_points,
        loaded_at
    from {{ ref('int_learning__xapi_exercises') }}
),

exercises as (
    select * from lms_exercises
    union all
    select * from xapi_exercises
)

select
    exercises.exercise_id,
    exercises.chapter_id,
    exercises.course_id,
    courses.account_id as course_account_id,
    exercises.exercise_title,
    exercises.position,
    exercises.activity_id,
    exercises.max_points,
    exercises.loaded_at
from exercises
inner join {{ ref('int_learning__course_list') }} as courses on exercises.course_id = courses.course_id
