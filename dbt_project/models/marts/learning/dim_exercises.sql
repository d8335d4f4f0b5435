select
    exercise_id,
    chapter_id,
    course_id,
    course_account_id as account_id,
    exercise_title,
    position,
    activity_id,
    max_points
from {{ ref('int_learning__exercises') }}
