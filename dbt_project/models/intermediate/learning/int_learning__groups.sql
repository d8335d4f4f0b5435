{#- Groups with their member count. -#}
with groups as (
    select group_id, account_id, group_name from {{ ref('stg_lms__groups') }}
),

members as (
    select group_id, count(*) as member_count
    from {{ ref('int_learning__group_members') }}
    group by group_id
)

select
    groups.group_id,
    groups.account_id,
    groups.group_name,
    coalesce(members.member_count, 0) as member_count
from groups
left join members on groups.group_id = members.group_id
