{#- CTEs shared by stg_xapi__statements and stg_xapi__voided_statements:
    `renamed` (typed raw statements: one row per statement id, because ingestion
    inserts only ids new to raw.xapi_statements and counts a later copy as a
    duplicate or quarantines it as duplicate_id_conflict; the `unique` test on the
    source checks it before any model reads it), `voiding` (voiding statement ->
    target, with the voiding statement's load time) and `users` / `users_by_email`
    for resolving actors. Emit inside a `with`, followed by a comma. -#}
{% macro learning_xapi_base_ctes() -%}
source as (
    select * from {{ source('raw', 'xapi_statements') }}
),

renamed as (
    select
        lower(statement_id) as statement_id,
        {{ learning_clean_text('actor_account_name') }} as actor_account_name,
        lower({{ learning_clean_text('actor_mbox') }}) as actor_mbox,
        lower({{ learning_clean_text('actor_mbox_sha1sum') }}) as actor_mbox_sha1sum,
        verb_id,
        coalesce(object_type, 'Activity') as object_type,
        object_id,
        object_definition_type,
        lower(voided_statement_id) as voided_statement_id,
        statement_timestamp as statement_at,
        stored_at,
        loaded_at,
        registration,
        attempt_id,
        parent_activity_id,
        grouping_activity_id,
        has_result,
        result_score_scaled as score_scaled,
        result_score_raw as score_raw,
        result_score_min as score_min,
        result_score_max as score_max,
        result_success as is_success,
        result_completion as is_completion_result,
        result_duration_seconds as duration_seconds
    from source
),

voiding as (
    select
        statement_id as voiding_statement_id,
        voided_statement_id,
        loaded_at as voiding_loaded_at
    from renamed
    where verb_id = 'http://adlnet.gov/expapi/verbs/voided'
        and object_type = 'StatementRef'
        and voided_statement_id is not null
),

users as (
    select user_id, learner_id, account_id, email, mbox_sha1sum
    from {{ ref('stg_lms__users') }}
),

-- an email shared by two users identifies nobody
users_by_email as (
    select * from users
    where email in (
        select email from users where email is not null group by email having count(*) = 1
    )
)
{%- endmacro %}

{#- The LMS user_id of a statement's actor (alias `stmt`): account name =
    user_id first, then mbox = 'mailto:' || email, then mbox_sha1sum. Use in a
    select after `from <relation> as stmt` plus learning_xapi_actor_joins(). -#}
{% macro learning_xapi_actor_user_id() -%}
    coalesce(by_account.user_id, by_mbox.user_id, by_sha1.user_id)
{%- endmacro %}

{% macro learning_xapi_actor_joins() -%}
    left join users as by_account
        on stmt.actor_account_name = by_account.user_id
    left join users_by_email as by_mbox
        on stmt.actor_mbox = concat('mailto:', by_mbox.email)
    left join users_by_email as by_sha1
        on stmt.actor_mbox_sha1sum = by_sha1.mbox_sha1sum
{%- endmacro %}

{#- Match statements to exercises by activity id. `statements` is a relation
    or CTE with statement_id, object_id, parent_activity_id; `exercises` one with
    exercise_id, activity_id. With include_related, a statement also matches an
    exercise when its object lies up to three path segments below the
    exercise's activity ('<activity>/hint/1', '<activity>/answer') or when its
    context parent is the exercise's activity. The closest match wins (object
    itself, then one, two, three segments up, then the context parent); ties go
    to the smallest exercise_id. Returns statement_id, exercise_id. -#}
{% macro learning_exercise_matches(statements, exercises, include_related) -%}
    {%- set candidates = [('object_id', 1)] -%}
    {%- if include_related -%}
        {%- set candidates = candidates + [
            (learning_parent_path('object_id'), 2),
            (learning_parent_path(learning_parent_path('object_id')), 3),
            (learning_parent_path(learning_parent_path(learning_parent_path('object_id'))), 4),
            ('parent_activity_id', 5),
        ] -%}
    {%- endif -%}
    select statement_id, exercise_id
    from (
        select
            matched.statement_id,
            matched.exercise_id,
            row_number() over (
                partition by matched.statement_id
                order by matched.match_rank, matched.exercise_id
            ) as _match_rank
        from (
            {%- for expr, match_rank in candidates %}
            select candidate.statement_id, ex.exercise_id, {{ match_rank }} as match_rank
            from (
                select statement_id, {{ expr }} as candidate_activity_id from {{ statements }}
            ) as candidate
            inner join {{ exercises }} as ex on candidate.candidate_activity_id = ex.activity_id
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as matched
    ) as ranked
    where _match_rank = 1
{%- endmacro %}
