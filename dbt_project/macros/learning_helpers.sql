{#- Helpers of the learner-progress models (staging/lms, staging/xapi,
    intermediate/learning, marts/learning). -#}

{#- A trimmed text value, empty strings as null. -#}
{% macro learning_clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- The path one segment up: 'http://x/a/b' -> 'http://x/a'. -#}
{% macro learning_parent_path(expr) -%}
    regexp_replace({{ expr }}, '/[^/]*$', '')
{%- endmacro %}

{#- Seconds between two timestamps, fractional part kept where the engine can. -#}
{% macro learning_seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('learning_seconds_between', 'skillpath')(start_ts, end_ts)) }}
{%- endmacro %}
{% macro default__learning_seconds_between(start_ts, end_ts) -%}
    ({{ dbt.datediff(start_ts, end_ts, 'millisecond') }} / 1000.0)
{%- endmacro %}
{% macro spark__learning_seconds_between(start_ts, end_ts) -%}
    (unix_millis({{ end_ts }}) - unix_millis({{ start_ts }})) / 1000.0
{%- endmacro %}

{#- Parse an ISO 8601 text into a naive UTC timestamp: an offset or 'Z' is
    honoured, a value without one is taken as UTC; unparsable -> null. -#}
{% macro learning_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('learning_utc_timestamp', 'skillpath')(column)) }}
{%- endmacro %}
{% macro default__learning_utc_timestamp(column) -%}
    case
        when regexp_matches(trim({{ column }}), '(Z|[+-][0-9]{2}:?[0-9]{2})$')
            then try_cast(trim({{ column }}) as timestamptz) at time zone 'UTC'
        else try_cast(trim({{ column }}) as timestamp)
    end
{%- endmacro %}
{% macro spark__learning_utc_timestamp(column) -%}
    to_utc_timestamp(cast(trim({{ column }}) as timestamp), 'UTC')
{%- endmacro %}

{#- Number of rows where a condition holds, as a bigint (sums of integers widen
    to hugeint on DuckDB). -#}
{% macro learning_count_if(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- Sum of an integer column, as a bigint. -#}
{% macro learning_sum_int(expr) -%}
    cast(sum({{ expr }}) as {{ dbt.type_bigint() }})
{%- endmacro %}
