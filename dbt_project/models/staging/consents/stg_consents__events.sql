{#- The recipients' consent history (landing/consents, docs/privacy.md "Consent"), one
    row per event. Ingestion already normalised the subject (subject_type user_id |
    email | recipient_identity; emails lower-cased without mailto:, hashed
    identities lower-cased), the scope (lower-cased) and the action, and keeps one row
    per event_key, so nothing is re-derived here. Holds identifiers in the clear: not
    published. -#}
with source as (
    select * from {{ source('raw', 'consent_events') }}
)

select
    event_key,
    subject_type,
    subject,
    scope,
    scope in {{ consent_known_scopes() }} as is_known_scope,
    action,
    occurred_at,
    consent_source,
    loaded_at
from source
