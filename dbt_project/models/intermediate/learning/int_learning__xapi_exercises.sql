{#- Exercises that only the statements describe: one row per activity that is the
    object of an attempt statement (verb seed is_attempt, with a result) and is not
    the activity of an exercise in exercises.csv (LMS exports, when present, win).
    An attempt whose context parent is itself an exercise (an LMS exercise's
    activity, or the object of other attempts: Open edX reports each sub-question
    of a problem as '<problem>_2_1' with the problem as parent) is a part of that
    exercise, not an exercise of its own.
    Its place in a course comes from the statement's context activities:
      course activity   the first parent or grouping activity whose definition.type
                        is a course type (ingestion: xapi.COURSE_TYPES, the ADL, TinCan /
                        Moodle and cmi5 course types), else the first grouping
                        activity, else the first parent activity
      chapter activity  the first parent activity when it is not the course activity,
                        else the course activity itself (a course in one chapter)
    The placement most statements give wins (ties: the smallest ids); statements
    that name no context count only when none does. A chapter
    activity that is an LMS chapter's activity places the exercise in that chapter
    (and its course); a course activity that is an LMS course's activity places a
    derived chapter in that course. Otherwise the chapter and course ids are the
    activity IRIs, 'xapi:ungrouped' when the statements name none; titles are the
    activities' definition names; max_points is the largest score.max reported
    (1 when none is); a derived course's account follows learning_default_account
    on the course activity's IRI (derived_course_account_id). docs/metrics.md explains the rule. -#}
{%- set course_type = 'http://adlnet.gov/expapi/activities/course' -%}
with lms_exercises as (
    select distinct activity_id from {{ ref('stg_lms__exercises') }} where activity_id is not null
),

lms_chapters as (
    select chapter_id, course_id, activity_id
    from (
        select
            chapter_id, course_id, activity_id,
            row_number() over (partition by activity_id order by chapter_id) as _rank
        from {{ ref('stg_lms__chapters') }}
        where activity_id is not null
    ) as ranked
    where _rank = 1
),

lms_courses as (
    select course_id, account_id, activity_id
    from (
        select
            course_id, account_id, activity_id,
            row_number() over (partition by activity_id order by course_id) as _rank
        from {{ ref('stg_lms__courses') }}
        where activity_id is not null
    ) as ranked
    where _rank = 1
),

attempt_statements as (
    select *
    from {{ ref('int_learning__statements') }}
    -- activities: objectType Activity, or a type real providers invent for one (Open edX
    -- sends 'GroupActivity' for a problem with sub-questions)
    where is_attempt and has_result and object_id is not null
        and object_type not in ('Agent', 'Group', 'StatementRef', 'SubStatement')
),

exercise_activities as (
    select activity_id from lms_exercises
    union
    select object_id as activity_id from attempt_statements
),

attempts as (
    select
        statements.object_id as activity_id,
        statements.object_name,
        statements.statement_at,
        statements.loaded_at,
        statements.score_max,
        statements.parent_activity_id,
        statements.parent_activity_name,
        case
            when statements.context_course_id is not null then statements.context_course_id
            -- rows loaded before ingestion kept context_course_id: the first parent's type
            when statements.parent_activity_type = '{{ course_type }}' then statements.parent_activity_id
            when statements.grouping_activity_id is not null then statements.grouping_activity_id
            else statements.parent_activity_id
        end as course_activity_id,
        case
            when statements.context_course_id is not null then statements.context_course_name
            when statements.parent_activity_type = '{{ course_type }}' then statements.parent_activity_name
            when statements.grouping_activity_id is not null then statements.grouping_activity_name
            else statements.parent_activity_name
        end as course_activity_name
    from attempt_statements as statements
    left join lms_exercises on statements.object_id = lms_exercises.activity_id
    left join exercise_activities as part_of on statements.parent_activity_id = part_of.activity_id
    where lms_exercises.activity_id is null
        and part_of.activity_id is null
),

placed as (
    select
        activity_id,
        object_name,
        statement_at,
        loaded_at,
        score_max,
        course_activity_id,
        course_activity_name,
        coalesce(
            case when parent_activity_id <> course_activity_id then parent_activity_id end,
            course_activity_id
        ) as chapter_activity_id,
        coalesce(
            case when parent_activity_id <> course_activity_id then parent_activity_name end,
            course_activity_name
        ) as chapter_activity_name
    from attempts
),

placements as (
    select
        activity_id,
        course_activity_id,
        chapter_activity_id,
        max(course_activity_name) as course_title,
        max(chapter_activity_name) as chapter_title,
        count(*) as statement_count
    from placed
    group by activity_id, course_activity_id, chapter_activity_id
),

best_placement as (
    select *
    from (
        select
            placements.*,
            row_number() over (
                partition by activity_id
                -- statements that name no context do not outvote those that do
                order by
                    case when course_activity_id is null then 1 else 0 end,
                    statement_count desc,
                    coalesce(course_activity_id, ''),
                    coalesce(chapter_activity_id, '')
            ) as _rank
        from placements
    ) as ranked
    where _rank = 1
),

exercise_facts as (
    select
        activity_id,
        max(object_name) as exercise_title,
        min(statement_at) as first_seen_at,
        max(loaded_at) as loaded_at,
        greatest(coalesce(max(score_max), 1.0), 0.0) as max_points
    from placed
    group by activity_id
)

select
    exercise_facts.activity_id as exercise_id,
    exercise_facts.activity_id,
    coalesce(exercise_facts.exercise_title, exercise_facts.activity_id) as exercise_title,
    exercise_facts.max_points,
    exercise_facts.first_seen_at,
    exercise_facts.loaded_at,
    coalesce(lms_chapters.chapter_id, best_placement.chapter_activity_id, 'xapi:ungrouped') as chapter_id,
    lms_chapters.chapter_id is not null as is_lms_chapter,
    best_placement.chapter_activity_id,
    coalesce(best_placement.chapter_title, best_placement.chapter_activity_id, 'Ungrouped') as chapter_title,
    coalesce(lms_chapters.course_id, lms_courses.course_id, best_placement.course_activity_id, 'xapi:ungrouped')
        as course_id,
    coalesce(lms_chapters.course_id, lms_courses.course_id) is not null as is_lms_course,
    best_placement.course_activity_id,
    coalesce(best_placement.course_title, best_placement.course_activity_id, 'Ungrouped') as course_title,
    {{ learning_default_account('best_placement.course_activity_id') }} as derived_course_account_id
from exercise_facts
inner join best_placement on exercise_facts.activity_id = best_placement.activity_id
left join lms_chapters on best_placement.chapter_activity_id = lms_chapters.activity_id
left join lms_courses on best_placement.course_activity_id = lms_courses.activity_id
