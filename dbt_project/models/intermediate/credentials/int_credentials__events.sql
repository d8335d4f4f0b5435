{{ config(materialized='view') }}
{#- Every lifecycle event with its award (credential, recipient, issue time), the
    share channel normalised (seed share_channels; unknown channels are 'other'),
    the verifier's industry and country ('unknown' when not given) with the
    region (seed country_regions), and whether the verifier organisation may be
    shown: only when that organisation consented on every one of its events (one
    event without consent hides it everywhere). verifier_organization_id itself
    stays here for distinct counts; the marts publish it only when disclosed. -#}
with events as (
    select * from {{ ref('stg_credential_events__events') }}
),

awards as (
    select award_id, achievement_id, learner_id, account_id, issued_at, proof_status, changed_at
    from {{ ref('int_credentials__awards') }}
),

channels as (
    select channel_alias, channel from {{ ref('share_channels') }}
),

countries as (
    select country_code, region from {{ ref('country_regions') }}
),

organizations as (
    select
        verifier_organization_id,
        min(case when is_verifier_consented then 1 else 0 end) = 1 as is_disclosed,
        max(loaded_at) as loaded_at
    from events
    where verifier_organization_id is not null
    group by verifier_organization_id
)

select
    events.event_id,
    events.event_type,
    events.occurred_at,
    events.award_id,
    awards.award_id is not null as has_award,
    awards.achievement_id,
    awards.learner_id,
    awards.account_id,
    awards.issued_at,
    awards.proof_status,
    case when events.event_type = 'shared' then coalesce(channels.channel, 'other') end as channel,
    case when events.verifier_organization_id is not null or events.event_type in ('verified', 'hired')
        then coalesce(events.verifier_industry, 'unknown') end as verifier_industry,
    case when events.verifier_organization_id is not null or events.event_type in ('verified', 'hired')
        then coalesce(events.verifier_country, 'unknown') end as verifier_country,
    case when events.verifier_organization_id is not null or events.event_type in ('verified', 'hired')
        then coalesce(countries.region, 'unknown') end as verifier_region,
    events.verifier_organization_id,
    coalesce(organizations.is_disclosed, false) as is_verifier_disclosed,
    events.loaded_at,
    greatest(
        events.loaded_at,
        coalesce(awards.changed_at, events.loaded_at),
        coalesce(organizations.loaded_at, events.loaded_at)
    ) as changed_at
from events
left join awards on events.award_id = awards.award_id
left join channels on events.channel = channels.channel_alias
left join countries on events.verifier_country = countries.country_code
left join organizations on events.verifier_organization_id = organizations.verifier_organization_id
