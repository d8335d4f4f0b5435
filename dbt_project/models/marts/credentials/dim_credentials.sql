{#- One row per credential (achievement / badge class): name, type, issuer, the
    collection and position it has there, and the LMS course it certifies. A
    credential in several collections shows the one with the smallest
    collection_id; fct_credential_transitions and mart_learner_flow cover every
    collection. awards / verified_awards / verified_share: its awards and how many
    of them carry a verified proof (docs/credentials_input.md). -#}
with proofs as (
    select
        achievement_id,
        count(*) as awards,
        cast(sum(case when proof_status = 'verified' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as verified_awards
    from {{ ref('int_credentials__awards') }}
    where achievement_id is not null
    group by achievement_id
)

select
    credentials.achievement_id,
    credentials.credential_name,
    credentials.achievement_type,
    credentials.issuer_id,
    credentials.issuer_name,
    credentials.collection_id,
    credentials.collection_name,
    credentials.position,
    credentials.collection_count,
    credentials.certified_course_id,
    coalesce(proofs.awards, 0) as awards,
    coalesce(proofs.verified_awards, 0) as verified_awards,
    case
        when coalesce(proofs.awards, 0) = 0 then null
        else cast(proofs.verified_awards as {{ credential_type_double() }}) / proofs.awards
    end as verified_share
from {{ ref('int_credentials__achievements') }} as credentials
left join proofs on credentials.achievement_id = proofs.achievement_id
