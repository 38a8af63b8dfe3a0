-- careline_match: who is in reach, in what order. Fixtures are placed on
-- the meridian through the resident, where the sphere distance PostGIS
-- uses (ST_Distance(..., false), radius 6371008.7714 m) is R * dlat, so
-- that travel minutes are known exactly: minutes = d * detour / speed.
\ir lib/fixtures.sql
SELECT plan(31);

-- A point d metres north (negative: south) of the resident's home.
CREATE FUNCTION pg_temp.north(d double precision) RETURNS geography
LANGUAGE sql IMMUTABLE AS $$
    SELECT ST_SetSRID(ST_MakePoint(113.19, 27.88 + degrees(d / 6371008.7714)), 4326)::geography;
$$;
-- The distance a walker (4 km/h, detour 1.3) covers in m minutes.
CREATE FUNCTION pg_temp.walk_m(m double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT m * (4000.0 / 60.0) / 1.3; $$;
-- Names of the matches, in rank order.
CREATE FUNCTION pg_temp.names(p_res text, p_service text, p_at timestamptz, p_params jsonb)
RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(m.provider_name ORDER BY m.rank), '{}')
    FROM careline_match((SELECT id FROM residents WHERE name = p_res), p_service, p_at, p_params) m;
$$;

INSERT INTO residents (name, phone, address, location, mobility) VALUES
    ('walker', '13900000001', 'Home 1', pg_temp.north(0), 'walk'),
    ('bedridden', '13900000002', 'Home 2', pg_temp.north(0), 'bedridden'),
    ('wheelchair', '13900000003', 'Home 3', pg_temp.north(0), 'wheelchair');

-- Meals: the 15.0-minute line and the ordering rules.
DO $$ BEGIN PERFORM pg_temp.provider('near', '{meal}', pg_temp.north(pg_temp.walk_m(5)), 'walk', 5); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('edge', '{meal}', pg_temp.north(pg_temp.walk_m(15)), 'walk', 5); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('beyond', '{meal}', pg_temp.north(pg_temp.walk_m(15) * 1.00001), 'walk', 5); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('inside', '{meal}', pg_temp.north(-pg_temp.walk_m(15) * 0.99999), 'walk', 5); END $$;
-- Four at one point (identical distances): spare DESC, then never
-- offered first, then the least recently offered, then id.
DO $$ BEGIN PERFORM pg_temp.provider('tie_a', '{meal}', pg_temp.north(-pg_temp.walk_m(10)), 'walk', 3); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('tie_b', '{meal}', pg_temp.north(-pg_temp.walk_m(10)), 'walk', 1); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('tie_c', '{meal}', pg_temp.north(-pg_temp.walk_m(10)), 'walk', 1); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('tie_d', '{meal}', pg_temp.north(-pg_temp.walk_m(10)), 'walk', 1); END $$;
UPDATE providers SET last_offered_at = now() - interval '1 hour' WHERE name = 'tie_c';
-- Far, but by car: 3000 m * 1.3 / (25 km/h) = 9.36 min.
DO $$ BEGIN PERFORM pg_temp.provider('car', '{meal}', pg_temp.north(-3000), 'car', 5); END $$;
-- Excluded for other reasons.
DO $$ BEGIN PERFORM pg_temp.provider('asleep', '{meal}', pg_temp.north(10), 'walk', 5); END $$;
UPDATE providers SET active = false WHERE name = 'asleep';
DO $$ BEGIN PERFORM pg_temp.provider('no_hours', '{meal}', pg_temp.north(20), 'walk', 5, false); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('cleaner', '{housekeeping}', pg_temp.north(30), 'walk', 5); END $$;

\set p '\'{"max_minutes": 15, "detour_factor": 1.3, "limit": 20, "timezone": "Asia/Shanghai", "speeds": {"walk": 4, "ebike": 15, "car": 25, "shuttle": 20, "wheelchair": 2.5}}\'::jsonb'
\set mon10 '\'2026-12-07 10:00+08\'::timestamptz'

