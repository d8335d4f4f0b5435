{#- Learners (every LMS user) by pseudonymous id: account and role, never names
    or emails (the access-controlled learner directory is published separately). -#}
with learners as (
    select learner_id, account_id, role from {{ ref('int_learning__learners') }}
),

groups as (
    select learner_id, count(*) as group_count
    from {{ ref('int_learning__group_members') }}
    group by learner_id
),

courses as (
    select learner_id, count(*) as course_count
    from {{ ref('int_learning__course_participants') }}
    group by learner_id
)

select
    learners.learner_id,
    learners.account_id,
    learners.role,
    coalesce(groups.group_count, 0) as group_count,
    coalesce(courses.course_count, 0) as course_count
from learners
left join groups on learners.learner_id = groups.learner_id
left join courses on learners.learner_id = courses.learner_id
