{#- CTEs shared by stg_xapi__statements and stg_xapi__voided_statements, read
    from `source_cte`, the model's own CTE over source('raw', 'xapi_statements')
    (the model calls source() itself, so its lineage shows in the model file):
    `renamed` (typed raw statements: one row per statement id, because ingestion
    inserts only ids new to raw.xapi_statements and counts a later copy as a
    duplicate or quarantines it as duplicate_id_conflict; the `unique` test on the
    source checks it before any model reads it; the actor reduced to its key, see
    learning_actor_key) and `voiding` (voiding statement -> target, with the voiding
    statement's load time). Emit inside a `with`, after the source CTE and a comma. -#}
{% macro learning_xapi_base_ctes(source_cte) -%}
identified as (
    select
        {{ source_cte }}.*,
        {{ learning_clean_text('actor_account_name') }} as account_name,
        regexp_replace({{ learning_clean_text('actor_account_homepage') }}, '/+$', '') as account_homepage,
        -- an mbox is compared through its sha1, so mbox and mbox_sha1sum actors of one
        -- (lower-case) address are one actor and staging keeps no address
        coalesce(
            {{ sha1_hex('lower(' ~ learning_clean_text('actor_mbox') ~ ')') }},
            lower({{ learning_clean_text('actor_mbox_sha1sum') }})
        ) as mbox_sha1sum,
        {{ learning_clean_text('actor_openid') }} as openid
    from {{ source_cte }}
),

renamed as (
    select
        lower(statement_id) as statement_id,
        {{ learning_actor_key('account_homepage', 'account_name', 'mbox_sha1sum', 'openid') }} as actor_key,
        coalesce(actor_object_type, 'Agent') as actor_object_type,
        account_homepage as actor_account_homepage,
        account_name as actor_account_name,
        mbox_sha1sum as actor_mbox_sha1sum,
        verb_id,
        coalesce(object_type, 'Activity') as object_type,
        object_id,
        object_definition_type,
        {{ learning_clean_text('object_name') }} as object_name,
        lower(voided_statement_id) as voided_statement_id,
        statement_timestamp as statement_at,
        stored_at,
        loaded_at,
        registration,
        attempt_id,
        parent_activity_id,
        parent_activity_type,
        {{ learning_clean_text('parent_activity_name') }} as parent_activity_name,
        grouping_activity_id,
        grouping_activity_type,
        {{ learning_clean_text('grouping_activity_name') }} as grouping_activity_name,
        course_activity_id as context_course_id,
        {{ learning_clean_text('course_activity_name') }} as context_course_name,
        has_result,
        result_score_scaled as score_scaled,
        result_score_raw as score_raw,
        result_score_min as score_min,
        result_score_max as score_max,
        result_success as is_success,
        result_completion as is_completion_result,
        result_duration_seconds as duration_seconds,
        coalesce(id_assigned, false) as is_id_assigned
    from identified
),

voiding as (
    select
        statement_id as voiding_statement_id,
        voided_statement_id,
        loaded_at as voiding_loaded_at
    from renamed
    -- ingestion sets voided_statement_id on voiding statements only (verb voided, object a
    -- StatementRef; skillpath.ingest.xapi.VOIDED): the raw contract, docs/raw_layer.md
    where voided_statement_id is not null
)
{%- endmacro %}

{#- The stable key of a statement's actor, from its inverse functional identifier
    (xAPI allows exactly one; when several are sent the first of this order wins):
    'account:' || homePage (trailing '/' removed) || '|' || name, else
    'mbox_sha1sum:' || sha1 of the lower-case mbox (or the mbox_sha1sum sent, lower
    case), else 'openid:' || openid. Null for an anonymous Group. -#}
{% macro learning_actor_key(homepage, name, mbox_sha1sum, openid) -%}
    case
        when {{ name }} is not null then concat('account:', coalesce({{ homepage }}, ''), '|', {{ name }})
        when {{ mbox_sha1sum }} is not null then concat('mbox_sha1sum:', {{ mbox_sha1sum }})
        when {{ openid }} is not null then concat('openid:', {{ openid }})
    end
{%- endmacro %}

{#- The account of a learner or course that no LMS export places in one:
    SKILLPATH_DEFAULT_ACCOUNT when set, else the host of `iri_expr` (the actor's
    account.homePage, or the course activity's IRI), else 'unassigned'. -#}
{% macro learning_default_account(iri_expr) -%}
    {%- set configured = env_var('SKILLPATH_DEFAULT_ACCOUNT', '') | trim -%}
    {%- if configured -%}
        '{{ configured | replace("'", "''") }}'
    {%- else -%}
        coalesce({{ learning_iri_host(iri_expr) }}, 'unassigned')
    {%- endif -%}
{%- endmacro %}

{#- The lower-case host (and port) of an IRI such as 'https://lms.example.org/x'; null when none. -#}
{% macro learning_iri_host(expr) -%}
    nullif(lower(regexp_extract({{ expr }}, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]+@)?([^/?#]+)', 2)), '')
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
