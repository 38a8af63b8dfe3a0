-- The webhook outbox: claims under leases with fencing tokens, recorded
-- results, dead letters, re-sends, and the parameters that drive them.
\ir lib/fixtures.sql
SELECT plan(47);

SELECT pg_temp.provider('hook', p_hours => false, p_hook => true) \g /dev/null
SELECT pg_temp.provider('gone', p_hours => false, p_hook => true) \g /dev/null
SELECT pg_temp.provider('nohook', p_hours => false) \g /dev/null

-- The retry schedule the daemon passes (webhooks.retry_schedule): SQL has no default.
\set par '\'{"retry_ms": [5000, 30000, 120000, 600000, 1800000]}\'::jsonb'

CREATE FUNCTION pg_temp.d(p_event text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM deliveries WHERE event_id = p_event $$;
-- A delivery due p_due from now (not tied to an offer).
CREATE FUNCTION pg_temp.deliver(p_event text, p_provider text, p_due interval) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO deliveries (event_id, provider_id, event_type, payload, next_attempt_at)
    VALUES (p_event, pg_temp.pid(p_provider), 'offer.cancelled',
            jsonb_build_object('type', 'offer.cancelled', 'n', p_event), now() + p_due);
$$;

SELECT pg_temp.deliver('d1', 'hook', '-3 s'), pg_temp.deliver('d2', 'hook', '-2 s'),
       pg_temp.deliver('d3', 'hook', '-1 s'), pg_temp.deliver('d4', 'hook', '1 hour') \g /dev/null

-- Claims.
SELECT throws_ok($$SELECT * FROM careline_deliveries_claim(NULL, 10, 1000)$$, '22023', NULL,
                 'a claim without an owner raises 22023');
SELECT throws_ok($$SELECT * FROM careline_deliveries_claim('w', 10, 0)$$, '22023', NULL,
                 'a claim without a positive lease raises 22023');
SELECT results_eq(
    $$SELECT event_id, lease_token, attempt, url, secret FROM careline_deliveries_claim('w1', 2, 30000)$$,
    $$VALUES ('d1', 1::bigint, 1, 'http://hook.test/hook', 'whsec_aG9vaw==')
           , ('d2', 1::bigint, 1, 'http://hook.test/hook', 'whsec_aG9vaw==')$$,
    'w1 claims the two most overdue, fencing token 1, attempt 1, with URL and secret');
SELECT is((SELECT array_agg(lease_owner || '@' || (lease_expires_at - now()) ORDER BY id) FROM deliveries
           WHERE event_id IN ('d1', 'd2')), ARRAY['w1@00:00:30', 'w1@00:00:30'],
          'leased to w1 for 30 s');
SELECT is((SELECT array_agg(event_id) FROM careline_deliveries_claim('w2', 10, 30000)), ARRAY['d3'],
          'w2 gets only what nobody holds and is due (not d4, due in an hour)');
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w3', 10, 30000)), 0::bigint,
          'nothing left to claim');
UPDATE deliveries SET lease_expires_at = now() - interval '1 millisecond' WHERE event_id = 'd1';
SELECT results_eq($$SELECT event_id, lease_token, attempt FROM careline_deliveries_claim('w2', 10, 30000)$$,
                  $$VALUES ('d1', 2::bigint, 2)$$,
                  'a lapsed lease is claimed again under fencing token 2, attempt 2');

-- Records: only the holder of the current token counts.
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d1'), 'lease_token', 1, 'outcome', 'delivered', 'http_status', 200)), :par),
          '{"applied": 0, "stale": 1}'::jsonb, 'w1''s late result under token 1 is stale');
SELECT is((SELECT status || ':' || lease_owner FROM deliveries WHERE event_id = 'd1'), 'pending:w2',
          'and changes nothing');
