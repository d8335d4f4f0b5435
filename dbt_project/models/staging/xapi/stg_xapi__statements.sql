{#- A table, not a view like the other staging models:
    int_learning__exercise_statements, int_learning__course_completions and seven data
    tests read it, and as a view each of them re-ran the actor resolution over every
    raw statement (docs/benchmarks.md). -#}
{{ config(materialized='table') }}
{#- xAPI statements, typed and renamed: one row per statement id (ingestion keeps
    the first loaded copy; the source's unique test checks it), voided statements
    and the voiding statements themselves removed, the actor resolved to an LMS
    user (account name = user_id, else mbox, else mbox_sha1sum) and
    pseudonymised, the verb classified through the verb seed
    (seeds/xapi_verbs.csv). -#}
with {{ learning_xapi_base_ctes() }},

kept as (
    select renamed.*
    from renamed
    where statement_id not in (select voiding_statement_id from voiding)
        and statement_id not in (select voided_statement_id from voiding)
),

resolved as (
    select
        stmt.*,
        {{ learning_xapi_actor_user_id() }} as user_id
    from kept as stmt
    {{ learning_xapi_actor_joins() }}
),

verbs as (
    select verb_id, is_attempt, is_completion, is_hint
    from {{ ref('xapi_verbs') }}
)

select
    resolved.statement_id,
    resolved.user_id,
    users.learner_id,
    users.account_id,
    resolved.verb_id,
    coalesce(verbs.is_attempt, false) as is_attempt,
    coalesce(verbs.is_completion, false) as is_completion,
    coalesce(verbs.is_hint, false) as is_hint,
    resolved.object_type,
    resolved.object_id,
    resolved.object_definition_type,
    resolved.statement_at,
    resolved.stored_at,
    resolved.loaded_at,
    resolved.registration,
    resolved.attempt_id,
    resolved.parent_activity_id,
    resolved.grouping_activity_id,
    resolved.has_result,
    resolved.score_scaled,
    resolved.score_raw,
    resolved.score_min,
    resolved.score_max,
    resolved.is_success,
    resolved.is_completion_result,
    resolved.duration_seconds
from resolved
-- actors that resolve to no user were quarantined at ingestion; the inner join
-- keeps it that way (tested on the raw side in _xapi__models.yml)
inner join users on resolved.user_id = users.user_id
left join verbs on resolved.verb_id = verbs.verb_id
