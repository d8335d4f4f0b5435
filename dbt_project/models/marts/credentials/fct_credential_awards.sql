{#- One row per issued credential of a recipient whose detailed_tracking consent holds at
    publication time (docs/privacy.md, "Consent"):
    the published, recipient-level copy of int_credentials__award_facts, which keeps every row for the
    aggregates. Rebuilt in full on every run, so a withdrawal removes the recipient's rows
    on the next run. -#}
select
    award_id,
    learner_id,
    account_id,
    is_lms_matched,
    achievement_id,
    achievement_type,
    issuer_id,
    source_format,
    parent_award_id,
    issued_at,
    expires_at,
    is_revoked,
    revoked_at,
    revocation_reason,
    status,
    accepted_at,
    proof_status,
    proof_detail,
    is_attributed,
    conformance_problem,
    changed_at
from {{ ref('int_credentials__award_facts') }}
where {{ consent_holds('learner_id') }}
