-- The floor of the pipeline benchmark (skillpath_dev/bench/pipeline_bench.py, docs/benchmarks.md):
-- one hand-written DuckDB script, run in a single process with the pipeline's threads
-- and memory limit, that reads the landing files directly and computes three marts:
--   fct_attempts, mart_group_league, fct_credential_transitions
-- with the pipeline's rules (ingestion checks, first copy of a statement id wins,
-- voiding, actor resolution, pseudonyms, attempt grouping, hint assignment, learner
-- progress, recipient matching, revocation, credential order).
--
-- Variables (SET VARIABLE before running): landing (the landing directory),
-- pseudonym_key (SKILLPATH_PSEUDONYM_KEY), as_of_date ('YYYY-MM-DD').
--
-- Scope (what it does not do, so the comparison leaves those columns out):
--   * load times (fct_attempts.last_loaded_at, fct_credential_transitions.changed_at):
--     the floor loads nothing;
--   * the landing layout of the generator: xapi/*.ndjson.gz and xapi/*.json (arrays and
--     LRS pages), lms/*.csv, credentials/**/*.json, credentials/**/*.ndjson,
--     credentials/**/*.jwt, credential_events/*.ndjson; one row per LMS key;
--   * a statement id seen twice keeps the copy in the first file by path (ingestion
--     keeps the first loaded, which for one load is the same; the generator never
--     repeats an id with another payload inside one file);
--   * JWT signatures are not checked (ingestion does not either).

-- ---------------------------------------------------------------------------- helpers
create or replace temp macro clean(v) as nullif(trim(v), '');
create or replace temp macro pseudonym(v) as substr(sha256(concat(getvariable('pseudonym_key'), '|', v)), 1, 24);
-- ISO 8601 text (offset or Z honoured, none = UTC) or Unix seconds -> naive UTC timestamp
create or replace temp macro utc_ts(v) as
    case
        when v is null or length(trim(v)) < 1 then null
        when regexp_full_match(trim(v), '[0-9]+') then make_timestamp(cast(trim(v) as bigint) * 1000000)
        when regexp_matches(trim(v), '(Z|z|[+-][0-9]{2}:?[0-9]{2})$')
            then try_cast(trim(v) as timestamptz) at time zone 'UTC'
        else try_cast(trim(v) as timestamp)
    end;
-- seconds of an ISO 8601 duration without years or months, added in the order W, D, H, M, S
create or replace temp macro duration_seconds(d) as
    case when length(d) >= 3 and not ends_with(d, 'T')
              and regexp_full_match(d, 'P(?:([0-9]+(?:[.,][0-9]+)?)W)?(?:([0-9]+(?:[.,][0-9]+)?)D)?(?:T(?:([0-9]+(?:[.,][0-9]+)?)H)?(?:([0-9]+(?:[.,][0-9]+)?)M)?(?:([0-9]+(?:[.,][0-9]+)?)S)?)?')
    then 0.0
        + coalesce(cast(replace(nullif(regexp_extract(d, '^P(?:([0-9]+(?:[.,][0-9]+)?)W)', 1), ''), ',', '.') as double) * 604800, 0)
        + coalesce(cast(replace(nullif(regexp_extract(d, '^P(?:[0-9.,]+W)?([0-9]+(?:[.,][0-9]+)?)D', 1), ''), ',', '.') as double) * 86400, 0)
        + coalesce(cast(replace(nullif(regexp_extract(d, 'T([0-9]+(?:[.,][0-9]+)?)H', 1), ''), ',', '.') as double) * 3600, 0)
        + coalesce(cast(replace(nullif(regexp_extract(d, 'T(?:[0-9.,]+H)?([0-9]+(?:[.,][0-9]+)?)M', 1), ''), ',', '.') as double) * 60, 0)
        + coalesce(cast(replace(nullif(regexp_extract(d, 'T(?:[0-9.,]+H)?(?:[0-9.,]+M)?([0-9]+(?:[.,][0-9]+)?)S', 1), ''), ',', '.') as double), 0)
    end;
-- the id of an IRI-or-object JSON value (first element of an array)
create or replace temp macro ref_id(j) as
    case json_type(j)
        when 'VARCHAR' then clean(j ->> '$')
        when 'OBJECT' then clean(j ->> '$.id')
        when 'ARRAY' then coalesce(clean(j ->> '$[0]'), clean(j ->> '$[0].id'))
    end;
-- a JSON number as double (strings and booleans are not numbers)
create or replace temp macro num(j) as
    case when json_type(j) in ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT') then cast(j as double) end;
create or replace temp macro bool(j) as case when json_type(j) = 'BOOLEAN' then cast(j as boolean) end;
create or replace temp macro str(j) as case when json_type(j) = 'VARCHAR' then j ->> '$' end;
-- a present, non-null JSON value (else SQL null)
create or replace temp macro jv(j) as case when json_type(j) <> 'NULL' then j end;
-- the elements of a JSON array, or the value itself as a one-element list
create or replace temp macro json_list(j) as
    case when json_type(j) = 'ARRAY' then cast(j as json[]) when json_type(j) <> 'NULL' then [j] else [] end;

-- ---------------------------------------------------------------------------- LMS
create temp table users as
select
    clean(user_id) as user_id,
    pseudonym(clean(user_id)) as learner_id,
    clean(account_id) as account_id,
    lower(clean(email)) as email,
    case when clean(email) is not null then sha1(concat('mailto:', lower(clean(email)))) end as mbox_sha1sum
from read_csv(getvariable('landing') || '/lms/users.csv', header = true, all_varchar = true, ignore_errors = true)
where clean(user_id) is not null;

create temp table users_by_email as
select * from users
where email in (select email from users where email is not null group by email having count(*) = 1);

create temp table courses as
select clean(course_id) as course_id, clean(account_id) as account_id, clean(activity_id) as activity_id
from read_csv(getvariable('landing') || '/lms/courses.csv', header = true, all_varchar = true, ignore_errors = true)
where clean(course_id) is not null;

create temp table chapters as
select clean(chapter_id) as chapter_id, clean(course_id) as course_id
from read_csv(getvariable('landing') || '/lms/chapters.csv', header = true, all_varchar = true, ignore_errors = true)
where clean(chapter_id) is not null;

create temp table exercises as
select
    e.exercise_id, e.chapter_id, ch.course_id, e.activity_id, e.max_points
from (
    select
        clean(exercise_id) as exercise_id,
        clean(chapter_id) as chapter_id,
        clean(activity_id) as activity_id,
        coalesce(try_cast(clean(max_points) as double), 0) as max_points
    from read_csv(getvariable('landing') || '/lms/exercises.csv', header = true, all_varchar = true,
                  ignore_errors = true)
    where clean(exercise_id) is not null
) as e
inner join chapters as ch on e.chapter_id = ch.chapter_id
inner join courses as co on ch.course_id = co.course_id;

create temp table course_totals as
select
    courses.course_id,
    count(exercises.exercise_id) as exercise_count,
    coalesce(sum(exercises.max_points), 0) as max_points_total
from courses
left join exercises on courses.course_id = exercises.course_id
group by courses.course_id;

create temp table enrollments as
select distinct
    pseudonym(clean(user_id)) as learner_id,
    clean(course_id) as course_id
from read_csv(getvariable('landing') || '/lms/enrollments.csv', header = true, all_varchar = true,
              ignore_errors = true)
where clean(user_id) is not null and clean(course_id) is not null;

create temp table group_members as
select distinct m.group_id, g.account_id, users.learner_id
from (
    select clean(group_id) as group_id, clean(user_id) as user_id
    from read_csv(getvariable('landing') || '/lms/group_members.csv', header = true, all_varchar = true,
                  ignore_errors = true)
) as m
inner join (
    select clean(group_id) as group_id, clean(account_id) as account_id
    from read_csv(getvariable('landing') || '/lms/groups.csv', header = true, all_varchar = true,
                  ignore_errors = true)
) as g on m.group_id = g.group_id
inner join users on m.user_id = users.user_id;

-- ---------------------------------------------------------------------------- xAPI
-- every record: ndjson lines (malformed or non-UTF-8 lines read as null) and the
-- statements of .json files (one statement, an array, or an LRS page)
create temp table xapi_records as
select filename, json as j
from read_ndjson_objects(getvariable('landing') || '/xapi/*.ndjson.gz', ignore_errors = true, filename = true)
where json is not null
union all
select filename, unnest(case
        when json_type(json, '$.statements') = 'ARRAY' then cast(json -> '$.statements[*]' as json[])
        else [json] end) as j
from read_json_objects(getvariable('landing') || '/xapi/*.json', format = 'auto', ignore_errors = true,
                       filename = true)
where json is not null;

-- the ingestion checks, then the first copy of each id (by file path); every record is
-- parsed once: json_extract with a list of paths returns the parts the marts need
create temp table xapi_typed as
with parts as (
    select filename, json_extract(j, [
        '$.id', '$.actor', '$.actor.account.name', '$.actor.mbox', '$.actor.mbox_sha1sum', '$.actor.openid',
        '$.verb.id', '$.object', '$.object.objectType', '$.object.id', '$.timestamp', '$.stored', '$.result',
        '$.context.registration', '$.context.contextActivities.parent',
        '$.object.definition.extensions."http://id.tincanapi.com/extension/attempt-id"',
        '$.context.extensions."http://id.tincanapi.com/extension/attempt-id"',
        '$.result.extensions."http://id.tincanapi.com/extension/attempt-id"'
    ]) as p
    from xapi_records
    where json_type(j) = 'OBJECT'
),

fields as (
    select
        filename,
        str(p[1]) as raw_id,
        p[2] as actor,
        str(p[3]) as account_name,
        str(p[4]) as mbox,
        str(p[5]) as mbox_sha1sum,
        str(p[6]) as openid,
        str(p[7]) as verb_id,
        p[8] as object,
        coalesce(str(p[9]), 'Activity') as object_type,
        str(p[10]) as object_id,
        coalesce(jv(p[11]), p[12]) as ts_json,
        case when json_type(p[13]) = 'OBJECT' then p[13] end as result,
        str(p[14]) as registration,
        p[15] as parent,
        coalesce(p[16], p[17], p[18]) ->> '$' as attempt_ext
    from parts
),

valid as (
    select
        *,
        case when json_type(ts_json) = 'VARCHAR' and length(ts_json ->> '$') >= 16
            then utc_ts(ts_json ->> '$') end as statement_at
    from fields
    where regexp_full_match(raw_id, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')
        and json_type(actor) = 'OBJECT'
        and coalesce(account_name, mbox, mbox_sha1sum, openid, '') <> ''
        and coalesce(verb_id, '') <> ''
        and json_type(object) = 'OBJECT'
        and not (object_type in ('Activity', 'StatementRef') and coalesce(object_id, '') = '')
)

select
    lower(raw_id) as statement_id,
    unnest(arg_min(struct_pack(
        statement_at,
        actor_account_name := clean(account_name),
        actor_mbox := lower(clean(mbox)),
        actor_mbox_sha1sum := lower(clean(mbox_sha1sum)),
        verb_id,
        object_type,
        object_id,
        result,
        registration,
        parent_activity_id := case json_type(parent)
            when 'ARRAY' then str(parent -> '$[0].id')
            when 'OBJECT' then str(parent -> '$.id')
        end,
        attempt_ext
    ), filename))
from valid
where statement_at is not null
group by lower(raw_id);

-- actors resolved to LMS users (the pipeline also makes learners of actors no LMS user matches,
-- int_learning__actors; the generated landing zone has none, so the floor keeps to the roster)
create temp table xapi_known as
select
    s.*,
    coalesce(by_account.user_id, by_mbox.user_id, by_sha1.user_id) as user_id
from xapi_typed as s
left join users as by_account on s.actor_account_name = by_account.user_id
left join users_by_email as by_mbox on s.actor_mbox = concat('mailto:', by_mbox.email)
left join users_by_email as by_sha1 on s.actor_mbox_sha1sum = by_sha1.mbox_sha1sum
where coalesce(by_account.user_id, by_mbox.user_id, by_sha1.user_id) is not null;

create temp table voiding as
select statement_id as voiding_statement_id, lower(object_id) as voided_statement_id
from xapi_known
where verb_id = 'http://adlnet.gov/expapi/verbs/voided' and object_type = 'StatementRef' and object_id is not null;

create temp table verbs as
select * from (values
    ('http://adlnet.gov/expapi/verbs/answered', true, false, false),
    ('https://w3id.org/xapi/acrossx/verbs/evaluated', true, false, false),
    ('http://adlnet.gov/expapi/verbs/passed', true, false, false),
    ('http://adlnet.gov/expapi/verbs/failed', true, false, false),
    ('http://adlnet.gov/expapi/verbs/scored', true, false, false),
    ('http://adlnet.gov/expapi/verbs/completed', false, true, false),
    ('http://adlnet.gov/expapi/verbs/asked', false, false, true),
    ('https://w3id.org/xapi/dod-isd/verbs/requested', false, false, true)
) as v (verb_id, is_attempt, is_completion, is_hint);

-- kept statements of the three kinds the marts use, with the fields they need
create temp table statements as
select
    s.statement_id,
    users.learner_id,
    users.account_id,
    s.statement_at,
    s.object_id,
    verbs.is_attempt,
    verbs.is_completion,
    verbs.is_hint,
    s.result is not null as has_result,
    coalesce(
        'registration:' || s.registration,
        'attempt-id:' || s.attempt_ext,
        'statement:' || s.statement_id
    ) as attempt_key,
    s.parent_activity_id,
    num(s.result -> '$.score.scaled') as score_scaled,
    num(s.result -> '$.score.raw') as score_raw,
    num(s.result -> '$.score.min') as score_min,
    num(s.result -> '$.score.max') as score_max,
    bool(s.result -> '$.success') as is_success,
    duration_seconds(str(s.result -> '$.duration')) as duration_seconds
from xapi_known as s
inner join users on s.user_id = users.user_id
inner join verbs on s.verb_id = verbs.verb_id
where s.statement_id not in (select voiding_statement_id from voiding)
    and s.statement_id not in (select voided_statement_id from voiding);

-- attempts: the object is the exercise; hints: the object, up to three segments up, or the parent
create temp table exercise_statements as
with attempt_matches as (
    select s.statement_id, min(e.exercise_id) as exercise_id, 'attempt' as statement_kind
    from statements as s
    inner join exercises as e on s.object_id = e.activity_id
    where s.is_attempt and s.has_result
    group by s.statement_id
),

hint_candidates as (
    select statement_id, object_id as activity_id, 1 as match_rank from statements where is_hint and not is_attempt
    union all
    select statement_id, regexp_replace(object_id, '/[^/]*$', ''), 2
    from statements where is_hint and not is_attempt
    union all
    select statement_id, regexp_replace(regexp_replace(object_id, '/[^/]*$', ''), '/[^/]*$', ''), 3
    from statements where is_hint and not is_attempt
    union all
    select statement_id,
           regexp_replace(regexp_replace(regexp_replace(object_id, '/[^/]*$', ''), '/[^/]*$', ''), '/[^/]*$', ''), 4
    from statements where is_hint and not is_attempt
    union all
    select statement_id, parent_activity_id, 5 from statements where is_hint and not is_attempt
),

hint_matches as (
    select c.statement_id, arg_min(e.exercise_id, (c.match_rank, e.exercise_id)) as exercise_id,
           'hint' as statement_kind
    from hint_candidates as c
    inner join exercises as e on c.activity_id = e.activity_id
    group by c.statement_id
),

matches as (
    select * from attempt_matches
    union all
    select * from hint_matches
)

select s.*, m.exercise_id, m.statement_kind
from statements as s
inner join matches as m on s.statement_id = m.statement_id;

-- ---------------------------------------------------------------------------- fct_attempts
create table fct_attempts as
with scored as (
    select
        *,
        case
            when score_raw is not null and score_max is not null then greatest(score_raw - coalesce(score_min, 0), 0)
            when is_success is not null then case when is_success then 1.0 else 0.0 end
            when score_scaled is not null then greatest(least(score_scaled, 1.0), 0.0)
            else 0.0
        end as correct_answers,
        case
            when score_raw is not null and score_max is not null then greatest(score_max - score_raw, 0)
            when is_success is not null then case when is_success then 0.0 else 1.0 end
            when score_scaled is not null then 1.0 - greatest(least(score_scaled, 1.0), 0.0)
            else 0.0
        end as incorrect_answers,
        greatest(least(coalesce(
            score_scaled,
            case when score_raw is not null and score_max is not null and score_max > coalesce(score_min, 0)
                then (score_raw - coalesce(score_min, 0)) / (score_max - coalesce(score_min, 0)) end,
            case when is_success then 1.0 when not is_success then 0.0 end
        ), 1.0), 0.0) as statement_score_scaled
    from exercise_statements
    where statement_kind = 'attempt'
),

attempts as (
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
        bool_and(score_raw is not null and score_max is not null) as has_raw_scores,
        sum(score_raw - coalesce(score_min, 0)) as raw_span,
        sum(score_max - coalesce(score_min, 0)) as max_span,
        count(*) as statement_count,
        arg_min(statement_id, (statement_at, statement_id)) as first_statement_id,
        arg_max(statement_score_scaled, (statement_at, statement_id)) as last_score_scaled,
        arg_max(is_success, (statement_at, statement_id)) as is_success
    from scored
    group by learner_id, exercise_id, attempt_key
),

numbered as (
    select
        *,
        coalesce(reported_duration_seconds, date_diff('millisecond', started_at, ended_at) / 1000.0)
            as duration_seconds_raw,
        case when has_raw_scores and max_span > 0 then greatest(least(raw_span / max_span, 1.0), 0.0)
            else last_score_scaled end as score_scaled,
        row_number() over (partition by learner_id, exercise_id order by started_at, first_statement_id)
            as attempt_number
    from attempts
),

hint_assignments as (
    select h.statement_id, h.learner_id, h.exercise_id, min(n.attempt_number) as attempt_number
    from exercise_statements as h
    inner join numbered as n
        on h.learner_id = n.learner_id and h.exercise_id = n.exercise_id and h.statement_at <= n.ended_at
    where h.statement_kind = 'hint'
    group by h.statement_id, h.learner_id, h.exercise_id
),

hints_per_attempt as (
    select learner_id, exercise_id, attempt_number, count(*) as hints_taken
    from hint_assignments
    group by all
)

select
    md5(concat(n.learner_id, '|', n.exercise_id, '|', n.attempt_key)) as attempt_sk,
    n.attempt_key,
    n.learner_id,
    users.account_id,
    e.course_id,
    e.chapter_id,
    n.exercise_id,
    n.attempt_number,
    n.attempt_number = 1 as is_first_attempt,
    n.started_at,
    n.ended_at,
    least(n.duration_seconds_raw, 7200) as duration_seconds,
    n.duration_seconds_raw,
    n.duration_seconds_raw > 7200 as is_duration_capped,
    n.correct_answers,
    n.incorrect_answers,
    n.score_scaled,
    n.is_success,
    coalesce(h.hints_taken, 0) as hints_taken,
    e.max_points,
    e.max_points * coalesce(n.score_scaled, 0) as points_earned,
    n.statement_count
from numbered as n
inner join exercises as e on n.exercise_id = e.exercise_id
inner join users on n.learner_id = users.learner_id
left join hints_per_attempt as h
    on n.learner_id = h.learner_id and n.exercise_id = h.exercise_id and n.attempt_number = h.attempt_number;

-- ---------------------------------------------------------------------------- credentials
-- every credential document: awards/*.ndjson lines, *.json files (arrays unnested), JWT payloads
create temp table credential_docs as
with jwt_lines as (
    select trim(line) as token
    from read_csv(getvariable('landing') || '/credentials/**/*.jwt', columns = {'line': 'VARCHAR'}, header = false,
                  delim = chr(1), quote = '', escape = '', auto_detect = false)
    where trim(line) <> ''
),

