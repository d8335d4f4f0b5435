{#- Issuance per month and credential (with its type, so "by type" is a group by):
    awards issued, distinct recipients, and of those awards how many are revoked /
    expired / active as of the run date. For a credential that certifies an LMS
    course: enrolled_learners = learners enrolled in that course by the end of the
    month, certified_learners = those of them holding an unrevoked award of any
    credential certifying the course issued by the end of the month, and
    completion_rate = certified_learners / enrolled_learners. Issuer records: not
    suppressed. -#}
with awards as (
    select * from {{ ref('int_credentials__award_facts') }}
    where issued_at is not null and achievement_id is not null
),

credentials as (
    select * from {{ ref('int_credentials__achievements') }}
),

course_credentials as (
    select distinct achievement_id, course_id
    from {{ ref('int_credentials__collection_members') }}
    where course_id is not null
),

enrollments as (
    select * from {{ ref('int_credentials__course_enrollments') }}
),

monthly as (
    select
        achievement_id,
        {{ credential_month('issued_at') }} as issue_month,
        count(*) as awards_issued,
        count(distinct learner_id) as recipients,
        cast(sum(case when status = 'revoked' then 1 else 0 end) as {{ dbt.type_bigint() }}) as revoked,
        cast(sum(case when status = 'expired' then 1 else 0 end) as {{ dbt.type_bigint() }}) as expired,
        cast(sum(case when status = 'active' then 1 else 0 end) as {{ dbt.type_bigint() }}) as active
    from awards
    group by achievement_id, {{ credential_month('issued_at') }}
),

monthly_course as (
    select distinct
        monthly.achievement_id,
        monthly.issue_month,
        {{ dbt.dateadd('month', 1, 'monthly.issue_month') }} as month_end,
        credentials.certified_course_id as course_id
    from monthly
    inner join credentials on monthly.achievement_id = credentials.achievement_id
    where credentials.certified_course_id is not null
),

enrolled as (
    select monthly_course.achievement_id, monthly_course.issue_month, enrollments.learner_id
    from monthly_course
    inner join enrollments
        on monthly_course.course_id = enrollments.course_id
        and (enrollments.enrolled_at is null or enrollments.enrolled_at < monthly_course.month_end)
),

certified as (
    select distinct monthly_course.achievement_id, monthly_course.issue_month, awards.learner_id
    from monthly_course
    inner join course_credentials on monthly_course.course_id = course_credentials.course_id
    inner join awards
        on course_credentials.achievement_id = awards.achievement_id
        and not awards.is_revoked
        and awards.issued_at < monthly_course.month_end
),

completion as (
    select
        enrolled.achievement_id,
        enrolled.issue_month,
        count(distinct enrolled.learner_id) as enrolled_learners,
        count(distinct certified.learner_id) as certified_learners
    from enrolled
    left join certified
        on enrolled.achievement_id = certified.achievement_id
        and enrolled.issue_month = certified.issue_month
        and enrolled.learner_id = certified.learner_id
    group by enrolled.achievement_id, enrolled.issue_month
)

select
    monthly.issue_month,
    credentials.achievement_type,
    monthly.achievement_id,
    credentials.credential_name,
    credentials.issuer_id,
    monthly.awards_issued,
    monthly.recipients,
    monthly.revoked,
    monthly.expired,
    monthly.active,
    credentials.certified_course_id,
    case when credentials.certified_course_id is not null
        then coalesce(completion.enrolled_learners, 0) end as enrolled_learners,
    case when credentials.certified_course_id is not null
        then coalesce(completion.certified_learners, 0) end as certified_learners,
    cast(completion.certified_learners as {{ credential_type_double() }}) / nullif(completion.enrolled_learners, 0)
        as completion_rate
from monthly
inner join credentials on monthly.achievement_id = credentials.achievement_id
left join completion
    on monthly.achievement_id = completion.achievement_id and monthly.issue_month = completion.issue_month
