{#- Courses (LMS and derived from statements: int_learning__course_list) with
    chapter and exercise counts and the points they offer. -#}
with courses as (
    select * from {{ ref('int_learning__course_list') }}
),

chapter_counts as (
    select
        course_id,
        count(*) as chapter_count,
        {{ learning_sum_int('exercise_count') }} as exercise_count,
        sum(max_points_total) as max_points_total
    from {{ ref('int_learning__chapters') }}
    group by course_id
)

select
    courses.course_id,
    courses.account_id,
    courses.course_title,
    courses.activity_id,
    coalesce(chapter_counts.chapter_count, 0) as chapter_count,
    coalesce(chapter_counts.exercise_count, 0) as exercise_count,
    coalesce(chapter_counts.max_points_total, 0) as max_points_total
from courses
left join chapter_counts on courses.course_id = chapter_counts.course_id
