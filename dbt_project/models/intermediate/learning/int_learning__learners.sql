{#- Every LMS user as a pseudonymous learner: no email, no display name. -#}
select learner_id, account_id, role
from {{ ref('stg_lms__users') }}
