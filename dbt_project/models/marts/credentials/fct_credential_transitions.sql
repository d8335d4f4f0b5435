{#- One row per credential a recipient whose detailed_tracking consent holds at
    publication time earned within a collection (docs/privacy.md, "Consent"):
    the published, recipient-level copy of int_credentials__transition_facts, which keeps every row for the
    aggregates. Rebuilt in full on every run, so a withdrawal removes the recipient's rows
    on the next run. -#}
select
    collection_id,
    learner_id,
    account_id,
    achievement_id,
    award_id,
    position,
    issued_at,
    sequence_number,
    previous_achievement_id,
    next_achievement_id,
    entry_type,
    exit_type,
    days_since_previous,
    days_to_next,
    changed_at
from {{ ref('int_credentials__transition_facts') }}
where {{ consent_holds('learner_id') }}