jwt_payloads as (
    select cast(decode(from_base64(
        translate(split_part(token, '.', 2), '-_', '+/')
        || repeat('=', cast((4 - length(split_part(token, '.', 2)) % 4) % 4 as integer))
    )) as json) as p
    from jwt_lines
)

select json as doc
from read_ndjson_objects(getvariable('landing') || '/credentials/**/*.ndjson', ignore_errors = true)
where json is not null
union all
select json as doc
from read_json_objects(getvariable('landing') || '/credentials/**/*.json', format = 'auto', ignore_errors = true)
where json is not null
union all
-- the vc claim, registered claims filling its gaps (jti -> id, nbf -> issuanceDate, exp -> expirationDate)
select json_merge_patch(
    json_object(
        'id', p -> '$.jti',
        'issuanceDate', case when json_type(p, '$.vc.validFrom') is null and json_type(p, '$.vc.issuanceDate') is null
                             then p -> '$.nbf' end,
        'expirationDate', case when json_type(p, '$.vc.validUntil') is null
                                   and json_type(p, '$.vc.expirationDate') is null then p -> '$.exp' end
    ),
    p -> '$.vc'
) as doc
from jwt_payloads
where json_type(p, '$.vc') = 'OBJECT';

create temp table doc_types as
select doc, cast(coalesce(doc -> '$.type', doc -> '$."@type"') as varchar) as types
from credential_docs;

