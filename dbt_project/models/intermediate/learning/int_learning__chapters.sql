{#- Chapters with their course, the course's account and how many exercises they
    hold: the LMS export's, and those only the statements describe
    (int_learning__xapi_exercises, numbered within their course in the order they
    were first attempted). -#}
with xapi_chapters as (
    select
        chapter_id,
        max(course_id) as course_id,
        max(chapter_title) as chapter_title,
        min(first_seen_at) as first_seen_at,
        max(chapter_activity_id) as activity_id
    from {{ ref('int_learning__xapi_exercises') }}
    where not is_lms_chapter
    group by chapter_id
),

chapters as (
    select chapter_id, course_id, chapter_title, position, activity_id
    from {{ ref('stg_lms__chapters') }}
    union all
    select
        chapter_id,
        course_id,
        chapter_title,
        cast(row_number() over (partition by course_id order by first_seen_at, chapter_id)
            as {{ api.Column.translate_type('integer') }}) as position,
        activity_id
    from xapi_chapters
),

courses as (
    select course_id, account_id from {{ ref('int_learning__course_list') }}
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
