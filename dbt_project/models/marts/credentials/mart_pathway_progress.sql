{#- Per collection and credential: who completed it (new to the collection or
    continuing), who advanced or stopped, how long they took to the next
    credential, who is drifting (no next credential and more than var
    drift_pause_days since this one, as of the run date) and who came back for it
    after such a pause (returners). Entry points are credentials that learners new
    to the collection start with (entry_share: their share of all new learners).
    Counts of the issuer's own award records: not suppressed. -#}
with transitions as (
    select * from {{ ref('int_credentials__transition_facts') }}
),

members as (
    select * from {{ ref('int_credentials__collection_members') }}
),

credentials as (
    select achievement_id, credential_name from {{ ref('int_credentials__achievements') }}
),

per_credential as (
    select
        collection_id,
        achievement_id,
        count(*) as completed,
        cast(sum(case when entry_type = 'new' then 1 else 0 end) as {{ dbt.type_bigint() }}) as new_entrants,
        cast(sum(case when entry_type = 'continuing' then 1 else 0 end) as {{ dbt.type_bigint() }}) as continuing_entrants,
        cast(sum(case when exit_type = 'advanced' then 1 else 0 end) as {{ dbt.type_bigint() }}) as advanced,
        cast(sum(case when exit_type = 'stopped' then 1 else 0 end) as {{ dbt.type_bigint() }}) as stopped,
        {{ credential_percentile('days_to_next', 0.5) }} as median_days_to_next,
        {{ credential_percentile('days_to_next', 0.9) }} as p90_days_to_next,
        cast(sum(case
            when exit_type = 'stopped'
                and {{ dbt.datediff('cast(issued_at as date)', credential_as_of_date(), 'day') }}
                    > {{ var('drift_pause_days') | int }}
                then 1 else 0
        end) as {{ dbt.type_bigint() }}) as drifting,
        cast(sum(case when days_since_previous > {{ var('drift_pause_days') | int }} then 1 else 0 end) as {{ dbt.type_bigint() }}) as returners
    from transitions
    group by collection_id, achievement_id
),

collection_new as (
    select collection_id, cast(sum(new_entrants) as {{ dbt.type_bigint() }}) as new_learners
    from per_credential
    group by collection_id
)

select
    members.collection_id,
    members.collection_name,
    members.achievement_id,
    coalesce(credentials.credential_name, members.achievement_id) as credential_name,
    members.position,
    coalesce(per_credential.completed, 0) as completed,
    coalesce(per_credential.new_entrants, 0) as new_entrants,
    coalesce(per_credential.continuing_entrants, 0) as continuing_entrants,
    coalesce(per_credential.advanced, 0) as advanced,
    coalesce(per_credential.stopped, 0) as stopped,
    cast(per_credential.advanced as {{ credential_type_double() }}) / nullif(per_credential.completed, 0) as advance_rate,
    cast(per_credential.stopped as {{ credential_type_double() }}) / nullif(per_credential.completed, 0) as stop_rate,
    cast(per_credential.median_days_to_next as {{ credential_type_double() }}) as median_days_to_next,
    cast(per_credential.p90_days_to_next as {{ credential_type_double() }}) as p90_days_to_next,
    coalesce(per_credential.drifting, 0) as drifting,
    coalesce(per_credential.returners, 0) as returners,
    coalesce(per_credential.new_entrants, 0) > 0 as is_entry_point,
    cast(per_credential.new_entrants as {{ credential_type_double() }}) / nullif(collection_new.new_learners, 0) as entry_share
from members
left join per_credential
    on members.collection_id = per_credential.collection_id
    and members.achievement_id = per_credential.achievement_id
left join collection_new on members.collection_id = collection_new.collection_id
left join credentials on members.achievement_id = credentials.achievement_id
