{#- Trust in the credentials per issuer and collection: how many awards carry a
    verified proof, and how many are invalid, unverifiable or unsigned
    (proof_status, docs/credentials_input.md). One row per issuer_id and
    collection_id; collection_id is null for credentials in no collection (and
    for CLR containers, which hold no achievement). A credential in several
    collections counts in each of them, so rows of one issuer do not add up to
    its awards; issuer_awards / issuer_verified_share give the issuer's own total
    on every row. Unattributed awards (no recipient) count. Issuer records: not
    suppressed. -#}
with awards as (
    select award_id, achievement_id, issuer_id, proof_status, is_attributed
    from {{ ref('int_credentials__award_facts') }}
),

members as (
    select distinct collection_id, collection_name, achievement_id
    from {{ ref('int_credentials__collection_members') }}
),

placed as (
    select
        awards.*,
        members.collection_id,
        members.collection_name
    from awards
    left join members on awards.achievement_id = members.achievement_id
),

issuers as (
    select
        issuer_id,
        count(*) as issuer_awards,
        cast(sum(case when proof_status = 'verified' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as issuer_verified
    from awards
    group by issuer_id
),

cells as (
    select
        issuer_id,
        collection_id,
        max(collection_name) as collection_name,
        count(*) as awards,
        cast(sum(case when proof_status = 'verified' then 1 else 0 end) as {{ dbt.type_bigint() }}) as verified,
        cast(sum(case when proof_status = 'invalid' then 1 else 0 end) as {{ dbt.type_bigint() }}) as invalid,
        cast(sum(case when proof_status = 'unverifiable' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as unverifiable,
        cast(sum(case when proof_status = 'unsigned' then 1 else 0 end) as {{ dbt.type_bigint() }}) as unsigned,
        cast(sum(case when is_attributed then 0 else 1 end) as {{ dbt.type_bigint() }}) as unattributed
    from placed
    group by issuer_id, collection_id
)

select
    cells.issuer_id,
    cells.collection_id,
    cells.collection_name,
    cells.awards,
    cells.verified,
    cells.invalid,
    cells.unverifiable,
    cells.unsigned,
    cells.unattributed,
    cast(cells.verified as {{ credential_type_double() }}) / cells.awards as verified_share,
    issuers.issuer_awards,
    cast(issuers.issuer_verified as {{ credential_type_double() }}) / issuers.issuer_awards
        as issuer_verified_share
from cells
inner join issuers
    on cells.issuer_id = issuers.issuer_id or (cells.issuer_id is null and issuers.issuer_id is null)
