{#- Round a floating-point metric before it is published or ranked. Sums and averages
    of doubles depend on the order the engine adds them in (parallel aggregation), so
    two builds of the same input can differ in the 15th digit and flip a rank on a tie;
    rounding to `digits` decimals makes published metrics reproducible. -#}
{% macro stable_round(expr, digits=6) -%}
    round(cast({{ expr }} as double), {{ digits }})
{%- endmacro %}
