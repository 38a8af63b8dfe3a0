-- The /v1 route functions (careline_api_*): the typed errors the domain
-- functions raise, the one place they become statuses, and what a few
-- routes answer for each status they can give.
\ir lib/fixtures.sql
SELECT plan(41);

INSERT INTO residents (name, phone, address, location) VALUES
    ('Wang Fang', '13900000001', 'Flat 1, Elm Road', 'SRID=4326;POINT(113.19 27.88)');
INSERT INTO providers (name, services, location, travel_mode, capacity, opening_hours) VALUES
    ('first', '{meal}', 'SRID=4326;POINT(113.1913 27.8813)', 'walk', 5, 'Mo-Su 00:00-24:00');

-- The table of typed errors.
SELECT is(careline_api_status('KL404'), 404, 'KL404 is a 404');
SELECT is(careline_api_status('KL422'), 422, 'KL422 is a 422');
SELECT is(careline_api_status('23505'), NULL, 'a SQLSTATE of PostgreSQL''s is not in the table');
SELECT throws_ok($$SELECT careline_raise('KL409', 'offer_not_open', 'Offer 1 is closed.')$$,
                 'KL409', 'Offer 1 is closed.', 'careline_raise raises its SQLSTATE with the message');
SELECT throws_ok($$SELECT careline_raise('KL999', 'nonsense', 'x')$$, 'XX000', NULL,
                 'a SQLSTATE not in the table is refused');

-- The one place they become statuses.
SELECT is(careline_api_error('KL422', 'Two share it.',
                             '{"code": "ambiguous_resident", "field": "resident_id", "candidates": [1, 2]}',
                             NULL),
          '{"status": 422, "body": {"error": {"code": "ambiguous_resident", "message": "Two share it.",
            "field": "resident_id"}, "candidates": [1, 2]}}'::jsonb,
          'a typed error: its status, the Error body, and its keys beside "error"');
SELECT is(careline_api_error('KL404', 'No call.', '{"code": "call_not_found", "field": null}', NULL),
          '{"status": 404, "body": {"error": {"code": "call_not_found", "message": "No call.",
            "field": null}}}'::jsonb,
          'no field: "field" is null');
SELECT is(careline_api_error('23505', 'duplicate key', 'Key (x)=(1) already exists.', 'operators_name_key'),
          careline_error(409, 'conflict',
                         'this conflicts with an existing record: operators_name_key', NULL),
          'a unique violation: 409 conflict, naming the constraint but not the row');
SELECT is(careline_api_error('23514', 'check', NULL, 'calls_status_check') #>> '{body,error,code}',
          'constraint_violation', 'another integrity violation: 422 constraint_violation');
SELECT is(careline_api_error('P0002', 'no resident 9', NULL, NULL),
          careline_error(404, 'not_found', 'no such record', NULL), 'no data: 404 not_found');
SELECT is(careline_api_error('22008', 'date/time field value out of range', NULL, NULL),
          careline_error(422, 'invalid_value', 'a value is out of range or malformed', NULL),
          'a data exception: 422 invalid_value');
SELECT throws_ok($$SELECT careline_api_error('40001', 'could not serialize', NULL, NULL)$$,
                 '40001', 'could not serialize', 'anything else is raised again, for the daemon');

-- Domain functions raise; they do not answer with statuses.
SELECT throws_ok($$SELECT careline_call_transition('t', -1, 'cancel', NULL)$$, 'KL404',
                 'There is no call with id -1.', 'careline_call_transition: an unknown call raises KL404');
SELECT throws_ok($$SELECT careline_token_revoke('t', -1)$$, 'KL404', NULL,
                 'careline_token_revoke: an unknown token raises KL404');
SELECT throws_ok($$SELECT careline_resident_save('t', NULL, '[]')$$, 'KL400', NULL,
                 'careline_resident_save: a body that is not an object raises KL400');
SELECT throws_ok($$SELECT careline_session_start(-1, sha256('x'), 900)$$, 'KL401', NULL,
                 'careline_session_start: an unknown operator raises KL401');
SELECT throws_ok($$SELECT careline_ringing_get(-1)$$, 'KL404', NULL,
                 'a SQL function raises from an expression (careline_ringing_get)');

-- Every route function answers jsonb {status, body}.
SELECT is((SELECT count(*) FROM pg_proc
           WHERE proname LIKE 'careline\_api\_%' AND proname NOT IN ('careline_api_status')
             AND prorettype <> 'jsonb'::regtype), 0::bigint,
          'every careline_api_* function returns jsonb');

-- POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{id}: 201, 200, 404, 422.
SELECT careline_api_tokens_create('t', 'pbx', 'operator', NULL, sha256('tok1'), 'clt_a') AS tk \gset
SELECT is((:'tk'::jsonb ->> 'status')::int, 201, 'tokens_create: 201');
SELECT is(careline_api_tokens_create('t', 'pbx', 'robot', NULL, sha256('tok2'), 'clt_b'),
          '{"status": 422, "body": {"error": {"code": "invalid_value",
            "message": "role must be operator, admin or provider.", "field": "role"}}}'::jsonb,
          'tokens_create: an unknown role is 422 invalid_value on role');
