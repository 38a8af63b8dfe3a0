-- careline_dispatch: broadcast and cascade, candidates skipped when they
-- have gone away, the winner taking the call, and what a dead offer
-- (undeliverable, superseded) does to it.
\ir lib/fixtures.sql
SELECT plan(16);

-- The dispatch parameters the daemon passes (pg_temp.params, lib/fixtures.sql).
\set bc 'pg_temp.params(\'{"strategy": "broadcast", "broadcast_k": 2}\')'
\set cc 'pg_temp.params(\'{"retry_ms": [1000]}\')'

SELECT pg_temp.residents('A', 'B') \g /dev/null
-- p1 nearest, then p2, p3, p4 (rank order = distance order).
SELECT pg_temp.provider('p' || n, p_at => ST_SetSRID(ST_MakePoint(113.19, 27.88 + n * 0.001), 4326)::geography,
                        p_capacity => 1, p_hook => true)
FROM generate_series(1, 4) n \g /dev/null

CREATE FUNCTION pg_temp.states(p_call bigint) RETURNS text[] LANGUAGE sql AS
$$ SELECT array_agg(o.status || coalesce(':' || o.reason, '') ORDER BY o.rank) FROM offers o WHERE o.call_id = p_call $$;

-- Broadcast to two; the first to accept takes it.
SELECT careline_api_calls_create('t', NULL, '{"caller_phone": "13900000001", "service": "meal"}', :bc, NULL, NULL)
    #>> '{body,id}' AS c1 \gset
SELECT is(pg_temp.states(:c1), ARRAY['offered', 'offered', 'pending', 'pending'], 'broadcast: two offered at once');
SELECT is((SELECT count(*) FROM deliveries WHERE event_type = 'offer.created'), 2::bigint, 'two offer.created');
SELECT is(careline_api_offers_answer('t', (SELECT id FROM offers WHERE call_id = :c1 AND rank = 2), NULL, NULL,
                                'accept', NULL, :bc) ->> 'status', '200', 'the second accepts first');
SELECT is(pg_temp.states(:c1), ARRAY['cancelled:taken', 'accepted', 'cancelled:taken', 'cancelled:taken'],
          'the other offers are withdrawn');
SELECT is((SELECT array_agg(p.name) FROM deliveries d JOIN providers p ON p.id = d.provider_id
           WHERE d.event_type = 'offer.cancelled' AND d.payload #>> '{data,reason}' = 'taken'), ARRAY['p1'],
          'only the one whose offer was out is told');
SELECT is((SELECT dispatch_params ->> 'strategy' FROM calls WHERE id = :c1), 'broadcast', 'the call keeps its strategy');

-- Cascade, with candidates gone since matching: p2 is now full (its
-- capacity of 1 taken by the call above), p1 deactivated.
SELECT careline_api_calls_create('t', NULL, '{"caller_phone": "13900000002", "service": "meal"}', :cc, NULL, NULL)
    #>> '{body,id}' AS c2 \gset
SELECT is(pg_temp.states(:c2), ARRAY['offered', 'pending', 'pending'],
          'matching left out the full p2: p1, p3, p4 ranked');
UPDATE providers SET active = false WHERE name = 'p3';
SELECT is(careline_api_offers_answer('t', (SELECT id FROM offers WHERE call_id = :c2 AND rank = 1), NULL, NULL,
                                'decline', NULL, :cc) #>> '{body,offer,status}', 'declined', 'p1 declines');
SELECT is(pg_temp.states(:c2), ARRAY['declined', 'cancelled:provider_unavailable', 'offered'],
          'p3, deactivated since, is skipped and p4 offered');
SELECT is((SELECT count(*) FROM deliveries d JOIN providers p ON p.id = d.provider_id WHERE p.name = 'p3'),
          0::bigint, 'the skipped provider is sent nothing');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'offer.skip'), 1::bigint, 'the skip is audited');

-- p4's offer.created dies undelivered: the offer expires, and with nobody
-- left the call is unmatched.
SELECT id AS d4, lease_token + 1 AS tok FROM deliveries
WHERE offer_id = (SELECT id FROM offers WHERE call_id = :c2 AND rank = 3) \gset
UPDATE deliveries SET next_attempt_at = now() - interval '1 hour'
WHERE id = :d4;
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w', 100, 1000) WHERE id = :d4), 1::bigint,
          'p4''s offer is claimed');
SELECT careline_deliveries_record(jsonb_build_array(jsonb_build_object('id', :d4, 'lease_token', :tok,
                                  'outcome', 'dead', 'http_status', 500)), :cc) \g /dev/null
SELECT is(pg_temp.states(:c2), ARRAY['declined', 'cancelled:provider_unavailable', 'expired:undeliverable'],
          'a dead offer.created expires its offer (undeliverable)');
SELECT is((SELECT status FROM calls WHERE id = :c2), 'unmatched', 'and the call, with nobody left, is unmatched');

-- An offer.created whose offer closed before it was sent is never sent.
SELECT id AS d1 FROM deliveries WHERE event_type = 'offer.created'
  AND offer_id = (SELECT id FROM offers WHERE call_id = :c1 AND rank = 1) \gset
SELECT is((SELECT count(*) FROM careline_deliveries_claim('w', 100, 1000) WHERE id = :d1), 0::bigint,
          'an offer.created for a withdrawn offer is not handed out ...');
SELECT is((SELECT status || ':' || last_error FROM deliveries WHERE id = :d1),
          'dead:superseded: the offer closed before it was delivered', '... but settled as superseded');

SELECT * FROM finish();
ROLLBACK;
