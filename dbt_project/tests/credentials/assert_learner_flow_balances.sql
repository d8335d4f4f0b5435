{{ config(meta={'dagster': {'ref': {'name': 'mart_learner_flow'}}}) }}
-- For every credential of every collection: the learners flowing into its Sankey
-- node (new + continuing) = the learners who completed it = the learners flowing
-- out (advanced + stopped), in mart_learner_flow, mart_pathway_progress and
-- int_credentials__transition_facts (every learner) alike. Returns the credentials where any differ.
with completed as (
    select collection_id, achievement_id, count(*) as completed
    from {{ ref('int_credentials__transition_facts') }}
    group by collection_id, achievement_id
),

inflow as (
    select collection_id, target_node_id as achievement_id, sum(learners) as learners
    from {{ ref('mart_learner_flow') }}
    where target_node_id <> '__stopped__'
    group by collection_id, target_node_id
),

outflow as (
    select collection_id, source_node_id as achievement_id, sum(learners) as learners
    from {{ ref('mart_learner_flow') }}
    where source_node_id <> '__new__'
    group by collection_id, source_node_id
),

progress as (
    select * from {{ ref('mart_pathway_progress') }}
),

nodes as (
    select collection_id, achievement_id from completed
    union
    select collection_id, achievement_id from inflow
    union
    select collection_id, achievement_id from outflow
    union
    select collection_id, achievement_id from progress where completed > 0
)

select
    nodes.collection_id,
    nodes.achievement_id,
    completed.completed,
    inflow.learners as inflow,
    outflow.learners as outflow,
    progress.new_entrants,
    progress.continuing_entrants,
    progress.advanced,
    progress.stopped
from nodes
left join completed
    on nodes.collection_id = completed.collection_id and nodes.achievement_id = completed.achievement_id
left join inflow on nodes.collection_id = inflow.collection_id and nodes.achievement_id = inflow.achievement_id
left join outflow on nodes.collection_id = outflow.collection_id and nodes.achievement_id = outflow.achievement_id
left join progress
    on nodes.collection_id = progress.collection_id and nodes.achievement_id = progress.achievement_id
where completed.completed is null
    or inflow.learners is null or inflow.learners <> completed.completed
    or outflow.learners is null or outflow.learners <> completed.completed
    or progress.completed is null or progress.completed <> completed.completed
    or progress.new_entrants + progress.continuing_entrants <> completed.completed
    or progress.advanced + progress.stopped <> completed.completed
