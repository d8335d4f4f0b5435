{{ config(materialized='view') }}
{#- Every award with what the other sources say about it: the recipient's
    learner_id and account, revocation (the document's own flag, which ingestion
    also sets from OB 2.0 revocation lists and OB 3.0 credentialStatus, or a
    'revoked' event, which also gives revoked_at and a reason), acceptance, and the
    proof verification (proof_status: verified | invalid | unverifiable | unsigned,
    from stg_credentials__verifications; an award without a verification row, loaded
    before verification existed, is unverifiable), whether it has a recipient
    (is_attributed: false for an Open Badges 3.0 / CLR credential without any
    recipient, loaded with its conformance_problem), and the
    status as of the run date (var as_of_date):
      revoked  revoked, and the revocation (when dated) happened by the end of the run date
      expired  otherwise, expires_at is before the end of the run date
      active   otherwise
    changed_at is the latest load time of anything that went into the row; the
    incremental facts use it to find what to recompute. -#}
with awards as (
    select * from {{ ref('stg_credentials__awards') }}
),

recipients as (
    select * from {{ ref('int_credentials__recipients') }}
),

verifications as (
    select * from {{ ref('stg_credentials__verifications') }}
),

award_events as (
    select
        award_id,
        min(case when event_type = 'revoked' then occurred_at end) as revoked_at,
        min(case when event_type = 'accepted' then occurred_at end) as accepted_at,
        max(case when event_type = 'revoked' then reason end) as revocation_reason,
        max(loaded_at) as loaded_at
    from {{ ref('stg_credential_events__events') }}
    where event_type in ('revoked', 'accepted')
    group by award_id
),

joined as (
    select
        awards.award_id,
        awards.source_format,
        awards.parent_award_id,
        awards.achievement_id,
        awards.achievement_name,
        coalesce(awards.achievement_type, 'Badge') as achievement_type,
        awards.issuer_id,
        awards.issuer_name,
        recipients.learner_id,
        recipients.unmatched_learner_id,
        recipients.user_id,
        recipients.account_id,
        recipients.is_lms_matched,
        awards.issued_at,
        awards.expires_at,
        (
            awards.is_revoked_in_document
            or award_events.revoked_at is not null
        ) as is_revoked,
        award_events.revoked_at,
        coalesce(awards.revocation_reason, award_events.revocation_reason) as revocation_reason,
        award_events.accepted_at,
        coalesce(verifications.proof_status, 'unverifiable') as proof_status,
        coalesce(verifications.proof_detail, 'no verification recorded (loaded before proof verification)')
            as proof_detail,
        awards.recipient_identity is not null as is_attributed,
        awards.conformance_problem,
        awards.loaded_at,
        greatest(
            awards.loaded_at,
            coalesce(award_events.loaded_at, awards.loaded_at),
            coalesce(verifications.loaded_at, awards.loaded_at),
            recipients.changed_at
        ) as changed_at
    from awards
    inner join recipients on awards.award_id = recipients.award_id
    left join award_events on awards.award_id = award_events.award_id
    left join verifications on awards.award_id = verifications.award_id
)

select
    joined.*,
    {{ credential_award_status('is_revoked', 'revoked_at', 'expires_at') }} as status
from joined
