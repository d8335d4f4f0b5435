{{
    config(
        materialized='incremental',
        unique_key=['recipient_salt', 'recipient_identity'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=(var('rehash_recipients', false) | string | lower == 'true')
    )
}}
{#- Match cache of salted recipient hashes: one row per distinct (recipient_salt,
    recipient_identity) of the awards whose identity is 'sha256$<hex>', with the
    LMS email that hashes to it (matched_email; null while none does).

    A salted hash cannot be looked up, only recomputed: sha256(email || salt) for
    every user email and every salt. That fact never becomes false, so each pair is
    hashed once: a new pair against every user with an email, a pair still without a
    match again only against the users loaded after checked_through (the newest
    stg_lms__users.loaded_at it was checked against; a user whose email is new is a
    user whose row is new), minus credential_lookback_days. A matched pair is final.
    checked_at is the dbt run that last (re)checked the pair.

    full_refresh=false: `--full-refresh` keeps this table (dbt's full_refresh config
    overrides the flag), so rebuilding int_credentials__recipients and the facts
    costs no hashing. To hash everything again (the matching rule changed), run with
    --vars '{rehash_recipients: true}' (docs/metrics.md). Pairs whose awards
    disappear stay (harmless: they are only looked up). -#}
with award_pairs as (
    select distinct recipient_salt, recipient_identity
    from {{ ref('stg_credentials__awards') }}
    -- lower-case in staging; is_recipient_hashed without this prefix never matches
    where recipient_identity like 'sha256$%'
),

-- one row per email: it is new since a time if any user row with it is
user_emails as (
    select email, max(loaded_at) as loaded_at
    from {{ ref('stg_lms__users') }}
    where email is not null
    group by email
),

users_through as (
    select max(loaded_at) as loaded_through from user_emails
),

{% if is_incremental() %}
new_pairs as (
    select
        award_pairs.recipient_salt,
        award_pairs.recipient_identity,
        cast(null as {{ dbt.type_timestamp() }}) as checked_through
    from award_pairs
    left join {{ this }} as known
        on award_pairs.recipient_salt = known.recipient_salt
        and award_pairs.recipient_identity = known.recipient_identity
    where known.recipient_identity is null
),

-- unmatched pairs with users loaded after they were last checked
waiting_pairs as (
    select recipient_salt, recipient_identity, checked_through
    from {{ this }}
    where matched_email is null
        and (select loaded_through from users_through) > {{ credential_recheck_since('checked_through') }}
),

to_check as (
    select * from new_pairs
    union all
    select * from waiting_pairs
),
{% else %}
to_check as (
    select recipient_salt, recipient_identity, cast(null as {{ dbt.type_timestamp() }}) as checked_through
    from award_pairs
),
{% endif %}

-- per salt, the emails some pair of that salt has not been hashed against yet
salt_since as (
    select recipient_salt, min({{ credential_recheck_since('checked_through') }}) as since
    from to_check
    group by recipient_salt
),

digests as (
    select
        salt_since.recipient_salt,
        user_emails.email,
        -- lower-case hex in every engine; compared with the identity after its
        -- 'sha256$' prefix, so the salts x emails side computes only the digest
        {{ sha256_hex('concat(user_emails.email, salt_since.recipient_salt)') }} as digest
    from salt_since
    inner join user_emails on user_emails.loaded_at > salt_since.since
),

found as (
    select to_check.recipient_salt, to_check.recipient_identity, min(digests.email) as matched_email
    from to_check
    inner join digests
        on to_check.recipient_salt = digests.recipient_salt
        and substr(to_check.recipient_identity, 8) = digests.digest
    group by to_check.recipient_salt, to_check.recipient_identity
)

select
    to_check.recipient_salt,
    to_check.recipient_identity,
    found.matched_email,
    (select loaded_through from users_through) as checked_through,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as checked_at
from to_check
left join found
    on to_check.recipient_salt = found.recipient_salt
    and to_check.recipient_identity = found.recipient_identity