-- OB 2.0 revocation lists: assertion id -> revoked
create temp table ob2_revoked as
select distinct ref_id(r) as award_id
from (
    select unnest(cast(doc -> '$.revokedAssertions[*]' as json[])) as r
    from doc_types where types like '%RevocationList%'
);

-- an identity: plain email (mailto: stripped, lower case) or 'sha256$<hex>' with its salt
create or replace temp macro is_hashed_identity(value, hashed) as
    coalesce(bool(hashed), regexp_full_match(clean(str(value)), '(?i)(sha256|md5)\$[0-9a-f]+'));
create or replace temp macro identity_of(value, hashed, salt, is_email) as struct_pack(
    identity := case
        when is_hashed_identity(value, hashed) then lower(clean(str(value)))
        when is_email then lower(regexp_replace(clean(str(value)), '^(mailto:|MAILTO:)', ''))
        else clean(str(value))
    end,
    hashed := is_hashed_identity(value, hashed),
    salt := case when is_hashed_identity(value, hashed) then str(salt) end
);
create or replace temp macro revoked_status(st) as
    coalesce(bool(json_extract(st, '$.revoked')), false)
    or lower(trim(coalesce(str(json_extract(st, '$.status')), ''))) = 'revoked';

-- OB 3.0 credentials: standalone, and nested in a CLR (which lends them its subject as fallback
-- and is their parent); the CLR containers themselves only for their recipient (recipient matching)
create temp table ob3_credentials as
select row_number() over () as rid, cred, fallback_subject, parent_id, is_container
from (
    select doc as cred, null::json as fallback_subject, null::varchar as parent_id, false as is_container
    from doc_types where types like '%OpenBadgeCredential%' or types like '%AchievementCredential%'
    union all
    select unnest(json_list(doc -> '$.credentialSubject.verifiableCredential')), doc -> '$.credentialSubject',
           ref_id(doc -> '$.id'), false
    from doc_types where types like '%ClrCredential%'
    union all
    select doc, null::json, null::varchar, true
    from doc_types where types like '%ClrCredential%'
);

