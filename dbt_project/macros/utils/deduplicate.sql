{#- Stands in for dbt_utils.deduplicate (same name and arguments: relation, then
    partition_by and order_by as SQL text), which this project cannot install
    (docs/dbt_project.md): one row per partition_by, the first by order_by.
    `relation` is a relation or a CTE name. dbt_utils' default version joins the
    winning rows back with a natural join, which loses every row holding a null;
    this one is null-safe and keeps its rank column _row_rank (callers list their
    columns). A switch to dbt_utils renames the calls and keeps this body as the
    DuckDB dispatch of dbt_utils.deduplicate. -#}
{% macro deduplicate(relation, partition_by, order_by) -%}
    select * from (
        select
            {{ relation }}.*,
            row_number() over (
                partition by {{ partition_by }}
                order by {{ order_by }}
            ) as _row_rank
        from {{ relation }}
    ) as ranked
    where _row_rank = 1
{%- endmacro %}
