{#- One row per credential (achievement / badge class): name, type, issuer, the
    collection and position it has there, and the LMS course it certifies. A
    credential in several collections shows the one with the smallest
    collection_id; fct_credential_transitions and mart_learner_flow cover every
    collection. -#}
select
    achievement_id,
    credential_name,
    achievement_type,
    issuer_id,
    issuer_name,
    collection_id,
    collection_name,
    position,
    collection_count,
    certified_course_id
from {{ ref('int_credentials__achievements') }}
