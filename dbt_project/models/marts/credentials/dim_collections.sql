{#- One row per collection (pathway) of credentials. -#}
with members as (
    select * from {{ ref('int_credentials__collection_members') }}
),

transitions as (
    select * from {{ ref('int_credentials__transition_facts') }}
),

learners as (
    select collection_id, count(distinct learner_id) as learners
    from transitions
    group by collection_id
)

select
    members.collection_id,
    max(members.collection_name) as collection_name,
    count(*) as credential_count,
    count(distinct members.course_id) as certified_course_count,
    coalesce(max(learners.learners), 0) as learners
from members
left join learners on members.collection_id = learners.collection_id
group by members.collection_id
