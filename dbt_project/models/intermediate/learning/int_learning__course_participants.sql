{#- Who takes part in a course: learners enrolled in it, or with an attempt or
    hint on one of its exercises, or a completion statement for it. account_id
    is the learner's account (the organisation whose managers see the row). -#}
with enrolled as (
    select learner_id, course_id, enrolled_at from {{ ref('stg_lms__enrollments') }}
),

active as (
    select distinct statements.learner_id, exercises.course_id
    from {{ ref('int_learning__exercise_statements') }} as statements
    inner join {{ ref('int_learning__exercises') }} as exercises
        on statements.exercise_id = exercises.exercise_id
),

completed as (
    select learner_id, course_id from {{ ref('int_learning__course_completions') }}
),

pairs as (
    select learner_id, course_id from enrolled
    union
    select learner_id, course_id from active
    union
    select learner_id, course_id from completed
),

users as (
    select learner_id, account_id from {{ ref('int_learning__learners') }}
)

select
    pairs.learner_id,
    pairs.course_id,
    users.account_id,
    enrolled.enrolled_at,
    enrolled.learner_id is not null as is_enrolled
from pairs
inner join users on pairs.learner_id = users.learner_id
inner join {{ ref('int_learning__course_list') }} as courses on pairs.course_id = courses.course_id
left join enrolled on pairs.learner_id = enrolled.learner_id and pairs.course_id = enrolled.course_id
