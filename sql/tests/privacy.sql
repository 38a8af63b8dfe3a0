-- The read audit: every API read of a resident leaves one resident_reads
-- row per resident per request, naming who read (operator or token).
\ir lib/fixtures.sql
SELECT plan(23);

SELECT pg_temp.residents('Wang Fang', 'Wang Wei', 'Li Na') \g /dev/null
INSERT INTO operators (name, password_hash) VALUES ('amy', '$argon2id$x');
INSERT INTO api_tokens (name, role, token_hash, token_prefix) VALUES ('pbx', 'operator', sha256('pbx'), 'clt_p');
INSERT INTO calls (resident_id, caller_phone, service, wanted_at)
SELECT id, phone, s, now() FROM residents, unnest(ARRAY['meal', 'housekeeping']) s WHERE name LIKE 'Wang%';

CREATE FUNCTION pg_temp.reads() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM resident_reads $$;
SELECT id AS amy FROM operators \gset
SELECT id AS pbx FROM api_tokens \gset

SELECT is(careline_api_residents_get('operator:' || :amy, 'GET /v1/residents/{id}', pg_temp.res('Li Na'))
              #>> '{body,name}', 'Li Na', 'a resident is read ...');
SELECT results_eq($$SELECT resident_id, actor, operator_id, token_id, route FROM resident_reads$$,
                  format($$VALUES (%s::bigint, 'operator:%s', %s::bigint, NULL::bigint, 'GET /v1/residents/{id}')$$,
                         pg_temp.res('Li Na'), :amy, :amy),
                  '... and the read is logged with the operator''s id');
SELECT is(careline_api_residents_get('operator:' || :amy, 'GET /v1/residents/{id}', -1) ->> 'status', '404',
          'an unknown resident: 404 ...');
SELECT is(pg_temp.reads(), 1::bigint, '... and nothing logged');

SELECT is(jsonb_array_length(careline_resident_search_read('token:' || :pbx, 'GET /v1/residents', NULL, 'wang', 10)
              -> 'items'), 2, 'a search by name finds two');
SELECT is((SELECT array_agg(resident_id ORDER BY resident_id) FROM resident_reads WHERE token_id = :pbx),
          ARRAY[pg_temp.res('Wang Fang'), pg_temp.res('Wang Wei')], 'both are logged, under the token''s id');
SELECT careline_resident_search_read('token:' || :pbx, 'GET /v1/residents', '13000000000', NULL, 10) \g /dev/null
SELECT is(pg_temp.reads(), 3::bigint, 'a search that finds nobody logs nothing');

SELECT is(jsonb_array_length(careline_call_list_read('token:' || :pbx, 'GET /v1/calls', NULL, NULL, NULL, NULL, 50, NULL)
              -> 'items'), 4, 'four calls listed ...');
SELECT is((SELECT count(*) FROM resident_reads WHERE route = 'GET /v1/calls'), 2::bigint,
          '... of two residents: two rows, not four');
SELECT is(careline_api_calls_get('operator:' || :amy, 'GET /v1/calls/{id}', (SELECT min(id) FROM calls))
              #>> '{body,resident,name}', 'Wang Fang', 'a call shows its resident''s name ...');
SELECT is((SELECT resident_id FROM resident_reads WHERE route = 'GET /v1/calls/{id}'), pg_temp.res('Wang Fang'),
          '... so reading it is a read of the resident');
SELECT is(careline_api_calls_get('operator:' || :amy, 'GET /v1/calls/{id}', -1) ->> 'status', '404',
          'an unknown call: 404');
SELECT careline_matches_read('operator:' || :amy, 'GET /v1/matches', pg_temp.res('Li Na'), 'meal', now(),
                             '{"max_minutes": 15, "detour_factor": 1.3, "limit": 5, "timezone": "Asia/Shanghai", "speeds": {"walk": 4, "ebike": 15, "car": 25, "shuttle": 20, "wheelchair": 2.5}}') \g /dev/null
SELECT is((SELECT count(*) FROM resident_reads WHERE route = 'GET /v1/matches'), 1::bigint,
          'a match for a resident is a read of where they live');
SELECT is(careline_api_residents_context('operator:' || :amy, 'GET /v1/residents/{id}/context', pg_temp.res('Li Na'))
              ->> 'status', '200', 'the resident''s context is read ...');
SELECT is((SELECT count(*) FROM resident_reads WHERE route = 'GET /v1/residents/{id}/context'), 1::bigint,
          '... and logged');

-- Actors the log cannot attribute keep their text, with neither id.
SELECT careline_resident_reads_record('system', 'job', ARRAY[pg_temp.res('Li Na'), pg_temp.res('Li Na'), NULL])
    \g /dev/null
SELECT results_eq($$SELECT actor, operator_id, token_id FROM resident_reads WHERE route = 'job'$$,
                  $$VALUES ('system', NULL::bigint, NULL::bigint)$$,
                  'one row per distinct resident; an actor that is neither operator:N nor token:N names nobody');

-- The access log, newest first, paged; it outlives the resident's row.
SELECT careline_api_residents_access_log(pg_temp.res('Li Na'), 2, NULL) AS p1 \gset
SELECT is(jsonb_array_length(:'p1'::jsonb #> '{body,items}'), 2, 'the access log pages by 2');
SELECT is(:'p1'::jsonb #>> '{body,items,0,route}', 'job', 'newest first');
SELECT is(:'p1'::jsonb #> '{body,items,1,who}', jsonb_build_object('kind', 'operator', 'id', :amy, 'name', 'amy'),
          'naming the operator who read');
SELECT is(jsonb_array_length(careline_api_residents_access_log(pg_temp.res('Li Na'), 2,
              (:'p1'::jsonb #>> '{body,next_cursor}')::bigint) #> '{body,items}'), 2,
          'the next page holds the older two');
SELECT is(careline_api_residents_access_log(-1, 10, NULL) ->> 'status', '404', 'nobody ever: 404');
INSERT INTO resident_reads (resident_id, actor, route) VALUES (-7, 'token:1', 'GET /v1/residents/{id}');
SELECT is(careline_api_residents_access_log(-7, 10, NULL) ->> 'status', '200',
          'a deleted resident''s reads can still be listed');

SELECT is(ARRAY[careline_actor_id('operator:12', 'operator'), careline_actor_id('token:12', 'operator'),
                careline_actor_id('token:7', 'token'), careline_actor_id('token:7x', 'token'),
                careline_actor_id('token:' || repeat('9', 19), 'token'), careline_actor_id('system', 'token')],
          ARRAY[12, NULL, 7, NULL, NULL, NULL]::bigint[],
          'careline_actor_id: the N of KIND:N, NULL for another kind, a malformed or an overlong id');

SELECT * FROM finish();
ROLLBACK;
