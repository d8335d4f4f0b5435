{#- Who received each award, as the same learner_id the learner-progress marts use.

    A recipient identity matches an LMS user (stg_lms__users) by plain email, or
    by hashed email: 'sha256$' + hex sha256(lower-case email || salt), salt from
    the award (empty when none). When several users match, the smallest user_id
    wins. An unmatched recipient gets pseudonymise('recipient:' || identity); an
    award without any identity gets pseudonymise('award:' || award_id), so such
    awards never merge into one person. -#}
with awards as (
    select
        award_id,
        recipient_identity,
        recipient_salt,
        (is_recipient_hashed or recipient_identity like 'sha256$%') as is_hashed
    from {{ ref('stg_credentials__awards') }}
),

users as (
    select user_id, learner_id, account_id, email, loaded_at
    from {{ ref('stg_lms__users') }}
    where email is not null
),

salts as (
    select distinct recipient_salt from awards where is_hashed
),

user_hashes as (
    select
        users.user_id,
        users.learner_id,
        users.account_id,
        users.loaded_at,
        salts.recipient_salt,
        concat('sha256$', lower({{ sha256_hex('concat(users.email, salts.recipient_salt)') }})) as hashed_identity
    from users
    cross join salts
),

matches as (
    select awards.award_id, users.user_id, users.learner_id, users.account_id, users.loaded_at
    from awards
    inner join users on not awards.is_hashed and awards.recipient_identity = users.email
    union all
    select awards.award_id, user_hashes.user_id, user_hashes.learner_id, user_hashes.account_id, user_hashes.loaded_at
    from awards
    inner join user_hashes
        on awards.is_hashed
        and awards.recipient_salt = user_hashes.recipient_salt
        and awards.recipient_identity = user_hashes.hashed_identity
),

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
        recipient_identity,
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
    best_match.loaded_at as user_loaded_at
from unmatched
left join best_match on unmatched.award_id = best_match.award_id
