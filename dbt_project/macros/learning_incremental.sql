{#- Incremental strategy "learning_replace_groups": the model's rows replace,
    as a whole, every group of rows sharing the unique_key columns (for
    fct_attempts: every learner + exercise pair the run touched). Rows whose
    `replace_row_column` (model config) is null are tombstones: they mark a group
    to clear (e.g. all its attempts were voided) and are not inserted.
    Select it with incremental_strategy='learning_replace_groups'. -#}
{% macro get_incremental_learning_replace_groups_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] if arg_dict['unique_key'] is sequence and arg_dict['unique_key'] is not string
        else [arg_dict['unique_key']] -%}
    {%- set row_column = config.get('replace_row_column') -%}
    {%- if not keys or not row_column -%}
        {{ exceptions.raise_compiler_error("learning_replace_groups needs unique_key and replace_row_column") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    using {{ source }}
    where
        {%- for key in keys %}
        {{ source }}.{{ key }} = {{ target }}.{{ key }}{{ ' and' if not loop.last }}
        {%- endfor %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
    where {{ row_column }} is not null
{%- endmacro %}
