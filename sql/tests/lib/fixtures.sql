-- The set-up every pgTAP file starts with, included by `\ir lib/fixtures.sql`
-- as its first line (pg_prove runs sql/tests/*.sql only, not this folder):
-- the transaction the file rolls back at its end, the district's time zone,
-- and temporary helpers that make the fixtures (each file states its own
-- rows with them). Helpers live in pg_temp: they vanish with the session
-- and never reach a careline database.
BEGIN;
SET LOCAL TimeZone = 'Asia/Shanghai';

-- Residents named in order, all at one home: the i-th has phone
-- 1390000000i and address 'Flat i'. Their ids, in that order.
CREATE FUNCTION pg_temp.residents(VARIADIC p_names text[]) RETURNS SETOF bigint
LANGUAGE sql AS $$
    INSERT INTO residents (name, phone, address, location)
    SELECT n, '1390000000' || i, 'Flat ' || i, 'SRID=4326;POINT(113.19 27.88)'
    FROM unnest(p_names) WITH ORDINALITY AS u(n, i)
    ORDER BY i
    RETURNING id;
$$;

-- A provider open around the clock (p_hours false: no hours at all).
-- p_hook: it has a webhook, http://NAME.test/hook, with the secret
-- whsec_ + base64 of its name.
CREATE FUNCTION pg_temp.provider(p_name text, p_services text[] DEFAULT '{meal}',
                                 p_at geography DEFAULT 'SRID=4326;POINT(113.19 27.88)',
                                 p_mode text DEFAULT 'walk', p_capacity int DEFAULT 5,
                                 p_hours boolean DEFAULT true, p_hook boolean DEFAULT false)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    INSERT INTO providers (name, services, location, travel_mode, capacity, opening_hours,
                           webhook_url, webhook_secret)
    VALUES (p_name, p_services, p_at, p_mode, p_capacity, 'Mo-Su 00:00-24:00',
            CASE WHEN p_hook THEN 'http://' || p_name || '.test/hook' END,
            CASE WHEN p_hook THEN 'whsec_' || encode(convert_to(p_name, 'UTF8'), 'base64') END)
    RETURNING id INTO v;
    IF p_hours THEN
        INSERT INTO provider_hours (provider_id, dow, opens, closes)
        SELECT v, d, '00:00', '24:00' FROM generate_series(1, 7) d;
    END IF;
    RETURN v;
END;
$$;

-- Ids by name.
CREATE FUNCTION pg_temp.res(p_name text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM residents WHERE name = p_name $$;
CREATE FUNCTION pg_temp.pid(p_name text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM providers WHERE name = p_name $$;

-- The dispatch parameters the daemon passes with every call (config/params.c
-- builds them from config.c's defaults; SQL has none of its own), with the
-- keys a test changes laid over them.
CREATE FUNCTION pg_temp.params(p_over jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT '{"strategy": "cascade", "offer_timeout_ms": 120000, "broadcast_k": 3,
             "public_url": "http://cl.test", "max_minutes": 15, "detour_factor": 1.3,
             "limit": 5, "timezone": "Asia/Shanghai",
             "speeds": {"walk": 4, "ebike": 15, "car": 25, "shuttle": 20, "wheelchair": 2.5},
             "retry_ms": [5000, 30000, 120000, 600000, 1800000]}'::jsonb || p_over;
$$;
