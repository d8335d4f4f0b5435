-- The published learner progress (mart_learner_course_progress) shows a learner's
-- credential columns (is_certified, certified_at, credentials_held, rank_certified) only
-- where credential_detail_holds (docs/privacy.md "Consent"). Returns every row that
-- shows one of them for any other learner: a failure blocks the publication.
select learner_id, course_id
from {{ ref('mart_learner_course_progress') }}
where (is_certified is not null or certified_at is not null or credentials_held is not null
       or rank_certified is not null)
    and not coalesce({{ credential_detail_holds('learner_id') }}, false)
