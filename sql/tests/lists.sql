-- Lists and lookups: careline_call_list's filters and cursor,
-- careline_resident_search's prefix match, and a provider's secrets
-- (rotation, the previous one honoured for a day, never in its JSON).
\ir lib/fixtures.sql
SELECT plan(17);

SELECT pg_temp.residents('Wang Fang', 'Wang_Wei', '100% Li') \g /dev/null
INSERT INTO calls (resident_id, caller_phone, service, wanted_at, status)
SELECT r.id, r.phone, s, now(), 'new'
FROM residents r, unnest(ARRAY['meal', 'housekeeping', 'daycare']) s ORDER BY r.id, s;

-- Calls, newest first, paged by id.
SELECT careline_call_list(NULL, NULL, NULL, NULL, 4, NULL) AS p1 \gset
SELECT is((SELECT array_agg((e ->> 'id')::bigint) FROM jsonb_array_elements(:'p1'::jsonb -> 'items') e),
          (SELECT array_agg(id ORDER BY id DESC) FROM (SELECT id FROM calls ORDER BY id DESC LIMIT 4) x),
          'the newest four first');
SELECT is((:'p1'::jsonb ->> 'next_cursor')::bigint, (SELECT id FROM calls ORDER BY id DESC OFFSET 3 LIMIT 1),
          'the cursor is the last id shown');
SELECT is(jsonb_array_length(careline_call_list(NULL, NULL, NULL, NULL, 4, (:'p1'::jsonb ->> 'next_cursor')::bigint)
              -> 'items'), 4, 'the next page');
SELECT is(careline_call_list(NULL, NULL, NULL, NULL, 9, NULL) -> 'next_cursor', 'null'::jsonb,
          'no cursor when everything fits');
SELECT is(jsonb_array_length(careline_call_list(NULL, 'meal', NULL, NULL, 50, NULL) -> 'items'), 3, 'by service');
SELECT is(jsonb_array_length(careline_call_list('new', 'meal', (SELECT min(id) FROM residents), NULL, 50, NULL)
              -> 'items'), 1, 'by status, service and resident together');
SELECT is(jsonb_array_length(careline_call_list(NULL, NULL, NULL, now() + interval '1 second', 50, NULL) -> 'items'),
          0, 'since a time after them all: none');
SELECT is(jsonb_array_length(careline_call_list(NULL, NULL, NULL, NULL, 0, NULL) -> 'items'), 1,
          'a limit under 1 is read as 1');
SELECT throws_ok($$SELECT careline_call_list('open', NULL, NULL, NULL, 5, NULL)$$, '22023', NULL,
                 'an unknown status raises 22023');

-- Residents by phone or the start of a name; LIKE's wildcards are literal.
SELECT is((SELECT array_agg(e ->> 'name') FROM jsonb_array_elements(
              careline_resident_search(NULL, 'WANG', 10) -> 'items') e), ARRAY['Wang Fang', 'Wang_Wei'],
          'a name prefix, whatever its case');
SELECT is((SELECT array_agg(e ->> 'name') FROM jsonb_array_elements(
              careline_resident_search(NULL, 'wang_', 10) -> 'items') e), ARRAY['Wang_Wei'],
          'an underscore matches only an underscore');
SELECT is(jsonb_array_length(careline_resident_search(NULL, '%', 10) -> 'items'), 0,
          'a percent sign matches only itself');
SELECT is((SELECT array_agg(e ->> 'name') FROM jsonb_array_elements(
              careline_resident_search('13900000003', NULL, 10) -> 'items') e), ARRAY['100% Li'], 'by phone');
SELECT throws_ok($$SELECT careline_resident_search(NULL, '', 10)$$, '22023', NULL,
                 'neither a phone nor a name raises 22023');

-- Secrets.
INSERT INTO providers (name, services, location, travel_mode, capacity, opening_hours, webhook_url, webhook_secret)
VALUES ('hook', '{meal}', 'SRID=4326;POINT(113.19 27.88)', 'walk', 5, 'x', 'http://h.test', 'whsec_b2xk');
SELECT is(careline_api_providers_rotate_secret('token:1', (SELECT id FROM providers), 'whsec_bmV3') #>> '{body,webhook_secret}',
          'whsec_bmV3', 'a rotation answers the new secret once');
INSERT INTO deliveries (provider_id, event_type, payload) VALUES ((SELECT id FROM providers), 'offer.cancelled', '{}');
SELECT results_eq($$SELECT secret, secret_previous FROM careline_deliveries_claim('w', 10, 1000)$$,
                  $$VALUES ('whsec_bmV3', 'whsec_b2xk')$$,
                  'deliveries are signed with the new secret and, for a day, the old one');
SELECT ok(NOT (careline_provider_json((SELECT id FROM providers))::text ~ 'whsec_'),
          'a provider''s JSON never carries a secret');

SELECT * FROM finish();
ROLLBACK;