-- the recipient of a subject: its first emailAddress identifier, else its id (mailto: -> email)
create temp table ob3_recipients as
with identifiers as (
    select rid, subject_rank, unnest(json_list(subject -> '$.identifier')) as i,
           unnest(range(1, len(json_list(subject -> '$.identifier')) + 1)) as pos
    from (
        select rid, 1 as subject_rank, cred -> '$.credentialSubject' as subject from ob3_credentials
        union all
        select rid, 2, fallback_subject from ob3_credentials where fallback_subject is not null
    )
),

by_identifier as (
    select rid, arg_min(identity_of(i -> '$.identityHash', i -> '$.hashed', i -> '$.salt', true),
                        (subject_rank, pos)) as recipient
    from identifiers
    where trim(coalesce(str(i -> '$.identityType'), '')) in ('emailAddress', 'email')
    group by rid
),

by_id as (
    select rid, struct_pack(
        identity := case when lower(clean(str(cred -> '$.credentialSubject.id'))) like 'mailto:%'
                         then lower(substr(clean(str(cred -> '$.credentialSubject.id')), 8))
                         else clean(str(cred -> '$.credentialSubject.id')) end,
        hashed := false, salt := null::varchar) as recipient
    from ob3_credentials
    where clean(str(cred -> '$.credentialSubject.id')) is not null
)

