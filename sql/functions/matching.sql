-- matching.sql: Matching: who can take a job, nearest first; the services.

-- The services careline dispatches, in the console's order: the daemon's
-- list (api_services in daemon/api_config.c, served by GET /v1/config;
-- test_config checks the two agree). The schema's CHECKs on
-- providers.services and calls.service, the per-service partial indexes
-- and careline_match's per-service branches are written for the same list,
-- so a new service is a schema file plus a branch here (docs/DECISIONS.md).
CREATE OR REPLACE FUNCTION careline_services()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT ARRAY['meal', 'housekeeping', 'daycare', 'companionship'];
$$;

-- ---------------------------------------------------------------------------
-- Matching.
--
-- p_params: {"max_minutes": 15, "detour_factor": 1.3,
--            "speeds": {"walk":4,"ebike":15,"car":25,"shuttle":20,"wheelchair":2.5},
--            "limit": 5, "timezone": "Asia/Shanghai"}   (speeds in km/h)
-- Missing keys take those defaults.
--
-- The rules are mirrored by a C reference in the tests; change both or none:
--   * active providers offering the service, open at p_at in the district's
--     time zone (provider_hours: dow = isodow, opens <= t < closes);
--   * spare = capacity - accepted, uncompleted offers of accepted calls; > 0;
--   * speed: daycare -> shuttle speed for 'shuttle' centres, else the
--     resident's mobility (bedridden: not served); other services -> the
--     provider's own travel_mode;
--   * distance on the sphere (ST_Distance(..., false));
--     minutes = distance * detour / (speed * 1000 / 60), in reach when
--     minutes <= max_minutes + 1e-6 (noise, not a policy: 0.06 ms);
--   * order: minutes, spare DESC, last_offered_at NULLS FIRST, id; limit.
--
-- How: the per-service partial GiST index (providers_*_gist, in the
-- baseline schema; the service is spelled
-- as a literal, one branch per service) yields the providers inside the
-- largest radius any of them could cover (ST_DWithin), nearest first (KNN
-- <->). Walking outwards, a provider at distance d needs at least
-- d * detour / fastest minutes, so once `limit` providers qualify and that
-- bound passes the limit-th best minutes found, nobody further out can
-- enter the result (or tie with it) and the walk stops. Spare capacity is
-- counted only for providers that could still enter. The answer is the
-- same as ranking every provider in the radius, at a fraction of the cost.
CREATE OR REPLACE FUNCTION careline_match(p_resident_id bigint, p_service text,
                               p_at timestamptz, p_params jsonb)
