{#- Stands in for dbt_utils.accepted_range (same name and arguments: min_value,
    max_value, either optional, inclusive default true), which this project cannot
    install: no dbt package index is reachable from where it builds (docs/dbt_project.md).
    Switching is a rename in the YAML (accepted_range -> dbt_utils.accepted_range)
    and deleting this file. Every non-null value of the column must lie in
    [min_value, max_value]; a null passes, as in dbt_utils. Usage:
      data_tests:
        - accepted_range:
            arguments: {min_value: 0, max_value: 100} -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select {{ column_name }} as out_of_range_value
from {{ model }}
where {{ column_name }} is not null
    and (
        {%- if min_value is not none %} {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}{% endif %}
        {%- if min_value is not none and max_value is not none %} or{% endif %}
        {%- if max_value is not none %} {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}{% endif %}
    )
{% endtest %}
