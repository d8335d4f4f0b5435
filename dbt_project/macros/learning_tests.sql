{#- Generic test: every non-null value of the column lies in [min_value, max_value]
    (either bound optional). Usage:
      data_tests:
        - learning_between:
            arguments: {min_value: 0, max_value: 100} -#}
{% test learning_between(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as out_of_range_value
from {{ model }}
where {{ column_name }} is not null
    and (
        {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif %}
        {%- if min_value is not none and max_value is not none %} or{% endif %}
        {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
    )
{% endtest %}

{#- Statements in the raw layer whose actor resolves to no LMS user (ingestion
    should have quarantined them; stg_xapi__statements drops them). -#}
{% test learning_unresolved_actors(model) %}
with raw_ids as (
    select distinct lower(statement_id) as statement_id
    from {{ source('raw', 'xapi_statements') }}
    where not (verb_id = 'http://adlnet.gov/expapi/verbs/voided' and object_type = 'StatementRef')
),

voided as (
    select distinct lower(voided_statement_id) as statement_id
    from {{ source('raw', 'xapi_statements') }}
    where verb_id = 'http://adlnet.gov/expapi/verbs/voided' and voided_statement_id is not null
)

select raw_ids.statement_id
from raw_ids
left join {{ model }} as kept on raw_ids.statement_id = kept.statement_id
where kept.statement_id is null
    and raw_ids.statement_id not in (select statement_id from voided)
{% endtest %}
