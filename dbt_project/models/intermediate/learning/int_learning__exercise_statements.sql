{#- Attempt and hint statements mapped to an exercise, one row per statement.
    - attempt: the verb seed marks the verb as an attempt, the statement carries a
      result and its object IS the exercise activity. The attempt key groups
      statements of one attempt: registration, else the attempt-id extension,
      else the statement id.
    - hint: the verb seed marks the verb as a hint and the object is the exercise
      activity, lies below it ('<activity>/hint/1') or has it as context parent. -#}
with statements as (
    select *
    from {{ ref('int_learning__statements') }}
    where (is_attempt and has_result) or is_hint
),

exercises as (
    select exercise_id, activity_id from {{ ref('int_learning__exercises') }}
),

attempt_statements as (
    select * from statements where is_attempt and has_result
),

hint_statements as (
    select * from statements where is_hint and not is_attempt
),

attempt_matches as (
    {{ learning_exercise_matches('attempt_statements', 'exercises', false) }}
),

hint_matches as (
    {{ learning_exercise_matches('hint_statements', 'exercises', true) }}
),

matches as (
    select statement_id, exercise_id, 'attempt' as statement_kind from attempt_matches
    union all
    select statement_id, exercise_id, 'hint' as statement_kind from hint_matches
)

select
    statements.statement_id,
    statements.learner_id,
    statements.unlinked_learner_id,
    statements.account_id,
    matches.exercise_id,
    matches.statement_kind,
    statements.statement_at,
    statements.loaded_at,
    case
        when matches.statement_kind = 'attempt'
            then coalesce(
                'registration:' || statements.registration,
                'attempt-id:' || statements.attempt_id,
                'statement:' || statements.statement_id
            )
    end as attempt_key,
    statements.score_scaled,
    statements.score_raw,
    statements.score_min,
    statements.score_max,
    statements.is_success,
    statements.duration_seconds
from statements
inner join matches on statements.statement_id = matches.statement_id
