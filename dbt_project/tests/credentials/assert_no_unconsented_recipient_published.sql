{{ config(meta={'dagster': {'ref': {'name': 'mart_recipient_credentials'}}}) }}
-- A recipient-level mart (one that is published with a recipient's learner_id) holds
-- rows only of recipients whose detailed_tracking consent holds at publication time
-- (int_credentials__recipient_consent; docs/privacy.md "Consent"). Returns every row
-- that breaks this: a non-consenting recipient, a learner_id that is no recipient at
-- all, or (unless consent is assumed) a row without a recipient.
with consenting as (
    select learner_id from {{ ref('int_credentials__recipient_consent') }} where has_detailed_tracking
),

published as (
    select 'fct_credential_awards' as mart, learner_id from {{ ref('fct_credential_awards') }}
    union all
    select 'fct_credential_events' as mart, learner_id from {{ ref('fct_credential_events') }}
    union all
    select 'fct_credential_transitions' as mart, learner_id from {{ ref('fct_credential_transitions') }}
    union all
    select 'mart_recipient_credentials' as mart, learner_id from {{ ref('mart_recipient_credentials') }}
    union all
    select 'mart_invalid_credentials' as mart, learner_id from {{ ref('mart_invalid_credentials') }}
)

select mart, learner_id
from published
where not coalesce(learner_id in (select learner_id from consenting), false)
{%- if consent_default() == 'assumed' %}
    and learner_id is not null
{%- endif %}
