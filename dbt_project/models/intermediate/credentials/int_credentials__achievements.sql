{#- One row per credential (achievement / badge class) that was awarded or is part
    of a collection. Name, type and issuer come from the most recently issued award
    that states them (an OB 2.0 badge class document fills in what an assertion only
    references). Collection, position and certified course come from
    collections.csv; a credential in several collections shows the one with the
    smallest collection_id (collection_count says how many). -#}
with awards as (
    select * from {{ ref('int_credentials__awards') }}
    where achievement_id is not null
),

members as (
    select * from {{ ref('int_credentials__collection_members') }}
),

ids as (
    select achievement_id from awards
    union
    select achievement_id from members
),

{% for attr in ['achievement_name', 'achievement_type', 'issuer_id', 'issuer_name'] %}
latest_{{ attr }} as (
    select achievement_id, {{ attr }} from (
        select
            achievement_id,
            {{ attr }},
            row_number() over (
                partition by achievement_id order by issued_at desc, loaded_at desc, award_id desc
            ) as _rank
        from awards
        where {{ attr }} is not null
    ) as ranked
    where _rank = 1
),
{% endfor %}

primary_membership as (
    select * from (
        select
            members.*,
            count(*) over (partition by achievement_id) as collection_count,
            row_number() over (partition by achievement_id order by collection_id) as _rank
        from members
    ) as ranked
    where _rank = 1
),

certified_course as (
    select achievement_id, min(course_id) as course_id
    from members
    where course_id is not null
    group by achievement_id
)

select
    ids.achievement_id,
    coalesce(latest_achievement_name.achievement_name, ids.achievement_id) as credential_name,
    coalesce(latest_achievement_type.achievement_type, 'Badge') as achievement_type,
    latest_issuer_id.issuer_id,
    latest_issuer_name.issuer_name,
    primary_membership.collection_id,
    primary_membership.collection_name,
    primary_membership.position,
    coalesce(primary_membership.collection_count, 0) as collection_count,
    certified_course.course_id as certified_course_id
from ids
left join latest_achievement_name on ids.achievement_id = latest_achievement_name.achievement_id
left join latest_achievement_type on ids.achievement_id = latest_achievement_type.achievement_id
left join latest_issuer_id on ids.achievement_id = latest_issuer_id.achievement_id
left join latest_issuer_name on ids.achievement_id = latest_issuer_name.achievement_id
left join primary_membership on ids.achievement_id = primary_membership.achievement_id
left join certified_course on ids.achievement_id = certified_course.achievement_id
