{#- Per group and course: the league of groups. Members are the group's learners
    who take part in the course (a learner in several groups counts in each).
    Ranks are within the account and course. Formulas: docs/metrics.md. -#}
with progress as (
    select * from {{ ref('int_learning__learner_course_progress') }}
),

members as (
    select group_id, account_id, learner_id from {{ ref('int_learning__group_members') }}
),

aggregated as (
    select
        members.account_id,
        members.group_id,
        progress.course_id,
        count(*) as members,
        {{ stable_round(exact_avg("progress.mastery_pct")) }} as avg_mastery_pct,
        {{ stable_round("100.0 * sum(case when progress.is_completed then 1 else 0 end) / count(*)") }} as completion_rate_pct,
        {{ stable_round("100.0 * sum(case when progress.is_certified then 1 else 0 end) / count(*)") }} as certification_rate_pct,
        {{ learning_sum_int('progress.credentials_held') }} as credentials_held,
        {{ stable_round(exact_avg("progress.score_pct")) }} as avg_score_pct,
        {{ stable_round(exact_sum("progress.points")) }} as total_points,
        {{ stable_round(exact_avg("progress.points")) }} as avg_points,
        {{ stable_round(exact_sum("progress.time_spent_seconds")) }} as total_time_spent_seconds,
        {{ stable_round(exact_avg("progress.time_spent_seconds")) }} as avg_time_spent_seconds
    from members
    inner join progress on members.learner_id = progress.learner_id
    group by members.account_id, members.group_id, progress.course_id
)

select
    account_id,
    group_id,
    course_id,
    members,
    avg_mastery_pct,
    completion_rate_pct,
    certification_rate_pct,
    credentials_held,
    avg_score_pct,
    total_points,
    avg_points,
    total_time_spent_seconds,
    avg_time_spent_seconds,
    rank() over (partition by account_id, course_id order by avg_mastery_pct desc) as rank_mastery,
    rank() over (partition by account_id, course_id order by completion_rate_pct desc) as rank_completion,
    rank() over (partition by account_id, course_id order by certification_rate_pct desc) as rank_certification,
    rank() over (
        partition by account_id, course_id
        order by case when avg_score_pct is null then 1 else 0 end, avg_score_pct desc
    ) as rank_score,
    rank() over (partition by account_id, course_id order by avg_points desc) as rank_points,
    rank() over (partition by account_id, course_id order by avg_time_spent_seconds desc) as rank_time_spent
from aggregated
