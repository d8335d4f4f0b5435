{#- Chapter mastery (strengths and weaknesses by topic) for each learner, each
    group and the whole account. Grain: scope_type (learner | group | account),
    scope_id, chapter_id. A learner's chapter mastery is the mean of the mastery %
    of the chapter's exercises, unattempted ones counting 0; a group's or
    account's is the mean over its learners taking part in the course. -#}
with participants as (
    select learner_id, course_id, account_id from {{ ref('int_learning__course_participants') }}
),

chapters as (
    select chapter_id, course_id, exercise_count
    from {{ ref('int_learning__chapters') }}
    where exercise_count > 0
),

summary as (
    select learner_id, chapter_id, mastery_pct, is_mastered, attempts
    from {{ ref('mart_exercise_summary') }}
),

learner_chapters as (
    select
        participants.account_id,
        participants.learner_id,
        participants.course_id,
        chapters.chapter_id,
        chapters.exercise_count,
        coalesce({{ exact_sum("summary.mastery_pct") }}, 0) / chapters.exercise_count as mastery_pct,
        {{ learning_count_if('summary.is_mastered') }} as exercises_mastered,
        {{ learning_count_if('summary.attempts > 0') }} as exercises_attempted
    from participants
    inner join chapters on participants.course_id = chapters.course_id
    left join summary
        on participants.learner_id = summary.learner_id
        and chapters.chapter_id = summary.chapter_id
    group by
        participants.account_id, participants.learner_id, participants.course_id,
        chapters.chapter_id, chapters.exercise_count
),

members as (
    select group_id, account_id, learner_id from {{ ref('int_learning__group_members') }}
),

scoped as (
    select
        account_id,
        'learner' as scope_type,
        learner_id as scope_id,
        course_id,
        chapter_id,
        cast(1 as {{ dbt.type_bigint() }}) as learner_count,
        exercise_count,
        mastery_pct,
        exercises_mastered,
        exercises_attempted
    from learner_chapters

    union all

    select
        members.account_id,
        'group' as scope_type,
        members.group_id as scope_id,
        learner_chapters.course_id,
        learner_chapters.chapter_id,
        count(*) as learner_count,
        max(learner_chapters.exercise_count) as exercise_count,
        {{ exact_avg("learner_chapters.mastery_pct") }} as mastery_pct,
        {{ learning_sum_int('learner_chapters.exercises_mastered') }} as exercises_mastered,
        {{ learning_sum_int('learner_chapters.exercises_attempted') }} as exercises_attempted
    from members
    inner join learner_chapters on members.learner_id = learner_chapters.learner_id
    group by members.account_id, members.group_id, learner_chapters.course_id, learner_chapters.chapter_id

    union all

    select
        account_id,
        'account' as scope_type,
        account_id as scope_id,
        course_id,
        chapter_id,
        count(*) as learner_count,
        max(exercise_count) as exercise_count,
        {{ exact_avg("mastery_pct") }} as mastery_pct,
        {{ learning_sum_int('exercises_mastered') }} as exercises_mastered,
        {{ learning_sum_int('exercises_attempted') }} as exercises_attempted
    from learner_chapters
    group by account_id, course_id, chapter_id
)

select
    account_id,
    scope_type,
    scope_id,
    course_id,
    chapter_id,
    learner_count,
    exercise_count,
    {{ stable_round("mastery_pct") }} as mastery_pct,
    {{ stable_round("100.0 * exercises_mastered / (learner_count * exercise_count)") }} as mastered_exercises_pct,
    {{ stable_round("100.0 * exercises_attempted / (learner_count * exercise_count)") }} as attempted_exercises_pct
from scoped
