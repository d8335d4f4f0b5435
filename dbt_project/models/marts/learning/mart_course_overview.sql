{#- Per account and course ("All Courses"): learners, combined mastery,
    completions and certifications. account_id is the learners' account. -#}
select
    account_id,
    course_id,
    {{ learning_count_if('is_enrolled') }} as enrolled_users,
    count(*) as learners,
    {{ learning_count_if('attempts > 0') }} as active_learners,
    {{ stable_round(exact_avg("mastery_pct")) }} as mastery_pct,
    {{ learning_count_if('is_completed') }} as completed_learners,
    {{ learning_count_if('is_certified') }} as certified_learners,
    {{ learning_sum_int('credentials_held') }} as credentials_held,
    {{ learning_sum_int('attempts') }} as attempts,
    {{ stable_round("case
        when " ~ exact_sum("correct_answers") ~ " + " ~ exact_sum("incorrect_answers") ~ " > 0
            then 100.0 * " ~ exact_sum("correct_answers") ~ " / ("
            ~ exact_sum("correct_answers") ~ " + " ~ exact_sum("incorrect_answers") ~ ")
    end") }} as score_pct,
    {{ stable_round(exact_sum("points")) }} as points,
    {{ stable_round(exact_sum("time_spent_seconds")) }} as time_spent_seconds,
    {{ learning_sum_int('capped_attempts') }} as capped_attempts
from {{ ref('int_learning__learner_course_progress') }}
group by account_id, course_id
