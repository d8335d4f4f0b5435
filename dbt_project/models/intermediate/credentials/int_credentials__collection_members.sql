{#- The credentials of each collection with their position and certified course;
    one name per collection (the latest loaded one). -#}
with members as (
    select * from {{ ref('stg_credentials__collections') }}
),

collection_names as (
    select collection_id, collection_name from (
        select
            collection_id,
            collection_name,
            row_number() over (
                partition by collection_id order by case when collection_name is null then 1 else 0 end, loaded_at desc
            ) as _name_rank
        from members
    ) as ranked
    where _name_rank = 1
)

select
    members.collection_id,
    coalesce(collection_names.collection_name, members.collection_id) as collection_name,
    members.achievement_id,
    members.position,
    members.course_id,
    members.loaded_at
from members
inner join collection_names on members.collection_id = collection_names.collection_id
