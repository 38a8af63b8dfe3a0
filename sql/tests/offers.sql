-- careline_offer_answer (and its _checked front), careline_offers_expire:
-- who may answer, with what, and what follows.
\ir lib/fixtures.sql
SELECT plan(34);

-- The dispatch parameters the daemon passes (pg_temp.params, lib/fixtures.sql).
\set par 'pg_temp.params(\'{"offer_timeout_ms": 60000}\')'

SELECT pg_temp.residents('Wang Fang', 'Zhao Min') \g /dev/null
SELECT pg_temp.provider('first', p_at => 'SRID=4326;POINT(113.1901 27.8801)', p_hook => true) \g /dev/null
SELECT pg_temp.provider('second', p_at => 'SRID=4326;POINT(113.1902 27.8802)', p_hook => true) \g /dev/null

-- The offer made to a provider on a call, and the t= of its latest link.
CREATE FUNCTION pg_temp.offer(p_call bigint, p_name text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM offers WHERE call_id = p_call AND provider_id = pg_temp.pid(p_name) $$;
CREATE FUNCTION pg_temp.link(p_offer bigint) RETURNS text LANGUAGE sql AS
$$ SELECT substring(payload #>> '{data,accept_url}' FROM 't=([0-9a-f]+)$') FROM deliveries
   WHERE offer_id = p_offer AND event_type = 'offer.created' ORDER BY id DESC LIMIT 1 $$;

SELECT (careline_api_calls_create('token:1', NULL, '{"caller_phone": "13900000001", "service": "meal"}',
                             :par, NULL, NULL) #>> '{body,id}') AS c \gset
SELECT pg_temp.offer(:c, 'first') AS o1, pg_temp.offer(:c, 'second') AS o2 \gset
SELECT pg_temp.link(:o1) AS t1 \gset

-- Who may answer.
SELECT is(careline_api_offers_answer('link', -1, NULL, 'nope', 'accept', NULL, :par),
          careline_api_offers_answer('link', :o1, NULL, 'nope', 'accept', NULL, :par),
          'a wrong link answers the same whether the offer exists or not');
SELECT is(careline_api_offers_answer('link', :o1, NULL, 'nope', 'accept', NULL, :par)
              #>> '{body,error,code}', 'invalid_link', '... invalid_link (403)');
SELECT is(careline_api_offers_answer('link', :o1, NULL, :'t1', 'arrived', NULL, :par) #>> '{body,error,code}',
          'invalid_link', 'a link cannot report arrival');
SELECT is(careline_api_offers_answer('token:2', :o1, pg_temp.pid('second'), NULL, 'accept', NULL, :par)
              #>> '{body,error,code}', 'not_your_offer', 'another provider''s token: 403 not_your_offer');
SELECT is((careline_api_offers_answer('token:2', -1, NULL, NULL, 'accept', NULL, :par) ->> 'status')::int,
          404, 'an unknown offer: 404');
SELECT is(careline_api_offers_answer('token:2', :o1, NULL, NULL, 'maybe', NULL, :par) #>> '{body,error,code}',
          'invalid_action', 'an unknown action: 422');
SELECT is(careline_api_offers_answer('token:2', :o2, NULL, NULL, 'accept', NULL, :par) #>> '{body,error,code}',
          'offer_not_open', 'a pending offer (never sent) cannot be accepted');

-- Decline by link: the cascade moves on.
SELECT is(careline_api_offers_answer('link', :o1, NULL, :'t1', 'decline', '  too far  ', :par)
              #>> '{body,offer,status}', 'declined', 'the first provider declines by link');
SELECT is((SELECT reason FROM offers WHERE id = :o1), 'too far', 'the reason is kept, trimmed');
SELECT is((SELECT status FROM offers WHERE id = :o2), 'offered', 'the next candidate is offered');
SELECT is((careline_api_offers_answer('link', :o1, NULL, :'t1', 'accept', NULL, :par) ->> 'status')::int,
          409, 'a used link: 409 link_used');
SELECT pg_temp.link(:o2) AS t2 \gset
UPDATE offers SET respond_by = now() - interval '1 second' WHERE id = :o2;
SELECT is(careline_api_offers_answer('link', :o2, NULL, :'t2', 'accept', NULL, :par) #>> '{body,error,code}',
          'link_expired', 'a link past respond_by: 410 link_expired');
UPDATE offers SET respond_by = now() + interval '1 minute' WHERE id = :o2;

-- Accept by the provider's token.
SELECT careline_api_offers_answer('token:7', :o2, pg_temp.pid('second'), NULL, 'accept', NULL, :par) AS a \gset
SELECT is((:'a'::jsonb ->> 'status')::int, 200, 'the second provider accepts');
SELECT is(:'a'::jsonb #>> '{body,resident,phone}', '13900000001', 'and only now learns the phone ...');
SELECT is(:'a'::jsonb #>> '{body,resident,address}', 'Flat 1', '... and the address');
SELECT is((SELECT status FROM calls WHERE id = :c), 'accepted', 'the call is accepted');
SELECT is((SELECT payload #>> '{data,resident,name}' FROM deliveries
           WHERE offer_id = :o2 AND event_type = 'offer.confirmed'), 'Wang Fang',
          'offer.confirmed carries the resident to the winner');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'resident.read' AND after ->> 'purpose' = 'offer.accept'
           AND (after ->> 'offer_id')::bigint = :o2), 1::bigint, 'the disclosure is audited');
SELECT is(careline_api_offers_answer('token:7', :o2, NULL, NULL, 'accept', NULL, :par) #>> '{body,error,code}',
          'offer_not_open', 'accepting twice: 409');
SELECT is(careline_api_offers_answer('token:7', :o1, NULL, NULL, 'arrived', NULL, :par) #>> '{body,error,code}',
          'offer_not_accepted', 'a declined offer cannot report arrival');

-- Arrived, completed: said twice, the same answer, recorded once.
SELECT is((careline_api_offers_answer('token:7', :o2, NULL, NULL, 'arrived', NULL, :par) ->> 'status')::int, 200,
          'arrived');
SELECT is((careline_api_offers_answer('token:7', :o2, NULL, NULL, 'arrived', NULL, :par) ->> 'status')::int, 200,
          'arrived again');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'offer.arrive'), 1::bigint, 'arrival recorded once');
SELECT is((careline_api_offers_answer('token:7', :o2, NULL, NULL, 'completed', NULL, :par) ->> 'status')::int, 200,
          'completed');
SELECT is((SELECT status FROM calls WHERE id = :c), 'completed', 'the call is completed with its job');
SELECT is((careline_api_offers_answer('token:7', :o2, NULL, NULL, 'completed', NULL, :par) ->> 'status')::int, 200,
          'completed again: the same answer');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'offer.complete'), 1::bigint, 'completion recorded once');

-- Timers: an offer past respond_by expires, its provider is told, the call moves on.
SELECT (careline_api_calls_create('token:1', NULL, '{"caller_phone": "13900000002", "service": "meal"}',
                             :par, NULL, NULL) #>> '{body,id}') AS c2 \gset
SELECT pg_temp.offer(:c2, 'first') AS p1, pg_temp.offer(:c2, 'second') AS p2 \gset
SELECT is(careline_offers_expire(:par) ->> 'expired', '0', 'nothing is due yet');
UPDATE offers SET respond_by = now() - interval '1 second' WHERE id = :p1;
SELECT is(careline_offers_expire(:par) ->> 'expired', '1', 'the due offer expires');
SELECT is((SELECT status || ':' || reason FROM offers WHERE id = :p1), 'expired:expired', 'marked expired');
SELECT is((SELECT payload #>> '{data,reason}' FROM deliveries WHERE offer_id = :p1
           AND event_type = 'offer.cancelled'), 'expired', 'its provider gets offer.cancelled (expired)');
SELECT is((SELECT status FROM offers WHERE id = :p2), 'offered', 'the next candidate is offered');
UPDATE offers SET respond_by = now() - interval '1 second' WHERE id = :p2;
SELECT is(careline_offers_expire(:par) ->> 'expired', '1', 'the last candidate expires too');
SELECT is((SELECT status FROM calls WHERE id = :c2), 'unmatched', 'and the call, out of candidates, is unmatched');

SELECT * FROM finish();
ROLLBACK;
