select group_id, account_id, group_name, member_count
from {{ ref('int_learning__groups') }}
