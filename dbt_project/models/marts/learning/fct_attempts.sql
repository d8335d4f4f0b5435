{#- One row per exercise attempt. Incremental: a run recomputes, as a whole, every
    learner + exercise pair it touches, so attempt numbers and hint counts stay
    right when statements arrive late, are voided later, or the LMS moves an
    exercise. Touched pairs:
    - pairs with an attempt or hint statement loaded at or after the cutoff
      (latest last_loaded_at already in the table minus var attempts_lookback_days);
    - pairs of statements voided by a voiding statement loaded after the cutoff;
    - every pair of an exercise whose course, chapter or max_points changed, and
      of a learner whose account changed or who left the LMS export;
    - the pairs of learners not in the table yet, and of actors whose learner
      changed: an actor first seen without an LMS user (learner id from its
      actor key) whom a roster delivered later links to a user, or the reverse.
    Pairs left without attempts are cleared (tombstone rows, see
    macros/learning_incremental.sql). `--full-refresh` gives the same rows. -#}
-- depends_on: {{ ref('int_learning__exercise_statements') }}
-- depends_on: {{ ref('int_learning__voided_exercise_pairs') }}
{{ config(
    materialized='incremental',
    incremental_strategy='learning_replace_groups',
    unique_key=['learner_id', 'exercise_id'],
    replace_row_column='attempt_sk',
    on_schema_change='fail',
) }}

with exercises as (
    select exercise_id, chapter_id, course_id, activity_id, max_points
    from {{ ref('int_learning__exercises') }}
),

users as (
    select learner_id, account_id from {{ ref('int_learning__learners') }}
),

{% if is_incremental() %}
cutoff as (
    select
        {{ dbt.dateadd('second', -(var('attempts_lookback_days') * 86400) | int, 'max(last_loaded_at)') }}
            as cutoff_at
    from {{ this }}
),

changed_exercises as (
    select distinct stored.exercise_id
    from {{ this }} as stored
    left join exercises on stored.exercise_id = exercises.exercise_id
    where exercises.exercise_id is null
        or stored.course_id <> exercises.course_id
        or stored.chapter_id <> exercises.chapter_id
        or stored.max_points <> exercises.max_points
),

changed_learners as (
    select distinct stored.learner_id
    from {{ this }} as stored
    left join users on stored.learner_id = users.learner_id
    where users.learner_id is null or stored.account_id <> users.account_id
),

touched_pairs as (
    select statements.learner_id, statements.exercise_id
    from {{ ref('int_learning__exercise_statements') }} as statements
    cross join cutoff
    where cutoff.cutoff_at is null or statements.loaded_at >= cutoff.cutoff_at
    union
    select voided.learner_id, voided.exercise_id
    from {{ ref('int_learning__voided_exercise_pairs') }} as voided
    cross join cutoff
    where cutoff.cutoff_at is null or voided.voiding_loaded_at >= cutoff.cutoff_at
    union
    select statements.learner_id, statements.exercise_id
    from {{ ref('int_learning__exercise_statements') }} as statements
    where statements.exercise_id in (select exercise_id from changed_exercises)
        or statements.learner_id in (select learner_id from changed_learners)
    union
    select statements.learner_id, statements.exercise_id
    from {{ ref('int_learning__exercise_statements') }} as statements
    where statements.unlinked_learner_id in (select learner_id from changed_learners)
        or statements.learner_id not in (select learner_id from {{ this }} where learner_id is not null)
    union
    select stored.learner_id, stored.exercise_id
    from {{ this }} as stored
    where stored.exercise_id in (select exercise_id from changed_exercises)
        or stored.learner_id in (select learner_id from changed_learners)
),

attempts as (
    select attempts.*
    from {{ ref('int_learning__attempts') }} as attempts
    inner join touched_pairs
        on attempts.learner_id = touched_pairs.learner_id
        and attempts.exercise_id = touched_pairs.exercise_id
),

hints as (
    select hints.*
    from {{ ref('int_learning__hints') }} as hints
    inner join touched_pairs
        on hints.learner_id = touched_pairs.learner_id
        and hints.exercise_id = touched_pairs.exercise_id
),
{% else %}
attempts as (
    select * from {{ ref('int_learning__attempts') }}
),

hints as (
    select * from {{ ref('int_learning__hints') }}
),
{% endif %}

numbered as (
    select
        attempts.*,
        row_number() over (
            partition by learner_id, exercise_id
            order by started_at, first_statement_id
        ) as attempt_number
    from attempts
),

-- a hint counts for the first attempt (by number) that ended at or after it;
-- hints after a learner's last attempt on the exercise count for no attempt
hint_assignments as (
    select
        hints.statement_id,
        hints.learner_id,
        hints.exercise_id,
        min(numbered.attempt_number) as attempt_number
    from hints
    inner join numbered
        on hints.learner_id = numbered.learner_id
        and hints.exercise_id = numbered.exercise_id
        and hints.hint_at <= numbered.ended_at
    group by hints.statement_id, hints.learner_id, hints.exercise_id
),

hints_per_attempt as (
    select learner_id, exercise_id, attempt_number, count(*) as hints_taken
    from hint_assignments
    group by learner_id, exercise_id, attempt_number
),

final as (
    select
        numbered.attempt_sk,
        numbered.attempt_key,
        numbered.learner_id,
        users.account_id,
        exercises.course_id,
        exercises.chapter_id,
        numbered.exercise_id,
        numbered.attempt_number,
        numbered.attempt_number = 1 as is_first_attempt,
        numbered.started_at,
        numbered.ended_at,
        least(numbered.duration_seconds_raw, {{ var('duration_cap_seconds') }}) as duration_seconds,
        numbered.duration_seconds_raw,
        numbered.duration_seconds_raw > {{ var('duration_cap_seconds') }} as is_duration_capped,
        numbered.correct_answers,
        numbered.incorrect_answers,
        numbered.score_scaled,
        numbered.is_success,
        coalesce(hints_per_attempt.hints_taken, 0) as hints_taken,
        exercises.max_points,
        exercises.max_points * coalesce(numbered.score_scaled, 0) as points_earned,
        numbered.statement_count,
        numbered.last_loaded_at
    from numbered
    inner join exercises on numbered.exercise_id = exercises.exercise_id
    inner join users on numbered.learner_id = users.learner_id
    left join hints_per_attempt
        on numbered.learner_id = hints_per_attempt.learner_id
        and numbered.exercise_id = hints_per_attempt.exercise_id
        and numbered.attempt_number = hints_per_attempt.attempt_number
)

{% if is_incremental() %}
-- touched pairs without attempts stay as tombstones (attempt_sk null): the
-- strategy clears their stored rows and inserts nothing for them
select
    final.attempt_sk,
    final.attempt_key,
    touched_pairs.learner_id,
    final.account_id,
    final.course_id,
    final.chapter_id,
    touched_pairs.exercise_id,
    final.attempt_number,
    final.is_first_attempt,
    final.started_at,
    final.ended_at,
    final.duration_seconds,
    final.duration_seconds_raw,
    final.is_duration_capped,
    final.correct_answers,
    final.incorrect_answers,
    final.score_scaled,
    final.is_success,
    final.hints_taken,
    final.max_points,
    final.points_earned,
    final.statement_count,
    final.last_loaded_at
from touched_pairs
left join final
    on touched_pairs.learner_id = final.learner_id
    and touched_pairs.exercise_id = final.exercise_id
{% else %}
select * from final
{% endif %}
