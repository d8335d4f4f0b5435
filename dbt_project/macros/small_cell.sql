{#- Small-cell suppression for aggregates of recipient or verifier behaviour.

    small_cell(expr)       the count, or null when it is below var small_cell_k
    small_cell_flag(expr)  true when small_cell(expr) suppressed the count
    small_cell_rate(numerator, denominator)
                           numerator / denominator, null when the numerator is
                           suppressed (a rate times a published denominator would
                           give the suppressed count back) or the denominator is 0

    k = var('small_cell_k') (default 5); k = 0 switches suppression off. A count
    of 0 is below k and is suppressed too. Marts that use these macros publish no
    total that is the sum of suppressible cells (see docs/metrics.md), so a
    suppressed count cannot be recovered by subtraction inside the same mart. -#}

{% macro small_cell_k() -%}
    {{ return(var('small_cell_k', 5) | int) }}
{%- endmacro %}

{% macro small_cell(expr) -%}
    {%- if small_cell_k() > 0 -%}
    case when {{ expr }} < {{ small_cell_k() }} then null else {{ expr }} end
    {%- else -%}
    {{ expr }}
    {%- endif -%}
{%- endmacro %}

{% macro small_cell_flag(expr) -%}
    {%- if small_cell_k() > 0 -%}
    ({{ expr }} < {{ small_cell_k() }})
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}

{% macro small_cell_rate(numerator, denominator) -%}
    case
        when {{ small_cell_flag(numerator) }} then null
        when {{ denominator }} = 0 then null
        else cast({{ numerator }} as {{ credential_type_double() }}) / {{ denominator }}
    end
{%- endmacro %}

{#- Whether a count restricted to a subset of a cell (e.g. verified credentials only)
    must be hidden: it is small itself, or the rest of the cell (all - restricted) is
    small but not zero, which subtraction from the published `all` would reveal. -#}
{% macro restricted_hidden(restricted, all) -%}
    {%- if small_cell_k() > 0 -%}
    ({{ restricted }} < {{ small_cell_k() }}
        or ({{ all }} - {{ restricted }} > 0 and {{ all }} - {{ restricted }} < {{ small_cell_k() }})
        or {{ all }} < {{ small_cell_k() }})
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}
