{#- A table, not a view like the other staging models: int_learning__statements,
    int_learning__actors and data tests read it, and as a view each of them re-read
    every raw statement (docs/benchmarks.md). -#}
{{ config(materialized='table') }}
{#- xAPI statements, typed and renamed: one row per statement id (ingestion keeps
    the first loaded copy; the source's unique test checks it), voided statements
    and the voiding statements themselves removed. The actor is reduced to its
    actor_key (macros/learning_xapi.sql) and identifiers without addresses: linking
    actors to LMS users and pseudonymising them happens in int_learning__actors. -#}
with source as (
    select * from {{ source('raw', 'xapi_statements') }}
),

{{ learning_xapi_base_ctes('source') }}

select renamed.*
from renamed
where statement_id not in (select voiding_statement_id from voiding)
    and statement_id not in (select voided_statement_id from voiding)
