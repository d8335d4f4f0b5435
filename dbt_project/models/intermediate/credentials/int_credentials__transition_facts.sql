{{
    config(
        materialized='incremental',
        unique_key=['collection_id', 'learner_id', 'achievement_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ credential_transitions_delete_changed_learners() }}"
    )
}}
{#- Every learner (the aggregates read it; the published, consent-filtered copy is
    fct_credential_transitions). One row per learner and credential earned within a collection, in the order
    the learner earned them: by issue time, ties by collection position (then
    achievement_id). A learner's credential counts once (the first unrevoked
    award of it); revoked awards never count, expired ones do.
      previous_achievement_id  null: the learner is new to the collection
      next_achievement_id      null: the learner stopped (so far)
      days_since_previous / days_to_next  calendar days between issue dates
    Incremental: the rows of every learner with a changed award (see
    int_credentials__award_facts) are deleted by the pre-hook and rebuilt from the
    learner's whole history. -#}
with awards as (
    select * from {{ ref('int_credentials__awards') }}
    where not is_revoked and issued_at is not null and achievement_id is not null and is_attributed
    {% if is_incremental() %}
    and learner_id in ({{ credential_changed_learners() }})
    {% endif %}
),

members as (
    select * from {{ ref('int_credentials__collection_members') }}
),

earned as (
    select * from (
        select
            members.collection_id,
            awards.learner_id,
            awards.account_id,
            awards.achievement_id,
            awards.award_id,
            members.position,
            awards.issued_at,
            awards.changed_at,
            row_number() over (
                partition by members.collection_id, awards.learner_id, awards.achievement_id
                order by awards.issued_at, awards.award_id
            ) as _award_rank
        from awards
        inner join members on awards.achievement_id = members.achievement_id
    ) as ranked
    where _award_rank = 1
),

ordered as (
    select
        earned.*,
        row_number() over learner_path as sequence_number,
        lag(achievement_id) over learner_path as previous_achievement_id,
        lag(issued_at) over learner_path as previous_issued_at,
        lead(achievement_id) over learner_path as next_achievement_id,
        lead(issued_at) over learner_path as next_issued_at
    from earned
    window learner_path as (
        partition by collection_id, learner_id
        order by issued_at, position, achievement_id
    )
)

select
    collection_id,
    learner_id,
    account_id,
    achievement_id,
    award_id,
    position,
    issued_at,
    sequence_number,
    previous_achievement_id,
    next_achievement_id,
    case when previous_achievement_id is null then 'new' else 'continuing' end as entry_type,
    case when next_achievement_id is null then 'stopped' else 'advanced' end as exit_type,
    case when previous_issued_at is not null
        then {{ credential_days_between('previous_issued_at', 'issued_at') }} end as days_since_previous,
    case when next_issued_at is not null
        then {{ credential_days_between('issued_at', 'next_issued_at') }} end as days_to_next,
    changed_at
from ordered
