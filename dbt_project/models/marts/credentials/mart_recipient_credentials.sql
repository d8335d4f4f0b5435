{#- The recipient view: one row per recipient (pseudonymous learner_id) and
    credential held: how many awards of it, first and latest issue, the latest
    award's expiry and status as of the run date, and the views, shares and
    verifications recorded on the recipient's awards of it. Only pseudonymous ids:
    no email, no name, no award IRI, no verifier. account_id is the recipient's
    LMS account (null when the recipient has none). proof_status is the latest
    award's proof verification. Unattributed awards (no recipient) are left out, and
    so is every recipient whose detailed_tracking consent does not hold at publication
    time (docs/privacy.md, "Consent"). -#}
with awards as (
    select * from {{ ref('int_credentials__award_facts') }}
    where achievement_id is not null and is_attributed and {{ consent_holds('learner_id') }}
),

latest as (
    select * from (
        select
            awards.*,
            row_number() over (
                partition by learner_id, achievement_id order by issued_at desc, award_id desc
            ) as _rank
        from awards
    ) as ranked
    where _rank = 1
),

per_credential as (
    select
        learner_id,
        achievement_id,
        count(*) as awards,
        min(issued_at) as first_issued_at,
        max(issued_at) as latest_issued_at,
        max(account_id) as account_id
    from awards
    group by learner_id, achievement_id
),

event_counts as (
    select
        awards.learner_id,
        awards.achievement_id,
        cast(sum(case when events.event_type = 'viewed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as views,
        cast(sum(case when events.event_type = 'shared' then 1 else 0 end) as {{ dbt.type_bigint() }}) as shares,
        cast(sum(case when events.event_type = 'verified' then 1 else 0 end) as {{ dbt.type_bigint() }}) as verifications
    from awards
    inner join {{ ref('int_credentials__event_facts') }} as events on awards.award_id = events.award_id
    group by awards.learner_id, awards.achievement_id
)

select
    per_credential.learner_id,
    per_credential.account_id,
    per_credential.achievement_id,
    credentials.credential_name,
    credentials.achievement_type,
    per_credential.awards,
    per_credential.first_issued_at,
    per_credential.latest_issued_at,
    latest.expires_at,
    latest.status,
    latest.proof_status,
    coalesce(event_counts.views, 0) as views,
    coalesce(event_counts.shares, 0) as shares,
    coalesce(event_counts.verifications, 0) as verifications
from per_credential
inner join latest
    on per_credential.learner_id = latest.learner_id and per_credential.achievement_id = latest.achievement_id
left join {{ ref('int_credentials__achievements') }} as credentials
    on per_credential.achievement_id = credentials.achievement_id
left join event_counts
    on per_credential.learner_id = event_counts.learner_id
    and per_credential.achievement_id = event_counts.achievement_id
