{#- Learner + exercise pairs a voided statement belonged to (matched like attempts
    and hints, so every pair it could have touched), with when the voiding
    statement was loaded. fct_attempts re-derives these pairs after a late voiding. -#}
{{ config(materialized='view') }}

with voided as (
    select voided_statements.*, actors.learner_id
    from {{ ref('stg_xapi__voided_statements') }} as voided_statements
    inner join {{ ref('int_learning__actors') }} as actors on voided_statements.actor_key = actors.actor_key
),

exercises as (
    select exercise_id, activity_id from {{ ref('int_learning__exercises') }}
),

matches as (
    {{ learning_exercise_matches('voided', 'exercises', true) }}
)

select
    voided.learner_id,
    matches.exercise_id,
    max(voided.voiding_loaded_at) as voiding_loaded_at
from voided
inner join matches on voided.statement_id = matches.statement_id
group by voided.learner_id, matches.exercise_id