select c.rid, coalesce(by_identifier.recipient, by_id.recipient) as recipient
from ob3_credentials as c
left join by_identifier on c.rid = by_identifier.rid
left join by_id on c.rid = by_id.rid;

create temp table raw_awards as
-- OB 2.0 assertions
select
    ref_id(doc -> '$.id') as award_id,
    null::varchar as parent_id,
    false as is_container,
    ref_id(doc -> '$.badge') as achievement_id,
    identity_of(doc -> '$.recipient.identity', doc -> '$.recipient.hashed', doc -> '$.recipient.salt',
                lower(trim(coalesce(str(doc -> '$.recipient.type'), 'email'))) = 'email') as recipient,
    jv(doc -> '$.issuedOn') as issued_json,
    jv(doc -> '$.expires') as expires_json,
    coalesce(bool(doc -> '$.revoked'), false) as revoked
from doc_types
where types like '%Assertion%'
union all
select
    ref_id(c.cred -> '$.id'),
    c.parent_id,
    c.is_container,
    case when not c.is_container then ref_id(c.cred -> '$.credentialSubject.achievement') end,
    r.recipient,
    coalesce(jv(c.cred -> '$.validFrom'), jv(c.cred -> '$.issuanceDate'), jv(c.cred -> '$.awardedDate')),
    coalesce(jv(c.cred -> '$.validUntil'), jv(c.cred -> '$.expirationDate')),
    case when json_type(c.cred, '$.credentialStatus') = 'ARRAY'
        then list_contains(json_extract_string(c.cred, '$.credentialStatus[*].status'), 'revoked')
            or list_contains(json_extract_string(c.cred, '$.credentialStatus[*].revoked'), 'true')
        else revoked_status(c.cred -> '$.credentialStatus') end
