{#- Group memberships of known groups and users, by learner_id. account_id is the
    group's account. A learner in several groups has one row per group. -#}
select
    members.group_id,
    groups.account_id,
    members.learner_id
from {{ ref('stg_lms__group_members') }} as members
inner join {{ ref('stg_lms__groups') }} as groups on members.group_id = groups.group_id
inner join {{ ref('stg_lms__users') }} as users on members.user_id = users.user_id
