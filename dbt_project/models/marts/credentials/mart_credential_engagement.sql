{%- set channels = ['linkedin', 'facebook', 'x', 'email', 'link', 'other'] -%}
{#- Engagement per credential and issue month (the cohort of awards issued that
    month), over all events recorded for those awards:
      awards_issued, recipients       the issuer's records (not suppressed)
      accepted / acceptance_rate      awards accepted (claimed) / awards_issued
      viewed / view_rate              awards viewed at least once / awards_issued
      shared / share_rate             awards shared at least once / awards_issued
      shares_<channel>                share events per channel (seed share_channels)
      added_to_profile / profile_add_rate   awards added to a profile / awards_issued
      downloads                       download events
      re_engaged_recipients / re_engagement_rate
                                      recipients whose engagement events (seed
                                      credential_event_types.is_recipient_engagement)
                                      on these awards, at or after issue, fall in two
                                      or more distinct calendar months / recipients
    Every behavioural count goes through small_cell (var small_cell_k): below k it
    is null and its is_<count>_suppressed flag is true, and a rate built on it is
    null. The mart publishes no total of suppressible cells (no all-channel share
    total, no all-month or all-credential rows), so nothing suppressed can be
    recovered by subtraction. -#}
with awards as (
    select
        award_id,
        achievement_id,
        learner_id,
        issued_at,
        accepted_at,
        {{ credential_month('issued_at') }} as issue_month
    from {{ ref('int_credentials__award_facts') }}
    where issued_at is not null and achievement_id is not null
),

events as (
    select award_id, event_type, channel, occurred_at
    from {{ ref('int_credentials__event_facts') }}
    where has_award
),

engagement_types as (
    select event_type from {{ ref('credential_event_types') }} where is_recipient_engagement
),

per_award as (
    select
        awards.award_id,
        awards.achievement_id,
        awards.issue_month,
        max(case when awards.accepted_at is not null then 1 else 0 end) as is_accepted,
        max(case when events.event_type = 'viewed' then 1 else 0 end) as is_viewed,
        max(case when events.event_type = 'shared' then 1 else 0 end) as is_shared,
        max(case when events.event_type = 'added_to_profile' then 1 else 0 end) as is_added_to_profile,
        cast(sum(case when events.event_type = 'downloaded' then 1 else 0 end) as {{ dbt.type_bigint() }}) as downloads,
        {%- for channel in channels %}
        cast(sum(case when events.event_type = 'shared' and events.channel = '{{ channel }}' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as shares_{{ channel }}{{ ',' if not loop.last }}
        {%- endfor %}
    from awards
    left join events on awards.award_id = events.award_id
    group by awards.award_id, awards.achievement_id, awards.issue_month
),

recipient_months as (
    select
        awards.achievement_id,
        awards.issue_month,
        awards.learner_id,
        count(distinct {{ credential_month('events.occurred_at') }}) as engaged_months
    from awards
    inner join events on awards.award_id = events.award_id
    inner join engagement_types on events.event_type = engagement_types.event_type
    where events.occurred_at >= awards.issued_at
    group by awards.achievement_id, awards.issue_month, awards.learner_id
),

re_engaged as (
    select achievement_id, issue_month, count(*) as re_engaged_recipients
    from recipient_months
    where engaged_months >= 2
    group by achievement_id, issue_month
),

recipients as (
    select achievement_id, issue_month, count(distinct learner_id) as recipients
    from awards
    group by achievement_id, issue_month
),

cohorts as (
    select
        per_award.achievement_id,
        per_award.issue_month,
        count(*) as awards_issued,
        max(recipients.recipients) as recipients,
        cast(sum(per_award.is_accepted) as {{ dbt.type_bigint() }}) as accepted,
        cast(sum(per_award.is_viewed) as {{ dbt.type_bigint() }}) as viewed,
        cast(sum(per_award.is_shared) as {{ dbt.type_bigint() }}) as shared,
        cast(sum(per_award.is_added_to_profile) as {{ dbt.type_bigint() }}) as added_to_profile,
        cast(sum(per_award.downloads) as {{ dbt.type_bigint() }}) as downloads,
        {%- for channel in channels %}
        cast(sum(per_award.shares_{{ channel }}) as {{ dbt.type_bigint() }}) as shares_{{ channel }},
        {%- endfor %}
        coalesce(max(re_engaged.re_engaged_recipients), 0) as re_engaged_recipients
    from per_award
    inner join recipients
        on per_award.achievement_id = recipients.achievement_id and per_award.issue_month = recipients.issue_month
    left join re_engaged
        on per_award.achievement_id = re_engaged.achievement_id and per_award.issue_month = re_engaged.issue_month
    group by per_award.achievement_id, per_award.issue_month
)

select
    achievement_id,
    issue_month,
    awards_issued,
    recipients,
    {{ small_cell('accepted') }} as accepted,
    {{ small_cell_flag('accepted') }} as is_accepted_suppressed,
    {{ small_cell_rate('accepted', 'awards_issued') }} as acceptance_rate,
    {{ small_cell('viewed') }} as viewed,
    {{ small_cell_flag('viewed') }} as is_viewed_suppressed,
    {{ small_cell_rate('viewed', 'awards_issued') }} as view_rate,
    {{ small_cell('shared') }} as shared,
    {{ small_cell_flag('shared') }} as is_shared_suppressed,
    {{ small_cell_rate('shared', 'awards_issued') }} as share_rate,
    {%- for channel in channels %}
    {{ small_cell('shares_' ~ channel) }} as shares_{{ channel }},
    {{ small_cell_flag('shares_' ~ channel) }} as is_shares_{{ channel }}_suppressed,
    {%- endfor %}
    {{ small_cell('added_to_profile') }} as added_to_profile,
    {{ small_cell_flag('added_to_profile') }} as is_added_to_profile_suppressed,
    {{ small_cell_rate('added_to_profile', 'awards_issued') }} as profile_add_rate,
    {{ small_cell('downloads') }} as downloads,
    {{ small_cell_flag('downloads') }} as is_downloads_suppressed,
    {{ small_cell('re_engaged_recipients') }} as re_engaged_recipients,
    {{ small_cell_flag('re_engaged_recipients') }} as is_re_engaged_recipients_suppressed,
    {{ small_cell_rate('re_engaged_recipients', 'recipients') }} as re_engagement_rate
from cohorts