from ob3_credentials as c
inner join ob3_recipients as r on c.rid = r.rid;

create temp table collection_members as
select
    clean(collection_id) as collection_id,
    try_cast(trim(position) as integer) as position,
    clean(achievement_id) as achievement_id,
    clean(course_id) as course_id
from read_csv(getvariable('landing') || '/credentials/collections.csv', header = true, all_varchar = true,
              ignore_errors = true)
where clean(collection_id) is not null and clean(achievement_id) is not null;

create temp table awards as
with typed as (
    select
        award_id,
        parent_id,
        is_container,
        achievement_id,
        lower(clean(recipient.identity)) as recipient_identity,
        coalesce(recipient.salt, '') as recipient_salt,
        (coalesce(recipient.hashed, false) or lower(clean(recipient.identity)) like 'sha256$%') as is_hashed,
        case when json_type(issued_json) in ('BIGINT', 'UBIGINT', 'DOUBLE')
            then make_timestamp(cast(cast(issued_json as double) * 1000000 as bigint))
            else utc_ts(str(issued_json)) end as issued_at,
        case when json_type(expires_json) in ('BIGINT', 'UBIGINT', 'DOUBLE')
            then make_timestamp(cast(cast(expires_json as double) * 1000000 as bigint))
            else utc_ts(str(expires_json)) end as expires_at,
        revoked or award_id in (select award_id from ob2_revoked) as revoked_in_document
    from raw_awards
    where award_id is not null and recipient.identity is not null
),

events as (
    select
        clean(json ->> '$.credential_id') as award_id,
        min(utc_ts(json ->> '$.occurred_at')) as revoked_at
    from read_ndjson_objects(getvariable('landing') || '/credential_events/*.ndjson', ignore_errors = true)
    where json ->> '$.event_type' = 'revoked'
    group by all
),

-- salted identities: sha256(email || salt) recomputed in passes like int_credentials__recipient_hashes,
-- each only for the (salt, identity) pairs no earlier pass matched: pass 1 hashes each pair with the
-- emails of users enrolled in a course its credential certifies and of the plain-email recipients of
-- the same CLR; pass 2 with the users of the accounts owning the courses of its credential's
-- collections; passes 1 and 2 only for salts of a single pair (CLR containers counted); pass 3 per
-- salt with every email
hashed as (
    select award_id, parent_id, achievement_id, recipient_salt, recipient_identity
    from typed
    where not is_container and is_hashed and recipient_identity like 'sha256$%'
),

pairs_0 as (
    select distinct recipient_salt, recipient_identity from hashed
),

single_pair_salts as (
    select recipient_salt from typed
    where is_hashed and recipient_identity like 'sha256$%'
    group by recipient_salt having count(distinct recipient_identity) = 1
),

user_emails as (
    select distinct email from users where email is not null
),

candidates_1 as (
    select p.recipient_salt, p.recipient_identity, u.email
    from (select distinct hashed.recipient_salt, hashed.recipient_identity, m.course_id
          from hashed semi join single_pair_salts using (recipient_salt)
          inner join collection_members as m on hashed.achievement_id = m.achievement_id
          where m.course_id is not null) as p
    inner join (select distinct e.course_id, users.email from enrollments as e
                inner join users on e.learner_id = users.learner_id where users.email is not null) as u
        on p.course_id = u.course_id
    union all
    select distinct hashed.recipient_salt, hashed.recipient_identity, same_document.recipient_identity
    from hashed semi join single_pair_salts using (recipient_salt)
    inner join typed as same_document
        on coalesce(hashed.parent_id, hashed.award_id) = coalesce(same_document.parent_id, same_document.award_id)
    where same_document.recipient_identity in (select email from user_emails)
),

-- the hash inside the aggregate: never a join condition
found_1 as (
    select * from (
        select recipient_salt, recipient_identity,
               min(case when sha256(concat(email, recipient_salt)) = substr(recipient_identity, 8) then email end)
                   as matched_email
        from candidates_1 group by all
    ) where matched_email is not null
),

candidates_2 as (
    select p.recipient_salt, p.recipient_identity, a.email
    from (select distinct hashed.recipient_salt, hashed.recipient_identity, c.account_id
          from hashed semi join single_pair_salts using (recipient_salt)
          anti join found_1 using (recipient_salt, recipient_identity)
          inner join collection_members as m on hashed.achievement_id = m.achievement_id
          inner join collection_members as pathway on m.collection_id = pathway.collection_id
          inner join courses as c on pathway.course_id = c.course_id
          where c.account_id is not null) as p
    inner join (select distinct account_id, email from users where email is not null and account_id is not null) as a
        on p.account_id = a.account_id
),

found_2 as (
    select * from (
        select recipient_salt, recipient_identity,
               min(case when sha256(concat(email, recipient_salt)) = substr(recipient_identity, 8) then email end)
                   as matched_email
        from candidates_2 group by all
    ) where matched_email is not null
),

