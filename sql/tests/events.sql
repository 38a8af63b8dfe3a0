-- The operators' event stream carries ids, never a person; the ringing
-- pop; careline_events_checked's credential sweep and bounded replays.
\ir lib/fixtures.sql
SELECT plan(21);

-- The dispatch parameters the daemon passes (pg_temp.params, lib/fixtures.sql).
\set par 'pg_temp.params()'

INSERT INTO residents (name, phone, address, location) VALUES
    ('Wang Fang', '13900000001', 'Flat 1, Elm Road', 'SRID=4326;POINT(113.19 27.88)'),
    ('Wang Wei', '13900000001', 'Flat 2, Elm Road', 'SRID=4326;POINT(113.19 27.88)');
SELECT pg_temp.provider('first', p_at => 'SRID=4326;POINT(113.1901 27.8801)', p_hook => true) \g /dev/null
SELECT coalesce(max(id), 0) AS e0 FROM events \gset

-- The ringing pop.
SELECT careline_ringing('token:1', '13900000001') AS r \gset
SELECT is((:'r'::jsonb ->> 'status')::int, 202, 'a ringing number is accepted');
SELECT is(jsonb_array_length(:'r'::jsonb #> '{body,residents}'), 2,
          'the PBX, which asked with its token, gets both cards');
SELECT is((SELECT data FROM events WHERE type = 'call.ringing'),
          jsonb_build_object('ringing_id', (:'r'::jsonb #>> '{body,ringing_id}')::bigint,
                             'resident_ids', (SELECT jsonb_agg(id ORDER BY name) FROM residents)),
          'the event names the ringing and the residents by id only');
SELECT is(careline_api_ringing_get((:'r'::jsonb #>> '{body,ringing_id}')::bigint) #>> '{body,phone}', '13900000001',
          'a console fetches the number with its own credential');
SELECT is(careline_api_ringing_get(-1) ->> 'status', '404', 'an unknown ringing: 404');
INSERT INTO ringings (at, phone) VALUES (now() - interval '25 hours', '13000000000');
SELECT careline_ringing('token:1', '13911111111') \g /dev/null
SELECT is((SELECT count(*) FROM ringings WHERE phone = '13000000000'), 0::bigint,
          'numbers are kept a day at most');

-- A call's whole life: no event carries a name, phone or address.
SELECT careline_api_calls_create('token:1', NULL, jsonb_build_object('resident_id', (SELECT min(id) FROM residents),
                            'caller_phone', '13900000001', 'service', 'meal'), :par, NULL, NULL)
    #>> '{body,id}' AS c \gset
SELECT careline_api_offers_answer('token:2', (SELECT id FROM offers), NULL, NULL, 'accept', NULL, :par) \g /dev/null
SELECT careline_api_offers_answer('token:2', (SELECT id FROM offers), NULL, NULL, 'completed', NULL, :par) \g /dev/null
SELECT is((SELECT array_agg(type ORDER BY id) FROM events WHERE call_id = :c),
          ARRAY['call.created', 'offer.offered', 'offer.accepted', 'call.completed'],
          'a call is created, offered, accepted and completed');
SELECT is((SELECT count(*) FROM events WHERE data::text ~ '(Wang|1390000|Elm Road)'), 0::bigint,
          'and no event names, rings or locates anyone');

-- careline_events_checked: ended credentials first, then events.
INSERT INTO api_tokens (name, role, token_hash, token_prefix) VALUES
    ('live', 'operator', sha256('live'), 'clt_l'), ('dead', 'operator', sha256('dead'), 'clt_d');
UPDATE api_tokens SET revoked_at = now() WHERE name = 'dead';
INSERT INTO operators (name, password_hash) VALUES ('amy', '$argon2id$x');
SELECT careline_api_session_start((SELECT id FROM operators), sha256('sess'), 900) \g /dev/null
SELECT results_eq(
    format($$SELECT json FROM careline_events_checked(%s, 100, ARRAY[%L, %L, %L, %L], 900, NULL, NULL)
             WHERE id IS NULL$$, (SELECT max(id) FROM events),
           encode(sha256('live'), 'hex'), encode(sha256('dead'), 'hex'), encode(sha256('sess'), 'hex'),
           encode(sha256('never'), 'hex')),
    format($$VALUES (%L), (%L)$$, encode(sha256('dead'), 'hex'), encode(sha256('never'), 'hex')),
    'a revoked and an unknown credential are reported ended; a live token and session are not');
UPDATE sessions SET created_at = now() - interval '1 hour', last_seen_at = now() - interval '1 hour';
SELECT is((SELECT count(*) FROM careline_events_checked((SELECT max(id) FROM events), 100,
           ARRAY[encode(sha256('sess'), 'hex')], 900, NULL, NULL) WHERE id IS NULL), 1::bigint,
          'an idle session is ended');
SELECT is((SELECT last_seen_at FROM sessions), now() - interval '1 hour',
          'and watching the stream does not keep it alive');
SELECT is((SELECT array_agg(id ORDER BY id) FROM careline_events_checked(:e0, 100, '{}', 900, NULL, NULL)),
          (SELECT array_agg(id ORDER BY id) FROM events WHERE id > :e0), 'events after the cursor, oldest first');
SELECT is((SELECT count(*) FROM careline_events_checked(:e0, 2, '{}', 900, NULL, NULL)), 2::bigint,
          'at most p_limit of them');
SELECT is((SELECT array_agg(id ORDER BY id) FROM careline_events_checked(0, 100, '{}', 900, 3, NULL)),
          (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM events ORDER BY id DESC LIMIT 3) x),
          'a replay goes back at most p_replay_max events');
UPDATE events SET at = now() - interval '2 hours' WHERE id = (SELECT max(id) FROM events);
SELECT is((SELECT count(*) FROM careline_events_checked(0, 100, '{}', 900, 3, 3600)), 2::bigint,
          'and no older than p_replay_age_s');
SELECT ok((SELECT bool_and(json::jsonb ?& ARRAY['id', 'type', 'at', 'call_id', 'data'])
           FROM careline_events_checked(:e0, 100, '{}', 900, NULL, NULL)), 'each event is id, type, at, call_id, data');
SELECT is((SELECT count(*) FROM careline_events_since(:e0, 100)),
          (SELECT count(*) FROM events WHERE id > :e0), 'careline_events_since reads the same events');
SELECT is((SELECT careline_event_text(e)::jsonb FROM events e WHERE e.id = (SELECT max(id) FROM events)),
          (SELECT jsonb_build_object('id', id, 'type', type, 'at', at, 'call_id', call_id, 'data', data)
           FROM events WHERE id = (SELECT max(id) FROM events)),
          'careline_event_text: the event as the stream sends it');
SELECT is(ARRAY(SELECT careline_creds_ended(ARRAY[encode(sha256('live'), 'hex'), encode(sha256('sess'), 'hex'),
                                                  encode(sha256('dead'), 'hex')], 7200)),
          ARRAY[encode(sha256('dead'), 'hex')],
          'careline_creds_ended: a session idle less than p_idle_s is still good, a revoked token is not');
UPDATE operators SET disabled_at = now();
SELECT is(ARRAY(SELECT careline_creds_ended(ARRAY[encode(sha256('sess'), 'hex')], 7200)),
          ARRAY[encode(sha256('sess'), 'hex')], 'careline_creds_ended: a disabled operator''s session has ended');
SELECT careline_event('test.ping', NULL, NULL) AS ev \gset
SELECT is((SELECT type || ':' || data FROM events WHERE id = :ev), 'test.ping:{}',
          'careline_event returns the new event''s id (no data: {})');

SELECT * FROM finish();
ROLLBACK;