RETURNS TABLE (rank int, provider_id bigint, provider_name text,
               travel_minutes numeric, distance_m double precision,
               spare_capacity int)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    -- Every key comes from the daemon's configuration (dispatch_params in
    -- dispatcher.c); there are no defaults here (docs/DECISIONS.md).
    v_max      double precision := (p_params ->> 'max_minutes')::double precision;
    v_detour   double precision := (p_params ->> 'detour_factor')::double precision;
    v_limit    int := (p_params ->> 'limit')::int;
    v_tz       text := p_params ->> 'timezone';
    v_walk     double precision := (p_params #>> '{speeds,walk}')::double precision;
    v_ebike    double precision := (p_params #>> '{speeds,ebike}')::double precision;
    v_car      double precision := (p_params #>> '{speeds,car}')::double precision;
    v_shuttle  double precision := (p_params #>> '{speeds,shuttle}')::double precision;
    v_wheel    double precision := (p_params #>> '{speeds,wheelchair}')::double precision;
    -- Speed (km/h) that applies to a provider of each travel_mode; NULL: not served.
    s_walk     double precision;
    s_ebike    double precision;
    s_car      double precision;
    s_shuttle  double precision;
    v_fastest  double precision;
    v_radius   double precision;
    v_loc      geography;
    v_mobility text;
    v_own      double precision;
    v_local    timestamp;
    v_dow      int;
    v_time     time;
    v_cur      refcursor;
    v_c        record;
    v_speed    double precision;
    v_minutes  double precision;
    v_spare    int;
    v_taken    int := 0;
    v_kth      double precision;    -- limit-th best minutes taken so far
    a_id       bigint[] := '{}';
    a_name     text[] := '{}';
    a_minutes  double precision[] := '{}';
    a_dist     double precision[] := '{}';
    a_spare    int[] := '{}';
    a_lastoff  timestamptz[] := '{}';
BEGIN
    IF p_service IS NULL OR NOT p_service = ANY (careline_services()) THEN
        RAISE EXCEPTION 'careline_match: unknown service %', coalesce(quote_literal(p_service), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_at IS NULL OR v_max IS NULL OR v_max < 0 OR v_detour IS NULL OR v_detour <= 0
       OR v_limit IS NULL OR v_limit < 1 OR v_tz IS NULL
       OR NOT coalesce(v_walk > 0 AND v_ebike > 0 AND v_car > 0 AND v_shuttle > 0 AND v_wheel > 0, false) THEN
        RAISE EXCEPTION 'careline_match: bad parameters (p_at %, params %): max_minutes >= 0, '
                        'detour_factor > 0, limit >= 1, timezone and speeds.{walk,ebike,car,'
                        'shuttle,wheelchair} > 0 are all required', p_at, p_params
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT r.location, r.mobility INTO v_loc, v_mobility
    FROM residents r WHERE r.id = p_resident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'careline_match: no resident %', p_resident_id
            USING ERRCODE = 'no_data_found';
    END IF;

    v_local := p_at AT TIME ZONE v_tz;
    v_dow := extract(isodow FROM v_local)::int;
    v_time := v_local::time;

    IF p_service = 'daycare' THEN
        -- The centre's shuttle fetches the guest; otherwise the guest comes.
        v_own := CASE v_mobility
                     WHEN 'walk' THEN v_walk
                     WHEN 'ebike' THEN v_ebike
                     WHEN 'car' THEN v_car
                     WHEN 'wheelchair' THEN v_wheel
                     ELSE NULL               -- bedridden: only a shuttle
                 END;
        s_walk := v_own;
        s_ebike := v_own;
        s_car := v_own;
        s_shuttle := v_shuttle;
    ELSE
        s_walk := v_walk;
        s_ebike := v_ebike;
        s_car := v_car;
        s_shuttle := v_shuttle;
    END IF;
    v_fastest := greatest(s_walk, s_ebike, s_car, s_shuttle);
    v_radius := v_max * v_fastest * 1000.0 / 60.0 / v_detour + 1.0;

    -- One literal per service, so the planner takes its partial GiST index
    -- for both the radius (ST_DWithin) and the order (<->).
    IF p_service = 'meal' THEN
        OPEN v_cur FOR
            SELECT p.id, p.name, p.capacity, p.last_offered_at, p.travel_mode,
                   ST_Distance(p.location, v_loc, false) AS dist
            FROM providers p
            WHERE p.active AND 'meal' = ANY (p.services)
              AND ST_DWithin(p.location, v_loc, v_radius, false)
              AND EXISTS (SELECT 1 FROM provider_hours h
                          WHERE h.provider_id = p.id AND h.dow = v_dow
                            AND h.opens <= v_time AND v_time < h.closes)
            ORDER BY p.location <-> v_loc;
    ELSIF p_service = 'housekeeping' THEN
        OPEN v_cur FOR
            SELECT p.id, p.name, p.capacity, p.last_offered_at, p.travel_mode,
                   ST_Distance(p.location, v_loc, false) AS dist
            FROM providers p
            WHERE p.active AND 'housekeeping' = ANY (p.services)
              AND ST_DWithin(p.location, v_loc, v_radius, false)
              AND EXISTS (SELECT 1 FROM provider_hours h
                          WHERE h.provider_id = p.id AND h.dow = v_dow
                            AND h.opens <= v_time AND v_time < h.closes)
            ORDER BY p.location <-> v_loc;
    ELSIF p_service = 'daycare' THEN
        OPEN v_cur FOR
            SELECT p.id, p.name, p.capacity, p.last_offered_at, p.travel_mode,
                   ST_Distance(p.location, v_loc, false) AS dist
            FROM providers p
            WHERE p.active AND 'daycare' = ANY (p.services)
              AND ST_DWithin(p.location, v_loc, v_radius, false)
              AND EXISTS (SELECT 1 FROM provider_hours h
                          WHERE h.provider_id = p.id AND h.dow = v_dow
                            AND h.opens <= v_time AND v_time < h.closes)
            ORDER BY p.location <-> v_loc;
    ELSE
        OPEN v_cur FOR
            SELECT p.id, p.name, p.capacity, p.last_offered_at, p.travel_mode,
                   ST_Distance(p.location, v_loc, false) AS dist
            FROM providers p
            WHERE p.active AND 'companionship' = ANY (p.services)
              AND ST_DWithin(p.location, v_loc, v_radius, false)
              AND EXISTS (SELECT 1 FROM provider_hours h
                          WHERE h.provider_id = p.id AND h.dow = v_dow
                            AND h.opens <= v_time AND v_time < h.closes)
            ORDER BY p.location <-> v_loc;
    END IF;

    LOOP
        FETCH v_cur INTO v_c;
        EXIT WHEN NOT FOUND;
        -- Nobody from here outwards can beat or tie the limit-th best
        -- (1 m of slack covers the KNN order's own rounding).
        EXIT WHEN v_taken >= v_limit
              AND (v_c.dist - 1.0) * v_detour / (v_fastest * 1000.0 / 60.0) > v_kth;

        v_speed := CASE v_c.travel_mode
                       WHEN 'walk' THEN s_walk
                       WHEN 'ebike' THEN s_ebike
                       WHEN 'car' THEN s_car
                       WHEN 'shuttle' THEN s_shuttle
                   END;
        CONTINUE WHEN v_speed IS NULL;
        v_minutes := v_c.dist * v_detour / (v_speed * 1000.0 / 60.0);
        CONTINUE WHEN v_minutes > v_max + 1e-6::double precision;
        CONTINUE WHEN v_taken >= v_limit AND v_minutes > v_kth;

        SELECT v_c.capacity - count(*)::int INTO v_spare
        FROM offers o
        JOIN calls k ON k.id = o.call_id
        WHERE o.provider_id = v_c.id
          AND o.status = 'accepted'
          AND o.completed_at IS NULL
          AND k.status = 'accepted';
        CONTINUE WHEN v_spare <= 0;

        v_taken := v_taken + 1;
        a_id := a_id || v_c.id;
        a_name := a_name || v_c.name;
        a_minutes := a_minutes || v_minutes;
        a_dist := a_dist || v_c.dist;
        a_spare := a_spare || v_spare;
        a_lastoff := a_lastoff || v_c.last_offered_at;
        IF v_taken >= v_limit THEN
            SELECT m INTO v_kth FROM unnest(a_minutes) AS m ORDER BY m OFFSET v_limit - 1 LIMIT 1;
        END IF;
    END LOOP;
    CLOSE v_cur;

    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY u.minutes, u.spare DESC,
                                        u.lastoff ASC NULLS FIRST, u.id))::int,
           u.id, u.name, round(u.minutes::numeric, 2), u.dist, u.spare
    FROM unnest(a_id, a_name, a_minutes, a_dist, a_spare, a_lastoff)
         AS u(id, name, minutes, dist, spare, lastoff)
    ORDER BY u.minutes, u.spare DESC, u.lastoff ASC NULLS FIRST, u.id
    LIMIT v_limit;
END;
$$;

-- GET /v1/matches: who can reach this resident, which says where they live.
CREATE OR REPLACE FUNCTION careline_matches_read(p_actor text, p_route text, p_resident_id bigint,
                                      p_service text, p_at timestamptz, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_at timestamptz := coalesce(p_at, now());
    v jsonb;
BEGIN
    -- Where each candidate is and how it travels, for the plot.
    SELECT jsonb_build_object('resident_id', p_resident_id, 'service', p_service,
               'at', v_at,
               'candidates', coalesce(jsonb_agg(to_jsonb(m) || jsonb_build_object(
                   'lat', ST_Y(p.location::geometry), 'lon', ST_X(p.location::geometry),
                   'travel_mode', p.travel_mode) ORDER BY m.rank), '[]'::jsonb))
    INTO v
    FROM careline_match(p_resident_id, p_service, v_at, p_params) m
    JOIN providers p ON p.id = m.provider_id;
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY(
        SELECT id FROM residents WHERE id = p_resident_id));
    RETURN v;
END;
$$;
