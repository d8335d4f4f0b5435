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