pairs_2 as (
    select * from pairs_0
    anti join found_1 using (recipient_salt, recipient_identity)
    anti join found_2 using (recipient_salt, recipient_identity)
),

found_3 as (
    select pairs_2.recipient_salt, pairs_2.recipient_identity, min(d.email) as matched_email
    from pairs_2
    inner join (select salts.recipient_salt, user_emails.email,
                       sha256(concat(user_emails.email, salts.recipient_salt)) as digest
                from (select distinct recipient_salt from pairs_2) as salts cross join user_emails) as d
        on pairs_2.recipient_salt = d.recipient_salt and substr(pairs_2.recipient_identity, 8) = d.digest
    group by all
),

matches as (
    select typed.award_id, users.user_id, users.learner_id, users.account_id
    from typed inner join users on not typed.is_hashed and typed.recipient_identity = users.email
    union all
    select hashed.award_id, users.user_id, users.learner_id, users.account_id
    from hashed
    inner join (select * from found_1 union all select * from found_2 union all select * from found_3) as found
        using (recipient_salt, recipient_identity)
    inner join users on found.matched_email = users.email
),

best as (
    select award_id, arg_min(learner_id, user_id) as learner_id, arg_min(account_id, user_id) as account_id
    from matches group by award_id
)

select
    typed.award_id,
    typed.achievement_id,
    coalesce(best.learner_id, case
        when typed.recipient_identity is not null then pseudonym(concat('recipient:', typed.recipient_identity))
        else pseudonym(concat('award:', typed.award_id)) end) as learner_id,
    best.account_id,
    typed.issued_at,
    typed.expires_at,
    typed.revoked_in_document or events.revoked_at is not null as is_revoked,
    case
        when (typed.revoked_in_document or events.revoked_at is not null)
            and (events.revoked_at is null
                 or events.revoked_at < cast(cast(getvariable('as_of_date') as date) + interval 1 day as timestamp))
            then 'revoked'
        when typed.expires_at < cast(cast(getvariable('as_of_date') as date) + interval 1 day as timestamp)
            then 'expired'
        else 'active'
    end as status
from typed
left join best on typed.award_id = best.award_id
left join events on typed.award_id = events.award_id
where not typed.is_container;

-- ---------------------------------------------------------------------------- fct_credential_transitions
create table fct_credential_transitions as
with earned as (
    select
        m.collection_id,
        a.learner_id,
        arg_min(a.account_id, (a.issued_at, a.award_id)) as account_id,
        a.achievement_id,
        arg_min(a.award_id, (a.issued_at, a.award_id)) as award_id,
        min(m.position) as position,
        min(a.issued_at) as issued_at
    from awards as a
    inner join collection_members as m on a.achievement_id = m.achievement_id
    where not a.is_revoked and a.issued_at is not null and a.achievement_id is not null
    group by m.collection_id, a.learner_id, a.achievement_id
),

ordered as (
    select
        *,
        row_number() over w as sequence_number,
        lag(achievement_id) over w as previous_achievement_id,
        lag(issued_at) over w as previous_issued_at,
        lead(achievement_id) over w as next_achievement_id,
        lead(issued_at) over w as next_issued_at
    from earned
    window w as (partition by collection_id, learner_id order by issued_at, position, achievement_id)
)

select
    collection_id,
    learner_id,
    account_id,
    achievement_id,
    award_id,
    position,
    issued_at,
    sequence_number,
    previous_achievement_id,
    next_achievement_id,
    case when previous_achievement_id is null then 'new' else 'continuing' end as entry_type,
    case when next_achievement_id is null then 'stopped' else 'advanced' end as exit_type,
    case when previous_issued_at is not null
        then date_diff('day', cast(previous_issued_at as date), cast(issued_at as date)) end as days_since_previous,
    case when next_issued_at is not null
        then date_diff('day', cast(issued_at as date), cast(next_issued_at as date)) end as days_to_next
from ordered;

-- ---------------------------------------------------------------------------- mart_group_league
-- floating metrics summed and averaged as exact decimals (macros exact_sum, exact_avg) and
-- rounded to 6 decimals where the marts round them (macro stable_round)
create table mart_group_league as
with exercise_summary as (
    select
        coalesce(a.learner_id, h.learner_id) as learner_id,
        coalesce(a.exercise_id, h.exercise_id) as exercise_id,
        coalesce(a.attempts, 0) as attempts,
        100.0 * coalesce(a.best_score_scaled, 0) as mastery_pct,
        coalesce(a.correct_answers, 0) as correct_answers,
        coalesce(a.incorrect_answers, 0) as incorrect_answers,
        coalesce(h.hints_taken, 0) as hints_taken,
        round(cast(coalesce(a.time_spent_seconds, 0) as double), 6) as time_spent_seconds,
        coalesce(a.points, 0) as points,
        a.first_attempt_at
    from (
        select learner_id, exercise_id, count(*) as attempts, max(score_scaled) as best_score_scaled,
               sum(cast(correct_answers as decimal(38, 10))) as correct_answers,
               sum(cast(incorrect_answers as decimal(38, 10))) as incorrect_answers,
               sum(cast(duration_seconds as decimal(38, 10))) as time_spent_seconds, max(points_earned) as points,
               min(started_at) as first_attempt_at
        from fct_attempts group by all
    ) as a
    full outer join (
        select learner_id, exercise_id, count(*) as hints_taken
        from exercise_statements where statement_kind = 'hint' group by all
    ) as h on a.learner_id = h.learner_id and a.exercise_id = h.exercise_id
),

