{{ config(materialized='view') }}
{#- LMS enrolments by learner_id, for completion rates of certified courses. -#}
select learner_id, course_id, enrolled_at
from {{ ref('stg_lms__enrollments') }}
