{#- Grain test: no two rows share the same values of `combination_of_columns`
    (a null counts as a value). -#}
{% test credential_unique_combination(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Every non-null value lies in [min_value, max_value] (either bound optional). -#}
{% test credential_between(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% else %} false{% endif %}
    {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}

{#- A suppressed count is null and its flag is true; a published one is at least
    var small_cell_k (when suppression is on). -#}
{% test credential_small_cell(model, column_name, flag_column) %}
select {{ column_name }}, {{ flag_column }}
from {{ model }}
where ({{ flag_column }} and {{ column_name }} is not null)
   or (not {{ flag_column }} and {{ column_name }} is null)
   {%- if small_cell_k() > 0 %}
   or {{ column_name }} < {{ small_cell_k() }}
   {%- endif %}
{% endtest %}
