{#- Every credential recipient (learner_id of int_credentials__recipients) and whether
    their detailed_tracking consent holds at publication time (macro consent_as_of:
    the end of the run date when it is pinned, else now), docs/privacy.md "Consent".

    A consent event names its subject by LMS user id, email or recipient identity
    (stg_consents__events). It concerns a recipient when
      user_id             = the LMS user's user_id (learner_id = pseudonymise(user_id)),
      email               = the LMS user's (lower-cased) email, or a recipient identity
                            of one of the recipient's awards (plain-email identities
                            are stored lower-cased, as consent emails are),
      recipient_identity  = a recipient identity of one of the recipient's awards
                            (a 'sha256$...' hash with its salt, a DID, a URL),
                            compared case-insensitively as staging lower-cases
                            every award identity (a did:key is sent mixed-case).
    A hashed award identity that matched an LMS user belongs to that user's
    learner_id, so the user's email covers it too; one that matched nobody is covered
    only by its own identity (the email is not hashed against every salt).

    The state is the recipient's latest event at or before publication time, over all
    the names it has; events at the same instant: withdrawn wins (the safe reading of
    a contradiction), then the event_key (only for determinism). No event: the
    deployment's default (SKILLPATH_CONSENT_DEFAULT: required -> no, assumed -> yes).
    Rebuilt in full on every run (a table), so a withdrawal delivered today removes the
    recipient from every recipient-level mart on the next run. -#}
with events as (
    select event_key, subject_type, subject, action, occurred_at
    from {{ ref('stg_consents__events') }}
    where scope = 'detailed_tracking' and occurred_at <= {{ consent_as_of() }}
),

recipients as (
    select distinct learner_id from {{ ref('int_credentials__recipients') }}
),

users as (
    select user_id, learner_id, email from {{ ref('stg_lms__users') }}
),

award_identities as (
    select distinct recipients.learner_id, awards.recipient_identity
    from {{ ref('stg_credentials__awards') }} as awards
    inner join {{ ref('int_credentials__recipients') }} as recipients on awards.award_id = recipients.award_id
    where awards.recipient_identity is not null
),

person_events as (
    select users.learner_id, events.event_key, events.action, events.occurred_at
    from events inner join users on events.subject_type = 'user_id' and events.subject = users.user_id
    union
    select users.learner_id, events.event_key, events.action, events.occurred_at
    from events inner join users on events.subject_type = 'email' and events.subject = users.email
    union
    select award_identities.learner_id, events.event_key, events.action, events.occurred_at
    from events inner join award_identities
        on events.subject_type in ('email', 'recipient_identity')
        -- award identities are lower-cased in staging (emails, hashes, DIDs, URLs alike)
        and lower(events.subject) = award_identities.recipient_identity
),

latest as (
    select * from (
        select
            person_events.*,
            row_number() over (
                partition by learner_id
                order by occurred_at desc, case when action = 'withdrawn' then 0 else 1 end, event_key
            ) as _rank
        from person_events
    ) as ranked
    where _rank = 1
)

select
    recipients.learner_id,
    latest.action as consent_action,
    latest.occurred_at as consent_decided_at,
    coalesce(latest.action = 'granted', {{ 'true' if consent_default() == 'assumed' else 'false' }})
        as has_detailed_tracking
from recipients
left join latest on recipients.learner_id = latest.learner_id
