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

    A salted hash cannot be looked up, only recomputed: sha256(email || salt). That
    fact never becomes false, so each pair is checked once: a new pair against every
    user with an email, a pair still without a match again only against the users
    loaded after checked_through (the newest stg_lms__users.loaded_at it was checked
    against; a user whose email is new is a user whose row is new), minus
    credential_lookback_days. A matched pair is final. checked_at is the dbt run that
    last (re)checked the pair.

    "Against every user" is done in passes, each only for the pairs no earlier pass
    matched, so most pairs are hashed with a few emails instead of all of them:
      1  each pair with the emails of its awards' plausible recipients: users enrolled
         in a course the credential certifies (collections; for a CLR, the credentials
         nested in it), and the plain-email recipients of the same document (a CLR
         and its nested credentials);
      2  each pair with the emails of the users of the LMS accounts owning a course of
         the credential's collections (pathways);
      3  per salt of the pairs still unmatched, every email.
    Passes 1 and 2 hash per pair and are only for salts of a single pair to check; a
    salt of several pairs (an issuer's fixed salt, the empty one) goes to pass 3 at
    once, where each email is hashed once for all its pairs. An email hashes to a
    salted identity or not, whichever pass hashes it, so the result is exactly that of
    hashing every email with every salt (pass 3 alone); the passes only decide how
    many digests that takes (docs/metrics.md, docs/benchmarks.md).

    full_refresh=false: `--full-refresh` keeps this table (dbt's full_refresh config
    overrides the flag), so rebuilding int_credentials__recipients and the facts
    costs no hashing. To hash everything again (the matching rule changed), run with
    --vars '{rehash_recipients: true}' (docs/metrics.md). Pairs whose awards
    disappear stay (harmless: they are only looked up). -#}
with all_awards as (
    select award_id, parent_award_id, achievement_id, recipient_identity
    from {{ ref('stg_credentials__awards') }}
),

hashed_awards as (
    select award_id, parent_award_id, achievement_id, recipient_salt, recipient_identity
    from {{ ref('stg_credentials__awards') }}
    -- lower-case in staging; is_recipient_hashed without this prefix never matches
    where recipient_identity like 'sha256$%'
),

award_pairs as (
    select distinct recipient_salt, recipient_identity
    from hashed_awards
),

users as (
    select user_id, account_id, email
    from {{ ref('stg_lms__users') }}
    where email is not null
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

-- the pairs to check, each with the load time after which a user is new to it
pending_0 as (
    select recipient_salt, recipient_identity, {{ credential_recheck_since('checked_through') }} as since
    from to_check
),

-- the narrow passes hash per pair, so they are for salts of one pair to check; a salt of
-- several (an issuer's fixed salt, the empty one) goes to pass 3 at once, where each email
-- is hashed once for all its pairs
narrow_0 as (
    select pending_0.recipient_salt, pending_0.recipient_identity, pending_0.since
    from pending_0
    inner join (
        select recipient_salt from pending_0 group by recipient_salt having count(*) = 1
    ) as single_pair_salts on pending_0.recipient_salt = single_pair_salts.recipient_salt
),

-- the credentials an award is for: its own, and those nested in it (a CLR)
award_credentials as (
    select award_id, achievement_id
    from hashed_awards
    where achievement_id is not null
    union all
    select hashed_awards.award_id, nested.achievement_id
    from hashed_awards
    inner join all_awards as nested on hashed_awards.award_id = nested.parent_award_id
    where nested.achievement_id is not null
),

collection_members as (
    select collection_id, achievement_id, course_id
    from {{ ref('int_credentials__collection_members') }}
),

-- (course, email) of the enrolments, with the email's load time
course_emails as (
    select distinct enrollments.course_id, user_emails.email, user_emails.loaded_at
    from {{ ref('stg_lms__enrollments') }} as enrollments
    inner join users on enrollments.user_id = users.user_id
    inner join user_emails on users.email = user_emails.email
),

-- (account, email) of the users, with the email's load time
account_emails as (
    select distinct users.account_id, user_emails.email, user_emails.loaded_at
    from users
    inner join user_emails on users.email = user_emails.email
    where users.account_id is not null
),

-- the accounts owning a course of one of the credential's collections (pathways)
pathway_accounts as (
    select distinct members.achievement_id, courses.account_id
    from collection_members as members
    inner join collection_members as pathway on members.collection_id = pathway.collection_id
    inner join {{ ref('stg_lms__courses') }} as courses on pathway.course_id = courses.course_id
    where courses.account_id is not null
),

{% for pass in [1, 2] %}
-- pass {{ pass }}: what makes a user a plausible recipient of each pair's awards ...
{%- if pass == 1 %}
pair_courses_1 as (
    -- a course the credential certifies
    select distinct narrow.recipient_salt, narrow.recipient_identity, narrow.since, collection_members.course_id
    from narrow_0 as narrow
    inner join hashed_awards
        on narrow.recipient_salt = hashed_awards.recipient_salt
        and narrow.recipient_identity = hashed_awards.recipient_identity
    inner join award_credentials on hashed_awards.award_id = award_credentials.award_id
    inner join collection_members on award_credentials.achievement_id = collection_members.achievement_id
    where collection_members.course_id is not null
),

pair_documents_1 as (
    -- the plain-email recipients of the same document (a hashed identity never equals an email)
    select distinct
        narrow.recipient_salt, narrow.recipient_identity, narrow.since, same_document.recipient_identity as email
    from narrow_0 as narrow
    inner join hashed_awards
        on narrow.recipient_salt = hashed_awards.recipient_salt
        and narrow.recipient_identity = hashed_awards.recipient_identity
    inner join all_awards as same_document
        on coalesce(hashed_awards.parent_award_id, hashed_awards.award_id)
            = coalesce(same_document.parent_award_id, same_document.award_id)
),
{%- else %}
pair_accounts_2 as (
    -- an account owning a course of the credential's collections
    select distinct narrow.recipient_salt, narrow.recipient_identity, narrow.since, pathway_accounts.account_id
    from narrow_1 as narrow
    inner join hashed_awards
        on narrow.recipient_salt = hashed_awards.recipient_salt
        and narrow.recipient_identity = hashed_awards.recipient_identity
    inner join award_credentials on hashed_awards.award_id = award_credentials.award_id
    inner join pathway_accounts on award_credentials.achievement_id = pathway_accounts.achievement_id
),
{%- endif %}

-- ... and each pair with the emails of those users that are new to it
candidates_{{ pass }} as (
    {%- if pass == 1 %}
    select pair_courses_1.recipient_salt, pair_courses_1.recipient_identity, course_emails.email
    from pair_courses_1
    inner join course_emails
        on pair_courses_1.course_id = course_emails.course_id
        and course_emails.loaded_at > pair_courses_1.since
    union all
    select pair_documents_1.recipient_salt, pair_documents_1.recipient_identity, user_emails.email
    from pair_documents_1
    inner join user_emails
        on pair_documents_1.email = user_emails.email
        and user_emails.loaded_at > pair_documents_1.since
    {%- else %}
    select pair_accounts_2.recipient_salt, pair_accounts_2.recipient_identity, account_emails.email
    from pair_accounts_2
    inner join account_emails
        on pair_accounts_2.account_id = account_emails.account_id
        and account_emails.loaded_at > pair_accounts_2.since
    {%- endif %}
),

-- the match inside the aggregate, so the hash is computed on the candidates and never
-- becomes a join condition; lower-case hex in every engine, compared with the identity
-- after its 'sha256$' prefix, so only the digest is computed per candidate
found_{{ pass }} as (
    select recipient_salt, recipient_identity, matched_email
    from (
        select
            recipient_salt,
            recipient_identity,
            min(case
                when {{ sha256_hex('concat(email, recipient_salt)') }} = substr(recipient_identity, 8) then email
            end) as matched_email
        from candidates_{{ pass }}
        group by recipient_salt, recipient_identity
    ) as checked
    -- shared by narrow_{{ pass }}, pending_2 and found: computed once on Spark too
    where matched_email is not null {{- computed_once() }}
),

narrow_{{ pass }} as (
    select narrow.recipient_salt, narrow.recipient_identity, narrow.since
    from narrow_{{ pass - 1 }} as narrow
    left join found_{{ pass }} as found
        on narrow.recipient_salt = found.recipient_salt
        and narrow.recipient_identity = found.recipient_identity
    where found.recipient_identity is null
),
{% endfor %}

-- pass 3: the pairs still unmatched, and per salt every email some pair of that salt has
-- not been hashed against yet
pending_2 as (
    select pending_0.recipient_salt, pending_0.recipient_identity, pending_0.since
    from pending_0
    left join found_1
        on pending_0.recipient_salt = found_1.recipient_salt
        and pending_0.recipient_identity = found_1.recipient_identity
    left join found_2
        on pending_0.recipient_salt = found_2.recipient_salt
        and pending_0.recipient_identity = found_2.recipient_identity
    where found_1.recipient_identity is null and found_2.recipient_identity is null
),

fallback_since as (
    select recipient_salt, min(since) as since
    from pending_2
    group by recipient_salt
),

digests_3 as (
    select
        fallback_since.recipient_salt,
        user_emails.email,
        {{ sha256_hex('concat(user_emails.email, fallback_since.recipient_salt)') }} as digest
    from fallback_since
    inner join user_emails on user_emails.loaded_at > fallback_since.since
),

found_3 as (
    select pending.recipient_salt, pending.recipient_identity, min(digests.email) as matched_email
    from pending_2 as pending
    inner join digests_3 as digests
        on pending.recipient_salt = digests.recipient_salt
        and substr(pending.recipient_identity, 8) = digests.digest
    group by pending.recipient_salt, pending.recipient_identity
),

found as (
    select * from found_1
    union all
    select * from found_2
    union all
    select * from found_3
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
