{#- Every xAPI actor (actor_key, macros/learning_xapi.sql) as a learner. An actor
    is linked to an LMS user (stg_lms__users) by any identifier: account.name =
    user_id first, then the sha1 of its mbox (or its mbox_sha1sum) = the sha1 of
    'mailto:' || the user's email (an email shared by two users links nobody).
    A linked actor is the user's learner: learner_id = pseudonymise(user_id), so all
    identifiers of one user are one learner, account_id = the user's account. An
    actor with no LMS user is a learner of its own: learner_id =
    pseudonymise(actor_key) (unlinked_learner_id, kept for every actor: the
    incremental fct_attempts uses it to find the statements of an actor that a
    roster delivered later has just linked), account_id by
    learning_default_account (SKILLPATH_DEFAULT_ACCOUNT, else the host of the
    actor's account.homePage, else 'unassigned'). A roster that arrives on a later
    night links the actors on that run; nothing is re-ingested. -#}
with statement_actors as (
    select actor_key, actor_account_homepage, actor_account_name, actor_mbox_sha1sum
    from {{ ref('stg_xapi__statements') }}
    where actor_key is not null
    union all
    select actor_key, actor_account_homepage, actor_account_name, actor_mbox_sha1sum
    from {{ ref('stg_xapi__voided_statements') }}
),

actors as (
    -- the key is made from these identifiers, so they are one value per key
    select
        actor_key,
        max(actor_account_homepage) as account_homepage,
        max(actor_account_name) as account_name,
        max(actor_mbox_sha1sum) as mbox_sha1sum
    from statement_actors
    group by actor_key
),

users as (
    select user_id, learner_id, account_id, mbox_sha1sum
    from {{ ref('stg_lms__users') }}
),

users_by_sha1 as (
    select * from users
    where mbox_sha1sum in (
        select mbox_sha1sum from users where mbox_sha1sum is not null group by mbox_sha1sum having count(*) = 1
    )
),

linked as (
    select
        actors.actor_key,
        actors.account_homepage,
        coalesce(by_account.user_id, by_sha1.user_id) as user_id
    from actors
    left join users as by_account on actors.account_name = by_account.user_id
    left join users_by_sha1 as by_sha1 on actors.mbox_sha1sum = by_sha1.mbox_sha1sum
)

select
    linked.actor_key,
    linked.user_id,
    coalesce(users.learner_id, {{ pseudonymise('linked.actor_key') }}) as learner_id,
    {{ pseudonymise('linked.actor_key') }} as unlinked_learner_id,
    coalesce(users.account_id, {{ learning_default_account('linked.account_homepage') }}) as account_id,
    users.user_id is not null as is_rostered
from linked
left join users on linked.user_id = users.user_id
