{#- Helpers of the credential models (staging/credentials, staging/credential_events,
    intermediate/credentials, marts/credentials). -#}

{#- The run date credential status is computed for: var as_of_date ('YYYY-MM-DD'),
    else the current date. Tests pin it. -#}
{% macro credential_as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of -%}
    cast('{{ as_of }}' as date)
    {%- else -%}
    current_date
    {%- endif -%}
{%- endmacro %}

{#- First instant after the run date: a credential that expires or is revoked
    before it is expired / revoked "as of" the run date. -#}
{% macro credential_as_of_end() -%}
    cast({{ dbt.dateadd('day', 1, credential_as_of_date()) }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The first day of the month of a timestamp, as a date. -#}
{% macro credential_month(ts) -%}
    cast({{ dbt.date_trunc('month', ts) }} as date)
{%- endmacro %}

{#- Whole calendar days from one timestamp's date to another's. -#}
{% macro credential_days_between(start_ts, end_ts) -%}
    {{ dbt.datediff('cast(' ~ start_ts ~ ' as date)', 'cast(' ~ end_ts ~ ' as date)', 'day') }}
{%- endmacro %}

{#- Continuous percentile (linear interpolation) of a numeric expression within a
    group: DuckDB quantile_cont, Spark percentile (exact). -#}
{% macro credential_percentile(expr, fraction) -%}
    {{ return(adapter.dispatch('credential_percentile', 'skillpath')(expr, fraction)) }}
{%- endmacro %}
{% macro default__credential_percentile(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}
{% macro spark__credential_percentile(expr, fraction) -%}
    percentile({{ expr }}, {{ fraction }})
{%- endmacro %}

{#- An award's status as of the end of the run date (see int_credentials__awards). -#}
{% macro credential_award_status(is_revoked, revoked_at, expires_at) -%}
    case
        when {{ is_revoked }} and ({{ revoked_at }} is null or {{ revoked_at }} < {{ credential_as_of_end() }})
            then 'revoked'
        when {{ expires_at }} < {{ credential_as_of_end() }} then 'expired'
        else 'active'
    end
{%- endmacro %}

{#- Incremental credential facts: the newest changed_at already in `relation`
    minus var credential_lookback_days (late arrivals); a long-ago date when the
    table is empty. -#}
{% macro credential_watermark(relation) -%}
    (
        select coalesce(
            {{ dbt.dateadd('second', -(var('credential_lookback_days') * 86400) | int, 'max(changed_at)') }},
            cast('1900-01-01' as {{ dbt.type_timestamp() }})
        )
        from {{ relation }}
    )
{%- endmacro %}

{#- Learners whose transitions must be rebuilt: the recipient of any award changed
    since the watermark of int_credentials__transition_facts, under its current learner_id
    and under its unmatched (pre-LMS-match) learner_id, where its old rows may be;
    everyone when the collections changed. A recipient moved from one LMS user to
    another (an e-mail reassigned) needs a --full-refresh. -#}
{% macro credential_changed_learners() -%}
    {%- set changed -%}
        changed_at >= {{ credential_watermark(this) }}
        or (select max(loaded_at) from {{ ref('int_credentials__collection_members') }})
            >= {{ credential_watermark(this) }}
    {%- endset -%}
    select learner_id from {{ ref('int_credentials__awards') }} where {{ changed }}
    union
    select unmatched_learner_id from {{ ref('int_credentials__awards') }} where {{ changed }}
{%- endmacro %}

{#- pre-hook of int_credentials__transition_facts: drop the rows of changed learners
    (a learner whose awards were all revoked must lose every row). -#}
{% macro credential_transitions_delete_changed_learners() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where learner_id in ({{ credential_changed_learners() }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Double precision type for rates (dbt.type_float() is a 4-byte float on DuckDB). -#}
{% macro credential_type_double() -%}
    {{ return(adapter.dispatch('credential_type_double', 'skillpath')()) }}
{%- endmacro %}
{% macro default__credential_type_double() -%} double {%- endmacro %}

{#- The load time after which a user counts as new for a cached recipient hash last
    checked through `checked_through` (int_credentials__recipient_hashes): that time
    minus var credential_lookback_days; a long-ago date when never checked. -#}
{% macro credential_recheck_since(checked_through) -%}
    coalesce(
        {{ dbt.dateadd('second', -(var('credential_lookback_days') * 86400) | int, checked_through) }},
        cast('1900-01-01' as {{ dbt.type_timestamp() }})
    )
{%- endmacro %}

{#- Awards of `awards_cte` (award_id, recipient_identity, recipient_salt, is_hashed)
    matched to users of `users_cte` (user_id, learner_id, account_id, email,
    loaded_at): plain emails by equality, hashed ones by looking their (salt,
    identity) up in `hashes_cte` (recipient_salt, recipient_identity, matched_email:
    the match cache int_credentials__recipient_hashes) and that email up in the
    users. No hashing here. Several rows per award when several users match. -#}
{% macro credential_recipient_matches(awards_cte, hashes_cte, users_cte) -%}
    select
        {{ awards_cte }}.award_id, {{ users_cte }}.user_id, {{ users_cte }}.learner_id,
        {{ users_cte }}.account_id, {{ users_cte }}.loaded_at as user_loaded_at
    from {{ awards_cte }}
    inner join {{ users_cte }}
        on not {{ awards_cte }}.is_hashed and {{ awards_cte }}.recipient_identity = {{ users_cte }}.email
    union all
    select
        {{ awards_cte }}.award_id, {{ users_cte }}.user_id, {{ users_cte }}.learner_id,
        {{ users_cte }}.account_id, {{ users_cte }}.loaded_at as user_loaded_at
    from {{ awards_cte }}
    inner join {{ hashes_cte }}
        on {{ awards_cte }}.is_hashed
        and {{ awards_cte }}.recipient_salt = {{ hashes_cte }}.recipient_salt
        and {{ awards_cte }}.recipient_identity = {{ hashes_cte }}.recipient_identity
    inner join {{ users_cte }} on {{ hashes_cte }}.matched_email = {{ users_cte }}.email
{%- endmacro %}
