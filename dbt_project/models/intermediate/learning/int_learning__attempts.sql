{#- One row per attempt (learner + exercise + attempt key), full history. A view:
    fct_attempts reads it for the learner + exercise pairs a run touches.
    An attempt may be reported in parts (several statements with a result under
    one registration), so answers and durations add up:
      correct / incorrect = sum over its statements of, per statement:
                  score.raw - score.min (min 0 when absent) / score.max - score.raw when raw
                  and max are present; else success true -> 1 / 0, false -> 0 / 1;
                  else scaled -> scaled / 1 - scaled; else 0 / 0 (never below 0)
      score_scaled = sum(raw - min) / sum(max - min) when every statement carries raw
                  and max and that sum is positive; else the last statement's
                  score.scaled, else its success (1 / 0); clamped to 0..1
      is_success = the last statement's result.success
      duration_seconds_raw = sum of result.duration of its statements when any
                  reports one, else the seconds between its first and last statement. -#}
{{ config(materialized='view') }}

with statements as (
    select *
    from {{ ref('int_learning__exercise_statements') }}
    where statement_kind = 'attempt'
),

scored as (
    select
        statements.*,
        case
            when score_raw is not null and score_max is not null
                then greatest(score_raw - coalesce(score_min, 0), 0)
            when is_success is not null then case when is_success then 1.0 else 0.0 end
            when score_scaled is not null then greatest(least(score_scaled, 1.0), 0.0)
            else 0.0
        end as correct_answers,
        case
            when score_raw is not null and score_max is not null
                then greatest(score_max - score_raw, 0)
            when is_success is not null then case when is_success then 0.0 else 1.0 end
            when score_scaled is not null then 1.0 - greatest(least(score_scaled, 1.0), 0.0)
            else 0.0
        end as incorrect_answers,
        greatest(least(
            coalesce(
                score_scaled,
                case
                    when score_raw is not null and score_max is not null and score_max > coalesce(score_min, 0)
                        then (score_raw - coalesce(score_min, 0)) / (score_max - coalesce(score_min, 0))
                end,
                case when is_success then 1.0 when not is_success then 0.0 end
            ),
            1.0), 0.0) as statement_score_scaled,
        row_number() over (
            partition by learner_id, exercise_id, attempt_key
            order by statement_at desc, statement_id desc
        ) as _last_rank,
        row_number() over (
            partition by learner_id, exercise_id, attempt_key
            order by statement_at, statement_id
        ) as _first_rank
    from statements
),

aggregated as (
    select
        learner_id,
        exercise_id,
        attempt_key,
        min(account_id) as account_id,
        min(statement_at) as started_at,
        max(statement_at) as ended_at,
        sum(duration_seconds) as reported_duration_seconds,
        sum(correct_answers) as correct_answers,
        sum(incorrect_answers) as incorrect_answers,
        min(case when score_raw is not null and score_max is not null then 1 else 0 end) = 1 as has_raw_scores,
        sum(score_raw - coalesce(score_min, 0)) as raw_span,
        sum(score_max - coalesce(score_min, 0)) as max_span,
        max(loaded_at) as last_loaded_at,
        count(*) as statement_count,
        max(case when _first_rank = 1 then statement_id end) as first_statement_id
    from scored
    group by learner_id, exercise_id, attempt_key
),

final_result as (
    select
        learner_id,
        exercise_id,
        attempt_key,
        statement_score_scaled,
        is_success
    from scored
    where _last_rank = 1
)

select
    {{ dbt.hash("concat(aggregated.learner_id, '|', aggregated.exercise_id, '|', aggregated.attempt_key)") }}
        as attempt_sk,
    aggregated.learner_id,
    aggregated.account_id,
    aggregated.exercise_id,
    aggregated.attempt_key,
    aggregated.first_statement_id,
    aggregated.started_at,
    aggregated.ended_at,
    coalesce(
        aggregated.reported_duration_seconds,
        {{ learning_seconds_between('aggregated.started_at', 'aggregated.ended_at') }}
    ) as duration_seconds_raw,
    aggregated.statement_count,
    aggregated.last_loaded_at,
    aggregated.correct_answers,
    aggregated.incorrect_answers,
    case
        when aggregated.has_raw_scores and aggregated.max_span > 0
            then greatest(least(aggregated.raw_span / aggregated.max_span, 1.0), 0.0)
        else final_result.statement_score_scaled
    end as score_scaled,
    final_result.is_success
from aggregated
inner join final_result
    on aggregated.learner_id = final_result.learner_id
    and aggregated.exercise_id = final_result.exercise_id
    and aggregated.attempt_key = final_result.attempt_key
