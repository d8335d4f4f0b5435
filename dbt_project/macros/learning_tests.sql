{#- Generic test (use with severity warn): xAPI actors that match no LMS user while an
    LMS roster is loaded. They are learners all the same (docs/raw_layer.md); a
    deployment that delivers a roster usually wants to know who it misses. -#}
{% test learning_unlinked_actors(model) %}
select actors.actor_key
from {{ model }} as actors
where not actors.is_rostered
    and exists (select 1 from {{ ref('stg_lms__users') }})
{% endtest %}
