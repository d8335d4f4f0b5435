{#- Per learner and course they take part in (enrolled, active or completed):
    progress, mastery, completion, certification, score, points, time; with
    league ranks within the account and course. Formulas: docs/metrics.md.
    Complete: certification is here for every learner; the aggregates
    (mart_course_overview, mart_group_league) read it. mart_learner_course_progress
    is its published copy, whose credential columns are shown only where the
    learner's detailed_tracking consent holds (docs/privacy.md, "Consent"). -#}
with participants as (
    select learner_id, course_id, account_id, is_enrolled, enrolled_at
    from {{ ref('int_learning__course_participants') }}
),

courses as (
    select course_id, exercise_count, max_points_total from {{ ref('int_learning__courses') }}
),

exercise_stats as (
    select
        learner_id,
        course_id,
        {{ learning_count_if('attempts > 0') }} as exercises_attempted,
        {{ learning_count_if('is_mastered') }} as exercises_mastered,
        {{ exact_sum("mastery_pct") }} as mastery_pct_sum,
        {{ learning_sum_int('attempts') }} as attempts,
        {{ learning_sum_int('hints_taken') }} as hints_taken,
        {{ exact_sum("correct_answers") }} as correct_answers,
        {{ exact_sum("incorrect_answers") }} as incorrect_answers,
        {{ exact_sum("points") }} as points,
        {{ exact_sum("time_spent_seconds") }} as time_spent_seconds,
        {{ learning_sum_int('capped_attempts') }} as capped_attempts,
        max(first_attempt_at) as last_first_attempt_at,
        max(last_attempt_at) as last_attempt_at
    from {{ ref('mart_exercise_summary') }}
    group by learner_id, course_id
),

completions as (
    select learner_id, course_id, completed_at from {{ ref('int_learning__course_completions') }}
),

credentials as (
    select learner_id, course_id, credentials_held, is_certified, certified_at
    from {{ ref('int_credentials__learner_course') }}
),

joined as (
    select
        participants.account_id,
        participants.learner_id,
        participants.course_id,
        participants.is_enrolled,
        participants.enrolled_at,
        courses.exercise_count as exercises_total,
        coalesce(exercise_stats.exercises_attempted, 0) as exercises_attempted,
        coalesce(exercise_stats.exercises_mastered, 0) as exercises_mastered,
        {{ stable_round("case
            when courses.exercise_count > 0
                then 100.0 * coalesce(exercise_stats.exercises_attempted, 0) / courses.exercise_count
            else 0.0
        end") }} as progress_pct,
        {{ stable_round("case
            when courses.exercise_count > 0
                then coalesce(exercise_stats.mastery_pct_sum, 0) / courses.exercise_count
            else 0.0
        end") }} as mastery_pct,
        (courses.exercise_count > 0
            and coalesce(exercise_stats.exercises_attempted, 0) = courses.exercise_count)
            as has_attempted_all,
        completions.completed_at as completion_statement_at,
        exercise_stats.last_first_attempt_at,
        coalesce(credentials.is_certified, false) as is_certified,
        credentials.certified_at,
        coalesce(credentials.credentials_held, 0) as credentials_held,
        coalesce(exercise_stats.attempts, 0) as attempts,
        coalesce(exercise_stats.hints_taken, 0) as hints_taken,
        {{ stable_round("coalesce(exercise_stats.correct_answers, 0)") }} as correct_answers,
        {{ stable_round("coalesce(exercise_stats.incorrect_answers, 0)") }} as incorrect_answers,
        {{ stable_round("coalesce(exercise_stats.points, 0)") }} as points,
        courses.max_points_total,
        {{ stable_round("coalesce(exercise_stats.time_spent_seconds, 0)") }} as time_spent_seconds,
        coalesce(exercise_stats.capped_attempts, 0) as capped_attempts,
        exercise_stats.last_attempt_at
    from participants
    inner join courses on participants.course_id = courses.course_id
    left join exercise_stats
        on participants.learner_id = exercise_stats.learner_id
        and participants.course_id = exercise_stats.course_id
    left join completions
        on participants.learner_id = completions.learner_id
        and participants.course_id = completions.course_id
    left join credentials
        on participants.learner_id = credentials.learner_id
        and participants.course_id = credentials.course_id
),

measured as (
    select
        joined.*,
        (has_attempted_all or completion_statement_at is not null) as is_completed,
        case
            when has_attempted_all and completion_statement_at is not null
                then least(last_first_attempt_at, completion_statement_at)
            when has_attempted_all then last_first_attempt_at
            else completion_statement_at
        end as completed_at,
        {{ stable_round("case
            when correct_answers + incorrect_answers > 0
                then 100.0 * correct_answers / (correct_answers + incorrect_answers)
        end") }} as score_pct
    from joined
)

select
    account_id,
    learner_id,
    course_id,
    is_enrolled,
    enrolled_at,
    exercises_total,
    exercises_attempted,
    exercises_mastered,
    progress_pct,
    mastery_pct,
    is_completed,
    completed_at,
    is_certified,
    certified_at,
    credentials_held,
    attempts,
    hints_taken,
    correct_answers,
    incorrect_answers,
    score_pct,
    points,
    max_points_total,
    time_spent_seconds,
    capped_attempts,
    last_attempt_at,
    rank() over (partition by account_id, course_id order by exercises_mastered desc) as rank_mastered,
    rank() over (
        partition by account_id, course_id
        order by case when is_completed then 1 else 0 end desc, progress_pct desc
    ) as rank_completed,
    rank() over (
        partition by account_id, course_id
        order by case when is_certified then 1 else 0 end desc, credentials_held desc
    ) as rank_certified,
    rank() over (
        partition by account_id, course_id
        order by case when score_pct is null then 1 else 0 end, score_pct desc
    ) as rank_score,
    rank() over (partition by account_id, course_id order by points desc) as rank_points,
    rank() over (partition by account_id, course_id order by time_spent_seconds desc) as rank_time_spent
from measured