SELECT is(careline_api_tokens_create('t', 'pbx', 'provider', -1, sha256('tok3'), 'clt_c')
              #>> '{body,error,code}', 'provider_not_found', 'tokens_create: an unknown provider: 422 ...');
SELECT is(careline_api_tokens_create('t', 'pbx', 'provider', -1, sha256('tok3'), 'clt_c') ->> 'status',
          '422', '... with status 422');
SELECT is(careline_api_tokens_list() ->> 'status', '200', 'tokens_list: 200');
SELECT is(jsonb_array_length(careline_api_tokens_list() #> '{body,items}'), 1, '... with the token');
SELECT is(careline_api_tokens_revoke('t', (:'tk'::jsonb #>> '{body,id}')::bigint) ->> 'status', '200',
          'tokens_revoke: 200');
SELECT is(careline_api_tokens_revoke('t', -1),
          '{"status": 404, "body": {"error": {"code": "token_not_found",
            "message": "There is no API token with id -1.", "field": null}}}'::jsonb,
          'tokens_revoke: an unknown token is 404 token_not_found');

-- GET /v1/providers/{id}: 200 and 404.
SELECT is(careline_api_providers_get((SELECT id FROM providers WHERE name = 'first')) #>> '{body,name}',
          'first', 'providers_get: the provider');
SELECT is(careline_api_providers_get(-1),
          '{"status": 404, "body": {"error": {"code": "provider_not_found",
            "message": "no provider with this id", "field": null}}}'::jsonb,
          'providers_get: 404 provider_not_found');

-- POST /v1/calls/{id}/cancel: 404, 422, 200, then 409 with the call beside the error.
SELECT careline_api_calls_create('token:1', NULL,
           jsonb_build_object('resident_id', (SELECT id FROM residents), 'service', 'meal'),
           pg_temp.params(), NULL, NULL) AS c \gset
SELECT is((:'c'::jsonb ->> 'status')::int, 201, 'calls_create: 201');
SELECT is(careline_api_calls_create('token:1', NULL, '{"caller_phone": "13911111111", "service": "meal"}',
                                    pg_temp.params(), NULL, NULL) #>> '{body,error,field}',
          'caller_phone', 'calls_create: an unregistered number names caller_phone');
SELECT is(careline_api_calls_transition('t', -1, 'cancel', NULL) ->> 'status', '404',
          'calls_transition: an unknown call: 404');
SELECT is(careline_api_calls_transition('t', (:'c'::jsonb #>> '{body,id}')::bigint, 'reopen', NULL)
              #>> '{body,error,code}', 'invalid_action', 'calls_transition: an unknown action: 422 invalid_action');
SELECT is(careline_api_calls_transition('t', (:'c'::jsonb #>> '{body,id}')::bigint, 'cancel', NULL)
              ->> 'status', '200', 'calls_transition: cancel: 200');
SELECT careline_api_calls_transition('t', (:'c'::jsonb #>> '{body,id}')::bigint, 'cancel', NULL) AS again \gset
SELECT is((:'again'::jsonb ->> 'status')::int, 409, 'calls_transition: twice: 409 ...');
SELECT is(:'again'::jsonb #>> '{body,call,status}', 'cancelled', '... with the call beside the error');

-- A value the database refuses, read inside the route: 422, not a failed statement.
SELECT is(careline_api_calls_list('t', 'GET /v1/calls', NULL, NULL, NULL, '2026-02-30T08:00:00+08:00',
                                  10, NULL) #>> '{body,error,code}',
          'invalid_value', 'calls_list: an impossible since date: 422 invalid_value');
SELECT is(careline_api_calls_list('t', 'GET /v1/calls', NULL, NULL, NULL, NULL, 10, NULL) ->> 'status',
          '200', 'calls_list: 200');
-- The database's own "no data" from careline_match.
SELECT is(careline_api_matches_list('t', 'GET /v1/matches', -1, 'meal', NULL, pg_temp.params()) ->> 'status', '404',
          'matches_list: an unknown resident: 404 not_found');

-- The console's sign-in, and an operator account twice.
SELECT is(careline_api_session_start(-1, sha256('s'), 900) #>> '{body,error,code}', 'invalid_credentials',
          'session_start: no such operator: 401 invalid_credentials');
SELECT is(careline_api_operators_create('cli', 'amy',
              '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', 'operator') ->> 'status', '201',
          'operators_create: 201');
SELECT is(careline_api_operators_create('cli', 'AMY',
              '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', 'operator') ->> 'status', '409',
          'operators_create: the same name in another case: 409');

SELECT * FROM finish();
ROLLBACK;
