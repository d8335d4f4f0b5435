{#- What the Spark engine (SKILLPATH_ENGINE=spark, docs/scale_out.md) needs besides the
    spark__ variants next to each macro: the raw layer as tables, the contracts' types,
    incremental models rebuilt in full. Nothing here runs on DuckDB. -#}

{#- on-run-start: the raw tables dbt reads. DuckDB attaches lake.duckdb (profiles.yml);
    Spark reads the raw layer's Parquet copy (skillpath/ingest/parquet_raw.py), one
    external table per source table at SKILLPATH_SPARK_RAW_LOCATION/<table>, created again
    each run so that its schema is the files' (dropping an external table keeps its files). -#}
{% macro raw_tables() -%}
    {{ return(adapter.dispatch('raw_tables', 'skillpath')()) }}
{%- endmacro %}
{% macro default__raw_tables() -%}{%- endmacro %}
{% macro spark__raw_tables() -%}
    {%- if execute -%}
    {%- set location = env_var('SKILLPATH_SPARK_RAW_LOCATION', env_var('SKILLPATH_HOME', '.skillpath') ~ '/raw') | trim -%}
    {%- do run_query('create database if not exists raw') -%}
    {%- for node in graph.sources.values() if node.source_name == 'raw' -%}
        {%- do run_query('drop table if exists raw.' ~ node.name) -%}
        {%- do run_query("create table raw." ~ node.name ~ " using parquet location '"
                         ~ location ~ "/" ~ node.name ~ "'") -%}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- The contracts name DuckDB's types; Spark's string is varchar (dbt compares the
    contract with the model through cast(null as <data_type>)). -#}
{% macro spark__cast(field, type) -%}
    {%- set spark_type = 'string' if (type | lower | trim) in ('varchar', 'text') else type -%}
    cast({{ field }} as {{ spark_type }})
{%- endmacro %}

{#- Incremental models on Spark are rebuilt in full: Parquet tables have no DELETE, and the
    table formats that do (Delta Lake, Iceberg) ship their jars through Maven, which these
    machines cannot reach. The pipeline builds Spark with --full-refresh and
    rehash_recipients (skillpath/defs/transform.py), so is_incremental() is false here;
    an incremental run is refused rather than built from a table it would drop. -#}
{% materialization incremental, adapter='spark' -%}
    {%- set target_relation = this -%}
    {%- set existing_relation = load_relation(this) -%}
    {%- if existing_relation is not none and not should_full_refresh() -%}
        {{ exceptions.raise_compiler_error("incremental models are rebuilt in full on Spark: run dbt with --full-refresh"
                                           ~ " (and --vars '{rehash_recipients: true}'), as skillpath does") }}
    {%- endif -%}
    {{ run_hooks(pre_hooks) }}
    {%- if existing_relation is not none -%}
        {%- do adapter.drop_relation(existing_relation) -%}
    {%- endif -%}
    {%- call statement('main') -%}
        {{ create_table_as(False, target_relation, compiled_code) }}
    {%- endcall -%}
    {%- do persist_constraints(target_relation, model) -%}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- on-run-end: the relations publication reads (every table of schema marts, and the learner
    directory's source, skillpath/publish/postgres.py USERS_RELATION), written as Parquet to
    SKILLPATH_SPARK_EXPORT/<schema>.<name>/ for skillpath/transform/spark_marts.py, which
    loads them into build.duckdb: the gate and publication then read the same file as on
    DuckDB. Only after a build whose models all succeeded (a failed build publishes nothing). -#}
{% macro export_published(results) -%}
    {{ return(adapter.dispatch('export_published', 'skillpath')(results)) }}
{%- endmacro %}
{% macro default__export_published(results) -%}{%- endmacro %}
{% macro spark__export_published(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run') -%}
    {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
    {%- if not failed -%}
    {%- set export = env_var('SKILLPATH_SPARK_EXPORT', env_var('SKILLPATH_HOME', '.skillpath') ~ '/spark/export') | trim -%}
    {%- set relations = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.enabled -%}
        {%- if node.schema == 'marts' or (node.schema == 'staging' and node.name == 'stg_lms__users') -%}
            {%- do relations.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in relations -%}
        {%- do run_query("insert overwrite directory '" ~ export ~ "/" ~ node.schema ~ "." ~ node.alias
                         ~ "' using parquet select * from " ~ node.schema ~ "." ~ node.alias) -%}
    {%- endfor -%}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Contracts name DuckDB's integer widths: Spark's row_number(), rank(), datediff() and
    friends return an int where DuckDB's return a bigint. A contracted table on Spark selects
    such a column widened to its contract's integer type (and nothing else changes), so its
    Spark table has the contract's types, and the contract check compares those. -#}
{% macro spark_contract_widenings(sql) -%}
    {%- set integers = ['tinyint', 'smallint', 'int', 'integer', 'bigint'] -%}
    {%- set actual = {} -%}
    {%- for column in get_column_schema_from_query(get_empty_subquery_sql(sql)) -%}
        {%- do actual.update({column.name | lower: column.dtype | lower}) -%}
    {%- endfor -%}
    {%- set widen = {} -%}
    {%- for key, column in model['columns'].items() -%}
        {%- set declared = (column.get('data_type') or '') | lower | trim -%}
        {%- set found = actual.get(column['name'] | lower) -%}
        {%- if declared in integers and found in integers
               and integers.index(found | replace('integer', 'int')) < integers.index(declared | replace('integer', 'int')) -%}
            {%- do widen.update({column['name']: declared}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(widen) }}
{%- endmacro %}

{% macro spark__get_select_subquery(sql) -%}
    {%- set widen = spark_contract_widenings(sql) -%}
    select
    {%- for key, column in model['columns'].items() %}
        {%- set name = adapter.quote(column['name']) if column.get('quote') else column['name'] %}
        {% if column['name'] in widen -%}
        cast({{ name }} as {{ widen[column['name']] }}) as {{ name }}
        {%- else -%}
        {{ name }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
    from (
        {{ sql }}
    ) as model_subq
{%- endmacro %}

{% macro spark__get_assert_columns_equivalent(sql) -%}
    {{ return(assert_columns_equivalent(spark__get_select_subquery(sql))) }}
{%- endmacro %}

{#- A shared step (CTE) that Spark must compute once. Spark's optimizer copies every
    deterministic CTE into each query that reads it (rule InlineCTE), so a CTE read three
    times is computed three times: in int_credentials__recipient_hashes the salted hashes of
    pass 1 about five times and of pass 2 about three (docs/benchmarks.md). A CTE with a
    non-deterministic predicate is kept shared and computed once for all its readers
    (ReplaceCTERefWithRepartition, exchange reuse). `rand() >= 0` holds for every row, and
    the optimizer drops it afterwards (OptimizeRand), so the rows are unchanged. Put after a
    `where` condition; nothing on DuckDB, which computes each CTE once anyway. -#}
{% macro computed_once() -%}
    {{ return(adapter.dispatch('computed_once', 'skillpath')()) }}
{%- endmacro %}
{% macro default__computed_once() -%}{%- endmacro %}
{% macro spark__computed_once() %} and rand() >= 0 {% endmacro %}
