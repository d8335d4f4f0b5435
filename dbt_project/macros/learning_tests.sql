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

{#- Generic test (use with severity warn): xAPI actors that match no LMS user while an
    LMS roster is loaded. They are learners all the same (docs/raw_layer.md); a
    deployment that delivers a roster usually wants to know who it misses. -#}
{% test learning_unlinked_actors(model) %}
select actors.actor_key
from {{ model }} as actors
where not actors.is_rostered
    and exists (select 1 from {{ ref('stg_lms__users') }})
{% endtest %}
