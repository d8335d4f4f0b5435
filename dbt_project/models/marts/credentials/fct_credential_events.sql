{#- One row per credential lifecycle event on an award of a recipient whose
    detailed_tracking consent holds at publication time (docs/privacy.md, "Consent"):
    the published, recipient-level copy of int_credentials__event_facts, which keeps every row for the
    aggregates. Rebuilt in full on every run, so a withdrawal removes the recipient's rows
    on the next run. -#}
select
    event_id,
    event_type,
    occurred_at,
    event_month,
    award_id,
    has_award,
    achievement_id,
    learner_id,
    account_id,
    channel,
    verifier_industry,
    verifier_country,
    verifier_region,
    verifier_organization_id,
    changed_at
from {{ ref('int_credentials__event_facts') }}
where {{ consent_holds('learner_id') }}
