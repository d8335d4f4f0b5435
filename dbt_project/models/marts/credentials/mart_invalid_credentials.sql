{#- The credentials whose proof is invalid (tampered, wrong key, bad value), for the
    programme manager to follow up with the issuer. Pseudonymous: the award is
    award_key (the pseudonymised award id: whoever holds the pseudonym key can find
    it in the raw layer), the recipient its learner_id; no email, no award IRI.
    proof_detail says what failed (it names keys and proof types, never the
    recipient). Only awards of recipients whose detailed_tracking consent holds at
    publication time (docs/privacy.md, "Consent"); mart_credential_trust counts every
    invalid award. -#}
select
    {{ pseudonymise("concat('award:', award_id)") }} as award_key,
    awards.learner_id,
    awards.is_attributed,
    awards.achievement_id,
    credentials.credential_name,
    awards.issuer_id,
    awards.source_format,
    awards.issued_at,
    awards.status,
    awards.proof_detail
from {{ ref('int_credentials__award_facts') }} as awards
left join {{ ref('int_credentials__achievements') }} as credentials
    on awards.achievement_id = credentials.achievement_id
where awards.proof_status = 'invalid' and {{ consent_holds('awards.learner_id') }}
