{#- Round a floating-point metric before it is published or ranked. Sums and averages
    of doubles depend on the order the engine adds them in (parallel aggregation), so
    two builds of the same input can differ in the 15th digit and flip a rank on a tie;
    rounding to `digits` decimals makes published metrics reproducible. -#}
{% macro stable_round(expr, digits=6) -%}
    round(cast({{ expr }} as double), {{ digits }})
{%- endmacro %}

{#- Order-independent aggregates of floating-point values: each value is converted to
    an exact decimal first, so the sum is the same whatever order the engine adds in
    (a double sum is not, and its last bits can push a rounded metric across a
    rounding boundary). Used with stable_round on published metrics. -#}
{% macro exact_sum(expr) -%}
    sum(cast({{ expr }} as decimal(38, 10)))
{%- endmacro %}

{% macro exact_avg(expr) -%}
    avg(cast({{ expr }} as decimal(38, 10)))
{%- endmacro %}
