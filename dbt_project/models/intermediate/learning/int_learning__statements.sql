{#- xAPI statements with their learner and the verb's meaning: stg_xapi__statements
    joined to int_learning__actors (learner_id, account_id) and the verb seed
    (seeds/xapi_verbs.csv). Statements of an anonymous Group (no actor_key) belong
    to no learner and are left out. A table: the learner-progress models read it
    several times. -#}
with verbs as (
    select verb_id, is_attempt, is_completion, is_hint
    from {{ ref('xapi_verbs') }}
)

select
    statements.statement_id,
    statements.actor_key,
    actors.user_id,
    actors.learner_id,
    actors.unlinked_learner_id,
    actors.account_id,
    statements.verb_id,
    coalesce(verbs.is_attempt, false) as is_attempt,
    coalesce(verbs.is_completion, false) as is_completion,
    coalesce(verbs.is_hint, false) as is_hint,
    statements.object_type,
    statements.object_id,
    statements.object_definition_type,
    statements.object_name,
    statements.statement_at,
    statements.stored_at,
    statements.loaded_at,
    statements.registration,
    statements.attempt_id,
    statements.parent_activity_id,
    statements.parent_activity_type,
    statements.parent_activity_name,
    statements.grouping_activity_id,
    statements.grouping_activity_type,
    statements.grouping_activity_name,
    statements.context_course_id,
    statements.context_course_name,
    statements.has_result,
    statements.score_scaled,
    statements.score_raw,
    statements.score_min,
    statements.score_max,
    statements.is_success,
    statements.is_completion_result,
    statements.duration_seconds
from {{ ref('stg_xapi__statements') }} as statements
inner join {{ ref('int_learning__actors') }} as actors on statements.actor_key = actors.actor_key
left join verbs on statements.verb_id = verbs.verb_id
