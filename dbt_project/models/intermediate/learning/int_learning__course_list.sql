{#- Every course: the LMS export's (courses.csv) and those only the statements
    describe (int_learning__xapi_exercises), with account, title and activity. -#}
select course_id, account_id, course_title, activity_id
from {{ ref('stg_lms__courses') }}
union all
select
    course_id,
    max(derived_course_account_id) as account_id,
    max(course_title) as course_title,
    max(course_activity_id) as activity_id
from {{ ref('int_learning__xapi_exercises') }}
where not is_lms_course
group by course_id
