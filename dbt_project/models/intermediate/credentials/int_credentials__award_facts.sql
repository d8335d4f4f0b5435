{{
    config(
        materialized='incremental',
        unique_key='award_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- One row per issued credential, every recipient (the aggregates read it; the published,
    consent-filtered copy is fct_credential_awards). Incremental: a run recomputes the awards whose
    inputs changed since the last run (changed_at later than the newest one already
    here, minus var credential_lookback_days for late arrivals) and the awards whose
    status differs as of the new run date; every recomputed row is built from the
    whole history of its award, so the table equals a full refresh. The recipient
    is the pseudonymous learner_id; account_id is the recipient's LMS account.
    proof_status / proof_detail: the proof verification (docs/credentials_input.md);
    is_attributed false: no recipient (learner_id is then a per-award pseudonym). -#}
with awards as (
    select * from {{ ref('int_credentials__awards') }}
)

{% if is_incremental() %}
, changed as (
    select award_id from awards
    where changed_at >= {{ credential_watermark(this) }}
    union
    select award_id from {{ this }}
    where status <> {{ credential_award_status('is_revoked', 'revoked_at', 'expires_at') }}
)
{% endif %}

select
    awards.award_id,
    awards.learner_id,
    awards.account_id,
    awards.is_lms_matched,
    awards.achievement_id,
    awards.achievement_type,
    awards.issuer_id,
    awards.source_format,
    awards.parent_award_id,
    awards.issued_at,
    awards.expires_at,
    awards.is_revoked,
    awards.revoked_at,
    awards.revocation_reason,
    awards.status,
    awards.accepted_at,
    awards.proof_status,
    awards.proof_detail,
    awards.is_attributed,
    awards.conformance_problem,
    awards.changed_at
from awards
{% if is_incremental() %}
where awards.award_id in (select award_id from changed)
{% endif %}
