{#- Chapters with their course, the course's account and how many exercises they hold. -#}
with chapters as (
    select * from {{ ref('stg_lms__chapters') }}
),

courses as (
    select course_id, account_id from {{ ref('stg_lms__courses') }}
),

exercise_counts as (
    select chapter_id, count(*) as exercise_count, sum(max_points) as max_points_total
    from {{ ref('int_learning__exercises') }}
    group by chapter_id
)

select
    chapters.chapter_id,
    chapters.course_id,
    courses.account_id as course_account_id,
    chapters.chapter_title,
    chapters.position,
    chapters.activity_id,
    coalesce(exercise_counts.exercise_count, 0) as exercise_count,
    coalesce(exercise_counts.max_points_total, 0) as max_points_total
from chapters
inner join courses on chapters.course_id = courses.course_id
left join exercise_counts on chapters.chapter_id = exercise_counts.chapter_id
