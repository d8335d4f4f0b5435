{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- One row per credential lifecycle event (a re-delivered event_id counts once), every
    recipient (the aggregates read it; the published, consent-filtered copy is
    fct_credential_events).
    The verifier's organisation shows only when it consented on all its events;
    otherwise only industry, country and region. Events whose credential_id matches
    no award are kept (has_award = false; credential and recipient null).
    Incremental: recomputes the events loaded, or whose award or verifier changed,
    since the newest changed_at here minus var credential_lookback_days. -#}
with events as (
    select * from {{ ref('int_credentials__events') }}
    {% if is_incremental() %}
    where changed_at >= {{ credential_watermark(this) }}
    {% endif %}
)

select
    event_id,
    event_type,
    occurred_at,
    {{ credential_month('occurred_at') }} as event_month,
    award_id,
    has_award,
    achievement_id,
    learner_id,
    account_id,
    channel,
    verifier_industry,
    verifier_country,
    verifier_region,
    case when is_verifier_disclosed then verifier_organization_id end as verifier_organization_id,
    changed_at
from events
