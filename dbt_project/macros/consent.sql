{#- Recipient consent (docs/privacy.md, "Consent"). -#}

{#- SKILLPATH_CONSENT_DEFAULT, passed by the pipeline (skillpath/config.py): 'required'
    (the default: a recipient without a detailed_tracking event is not tracked in
    detail) or 'assumed' (a deployment that collects no consent: everyone is, until
    they withdraw). -#}
{% macro consent_default() -%}
    {%- set value = env_var('SKILLPATH_CONSENT_DEFAULT', 'required') | trim | lower -%}
    {%- if value not in ('required', 'assumed') -%}
        {{ exceptions.raise_compiler_error("SKILLPATH_CONSENT_DEFAULT must be 'required' or 'assumed', got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- The scopes docs/privacy.md documents; other scopes load and are used by nothing. -#}
{% macro consent_known_scopes() -%}
    ('detailed_tracking', 'share_with_employers')
{%- endmacro %}

{#- Publication time, the instant consent is evaluated at: the end of var as_of_date
    when the run pins it (SKILLPATH_AS_OF_DATE, as the credential statuses), else now
    (UTC; the raw layer's timestamps are naive UTC). -#}
{% macro consent_as_of() -%}
    {%- if var('as_of_date', none) -%}
    {{ credential_as_of_end() }}
    {%- else -%}
    {{ adapter.dispatch('consent_now_utc', 'skillpath')() }}
    {%- endif -%}
{%- endmacro %}
{% macro default__consent_now_utc() -%}
    cast(timezone('UTC', current_timestamp) as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro spark__consent_now_utc() -%}
    to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}

{#- Whether a row of recipient `learner_id` may be published in a recipient-level mart:
    their detailed_tracking consent holds at publication time
    (int_credentials__recipient_consent). A row without a recipient (learner_id null:
    an event whose credential matches no award) is published only when consent is
    assumed: under 'required' nobody can have consented to it. -#}
{% macro consent_holds(learner_id) -%}
    ({{ learner_id }} in (
        select learner_id from {{ ref('int_credentials__recipient_consent') }} where has_detailed_tracking
    ){% if consent_default() == 'assumed' %} or {{ learner_id }} is null{% endif %})
{%- endmacro %}

{#- Whether an LMS learner's credential detail (certified, credentials held, their rank by
    them: mart_learner_course_progress) may be published: under 'required' only for a
    recipient whose detailed_tracking consent holds; under 'assumed' for everyone but a
    recipient who withdrew. A learner who holds no credential is shown by the same rule, so
    a hidden value never tells whether there was a credential to hide. -#}
{% macro credential_detail_holds(learner_id) -%}
    {%- if consent_default() == 'assumed' -%}
    ({{ learner_id }} not in (
        select learner_id from {{ ref('int_credentials__recipient_consent') }}
        where not has_detailed_tracking and learner_id is not null
    ))
    {%- else -%}
    {{ consent_holds(learner_id) }}
    {%- endif -%}
{%- endmacro %}
