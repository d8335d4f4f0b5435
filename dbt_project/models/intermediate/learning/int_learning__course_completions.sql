{#- A learner completed a course when a statement with a completion verb (verb
    seed) has the course's activity as its object; completed_at is the first one. -#}
with statements as (
    select learner_id, object_id, statement_at
    from {{ ref('int_learning__statements') }}
    where is_completion
),

courses as (
    select course_id, activity_id from {{ ref('int_learning__course_list') }}
)

select
    statements.learner_id,
    courses.course_id,
    min(statements.statement_at) as completed_at
from statements
inner join courses on statements.object_id = courses.activity_id
group by statements.learner_id, courses.course_id
