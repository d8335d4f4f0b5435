{#- Stands in for dbt_utils.unique_combination_of_columns (same name and arguments:
    combination_of_columns, quote_columns default false), which this project cannot
    install (docs/dbt_project.md). Switching is a rename in the YAML
    (unique_combination_of_columns -> dbt_utils.unique_combination_of_columns) and
    deleting this file. Grain test: no two rows share the same values of
    `combination_of_columns` (a null counts as a value, as in dbt_utils). -#}
{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
{%- set columns = [] -%}
{%- for column in combination_of_columns -%}
    {%- do columns.append(adapter.quote(column) if quote_columns else column) -%}
{%- endfor -%}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
