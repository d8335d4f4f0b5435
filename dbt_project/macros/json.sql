{#- Read one string value from a JSON text column: json_str(column, '$.a.b') or a
    key containing dots/slashes: json_str(column, '$."http://x/y"'). -#}
{% macro json_str(column, path) -%}
    {{ return(adapter.dispatch('json_str', 'skillpath')(column, path)) }}
{%- endmacro %}
{% macro default__json_str(column, path) -%} json_extract_string({{ column }}, '{{ path }}') {%- endmacro %}
{% macro spark__json_str(column, path) -%} get_json_object({{ column }}, '{{ path }}') {%- endmacro %}
