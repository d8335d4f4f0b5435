{{
    config(
        materialized='incremental',
        unique_key='award_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- Who received each award, as the same learner_id the learner-progress marts use.

    A recipient identity matches an LMS user (stg_lms__users) by plain email, or
    by hashed email: 'sha256$' + hex sha256(lower-case email || salt), salt from
    the award (empty when none). When several users match, the smallest user_id
    wins. An unmatched recipient gets pseudonymise('recipient:' || identity); an
    award without any identity gets pseudonymise('award:' || award_id), so such
    awards never merge into one person. unmatched_learner_id is that fallback id
    even for matched awards: the incremental transitions use it to find the rows
    an award had before its recipient was matched to a (new) LMS user.

    No hashing here: a hashed identity is looked up in the match cache
    int_credentials__recipient_hashes ((salt, identity) -> the email hashing to it,
    kept across runs and --full-refresh) and that email in the users. Incremental
    runs match the awards loaded since the last run and re-match the awards still
    unmatched, both against every user (a cheap join now); only the re-matched ones
    are rewritten. changed_at is when the row's match last changed. A user whose
    email changes, or a second user with the same email, needs a --full-refresh
    of this model to re-match older awards (the cache needs none). -#}
with all_awards as (
    select
        award_id,
        recipient_identity,
        recipient_salt,
        (is_recipient_hashed or recipient_identity like 'sha256$%') as is_hashed,
        loaded_at
    from {{ ref('stg_credentials__awards') }}
),

all_users as (
    select user_id, learner_id, account_id, email, loaded_at
    from {{ ref('stg_lms__users') }}
    where email is not null
),

hashes as (
    select recipient_salt, recipient_identity, matched_email
    from {{ ref('int_credentials__recipient_hashes') }}
    where matched_email is not null
),

{% if is_incremental() %}
watermark as (
    select {{ credential_watermark(this) }} as changed_since
),

fresh_awards as (
    select * from all_awards where loaded_at >= (select changed_since from watermark)
),

waiting_awards as (
    select all_awards.*
    from all_awards
    inner join {{ this }} as known on all_awards.award_id = known.award_id
    where not known.is_lms_matched and all_awards.loaded_at < (select changed_since from watermark)
),

candidate_awards as (
    select * from fresh_awards
    union all
    select * from waiting_awards
),

matches as (
    {{ credential_recipient_matches('candidate_awards', 'hashes', 'all_users') }}
),

awards as (
    select * from fresh_awards
    union all
    select * from waiting_awards where award_id in (select award_id from matches)
),
{% else %}
awards as (
    select * from all_awards
),

matches as (
    {{ credential_recipient_matches('awards', 'hashes', 'all_users') }}
),
{% endif %}

best_match as (
    select * from (
        select matches.*, row_number() over (partition by award_id order by user_id) as _match_rank
        from matches
    ) as ranked
    where _match_rank = 1
),

unmatched as (
    select
        award_id,
        loaded_at,
        case
            when recipient_identity is not null
                then {{ pseudonymise("concat('recipient:', recipient_identity)") }}
            else {{ pseudonymise("concat('award:', award_id)") }}
        end as unmatched_learner_id
    from awards
)

select
    unmatched.award_id,
    coalesce(best_match.learner_id, unmatched.unmatched_learner_id) as learner_id,
    unmatched.unmatched_learner_id,
    best_match.user_id,
    best_match.account_id,
    best_match.user_id is not null as is_lms_matched,
    greatest(unmatched.loaded_at, coalesce(best_match.user_loaded_at, unmatched.loaded_at)) as changed_at
from unmatched
left join best_match on unmatched.award_id = best_match.award_id
