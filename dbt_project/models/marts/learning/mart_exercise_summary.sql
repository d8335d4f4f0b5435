{#- Per learner and exercise (with at least one attempt or hint): mastery, score,
    attempts, hints, time. The attempt history is fct_attempts itself.
    Formulas: docs/metrics.md. -#}
with attempts as (
    select
        learner_id,
        exercise_id,
        count(*) as attempts,
        max(score_scaled) as best_score_scaled,
        {{ exact_sum("correct_answers") }} as correct_answers,
        {{ exact_sum("incorrect_answers") }} as incorrect_answers,
        {{ exact_sum("duration_seconds") }} as time_spent_seconds,
        {{ learning_count_if('is_duration_capped') }} as capped_attempts,
        max(points_earned) as points,
        min(started_at) as first_attempt_at,
        max(started_at) as last_attempt_at
    from {{ ref('fct_attempts') }}
    group by learner_id, exercise_id
),

hints as (
    select learner_id, exercise_id, count(*) as hints_taken
    from {{ ref('int_learning__hints') }}
    group by learner_id, exercise_id
),

pairs as (
    select learner_id, exercise_id from attempts
    union
    select learner_id, exercise_id from hints
),

learners as (
    select learner_id, account_id from {{ ref('int_learning__learners') }}
),

exercises as (
    select exercise_id, chapter_id, course_id, max_points from {{ ref('int_learning__exercises') }}
),

final as (
    select
        learners.account_id,
        pairs.learner_id,
        exercises.course_id,
        exercises.chapter_id,
        pairs.exercise_id,
        coalesce(attempts.attempts, 0) as attempts,
        100.0 * coalesce(attempts.best_score_scaled, 0) as mastery_pct,
        {{ stable_round("coalesce(attempts.correct_answers, 0)") }} as correct_answers,
        {{ stable_round("coalesce(attempts.incorrect_answers, 0)") }} as incorrect_answers,
        coalesce(hints.hints_taken, 0) as hints_taken,
        {{ stable_round("coalesce(attempts.time_spent_seconds, 0)") }} as time_spent_seconds,
        coalesce(attempts.capped_attempts, 0) as capped_attempts,
        coalesce(attempts.points, 0) as points,
        exercises.max_points,
        attempts.first_attempt_at,
        attempts.last_attempt_at
    from pairs
    inner join learners on pairs.learner_id = learners.learner_id
    inner join exercises on pairs.exercise_id = exercises.exercise_id
    left join attempts on pairs.learner_id = attempts.learner_id and pairs.exercise_id = attempts.exercise_id
    left join hints on pairs.learner_id = hints.learner_id and pairs.exercise_id = hints.exercise_id
)

select
    account_id,
    learner_id,
    course_id,
    chapter_id,
    exercise_id,
    attempts,
    mastery_pct,
    mastery_pct >= {{ var('mastery_threshold_pct') }} as is_mastered,
    correct_answers,
    incorrect_answers,
    case
        when correct_answers + incorrect_answers > 0
            then 100.0 * correct_answers / (correct_answers + incorrect_answers)
    end as score_pct,
    hints_taken,
    time_spent_seconds,
    {{ stable_round("case when attempts > 0 then time_spent_seconds / attempts end") }} as avg_seconds_per_attempt,
    capped_attempts,
    points,
    max_points,
    first_attempt_at,
    last_attempt_at
from final
