-- Offers going out as a set (careline_offers_send, from careline_call_create
-- and careline_dispatch), the skip rule of careline_dispatch, and a batch
-- of fresh successes recorded in one go.
\ir lib/fixtures.sql
SELECT plan(17);

-- The dispatch parameters the daemon passes (pg_temp.params, lib/fixtures.sql).
\set bc 'pg_temp.params(\'{"strategy": "broadcast", "broadcast_k": 2, "limit": 6}\')'

SELECT pg_temp.residents('A') \g /dev/null
-- p1 nearest, then p2 ... p6 (rank order = distance order).
SELECT pg_temp.provider('p' || n, p_at => ST_SetSRID(ST_MakePoint(113.19, 27.88 + n * 0.001), 4326)::geography,
                        p_capacity => 1, p_hook => true)
FROM generate_series(1, 6) n \g /dev/null

CREATE FUNCTION pg_temp.states(p_call bigint) RETURNS text[] LANGUAGE sql AS
$$ SELECT array_agg(o.status || coalesce(':' || o.reason, '') ORDER BY o.rank) FROM offers o WHERE o.call_id = p_call $$;
CREATE FUNCTION pg_temp.offer(p_call bigint, p_rank int) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM offers WHERE call_id = p_call AND rank = p_rank $$;

-- The call: offered from its first row, two offers out at once.
SELECT careline_api_calls_create('token:1', NULL, '{"caller_phone": "13900000001", "service": "meal"}', :bc, NULL, NULL)
    #>> '{body,id}' AS c \gset
SELECT is(pg_temp.states(:c), ARRAY['offered', 'offered', 'pending', 'pending', 'pending', 'pending'],
          'broadcast of 2: ranks 1 and 2 offered, the rest pending');
SELECT is((SELECT after ->> 'status' FROM audit_log WHERE action = 'call.create'), 'offered',
          'the call is created offered (it is never written twice)');
SELECT is((SELECT array_agg(name ORDER BY name) FROM providers WHERE last_offered_at IS NOT NULL),
          ARRAY['p1', 'p2'], 'the fairness stamp goes to the two offered providers only');
SELECT is((SELECT count(*) FROM offers o JOIN deliveries d ON d.offer_id = o.id
           WHERE o.status = 'offered' AND d.event_type = 'offer.created'
             AND o.link_hash = sha256(convert_to(substring(d.payload #>> '{data,accept_url}'
                                                            FROM 't=([0-9a-f]{64})$'), 'UTF8'))),
          2::bigint, 'each offered provider gets one offer.created whose link matches its offer''s hash');
SELECT is((SELECT count(DISTINCT link_hash) FROM offers WHERE status = 'offered'), 2::bigint,
          'each offer has a link of its own');
SELECT is((SELECT array_agg((data ->> 'rank')::int ORDER BY id) FROM events WHERE type = 'offer.offered'),
          ARRAY[1, 2], 'offer.offered once per offer, in rank order');
SELECT is((SELECT array_agg(type ORDER BY id) FROM events), ARRAY['call.created', 'offer.offered', 'offer.offered'],
          'call.created comes first');
SELECT is((SELECT array_agg(o.rank ORDER BY a.id) FROM audit_log a JOIN offers o ON o.id = a.entity_id
           WHERE a.action = 'offer.send'),
          ARRAY[1, 2], 'offer.send audited once per offer, in rank order');

-- p3 and p6 go away; both offers out are declined: the next two available
-- go out, p3 (before them) is skipped, p6 (after them) stays pending.
UPDATE providers SET active = false WHERE name IN ('p3', 'p6');
SELECT careline_api_offers_answer('t', pg_temp.offer(:c, 1), NULL, NULL, 'decline', NULL, :bc) \g /dev/null
SELECT is(pg_temp.states(:c), ARRAY['declined', 'offered', 'pending', 'pending', 'pending', 'pending'],
          'one offer still out: nothing more goes');
SELECT careline_api_offers_answer('t', pg_temp.offer(:c, 2), NULL, NULL, 'decline', NULL, :bc) \g /dev/null
SELECT is(pg_temp.states(:c),
          ARRAY['declined', 'declined', 'cancelled:provider_unavailable', 'offered', 'offered', 'pending'],
          'the unavailable one before the last chosen is skipped, the one after it left pending');
SELECT is((SELECT array_agg(o.rank ORDER BY a.id) FROM audit_log a JOIN offers o ON o.id = a.entity_id
           WHERE a.action = 'offer.skip'), ARRAY[3], 'only that skip is audited');
SELECT is((SELECT array_agg(p.name ORDER BY d.id) FROM deliveries d JOIN providers p ON p.id = d.provider_id
           WHERE d.event_type = 'offer.created'), ARRAY['p1', 'p2', 'p4', 'p5'],
          'offer.created to p4 and p5, nothing to the skipped p3');
SELECT is((SELECT array_agg((data ->> 'rank')::int ORDER BY id) FROM events WHERE type = 'offer.offered'),
          ARRAY[1, 2, 4, 5], 'offer.offered for ranks 4 and 5');
SELECT is((SELECT status FROM calls WHERE id = :c), 'offered', 'the call stays offered');

-- The claim settles p1's and p2's offer.created (their offers closed) and
-- hands out p4's and p5's; both delivered, recorded in one batch.
CREATE TEMP TABLE claimed AS SELECT * FROM careline_deliveries_claim('w', 100, 60000);
SELECT is((SELECT array_agg(p.name ORDER BY c.id) FROM claimed c
           JOIN deliveries d ON d.id = c.id JOIN providers p ON p.id = d.provider_id),
          ARRAY['p4', 'p5'], 'the claim hands out the two offers still out');
SELECT jsonb_agg(jsonb_build_object('id', id, 'lease_token', lease_token, 'outcome', 'delivered',
                                    'http_status', 200, 'duration_ms', 4)) AS res FROM claimed \gset
SELECT is(careline_deliveries_record(:'res', :bc), '{"applied": 2, "stale": 0}'::jsonb,
          'a batch of fresh successes: all applied');
SELECT is(careline_deliveries_record(:'res', :bc), '{"applied": 0, "stale": 2}'::jsonb,
          'the same batch again: all stale');

SELECT * FROM finish();
ROLLBACK;
