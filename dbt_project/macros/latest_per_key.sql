{#- Keep one row per key of an append-only raw table: the latest loaded row wins
    (LMS CSV exports are snapshots or deltas; credentials ingestion appends a
    completed row when a late OB 2.0 badge class or revocation list arrives).
    `relation` is a CTE name carrying the raw load metadata (loaded_at, load_id, record_no). -#}
{% macro latest_per_key(relation, key_columns) -%}
    select * from (
        select
            {{ relation }}.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by loaded_at desc, load_id desc, record_no desc
            ) as _row_rank
        from {{ relation }}
    ) as ranked
    where _row_rank = 1
{%- endmacro %}