SELECT is(pg_temp.names('walker', 'meal', :mon10, :p),
          ARRAY['near', 'car', 'tie_a', 'tie_b', 'tie_d', 'tie_c', 'inside', 'edge'],
          'meal: in reach, ordered by minutes, spare, last offered, id');
SELECT is((SELECT travel_minutes FROM careline_match(
               (SELECT id FROM residents WHERE name = 'walker'), 'meal', :mon10, :p)
           WHERE provider_name = 'edge'), 15.00::numeric,
          'a provider exactly 15.0 minutes away is in reach, at 15.00');
SELECT ok(NOT ('beyond' = ANY (pg_temp.names('walker', 'meal', :mon10, :p))),
          'a provider a hair (0.00015 min) beyond 15.0 minutes is not');
SELECT is((SELECT travel_minutes FROM careline_match(
               (SELECT id FROM residents WHERE name = 'walker'), 'meal', :mon10, :p)
           WHERE provider_name = 'car'), 9.36::numeric,
          'other services travel at the provider''s own mode (car: 3000 m in 9.36 min)');
SELECT is((SELECT spare_capacity FROM careline_match(
               (SELECT id FROM residents WHERE name = 'walker'), 'meal', :mon10, :p)
           WHERE provider_name = 'tie_a'), 3, 'spare capacity is reported');
SELECT is(pg_temp.names('walker', 'meal', :mon10, :p || '{"max_minutes": 14.99}'),
          ARRAY['near', 'car', 'tie_a', 'tie_b', 'tie_d', 'tie_c'],
          'max_minutes moves the line');
SELECT is(pg_temp.names('walker', 'meal', :mon10, :p || '{"limit": 2}'),
          ARRAY['near', 'car'],
          'limit 2: the far fast provider still beats the near slow ones');
SELECT throws_ok(format('SELECT * FROM careline_match(1, %L, now(), NULL)', 'meal'), '22023', NULL,
                 'no defaults: NULL parameters raise 22023');
SELECT throws_ok(format('SELECT * FROM careline_match(1, %L, now(), %L)', 'meal', :p #- '{speeds,wheelchair}'),
                 '22023', NULL, 'and so does a missing speed');
SELECT is(pg_temp.names('walker', 'meal', :mon10, :p || '{"detour_factor": 1.0}'),
          ARRAY['near', 'car', 'tie_a', 'tie_b', 'tie_d', 'tie_c', 'inside', 'edge', 'beyond'],
          'a smaller detour factor brings the hair-beyond provider in');
SELECT is(pg_temp.names('walker', 'housekeeping', :mon10, :p), ARRAY['cleaner'],
          'only providers offering the service');

-- Capacity: accepted, uncompleted jobs of accepted calls use it up.
DO $$ BEGIN PERFORM pg_temp.provider('busy', '{companionship}', pg_temp.north(50), 'walk', 1); END $$;
INSERT INTO calls (resident_id, caller_phone, service, wanted_at, status)
SELECT id, phone, 'companionship', now(), 'accepted' FROM residents WHERE name = 'bedridden';
INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status, offered_at, answered_at, respond_by)
SELECT (SELECT max(id) FROM calls), (SELECT id FROM providers WHERE name = 'busy'), 1, 1,
       'accepted', now(), now(), now();
SELECT is(pg_temp.names('walker', 'companionship', :mon10, :p), '{}'::text[],
          'a provider whose capacity is taken by an accepted job is not offered');
UPDATE offers SET completed_at = now()
WHERE provider_id = (SELECT id FROM providers WHERE name = 'busy');
SELECT is(pg_temp.names('walker', 'companionship', :mon10, :p), ARRAY['busy'],
          'a completed job frees the capacity');
UPDATE offers SET completed_at = NULL
WHERE provider_id = (SELECT id FROM providers WHERE name = 'busy');
UPDATE calls SET status = 'cancelled', closed_at = now() WHERE id = (SELECT max(id) FROM calls);
SELECT is(pg_temp.names('walker', 'companionship', :mon10, :p), ARRAY['busy'],
          'an accepted offer of a cancelled call does not take capacity');

