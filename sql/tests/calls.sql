-- careline_call_create, careline_call_transition and the status guards on
-- calls and offers.
\ir lib/fixtures.sql
SELECT plan(36);

-- The dispatch parameters the daemon passes (pg_temp.params, lib/fixtures.sql).
\set par 'pg_temp.params(\'{"offer_timeout_ms": 60000, "public_url": "http://cl.test/"}\')'

INSERT INTO communities (name, street) VALUES ('East Gate', 'Main Street');
INSERT INTO residents (name, phone, address, location, community_id) VALUES
    ('Wang Fang', '13900000001', 'Flat 1, Elm Road',
     'SRID=4326;POINT(113.191234 27.881234)', (SELECT id FROM communities)),
    ('Li Na', '13900000002', 'Flat 2', 'SRID=4326;POINT(113.19 27.88)', NULL),
    ('Li Lei', '13900000002', 'Flat 3', 'SRID=4326;POINT(113.19 27.88)', NULL);
SELECT pg_temp.provider('first', p_at => 'SRID=4326;POINT(113.1913 27.8813)', p_hook => true) \g /dev/null
SELECT pg_temp.provider('second', p_at => 'SRID=4326;POINT(113.1915 27.8815)', p_hook => true) \g /dev/null
INSERT INTO api_tokens (name, role, token_hash, token_prefix)
VALUES ('script', 'operator', sha256('script'), 'clt_abc');

