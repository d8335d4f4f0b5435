{#- Verification per credential (CLR containers, which hold no achievement, are
    left out), month of the event, verifier industry, country
    (with region) and verifier organisation. verifier_organization_id is the
    organisation only when it consented on all its events; every other
    organisation is grouped under 'undisclosed'.
      verifications            'verified' events
      verifying_organizations  distinct organisations among them
      hires                    'hired' events
      verification_to_hire_rate  hires / verifications
      verified_credential_verifications / _hires / _verification_to_hire_rate
                               the same, restricted to credentials whose proof is
                               verified (proof_status)
    Counts go through small_cell (var small_cell_k): below k they are null with
    their is_<count>_suppressed flag, and the rate is null when either count is
    suppressed. A restricted count is also suppressed when the rest of its cell
    (all minus restricted) is between 1 and k - 1, so no small count is recoverable
    by subtraction. No total rows (per credential, month, industry or country) are
    published here, so no suppressed cell can be recovered by subtraction. -#}
with events as (
    select
        achievement_id,
        {{ credential_month('occurred_at') }} as event_month,
        verifier_industry,
        verifier_country,
        verifier_region,
        case when is_verifier_disclosed then verifier_organization_id else 'undisclosed' end
            as verifier_organization_id,
        verifier_organization_id as organization_key,
        proof_status,
        event_type
    from {{ ref('int_credentials__events') }}
    where has_award and achievement_id is not null and event_type in ('verified', 'hired')
),

cells as (
    select
        achievement_id,
        event_month,
        verifier_industry,
        verifier_country,
        verifier_region,
        verifier_organization_id,
        cast(sum(case when event_type = 'verified' then 1 else 0 end) as {{ dbt.type_bigint() }}) as verifications,
        count(distinct case when event_type = 'verified' then organization_key end) as verifying_organizations,
        cast(sum(case when event_type = 'hired' then 1 else 0 end) as {{ dbt.type_bigint() }}) as hires,
        cast(sum(case when event_type = 'verified' and proof_status = 'verified' then 1 else 0 end)
            as {{ dbt.type_bigint() }}) as verified_verifications,
        cast(sum(case when event_type = 'hired' and proof_status = 'verified' then 1 else 0 end)
            as {{ dbt.type_bigint() }}) as verified_hires
    from events
    group by achievement_id, event_month, verifier_industry, verifier_country, verifier_region, verifier_organization_id
)

select
    achievement_id,
    event_month,
    verifier_industry,
    verifier_country,
    verifier_region,
    verifier_organization_id,
    {{ small_cell('verifications') }} as verifications,
    {{ small_cell_flag('verifications') }} as is_verifications_suppressed,
    {{ small_cell('verifying_organizations') }} as verifying_organizations,
    {{ small_cell_flag('verifying_organizations') }} as is_verifying_organizations_suppressed,
    {{ small_cell('hires') }} as hires,
    {{ small_cell_flag('hires') }} as is_hires_suppressed,
    case
        when {{ small_cell_flag('verifications') }} or {{ small_cell_flag('hires') }} or verifications = 0 then null
        else cast(hires as {{ credential_type_double() }}) / verifications
    end as verification_to_hire_rate,
    case when {{ restricted_hidden('verified_verifications', 'verifications') }} then null
        else verified_verifications end as verified_credential_verifications,
    {{ restricted_hidden('verified_verifications', 'verifications') }}
        as is_verified_credential_verifications_suppressed,
    case when {{ restricted_hidden('verified_hires', 'hires') }} then null
        else verified_hires end as verified_credential_hires,
    {{ restricted_hidden('verified_hires', 'hires') }} as is_verified_credential_hires_suppressed,
    case
        when {{ restricted_hidden('verified_verifications', 'verifications') }}
            or {{ restricted_hidden('verified_hires', 'hires') }} or verified_verifications = 0 then null
        else cast(verified_hires as {{ credential_type_double() }}) / verified_verifications
    end as verified_credential_verification_to_hire_rate
from cells
