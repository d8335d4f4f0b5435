{#- Exercises with their chapter, course and the course's account: the LMS
    hierarchy every learner-progress model maps statements onto. -#}
with exercises as (
    select * from {{ ref('stg_lms__exercises') }}
),

chapters as (
    select * from {{ ref('stg_lms__chapters') }}
),

courses as (
    select * from {{ ref('stg_lms__courses') }}
)

select
    exercises.exercise_id,
    exercises.chapter_id,
    chapters.course_id,
    courses.account_id as course_account_id,
    exercises.exercise_title,
    exercises.position,
    exercises.activity_id,
    exercises.max_points,
    greatest(exercises.loaded_at, chapters.loaded_at, courses.loaded_at) as loaded_at
from exercises
inner join chapters on exercises.chapter_id = chapters.chapter_id
inner join courses on chapters.course_id = courses.course_id
