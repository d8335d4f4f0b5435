{#- One row per learner and LMS course that a credential the learner was awarded
    certifies (collections.csv course_id). The learner-progress marts ref this.
      credentials_held  distinct certifying credentials held, revoked ones excluded
                        (expired ones included: they were earned)
      is_certified      holds at least one certifying award that is active (not
                        revoked, not expired) as of the run date (var as_of_date)
      certified_at      earliest issue time among those active awards
    account_id is the learner's LMS account (null for recipients without one).
    Unattributed awards (no recipient) are left out: they have no learner. -#}
with awards as (
    select * from {{ ref('int_credentials__awards') }}
    where is_attributed
),

courses as (
    select distinct achievement_id, course_id
    from {{ ref('int_credentials__collection_members') }}
    where course_id is not null
)

select
    awards.learner_id,
    courses.course_id,
    max(awards.account_id) as account_id,
    count(distinct case when awards.status <> 'revoked' then awards.achievement_id end) as credentials_held,
    coalesce(max(case when awards.status = 'active' then 1 else 0 end) = 1, false) as is_certified,
    min(case when awards.status = 'active' then awards.issued_at end) as certified_at
from awards
inner join courses on awards.achievement_id = courses.achievement_id
group by awards.learner_id, courses.course_id
