{#- Every learner, pseudonymous (no email, no display name): each LMS user, and
    each xAPI actor linked to no LMS user (int_learning__actors), whose role is
    'learner' and whose account follows learning_default_account. -#}
select learner_id, account_id, role
from {{ ref('stg_lms__users') }}
union all
select learner_id, account_id, 'learner' as role
from {{ ref('int_learning__actors') }}
where not is_rostered
