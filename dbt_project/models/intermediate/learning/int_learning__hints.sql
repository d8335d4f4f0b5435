{#- One row per hint statement mapped to a learner + exercise (a view; fct_attempts
    and mart_exercise_summary read it). -#}
{{ config(materialized='view') }}

select
    statement_id,
    learner_id,
    account_id,
    exercise_id,
    statement_at as hint_at,
    loaded_at
from {{ ref('int_learning__exercise_statements') }}
where statement_kind = 'hint'
