select
    course_id,
    account_id,
    course_title,
    activity_id,
    chapter_count,
    exercise_count,
    max_points_total
from {{ ref('int_learning__courses') }}