-- Hours across midnight: "Su 22:00-02:00" as the parser stores it,
-- Sunday 22:00-24:00 and Monday 00:00-02:00.
DO $$ BEGIN PERFORM pg_temp.provider('night', '{housekeeping}', pg_temp.north(60), 'walk', 5, false); END $$;
INSERT INTO provider_hours (provider_id, dow, opens, closes)
SELECT id, 7, '22:00'::time, '24:00'::time FROM providers WHERE name = 'night'
UNION ALL
SELECT id, 1, '00:00'::time, '02:00'::time FROM providers WHERE name = 'night';
UPDATE providers SET active = false WHERE name = 'cleaner';
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-06 23:30+08'::timestamptz, :p), ARRAY['night'],
          'night hours: open on Sunday at 23:30');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-06 22:00+08'::timestamptz, :p), ARRAY['night'],
          'night hours: open on Sunday at 22:00 (opens is inclusive)');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-07 00:00+08'::timestamptz, :p), ARRAY['night'],
          'night hours: open on Monday at 00:00');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-07 01:59+08'::timestamptz, :p), ARRAY['night'],
          'night hours: open on Monday at 01:59');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-07 02:00+08'::timestamptz, :p), '{}'::text[],
          'night hours: closed on Monday at 02:00 (closes is exclusive)');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-06 21:59+08'::timestamptz, :p), '{}'::text[],
          'night hours: closed on Sunday at 21:59');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-05 23:30+08'::timestamptz, :p), '{}'::text[],
          'night hours: closed on Saturday at 23:30');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-06 15:30Z'::timestamptz, :p), ARRAY['night'],
          'the time is read in the district''s zone: 15:30 UTC is 23:30 in Shanghai');
SELECT is(pg_temp.names('walker', 'housekeeping', '2026-12-06 15:30Z'::timestamptz, :p || '{"timezone": "UTC"}'),
          '{}'::text[], 'and in UTC it is 15:30, closed');

-- Day care: a shuttle centre fetches the guest (shuttle speed); any other
-- centre is reached at the resident's own speed, whatever its travel_mode.
DO $$ BEGIN PERFORM pg_temp.provider('shuttle', '{daycare}', pg_temp.north(3000), 'shuttle', 5); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('by_car', '{daycare}', pg_temp.north(3001), 'car', 5); END $$;
DO $$ BEGIN PERFORM pg_temp.provider('round_corner', '{daycare}', pg_temp.north(-500), 'walk', 5); END $$;
SELECT is(pg_temp.names('walker', 'daycare', :mon10, :p), ARRAY['round_corner', 'shuttle'],
          'day care: the shuttle fetches, a car centre is a 58-minute walk away');
SELECT is((SELECT travel_minutes FROM careline_match(
               (SELECT id FROM residents WHERE name = 'walker'), 'daycare', :mon10, :p)
           WHERE provider_name = 'shuttle'), 11.70::numeric,
          'day care by shuttle: 3000 m at 20 km/h with detour 1.3 = 11.70 min');
SELECT is(pg_temp.names('bedridden', 'daycare', :mon10, :p), ARRAY['shuttle'],
          'day care for a bedridden resident: only a shuttle');
SELECT is(pg_temp.names('wheelchair', 'daycare', :mon10, :p), ARRAY['shuttle'],
          'day care in a wheelchair: 500 m at 2.5 km/h is 15.6 min, out of reach');
SELECT is(pg_temp.names('bedridden', 'meal', :mon10, :p || '{"limit": 1}'), ARRAY['near'],
          'other services come to a bedridden resident as usual');

-- Refusals.
SELECT throws_ok($$SELECT * FROM careline_match(1, 'laundry', now(), NULL)$$, '22023',
                 NULL, 'an unknown service raises 22023');
SELECT throws_ok($$SELECT * FROM careline_match(1, 'meal', now(), '{"max_minutes": -1}')$$,
                 '22023', NULL, 'a negative max_minutes raises 22023');
SELECT throws_ok(format('SELECT * FROM careline_match(-1, %L, now(), %L)', 'meal', :p), 'P0002',
                 NULL, 'an unknown resident raises no_data_found');

SELECT * FROM finish();
ROLLBACK;
