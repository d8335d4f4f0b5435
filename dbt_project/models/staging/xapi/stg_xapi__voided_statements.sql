{#- A table, not a view like the other staging models: the incremental fct_attempts and
    two data tests read it, and as a view each of them re-read every raw statement. -#}
{{ config(materialized='table') }}
{#- Statements a voiding statement voided: whose (actor_key) and what they were about,
    and when the voiding statement was loaded. The incremental fct_attempts uses it
    to re-derive the learner + exercise pairs a late voiding touches. -#}
with source as (
    select * from {{ source('raw', 'xapi_statements') }}
),

{{ learning_xapi_base_ctes('source') }}

select
    stmt.statement_id,
    voiding.voiding_statement_id,
    stmt.actor_key,
    stmt.actor_account_homepage,
    stmt.actor_account_name,
    stmt.actor_mbox_sha1sum,
    stmt.object_id,
    stmt.parent_activity_id,
    voiding.voiding_loaded_at
from renamed as stmt
inner join voiding on stmt.statement_id = voiding.voided_statement_id
where stmt.actor_key is not null