SELECT is(careline_deliveries_record(jsonb_build_array(
              jsonb_build_object('id', pg_temp.d('d1'), 'lease_token', 2, 'outcome', 'delivered',
                                 'http_status', 200, 'duration_ms', 12),
              jsonb_build_object('id', pg_temp.d('d1'), 'lease_token', 1, 'outcome', 'delivered')), :par),
          '{"applied": 1, "stale": 1}'::jsonb, 'w2''s result under token 2 applies, the old one in the batch is stale');
SELECT is((SELECT status || ':' || last_http_status FROM deliveries WHERE event_id = 'd1'), 'delivered:200',
          'd1 is delivered');
SELECT ok((SELECT lease_owner IS NULL AND lease_expires_at IS NULL AND delivered_at = now()
           FROM deliveries WHERE event_id = 'd1'), 'its lease is released');
SELECT results_eq($$SELECT attempt, lease_token, http_status, duration_ms FROM delivery_attempts
                    WHERE delivery_id = pg_temp.d('d1')$$,
                  $$VALUES (2, 2::bigint, 200, 12)$$, 'the attempt is logged under its token');
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d1'), 'lease_token', 2, 'outcome', 'delivered')), :par) ->> 'stale', '1',
          'recording it again is stale');

-- Retries.
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d2'), 'lease_token', 1, 'outcome', 'retry', 'http_status', 503,
              'error', 'busy', 'retry_after_ms', 5000)), :par) ->> 'applied', '1', 'a retry applies');
SELECT is((SELECT status || ':' || (next_attempt_at - now()) || ':' || coalesce(lease_owner, '-')
           FROM deliveries WHERE event_id = 'd2'), 'pending:00:00:05:-',
          'Retry-After sets the next attempt (5 s) and the lease is released');
SELECT ok((SELECT endpoint_failing_since = now() FROM providers WHERE name = 'hook'),
          'the failure marks the endpoint failing');
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d2'), 'lease_token', 1, 'outcome', 'retry', 'retry_after_ms', 999999999)),
              :par) ->> 'stale', '1', 'a second result for a released lease is stale');
UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE event_id = 'd2';
SELECT is((SELECT lease_token FROM careline_deliveries_claim('w1', 10, 1000) WHERE event_id = 'd2'), 2::bigint,
          'claimed again: token 2');
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d2'), 'lease_token', 2, 'outcome', 'retry', 'retry_after_ms', 999999999)),
              '{"retry_ms": [1000, 2000, 3000]}') ->> 'applied', '1', 'a retry asking for 11 days ...');
SELECT is((SELECT next_attempt_at - now() FROM deliveries WHERE event_id = 'd2'), interval '3 seconds',
          '... waits at most the longest step of the schedule');
UPDATE deliveries SET attempts = 4, lease_owner = 'w1', lease_expires_at = now() + interval '1 minute'
WHERE event_id = 'd2';
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d2'), 'lease_token', 2, 'outcome', 'retry')),
              '{"retry_ms": [1000, 2000, 3000]}') ->> 'applied', '1', 'a retry with no attempt left ...');
SELECT is((SELECT status || ':' || last_error FROM deliveries WHERE event_id = 'd2'),
          'dead:gave up after 4 attempts', '... is dead');
SELECT is((SELECT count(*) FROM events WHERE type = 'delivery.dead'
           AND (data ->> 'delivery_id')::bigint = pg_temp.d('d2')), 1::bigint, 'with delivery.dead for the operators');
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('d3'), 'lease_token', 1, 'outcome', 'delivered', 'http_status', 204)), :par) ->> 'applied',
          '1', 'a success ...');
SELECT ok((SELECT endpoint_failing_since IS NULL FROM providers WHERE name = 'hook'),
          '... clears the failing mark');
SELECT throws_ok($$SELECT careline_deliveries_record('[{"id": 1, "lease_token": 1, "outcome": "lost"}]',
                                                          '{"retry_ms": [5000]}')$$,
                 '22023', NULL, 'an unknown outcome raises 22023');
