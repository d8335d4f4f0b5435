select
    chapter_id,
    course_id,
    course_account_id as account_id,
    chapter_title,
    position,
    activity_id,
    exercise_count,
    max_points_total
from {{ ref('int_learning__chapters') }}
