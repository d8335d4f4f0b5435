{#- Per learner and course they take part in (enrolled, active or completed):
    progress, mastery, completion, certification, score, points, time; with
    league ranks within the account and course. Formulas: docs/metrics.md.
    The published copy of int_learning__learner_course_progress: certification
    (is_certified, certified_at, credentials_held, rank_certified) is credential
    detail and shows only where the learner's detailed_tracking consent holds
    (macro credential_detail_holds; docs/privacy.md, "Consent"); elsewhere it is null.
    The aggregates (mart_course_overview, mart_group_league) count everyone. -#}
with progress as (
    select
        *,
        {{ credential_detail_holds('learner_id') }} as _shows_credentials
    from {{ ref('int_learning__learner_course_progress') }}
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
    case when _shows_credentials then is_certified end as is_certified,
    case when _shows_credentials then certified_at end as certified_at,
    case when _shows_credentials then credentials_held end as credentials_held,
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
    rank_mastered,
    rank_completed,
    case when _shows_credentials then rank_certified end as rank_certified,
    rank_score,
    rank_points,
    rank_time_spent
from progress