SELECT throws_ok($$SELECT careline_deliveries_record('{}', '{"retry_ms": [5000]}')$$, '22023', NULL,
                 'results that are not an array raise 22023');

-- 410 Gone disables the endpoint; a claim for it is settled, not sent.
SELECT pg_temp.deliver('g1', 'gone', '-1 s'), pg_temp.deliver('g2', 'gone', '-1 s') \g /dev/null
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w1', 1, 1000) WHERE event_id = 'g1'), 1::bigint,
          'g1 is claimed');
SELECT is(careline_deliveries_record(jsonb_build_array(jsonb_build_object(
              'id', pg_temp.d('g1'), 'lease_token', 1, 'outcome', 'gone', 'http_status', 410)), :par) ->> 'applied',
          '1', 'its endpoint answers 410');
SELECT ok((SELECT endpoint_disabled_at = now() FROM providers WHERE name = 'gone'), 'the endpoint is disabled');
SELECT is((SELECT count(*) FROM events WHERE type = 'provider.endpoint_disabled'), 1::bigint,
          'and the operators are told');
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w1', 10, 1000)), 0::bigint,
          'a disabled endpoint''s delivery is not handed out ...');
SELECT is((SELECT status || ':' || last_error FROM deliveries WHERE event_id = 'g2'), 'dead:no endpoint',
          '... but settled dead: no endpoint');
SELECT pg_temp.deliver('n1', 'nohook', '-1 s') \g /dev/null
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w1', 10, 1000)), 0::bigint,
          'nor is one to a provider without webhook_url');
SELECT is((SELECT status FROM deliveries WHERE event_id = 'n1'), 'dead', 'which is dead too');

-- An admin re-sends.
SELECT is(careline_api_deliveries_retry('token:1', pg_temp.d('g1')) #>> '{body,status}', 'pending',
          'a dead delivery can be sent again');
SELECT ok((SELECT attempts = 0 AND next_attempt_at = now() FROM deliveries WHERE event_id = 'g1'),
          'from attempt 0, now');
SELECT ok((SELECT endpoint_disabled_at IS NULL FROM providers WHERE name = 'gone'),
          'and the re-send re-enables the endpoint');
SELECT is(careline_api_deliveries_retry('token:1', pg_temp.d('d4')) #>> '{body,error,code}', 'delivery_not_dead',
          'a pending delivery cannot be re-sent: 409');
SELECT is(careline_api_deliveries_retry('token:1', pg_temp.d('n1')) #>> '{body,error,code}', 'no_endpoint',
          'nor one whose provider has no webhook_url');

-- Parameters.
SELECT throws_ok($$SELECT careline_retry_ms('{"retry_ms": []}')$$, '22023', NULL, 'an empty retry schedule raises');
SELECT throws_ok($$SELECT careline_retry_ms('{"retry_ms": [1000, -1]}')$$, '22023', NULL,
                 'a negative retry step raises');
SELECT is(careline_dispatch_params('{"strategy": "broadcast", "public_url": "http://old", "offer_timeout_ms": 90000}',
                                   '{"strategy": "cascade", "broadcast_k": 4}'),
          '{"strategy": "broadcast", "broadcast_k": 4, "public_url": "http://old", "offer_timeout_ms": 90000}'::jsonb,
          'a call keeps its strategy; the rest follows the daemon, then the call');
SELECT throws_ok($$SELECT careline_dispatch_params(NULL, '{"strategy": "cascade", "broadcast_k": 4}')$$, '22023', NULL,
                 'no defaults: a key neither the daemon nor the call gives raises');
SELECT throws_ok($$SELECT careline_retry_ms(NULL)$$, '22023', NULL, 'nor is there a default retry schedule');
SELECT throws_ok($$SELECT careline_dispatch_params(NULL, '{"offer_timeout_ms": 999}')$$, '22023', NULL,
                 'an offer timeout under a second raises');

SELECT * FROM finish();
ROLLBACK;