exercise_stats as (
    select
        s.learner_id,
        e.course_id,
        count(*) filter (where s.attempts > 0) as exercises_attempted,
        count(*) filter (where s.mastery_pct >= 80) as exercises_mastered,
        sum(cast(s.mastery_pct as decimal(38, 10))) as mastery_pct_sum,
        sum(cast(s.correct_answers as decimal(38, 10))) as correct_answers,
        sum(cast(s.incorrect_answers as decimal(38, 10))) as incorrect_answers,
        sum(cast(s.points as decimal(38, 10))) as points,
        sum(cast(s.time_spent_seconds as decimal(38, 10))) as time_spent_seconds,
        max(s.first_attempt_at) as last_first_attempt_at
    from exercise_summary as s
    inner join exercises as e on s.exercise_id = e.exercise_id
    inner join users on s.learner_id = users.learner_id
    group by all
),

completions as (
    select s.learner_id, c.course_id, min(s.statement_at) as completed_at
    from statements as s
    inner join courses as c on s.object_id = c.activity_id
    where s.is_completion
    group by all
),

credentials as (
    select
        a.learner_id,
        m.course_id,
        count(distinct case when a.status <> 'revoked' then a.achievement_id end) as credentials_held,
        coalesce(max(case when a.status = 'active' then 1 else 0 end) = 1, false) as is_certified
    from awards as a
    inner join (select distinct achievement_id, course_id from collection_members where course_id is not null) as m
        on a.achievement_id = m.achievement_id
    group by all
),

participants as (
    select p.learner_id, p.course_id
    from (
        select learner_id, course_id from enrollments
        union
        select es.learner_id, e.course_id
        from exercise_statements as es inner join exercises as e on es.exercise_id = e.exercise_id
        union
        select learner_id, course_id from completions
    ) as p
    inner join users on p.learner_id = users.learner_id
    inner join courses on p.course_id = courses.course_id
),

progress as (
    select
        p.learner_id,
        p.course_id,
        round(cast(case when t.exercise_count > 0 then coalesce(x.mastery_pct_sum, 0) / t.exercise_count else 0.0 end as double), 6)
            as mastery_pct,
        (t.exercise_count > 0 and coalesce(x.exercises_attempted, 0) = t.exercise_count)
            or c.completed_at is not null as is_completed,
        coalesce(cr.is_certified, false) as is_certified,
        coalesce(cr.credentials_held, 0) as credentials_held,
        round(case when coalesce(x.correct_answers, 0) + coalesce(x.incorrect_answers, 0) > 0
            then cast(100.0 * x.correct_answers / (x.correct_answers + x.incorrect_answers) as double) end, 6) as score_pct,
        round(cast(coalesce(x.points, 0) as double), 6) as points,
        round(cast(coalesce(x.time_spent_seconds, 0) as double), 6) as time_spent_seconds
    from participants as p
    inner join course_totals as t on p.course_id = t.course_id
    left join exercise_stats as x on p.learner_id = x.learner_id and p.course_id = x.course_id
    left join completions as c on p.learner_id = c.learner_id and p.course_id = c.course_id
    left join credentials as cr on p.learner_id = cr.learner_id and p.course_id = cr.course_id
),

aggregated as (
    select
        gm.account_id,
        gm.group_id,
        pr.course_id,
        count(*) as members,
        round(cast(avg(cast(pr.mastery_pct as decimal(38, 10))) as double), 6) as avg_mastery_pct,
        round(100.0 * count(*) filter (where pr.is_completed) / count(*), 6) as completion_rate_pct,
        round(100.0 * count(*) filter (where pr.is_certified) / count(*), 6) as certification_rate_pct,
        sum(pr.credentials_held) as credentials_held,
        round(cast(avg(cast(pr.score_pct as decimal(38, 10))) as double), 6) as avg_score_pct,
        round(cast(sum(cast(pr.points as decimal(38, 10))) as double), 6) as total_points,
        round(cast(avg(cast(pr.points as decimal(38, 10))) as double), 6) as avg_points,
        round(cast(sum(cast(pr.time_spent_seconds as decimal(38, 10))) as double), 6) as total_time_spent_seconds,
        round(cast(avg(cast(pr.time_spent_seconds as decimal(38, 10))) as double), 6) as avg_time_spent_seconds
    from group_members as gm
    inner join progress as pr on gm.learner_id = pr.learner_id
    group by all
)

select
    *,
    rank() over (partition by account_id, course_id order by avg_mastery_pct desc) as rank_mastery,
    rank() over (partition by account_id, course_id order by completion_rate_pct desc) as rank_completion,
    rank() over (partition by account_id, course_id order by certification_rate_pct desc) as rank_certification,
    rank() over (partition by account_id, course_id order by avg_score_pct desc nulls last) as rank_score,
    rank() over (partition by account_id, course_id order by avg_points desc) as rank_points,
    rank() over (partition by account_id, course_id order by avg_time_spent_seconds desc) as rank_time_spent
from aggregated;