CREATE FUNCTION pg_temp.create(p_req jsonb, p_params jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT careline_api_calls_create('token:1', NULL, p_req, p_params, NULL, NULL) $$;

-- Whom the call is for.
SELECT is(pg_temp.create('{"resident_id": -5, "caller_phone": "13900000001", "service": "meal"}', :par)
              #>> '{body,error,code}', 'resident_not_found', 'an unknown resident_id: 404 ...');
SELECT is((pg_temp.create('{"resident_id": -5, "caller_phone": "13900000001", "service": "meal"}', :par)
              ->> 'status')::int, 404, '... with status 404');
SELECT is((pg_temp.create('{"caller_phone": "13911111111", "service": "meal"}', :par) ->> 'status')::int,
          422, 'an unregistered number: 422');
SELECT is(pg_temp.create('{"caller_phone": "13900000002", "service": "meal"}', :par)
              #>> '{body,error,code}', 'ambiguous_resident', 'a number two residents share: ambiguous ...');
SELECT is(jsonb_array_length(pg_temp.create('{"caller_phone": "13900000002", "service": "meal"}', :par)
              #> '{body,candidates}'), 2, '... naming both candidates');
SELECT is((SELECT count(*) FROM calls), 0::bigint, 'no refusal wrote a call');

-- A call with two providers in reach, cascade: the first is offered.
SELECT pg_temp.create('{"caller_phone": "13900000001", "service": "meal", "notes": "no salt"}', :par)
    AS r \gset
SELECT is((:'r'::jsonb ->> 'status')::int, 201, 'a call is created: 201');
SELECT is(:'r'::jsonb #>> '{body,status}', 'offered', 'and offered at once');
SELECT is((SELECT array_agg(o.status ORDER BY o.rank) FROM offers o), ARRAY['offered', 'pending'],
          'cascade: rank 1 offered, rank 2 pending');
SELECT is((SELECT dispatch_params ->> 'public_url' FROM calls), 'http://cl.test',
          'the call keeps its dispatch parameters (public_url without its slash)');
SELECT is((SELECT count(*) FROM deliveries d JOIN providers p ON p.id = d.provider_id
           WHERE d.event_type = 'offer.created' AND p.name = 'first'), 1::bigint,
          'one offer.created for the first provider, none for the second');
SELECT is((SELECT payload #> '{data,location}' FROM deliveries), '{"lat": 27.881, "lon": 113.191}'::jsonb,
          'the offer carries the location blurred to three decimals');
SELECT ok((SELECT payload::text !~ '(Wang Fang|13900000001|Elm Road)' FROM deliveries),
          'the offer carries no name, phone or address');
SELECT ok((SELECT payload #>> '{data,accept_url}' ~ ('^http://cl\.test/v1/offers/' || offer_id || '/accept\?t=[0-9a-f]{64}$')
           FROM deliveries), 'the accept link is under public_url with a 64-hex token');
SELECT is((SELECT array_agg(type ORDER BY id) FROM events), ARRAY['call.created', 'offer.offered'],
          'operators hear call.created and offer.offered');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'call.create' AND actor = 'token:1'),
          1::bigint, 'the create is audited under its actor');

-- One open call per resident and service.
SELECT is(pg_temp.create('{"caller_phone": "13900000001", "service": "meal"}', :par)
              #>> '{body,error,code}', 'duplicate_call', 'a second open meal call: 409 duplicate_call ...');
SELECT is((pg_temp.create('{"caller_phone": "13900000001", "service": "meal"}', :par)
              #>> '{body,open_call,id}')::bigint, (:'r'::jsonb #>> '{body,id}')::bigint,
          '... pointing at the open call');
SELECT is((pg_temp.create('{"caller_phone": "13900000001", "service": "meal", "duplicate_ok": true}', :par)
              ->> 'status')::int, 201, 'duplicate_ok logs another one');

-- Nobody in reach: unmatched in the same transaction.
SELECT pg_temp.create('{"caller_phone": "13900000001", "service": "daycare"}', :par) AS u \gset
SELECT is(:'u'::jsonb #>> '{body,status}', 'unmatched', 'no candidate: the call is unmatched');
SELECT is((SELECT count(*) FROM events WHERE type = 'call.unmatched'
           AND call_id = (:'u'::jsonb #>> '{body,id}')::bigint), 1::bigint, 'with call.unmatched');

-- Idempotency, scoped to the token.
SELECT careline_api_calls_create('token:9', (SELECT id FROM api_tokens), '{"caller_phone": "13900000001", "service": "housekeeping"}',
                            :par, 'key-1', sha256('req-1')) AS i \gset
SELECT is(careline_api_calls_create('token:9', (SELECT id FROM api_tokens), '{"caller_phone": "13900000001", "service": "housekeeping"}',
                               :par, 'key-1', sha256('req-1')), :'i'::jsonb,
          'the same key and request: the same answer');
SELECT is(careline_api_calls_create('token:9', (SELECT id FROM api_tokens), '{"caller_phone": "13900000001", "service": "companionship"}',
                               :par, 'key-1', sha256('req-2')) #>> '{body,error,code}',
          'idempotency_key_reused', 'the same key for another request: refused');
SELECT throws_ok($$SELECT careline_call_create('x', NULL, '{"caller_phone": "13900000001", "service": "meal"}',
                                               NULL, 'k', sha256('r'))$$,
                 '22023', NULL, 'a key without a token raises 22023');
SELECT throws_ok($$SELECT careline_call_create('x', NULL, '{"caller_phone": "13900000001", "service": "meal"}',
                                               '{"strategy": "lottery"}', NULL, NULL)$$,
                 '22023', NULL, 'an unknown strategy raises 22023 before any write');

-- Transitions.
SELECT is(careline_api_calls_transition('token:1', (:'r'::jsonb #>> '{body,id}')::bigint, 'reopen', NULL)
              #>> '{body,error,code}', 'invalid_action', 'an unknown action: 422');
SELECT is((careline_api_calls_transition('token:1', -1, 'cancel', NULL) ->> 'status')::int, 404,
          'an unknown call: 404');
SELECT is(careline_api_calls_transition('token:1', (:'r'::jsonb #>> '{body,id}')::bigint, 'cancel', 'by phone')
              #>> '{body,status}', 'cancelled', 'cancel: the call is cancelled');
SELECT is((SELECT array_agg(o.status || ':' || o.reason ORDER BY o.rank) FROM offers o
           WHERE o.call_id = (:'r'::jsonb #>> '{body,id}')::bigint),
          ARRAY['cancelled:call_cancelled', 'cancelled:call_cancelled'], 'and every offer with it');
SELECT is((SELECT array_agg(p.name) FROM deliveries d JOIN providers p ON p.id = d.provider_id
           WHERE d.event_type = 'offer.cancelled'), ARRAY['first'],
          'only the provider whose offer was out is told (offer.cancelled)');
SELECT is(careline_api_calls_transition('token:1', (:'r'::jsonb #>> '{body,id}')::bigint, 'complete', NULL)
              #>> '{body,error,code}', 'invalid_transition', 'a cancelled call cannot be completed: 409');
SELECT is(careline_api_calls_transition('token:1', (:'u'::jsonb #>> '{body,id}')::bigint, 'complete', NULL)
              #>> '{body,status}', 'completed', 'an operator may complete an unmatched call');

-- The guards hold whatever code path writes the row.
SELECT throws_like(format('UPDATE calls SET status = %L WHERE id = %s', 'offered', :'u'::jsonb #>> '{body,id}'),
                 '%is not a valid transition', 'calls: completed -> offered is refused');
SELECT throws_like(format('UPDATE calls SET status = %L WHERE id = %s', 'new', :'i'::jsonb #>> '{body,id}'),
                 '%is not a valid transition', 'calls: unmatched -> new is refused');
SELECT throws_like($$UPDATE offers SET status = 'accepted', answered_at = now() WHERE status = 'pending'$$,
                 '%is not a valid transition', 'offers: pending -> accepted is refused (never sent)');
SELECT throws_like($$UPDATE offers SET status = 'offered' WHERE status = 'cancelled'$$,
                 '%is not a valid transition', 'offers: cancelled -> offered is refused');

SELECT * FROM finish();
ROLLBACK;
