{#- Keep one row per key of an append-only raw table: the latest loaded row wins
    (LMS CSV exports are snapshots or deltas; credentials ingestion appends a
    completed row when a late OB 2.0 badge class or revocation list arrives).
    `relation` is a CTE name carrying the raw load metadata (loaded_at, load_id,
    record_no); `key_columns` a list of column names. The project's rule for
    "latest" over deduplicate (the dbt_utils.deduplicate stand-in). -#}
{% macro latest_per_key(relation, key_columns) -%}
    {{ deduplicate(relation, key_columns | join(', '), 'loaded_at desc, load_id desc, record_no desc') }}
{%- endmacro %}
