{#- A table, not a view like the other staging models: the incremental fct_attempts and
    two data tests read it, and as a view each of them re-read every raw statement. -#}
{{ config(materialized='table') }}
{#- Statements voided by a voiding statement: who and what they were about, and
    when the voiding statement was loaded. The incremental fct_attempts uses it
    to re-derive the learner + exercise pairs a late voiding touches. -#}
with {{ learning_xapi_base_ctes() }},

targets as (
    select
        stmt.statement_id,
        stmt.object_id,
        stmt.parent_activity_id,
        voiding.voiding_statement_id,
        voiding.voiding_loaded_at,
        {{ learning_xapi_actor_user_id() }} as user_id
    from renamed as stmt
    inner join voiding on stmt.statement_id = voiding.voided_statement_id
    {{ learning_xapi_actor_joins() }}
)

select
    targets.statement_id,
    targets.voiding_statement_id,
    users.learner_id,
    users.account_id,
    targets.object_id,
    targets.parent_activity_id,
    targets.voiding_loaded_at
from targets
inner join users on targets.user_id = users.user_id
