{{ config(meta={'dagster': {'ref': {'name': 'mart_credential_verification'}}}) }}
-- A verifier organisation appears in a published mart only when it consented on
-- every one of its events. Returns organisation ids that break this.
with unconsented as (
    select distinct verifier_organization_id
    from {{ ref('stg_credential_events__events') }}
    where verifier_organization_id is not null and not is_verifier_consented
)

select 'fct_credential_events' as mart, verifier_organization_id
from {{ ref('fct_credential_events') }}
where verifier_organization_id in (select verifier_organization_id from unconsented)
union all
select 'mart_credential_verification' as mart, verifier_organization_id
from {{ ref('mart_credential_verification') }}
where verifier_organization_id in (select verifier_organization_id from unconsented)
