{#- Sankey edges of each collection: source node -> target node with the number of
    learners. Nodes are the collection's credentials plus 'New learners' (source
    of everyone new to the collection) and 'Stopped' (target of everyone with no
    next credential yet). For every credential, the learners flowing in
    (new + continuing) = completed = the learners flowing out (advanced + stopped).
    Counts of the issuer's own award records: not suppressed. -#}
with transitions as (
    select * from {{ ref('int_credentials__transition_facts') }}
),

credentials as (
    select achievement_id, credential_name from {{ ref('int_credentials__achievements') }}
),

members as (
    select collection_id, collection_name, achievement_id, position
    from {{ ref('int_credentials__collection_members') }}
),

edges as (
    select
        collection_id,
        coalesce(previous_achievement_id, '__new__') as source_node_id,
        achievement_id as target_node_id,
        entry_type as edge_type,
        count(*) as learners
    from transitions
    group by collection_id, coalesce(previous_achievement_id, '__new__'), achievement_id, entry_type
    union all
    select
        collection_id,
        achievement_id as source_node_id,
        '__stopped__' as target_node_id,
        'stopped' as edge_type,
        count(*) as learners
    from transitions
    where exit_type = 'stopped'
    group by collection_id, achievement_id
)

select
    edges.collection_id,
    members_any.collection_name,
    edges.source_node_id,
    case when edges.source_node_id = '__new__' then 'New learners' else source_credential.credential_name end
        as source_node,
    source_member.position as source_position,
    edges.target_node_id,
    case when edges.target_node_id = '__stopped__' then 'Stopped' else target_credential.credential_name end
        as target_node,
    target_member.position as target_position,
    edges.edge_type,
    edges.learners
from edges
left join credentials as source_credential on edges.source_node_id = source_credential.achievement_id
left join credentials as target_credential on edges.target_node_id = target_credential.achievement_id
left join members as source_member
    on edges.collection_id = source_member.collection_id and edges.source_node_id = source_member.achievement_id
left join members as target_member
    on edges.collection_id = target_member.collection_id and edges.target_node_id = target_member.achievement_id
left join (select distinct collection_id, collection_name from members) as members_any
    on edges.collection_id = members_any.collection_id
