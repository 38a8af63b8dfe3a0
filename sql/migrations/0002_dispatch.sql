-- 0002_dispatch.sql — matching, calls, residents, providers and tokens as
-- SQL functions: one function per API request, one round trip.
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here).
--
-- Conventions
--   * Functions that change state (…_create, …_save, …_transition,
--     …_revoke) return jsonb {"status": <http status>, "body": <jsonb>};
--     errors have body {"error": {"code", "message", "field"}} (a few add a
--     key beside "error", e.g. "candidates", "open_call", "call"). The daemon
--     passes the body through untouched.
--   * Read functions return the body itself: careline_*_json(id) the
--     entity (NULL when there is no such row), careline_*_list and
--     careline_resident_search {"items": [...], ...} (a filter the daemon
--     should have refused raises 22023); careline_match and
--     careline_token_auth return rows.
--   * Times are timestamptz rendered by jsonb in the session TimeZone (the
--     district's), e.g. "2026-11-29T17:50:00.123+08:00".
--   * Every state change writes one audit_log row: actor ('token:12'),
--     action ('call.create'), entity, entity_id, before, after. Residents'
--     names, phones and addresses appear there only as field values of the
--     record that changed, never in free text.
--   * Lock order, for every function that takes more than one lock:
--     resident, then call, then its offers, then providers.
--   * The daemon validates types, ranges and formats first; the checks here
--     repeat the ones that decide a business answer (404, 409, 422) and let
--     the table constraints reject anything else.

-- ---------------------------------------------------------------------------
-- Indexes for the list endpoints (newest first, filtered).
CREATE INDEX calls_status_id_idx ON calls (status, id);
CREATE INDEX calls_resident_id_idx ON calls (resident_id, id);

-- ---------------------------------------------------------------------------
-- Small helpers.

-- {"status": s, "body": {"error": {...}} || extra}
CREATE FUNCTION careline_error(p_status int, p_code text, p_message text,
                               p_field text, p_extra jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'status', p_status,
        'body', jsonb_build_object('error', jsonb_build_object(
                    'code', p_code, 'message', p_message, 'field', p_field))
                || coalesce(p_extra, '{}'::jsonb));
$$;

CREATE FUNCTION careline_audit(p_actor text, p_action text, p_entity text,
                               p_entity_id bigint, p_before jsonb, p_after jsonb)
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
    VALUES (p_actor, p_action, p_entity, p_entity_id, p_before, p_after);
$$;

-- The keys whose values differ between two objects, as {before, after}.
CREATE FUNCTION careline_json_diff(p_before jsonb, p_after jsonb,
                                   OUT before jsonb, OUT after jsonb)
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(k, p_before -> k), '{}'::jsonb),
           coalesce(jsonb_object_agg(k, p_after -> k), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(p_before) UNION SELECT jsonb_object_keys(p_after)) AS s(k)
    WHERE k <> 'updated_at'
      AND (p_before -> k) IS DISTINCT FROM (p_after -> k);
$$;

-- A community given as community_id or as its name; error is NULL on success.
CREATE FUNCTION careline_resolve_community(p_fields jsonb,
                                           OUT present boolean,
                                           OUT community_id bigint,
                                           OUT error jsonb)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_by_name bigint;
BEGIN
    present := p_fields ? 'community_id' OR p_fields ? 'community';
    IF p_fields ? 'community_id' AND jsonb_typeof(p_fields -> 'community_id') <> 'null' THEN
        SELECT c.id INTO community_id
        FROM communities c WHERE c.id = (p_fields ->> 'community_id')::bigint;
        IF NOT FOUND THEN
            error := careline_error(422, 'community_not_found',
                format('There is no community with id %s.', p_fields ->> 'community_id'),
                'community_id');
            RETURN;
        END IF;
    END IF;
    IF p_fields ? 'community' AND jsonb_typeof(p_fields -> 'community') <> 'null' THEN
        SELECT c.id INTO v_by_name FROM communities c WHERE c.name = p_fields ->> 'community';
        IF NOT FOUND THEN
            error := careline_error(422, 'community_not_found',
                'There is no community of that name; check the spelling or use community_id.',
                'community');
            RETURN;
        END IF;
        IF p_fields ? 'community_id' AND community_id IS DISTINCT FROM v_by_name THEN
            error := careline_error(422, 'community_mismatch',
                'community and community_id name different communities; send only one.',
                'community');
            RETURN;
        END IF;
        community_id := v_by_name;
    END IF;
END;
$$;

-- A constraint violation turned into a 422 naming the input field.
CREATE FUNCTION careline_constraint_error(p_table text, p_constraint text,
                                          p_column text, p_message text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT careline_error(422, 'invalid_value',
        'A value was rejected by the database: ' || p_message,
        CASE
            WHEN p_column IS NOT NULL AND p_column <> '' THEN
                CASE p_column WHEN 'location' THEN 'lat' ELSE p_column END
            WHEN p_table = 'provider_hours' THEN 'opening_hours'
            WHEN p_constraint ~ ('^' || p_table || '_location_check') THEN 'lat'
            WHEN p_constraint = 'providers_webhook_needs_secret' THEN 'webhook_url'
            WHEN p_constraint ~ ('^' || p_table || '_[a-z_]+_check$') THEN
                regexp_replace(p_constraint, '^' || p_table || '_([a-z_]+?)_check$', '\1')
            ELSE NULL
        END);
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
-- How: the per-service partial GiST index of 0001 (the service is spelled
-- as a literal, one branch per service) yields the providers inside the
-- largest radius any of them could cover (ST_DWithin), nearest first (KNN
-- <->). Walking outwards, a provider at distance d needs at least
-- d * detour / fastest minutes, so once `limit` providers qualify and that
-- bound passes the limit-th best minutes found, nobody further out can
-- enter the result (or tie with it) and the walk stops. Spare capacity is
-- counted only for providers that could still enter. The answer is the
-- same as ranking every provider in the radius, at a fraction of the cost.
CREATE FUNCTION careline_match(p_resident_id bigint, p_service text,
                               p_at timestamptz, p_params jsonb)
RETURNS TABLE (rank int, provider_id bigint, provider_name text,
               travel_minutes numeric, distance_m double precision,
               spare_capacity int)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_params   jsonb := coalesce(p_params, '{}'::jsonb);
    v_speeds   jsonb := coalesce(v_params -> 'speeds', '{}'::jsonb);
    v_max      double precision := coalesce((v_params ->> 'max_minutes')::double precision, 15);
    v_detour   double precision := coalesce((v_params ->> 'detour_factor')::double precision, 1.3);
    v_limit    int := coalesce((v_params ->> 'limit')::int, 5);
    v_tz       text := coalesce(v_params ->> 'timezone', 'Asia/Shanghai');
    v_walk     double precision := coalesce((v_speeds ->> 'walk')::double precision, 4);
    v_ebike    double precision := coalesce((v_speeds ->> 'ebike')::double precision, 15);
    v_car      double precision := coalesce((v_speeds ->> 'car')::double precision, 25);
    v_shuttle  double precision := coalesce((v_speeds ->> 'shuttle')::double precision, 20);
    v_wheel    double precision := coalesce((v_speeds ->> 'wheelchair')::double precision, 2.5);
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
    IF p_service IS NULL OR p_service NOT IN ('meal', 'housekeeping', 'daycare', 'companionship') THEN
        RAISE EXCEPTION 'careline_match: unknown service %', coalesce(quote_literal(p_service), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_at IS NULL OR v_max IS NULL OR v_max < 0 OR v_detour IS NULL OR v_detour <= 0
       OR v_limit IS NULL OR v_limit < 1
       OR NOT (v_walk > 0 AND v_ebike > 0 AND v_car > 0 AND v_shuttle > 0 AND v_wheel > 0) THEN
        RAISE EXCEPTION 'careline_match: bad parameters (p_at %, params %)', p_at, p_params
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

-- ---------------------------------------------------------------------------
-- Calls.

CREATE FUNCTION careline_call_json(p_call_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'resident_id', c.resident_id,
        'caller_phone', c.caller_phone,
        'service', c.service,
        'wanted_at', c.wanted_at,
        'notes', c.notes,
        'urgency', c.urgency,
        'status', c.status,
        'created_at', c.created_at,
        'updated_at', c.updated_at,
        'closed_at', c.closed_at,
        'resident', jsonb_build_object('id', r.id, 'name', r.name, 'community', co.name),
        'candidates', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'offer_id', o.id,
                       'rank', o.rank,
                       'provider_id', o.provider_id,
                       'provider_name', p.name,
                       'travel_minutes', o.travel_minutes,
                       'status', o.status,
                       'respond_by', o.respond_by) ORDER BY o.rank)
            FROM offers o JOIN providers p ON p.id = o.provider_id
            WHERE o.call_id = c.id), '[]'::jsonb))
    FROM calls c
    JOIN residents r ON r.id = c.resident_id
    LEFT JOIN communities co ON co.id = r.community_id
    WHERE c.id = p_call_id;
$$;

-- Idempotency-Key replay: NULL when this token has not used the key.
CREATE FUNCTION careline_call_replay(p_token_id bigint, p_idem_key text, p_req_hash bytea)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE
               WHEN c.request_hash = p_req_hash THEN
                   jsonb_build_object('status', 201,
                                      'body', coalesce(c.response, careline_call_json(c.id)))
               ELSE careline_error(422, 'idempotency_key_reused',
                   'This Idempotency-Key was already used for a different request; '
                   'use a new key for a new call.', NULL)
           END
    FROM calls c
    WHERE c.created_by = p_token_id AND c.idempotency_key = p_idem_key;
$$;

-- p_req (validated by the daemon):
--   {"resident_id": int?, "caller_phone": digits, "service": ..., "wanted_at": text?,
--    "notes": text?, "urgency": "normal"|"urgent"?, "duplicate_ok": bool?}
CREATE FUNCTION careline_call_create(p_actor text, p_token_id bigint, p_req jsonb,
                                     p_params jsonb, p_idem_key text, p_req_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_reply       jsonb;
    v_resident_id bigint;
    v_phone       text := p_req ->> 'caller_phone';
    v_service     text := p_req ->> 'service';
    v_wanted      timestamptz;
    v_n           int;
    v_cands       jsonb;
    v_open_id     bigint;
    v_call        calls%ROWTYPE;
    v_offers      jsonb;
    v_body        jsonb;
    v_constraint  text;
BEGIN
    IF p_idem_key IS NOT NULL AND (p_token_id IS NULL OR p_req_hash IS NULL) THEN
        RAISE EXCEPTION 'careline_call_create: an idempotency key needs a token id and a request hash'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- a. Idempotency: a key this token already used answers from its call.
    IF p_idem_key IS NOT NULL THEN
        v_reply := careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        IF v_reply IS NOT NULL THEN
            RETURN v_reply;
        END IF;
    END IF;

    -- b. Whom the call is for.
    IF jsonb_typeof(p_req -> 'resident_id') IS NOT NULL
       AND jsonb_typeof(p_req -> 'resident_id') <> 'null' THEN
        v_resident_id := (p_req ->> 'resident_id')::bigint;
        PERFORM 1 FROM residents r WHERE r.id = v_resident_id;
        IF NOT FOUND THEN
            RETURN careline_error(404, 'resident_not_found',
                format('There is no resident with id %s.', v_resident_id), 'resident_id');
        END IF;
    ELSE
        SELECT count(*), min(r.id),
               jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'address', r.address)
                         ORDER BY r.id)
        INTO v_n, v_resident_id, v_cands
        FROM residents r WHERE r.phone = v_phone;
        IF v_n = 0 THEN
            RETURN careline_error(422, 'resident_not_found',
                'No resident is registered with this number; register them first '
                '(or send resident_id if the caller is calling for someone else).',
                'caller_phone');
        ELSIF v_n > 1 THEN
            RETURN careline_error(422, 'ambiguous_resident',
                format('%s residents share this phone number; choose one and send its resident_id.', v_n),
                'resident_id', jsonb_build_object('candidates', v_cands));
        END IF;
    END IF;

    -- c. One operator at a time per resident: a second operator logging the
    -- same need waits here, then sees the first call.
    SELECT r.phone INTO v_phone FROM residents r WHERE r.id = v_resident_id FOR UPDATE;
    v_phone := coalesce(p_req ->> 'caller_phone', v_phone);

    -- A racing request with the same key waited on the lock above; it is a replay.
    IF p_idem_key IS NOT NULL THEN
        v_reply := careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        IF v_reply IS NOT NULL THEN
            RETURN v_reply;
        END IF;
    END IF;

    IF NOT coalesce((p_req ->> 'duplicate_ok')::boolean, false) THEN
        SELECT c.id INTO v_open_id
        FROM calls c
        WHERE c.resident_id = v_resident_id AND c.service = v_service
          AND c.status IN ('new', 'offered', 'accepted', 'unmatched')
        ORDER BY c.id DESC
        LIMIT 1;
        IF FOUND THEN
            RETURN careline_error(409, 'duplicate_call',
                format('Resident %s already has an open %s call (#%s); '
                       'send "duplicate_ok": true to log another one.',
                       v_resident_id, v_service, v_open_id),
                'service', jsonb_build_object('open_call', careline_call_json(v_open_id)));
        END IF;
    END IF;

    -- d. The call, then its ranked candidates.
    v_wanted := coalesce((p_req ->> 'wanted_at')::timestamptz, now());
    BEGIN
        INSERT INTO calls (resident_id, caller_phone, service, wanted_at, notes, urgency,
                           status, created_by, idempotency_key, request_hash)
        VALUES (v_resident_id, v_phone, v_service, v_wanted,
                coalesce(p_req ->> 'notes', ''), coalesce(p_req ->> 'urgency', 'normal'),
                'new', p_token_id, p_idem_key,
                CASE WHEN p_idem_key IS NOT NULL THEN p_req_hash END)
        RETURNING * INTO v_call;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint = 'calls_idempotency_key' THEN
            -- The same key raced in for another resident and committed first.
            RETURN careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        END IF;
        RAISE;
    END;

    WITH ins AS (
        INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status)
        SELECT v_call.id, m.provider_id, m.rank, m.travel_minutes, 'pending'
        FROM careline_match(v_resident_id, v_service, v_wanted, p_params) AS m
        RETURNING offers.provider_id, offers.rank, offers.travel_minutes
    )
    SELECT jsonb_agg(jsonb_build_object('provider_id', i.provider_id, 'rank', i.rank,
                                        'travel_minutes', i.travel_minutes) ORDER BY i.rank)
    INTO v_offers FROM ins i;

    IF v_offers IS NULL THEN
        -- Nobody in reach: logged all the same, and visible as unmatched.
        UPDATE calls SET status = 'unmatched' WHERE id = v_call.id;
        v_call.status := 'unmatched';
    END IF;

    PERFORM careline_audit(p_actor, 'call.create', 'call', v_call.id, NULL,
        (to_jsonb(v_call) - 'response' - 'request_hash')
        || jsonb_build_object('candidates', coalesce(v_offers, '[]'::jsonb)));

    -- e. The answer, kept for replays.
    v_body := careline_call_json(v_call.id);
    IF p_idem_key IS NOT NULL THEN
        UPDATE calls SET response = v_body WHERE id = v_call.id;
    END IF;
    RETURN jsonb_build_object('status', 201, 'body', v_body);
END;
$$;

-- Newest first; NULL filters match everything; p_before_id is the cursor.
CREATE FUNCTION careline_call_list(p_status text, p_service text, p_resident_id bigint,
                                   p_since timestamptz, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_sql   text := 'SELECT array_agg(id ORDER BY id DESC) FROM ('
                    'SELECT c.id FROM calls c WHERE true';
    v_ids   bigint[];
    v_more  boolean;
BEGIN
    IF p_status IS NOT NULL
       AND p_status NOT IN ('new', 'offered', 'accepted', 'completed', 'cancelled', 'unmatched') THEN
        RAISE EXCEPTION 'status must be one of new, offered, accepted, completed, cancelled, unmatched'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_service IS NOT NULL
       AND p_service NOT IN ('meal', 'housekeeping', 'daycare', 'companionship') THEN
        RAISE EXCEPTION 'service must be one of meal, housekeeping, daycare, companionship'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Only the filters given, so each query is planned for what it asks.
    IF p_status IS NOT NULL THEN v_sql := v_sql || ' AND c.status = $1'; END IF;
    IF p_service IS NOT NULL THEN v_sql := v_sql || ' AND c.service = $2'; END IF;
    IF p_resident_id IS NOT NULL THEN v_sql := v_sql || ' AND c.resident_id = $3'; END IF;
    IF p_since IS NOT NULL THEN v_sql := v_sql || ' AND c.created_at >= $4'; END IF;
    IF p_before_id IS NOT NULL THEN v_sql := v_sql || ' AND c.id < $5'; END IF;
    v_sql := v_sql || ' ORDER BY c.id DESC LIMIT $6) s';

    EXECUTE v_sql INTO v_ids
        USING p_status, p_service, p_resident_id, p_since, p_before_id, v_limit + 1;

    v_ids := coalesce(v_ids, '{}');
    v_more := cardinality(v_ids) > v_limit;
    IF v_more THEN
        v_ids := v_ids[1:v_limit];
    END IF;

    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(careline_call_json(u.id) ORDER BY u.ord)
                           FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)), '[]'::jsonb),
        'next_cursor', CASE WHEN v_more THEN to_jsonb(v_ids[v_limit]::text) ELSE 'null'::jsonb END);
END;
$$;

-- 'cancel':   new | offered | accepted | unmatched -> cancelled
-- 'complete': accepted -> completed (the accepted offer gets completed_at);
--             new | offered | unmatched -> completed as an operator's override.
-- Either way the call's pending and offered offers are cancelled.
CREATE FUNCTION careline_call_transition(p_actor text, p_call_id bigint,
                                         p_action text, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_call       calls%ROWTYPE;
    v_to         text;
    v_cancelled  bigint[];      -- offers withdrawn from their providers
    v_completed  bigint[];      -- the accepted offer that is now done
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('cancel', 'complete') THEN
        RETURN careline_error(422, 'invalid_action',
            'action must be cancel or complete.', 'action');
    END IF;

    SELECT * INTO v_call FROM calls WHERE id = p_call_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'call_not_found',
            format('There is no call with id %s.', p_call_id), NULL);
    END IF;
    IF v_call.status NOT IN ('new', 'offered', 'accepted', 'unmatched') THEN
        RETURN careline_error(409, 'invalid_transition',
            format('Call %s is already %s; it cannot be %s.', p_call_id, v_call.status,
                   CASE p_action WHEN 'cancel' THEN 'cancelled' ELSE 'completed' END),
            NULL, jsonb_build_object('call', careline_call_json(p_call_id)));
    END IF;
    v_to := CASE p_action WHEN 'cancel' THEN 'cancelled' ELSE 'completed' END;

    WITH u AS (
        UPDATE offers SET status = 'cancelled'
        WHERE call_id = p_call_id AND status IN ('pending', 'offered')
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO v_cancelled FROM u;

    IF v_to = 'completed' THEN
        WITH u AS (
            UPDATE offers SET completed_at = now()
            WHERE call_id = p_call_id AND status = 'accepted' AND completed_at IS NULL
            RETURNING id
        )
        SELECT array_agg(id ORDER BY id) INTO v_completed FROM u;
    END IF;

    UPDATE calls SET status = v_to, closed_at = now() WHERE id = p_call_id;

    -- OUTBOX: tell the providers here, in this transaction. The offers in
    -- v_cancelled (those that were 'offered' had been sent) want an
    -- 'offer.cancelled' delivery; on a cancel, the accepted offer of an
    -- 'accepted' call wants one too; v_completed wants 'offer.completed'.

    PERFORM careline_audit(p_actor, 'call.' || p_action, 'call', p_call_id,
        jsonb_build_object('status', v_call.status),
        jsonb_build_object('status', v_to, 'reason', p_reason,
                           'cancelled_offers', coalesce(to_jsonb(v_cancelled), '[]'::jsonb),
                           'completed_offers', coalesce(to_jsonb(v_completed), '[]'::jsonb)));

    RETURN jsonb_build_object('status', 200, 'body', careline_call_json(p_call_id));
END;
$$;

-- ---------------------------------------------------------------------------
-- Residents.

CREATE FUNCTION careline_resident_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', r.id,
        'name', r.name,
        'phone', r.phone,
        'address', r.address,
        'lat', ST_Y(r.location::geometry),
        'lon', ST_X(r.location::geometry),
        'community_id', r.community_id,
        'community', c.name,
        'street', c.street,
        'mobility', r.mobility,
        'lives_alone', r.lives_alone,
        'disabled', r.disabled,
        'low_income', r.low_income,
        'created_at', r.created_at,
        'updated_at', r.updated_at)
    FROM residents r
    LEFT JOIN communities c ON c.id = r.community_id
    WHERE r.id = p_id;
$$;

-- p_id NULL creates (name, phone, address, lat, lon required), otherwise
-- updates only the keys present. Optional: community_id or community (name),
-- mobility, lives_alone, disabled, low_income.
CREATE FUNCTION careline_resident_save(p_actor text, p_id bigint, p_fields jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_known   text[] := ARRAY['name', 'phone', 'address', 'lat', 'lon', 'community_id',
                              'community', 'mobility', 'lives_alone', 'disabled', 'low_income'];
    v_key     text;
    v_comm    record;
    v_old     residents%ROWTYPE;
    v_new     residents%ROWTYPE;
    v_lat     double precision;
    v_lon     double precision;
    v_before  jsonb;
    v_after   jsonb;
    v_diff    record;
    v_id      bigint;
    v_tab     text;
    v_con     text;
    v_col     text;
    v_msg     text;
BEGIN
    IF p_fields IS NULL OR jsonb_typeof(p_fields) <> 'object' THEN
        RETURN careline_error(400, 'invalid_body', 'The body must be a JSON object.', NULL);
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_fields) LOOP
        IF NOT v_key = ANY (v_known) THEN
            RETURN careline_error(422, 'unknown_field',
                format('Unknown field %s.', v_key), v_key);
        END IF;
    END LOOP;

    v_comm := careline_resolve_community(p_fields);
    IF v_comm.error IS NOT NULL THEN
        RETURN v_comm.error;
    END IF;

    IF p_id IS NULL THEN
        FOREACH v_key IN ARRAY ARRAY['name', 'phone', 'address', 'lat', 'lon'] LOOP
            IF coalesce(jsonb_typeof(p_fields -> v_key), 'null') = 'null' THEN
                RETURN careline_error(422, 'missing_field',
                    format('%s is required to register a resident.', v_key), v_key);
            END IF;
        END LOOP;
    ELSE
        SELECT * INTO v_old FROM residents WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN careline_error(404, 'resident_not_found',
                format('There is no resident with id %s.', p_id), NULL);
        END IF;
        v_new := v_old;
    END IF;

    IF p_fields ? 'lat' OR p_fields ? 'lon' THEN
        v_lat := coalesce((p_fields ->> 'lat')::double precision, ST_Y(v_old.location::geometry));
        v_lon := coalesce((p_fields ->> 'lon')::double precision, ST_X(v_old.location::geometry));
        IF v_lat IS NULL OR NOT v_lat BETWEEN -90 AND 90 THEN
            RETURN careline_error(422, 'invalid_value', 'lat must be between -90 and 90.', 'lat');
        END IF;
        IF v_lon IS NULL OR NOT v_lon BETWEEN -180 AND 180 THEN
            RETURN careline_error(422, 'invalid_value', 'lon must be between -180 and 180.', 'lon');
        END IF;
        v_new.location := ST_SetSRID(ST_MakePoint(v_lon, v_lat), 4326)::geography;
    END IF;
    IF p_fields ? 'name' THEN v_new.name := p_fields ->> 'name'; END IF;
    IF p_fields ? 'phone' THEN v_new.phone := p_fields ->> 'phone'; END IF;
    IF p_fields ? 'address' THEN v_new.address := p_fields ->> 'address'; END IF;
    IF v_comm.present THEN v_new.community_id := v_comm.community_id; END IF;
    IF p_fields ? 'mobility' THEN v_new.mobility := p_fields ->> 'mobility'; END IF;
    IF p_fields ? 'lives_alone' THEN v_new.lives_alone := (p_fields ->> 'lives_alone')::boolean; END IF;
    IF p_fields ? 'disabled' THEN v_new.disabled := (p_fields ->> 'disabled')::boolean; END IF;
    IF p_fields ? 'low_income' THEN v_new.low_income := (p_fields ->> 'low_income')::boolean; END IF;

    BEGIN
        IF p_id IS NULL THEN
            INSERT INTO residents (name, phone, address, location, community_id, mobility,
                                   lives_alone, disabled, low_income)
            VALUES (v_new.name, v_new.phone, v_new.address, v_new.location, v_new.community_id,
                    coalesce(v_new.mobility, 'walk'), coalesce(v_new.lives_alone, false),
                    coalesce(v_new.disabled, false), coalesce(v_new.low_income, false))
            RETURNING id INTO v_id;
            v_after := careline_resident_json(v_id);
            PERFORM careline_audit(p_actor, 'resident.create', 'resident', v_id, NULL, v_after);
            RETURN jsonb_build_object('status', 201, 'body', v_after);
        END IF;

        v_before := careline_resident_json(p_id);
        IF to_jsonb(v_new) IS DISTINCT FROM to_jsonb(v_old) THEN
            UPDATE residents
            SET name = v_new.name, phone = v_new.phone, address = v_new.address,
                location = v_new.location, community_id = v_new.community_id,
                mobility = v_new.mobility, lives_alone = v_new.lives_alone,
                disabled = v_new.disabled, low_income = v_new.low_income
            WHERE id = p_id;
            v_after := careline_resident_json(p_id);
            v_diff := careline_json_diff(v_before, v_after);
            PERFORM careline_audit(p_actor, 'resident.update', 'resident', p_id,
                                   v_diff.before, v_diff.after);
        ELSE
            v_after := v_before;       -- nothing changed, nothing to audit
        END IF;
        RETURN jsonb_build_object('status', 200, 'body', v_after);
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS v_tab = TABLE_NAME, v_con = CONSTRAINT_NAME,
                                v_col = COLUMN_NAME, v_msg = MESSAGE_TEXT;
        RETURN careline_constraint_error(v_tab, v_con, v_col, v_msg);
    END;
END;
$$;

-- Exact phone and/or name prefix (case-insensitive, wildcards taken literally).
-- Planned per call with the pattern as a literal, so the prefix can use
-- residents_name_lower_idx.
CREATE FUNCTION careline_resident_search(p_phone text, p_name text, p_limit int)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 20), 1), 200);
    v_where text := 'true';
    v_items jsonb;
BEGIN
    IF p_phone IS NULL AND (p_name IS NULL OR p_name = '') THEN
        RAISE EXCEPTION 'resident search needs a phone number or the start of a name'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_phone IS NOT NULL THEN
        v_where := v_where || format(' AND r.phone = %L', p_phone);
    END IF;
    IF p_name IS NOT NULL AND p_name <> '' THEN
        v_where := v_where || format(' AND lower(r.name) LIKE %L',
            lower(replace(replace(replace(p_name, '\', '\\'), '%', '\%'), '_', '\_')) || '%');
    END IF;
    EXECUTE format(
        'SELECT jsonb_agg(careline_resident_json(s.id) ORDER BY s.name, s.id)
         FROM (SELECT r.id, r.name FROM residents r WHERE %s
               ORDER BY r.name, r.id LIMIT %s) s', v_where, v_limit)
    INTO v_items;
    RETURN jsonb_build_object('items', coalesce(v_items, '[]'::jsonb));
END;
$$;

-- ---------------------------------------------------------------------------
-- Providers. The JSON never carries the webhook secrets.

CREATE FUNCTION careline_provider_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', p.id,
        'name', p.name,
        'services', to_jsonb(p.services),
        'lat', ST_Y(p.location::geometry),
        'lon', ST_X(p.location::geometry),
        'travel_mode', p.travel_mode,
        'capacity', p.capacity,
        'opening_hours', p.opening_hours,
        'phone', p.phone,
        'community_id', p.community_id,
        'webhook_url', p.webhook_url,
        'active', p.active,
        'endpoint_disabled_at', p.endpoint_disabled_at,
        'endpoint_failing_since', p.endpoint_failing_since,
        'created_at', p.created_at,
        'updated_at', p.updated_at)
    FROM providers p
    WHERE p.id = p_id;
$$;

-- p_hours: the parsed opening_hours, [{"dow":1,"opens":"08:00","closes":"18:00"}, ...],
-- given together with opening_hours (NULL when the hours are not changing).
-- p_secret: a fresh whsec_ secret from the daemon, stored only when the
-- provider gets a webhook_url and has no secret yet; then returned once.
CREATE FUNCTION careline_provider_save(p_actor text, p_id bigint, p_fields jsonb,
                                       p_hours jsonb, p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_known   text[] := ARRAY['name', 'services', 'lat', 'lon', 'travel_mode', 'capacity',
                              'opening_hours', 'phone', 'community_id', 'community',
                              'webhook_url', 'active'];
    v_key     text;
    v_comm    record;
    v_old     providers%ROWTYPE;
    v_new     providers%ROWTYPE;
    v_lat     double precision;
    v_lon     double precision;
    v_id      bigint;
    v_secret  text;             -- the secret stored by this call, if any
    v_before  jsonb;
    v_after   jsonb;
    v_diff    record;
    v_hours_changed boolean := false;
    v_tab     text;
    v_con     text;
    v_col     text;
    v_msg     text;
BEGIN
    IF p_fields IS NULL OR jsonb_typeof(p_fields) <> 'object' THEN
        RETURN careline_error(400, 'invalid_body', 'The body must be a JSON object.', NULL);
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_fields) LOOP
        IF NOT v_key = ANY (v_known) THEN
            RETURN careline_error(422, 'unknown_field', format('Unknown field %s.', v_key), v_key);
        END IF;
    END LOOP;
    IF (p_fields ? 'opening_hours') <> (p_hours IS NOT NULL) THEN
        RETURN careline_error(422, 'invalid_value',
            'opening_hours and its parsed spans must be changed together.', 'opening_hours');
    END IF;
    IF p_hours IS NOT NULL AND jsonb_typeof(p_hours) <> 'array' THEN
        RETURN careline_error(422, 'invalid_value',
            'The parsed opening hours must be an array of spans.', 'opening_hours');
    END IF;
    IF p_fields ? 'services' AND jsonb_typeof(p_fields -> 'services') <> 'array' THEN
        RETURN careline_error(422, 'invalid_value', 'services must be an array of names.', 'services');
    END IF;

    v_comm := careline_resolve_community(p_fields);
    IF v_comm.error IS NOT NULL THEN
        RETURN v_comm.error;
    END IF;

    IF p_id IS NULL THEN
        FOREACH v_key IN ARRAY ARRAY['name', 'services', 'lat', 'lon', 'travel_mode',
                                     'capacity', 'opening_hours'] LOOP
            IF coalesce(jsonb_typeof(p_fields -> v_key), 'null') = 'null' THEN
                RETURN careline_error(422, 'missing_field',
                    format('%s is required to register a provider.', v_key), v_key);
            END IF;
        END LOOP;
    ELSE
        SELECT * INTO v_old FROM providers WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN careline_error(404, 'provider_not_found',
                format('There is no provider with id %s.', p_id), NULL);
        END IF;
        v_new := v_old;
    END IF;

    IF p_fields ? 'lat' OR p_fields ? 'lon' THEN
        v_lat := coalesce((p_fields ->> 'lat')::double precision, ST_Y(v_old.location::geometry));
        v_lon := coalesce((p_fields ->> 'lon')::double precision, ST_X(v_old.location::geometry));
        IF v_lat IS NULL OR NOT v_lat BETWEEN -90 AND 90 THEN
            RETURN careline_error(422, 'invalid_value', 'lat must be between -90 and 90.', 'lat');
        END IF;
        IF v_lon IS NULL OR NOT v_lon BETWEEN -180 AND 180 THEN
            RETURN careline_error(422, 'invalid_value', 'lon must be between -180 and 180.', 'lon');
        END IF;
        v_new.location := ST_SetSRID(ST_MakePoint(v_lon, v_lat), 4326)::geography;
    END IF;
    IF p_fields ? 'name' THEN v_new.name := p_fields ->> 'name'; END IF;
    IF p_fields ? 'services' THEN
        v_new.services := ARRAY(SELECT DISTINCT s
                                FROM jsonb_array_elements_text(p_fields -> 'services') AS s
                                ORDER BY s);
    END IF;
    IF p_fields ? 'travel_mode' THEN v_new.travel_mode := p_fields ->> 'travel_mode'; END IF;
    IF p_fields ? 'capacity' THEN v_new.capacity := (p_fields ->> 'capacity')::int; END IF;
    IF p_fields ? 'opening_hours' THEN v_new.opening_hours := p_fields ->> 'opening_hours'; END IF;
    IF p_fields ? 'phone' THEN v_new.phone := p_fields ->> 'phone'; END IF;
    IF v_comm.present THEN v_new.community_id := v_comm.community_id; END IF;
    IF p_fields ? 'active' THEN v_new.active := (p_fields ->> 'active')::boolean; END IF;
    IF p_fields ? 'webhook_url' THEN
        v_new.webhook_url := p_fields ->> 'webhook_url';
        IF v_new.webhook_url IS DISTINCT FROM v_old.webhook_url THEN
            -- A new endpoint starts with a clean record.
            v_new.endpoint_disabled_at := NULL;
            v_new.endpoint_failing_since := NULL;
        END IF;
        IF v_new.webhook_url IS NOT NULL AND v_new.webhook_secret IS NULL THEN
            IF p_secret IS NULL THEN
                RAISE EXCEPTION 'careline_provider_save: a webhook_url needs p_secret'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_new.webhook_secret := p_secret;
            v_secret := p_secret;
        END IF;
    END IF;

    BEGIN
        IF p_id IS NULL THEN
            INSERT INTO providers (name, services, location, travel_mode, capacity,
                                   opening_hours, phone, community_id, webhook_url,
                                   webhook_secret, active)
            VALUES (v_new.name, v_new.services, v_new.location, v_new.travel_mode,
                    v_new.capacity, v_new.opening_hours, v_new.phone, v_new.community_id,
                    v_new.webhook_url, v_new.webhook_secret, coalesce(v_new.active, true))
            RETURNING id INTO v_id;
        ELSE
            v_id := p_id;
            v_before := careline_provider_json(p_id);
            IF to_jsonb(v_new) IS DISTINCT FROM to_jsonb(v_old) THEN
                UPDATE providers
                SET name = v_new.name, services = v_new.services, location = v_new.location,
                    travel_mode = v_new.travel_mode, capacity = v_new.capacity,
                    opening_hours = v_new.opening_hours, phone = v_new.phone,
                    community_id = v_new.community_id, webhook_url = v_new.webhook_url,
                    webhook_secret = v_new.webhook_secret,
                    endpoint_disabled_at = v_new.endpoint_disabled_at,
                    endpoint_failing_since = v_new.endpoint_failing_since,
                    active = v_new.active
                WHERE id = p_id;
            END IF;
        END IF;

        IF p_hours IS NOT NULL THEN
            IF p_id IS NOT NULL THEN
                v_hours_changed := (
                    SELECT coalesce(array_agg(ROW(h.dow, h.opens, h.closes)::text
                                              ORDER BY h.dow, h.opens), '{}')
                    FROM provider_hours h WHERE h.provider_id = p_id)
                    IS DISTINCT FROM (
                    SELECT coalesce(array_agg(ROW(s.dow, s.opens, s.closes)::text
                                              ORDER BY s.dow, s.opens), '{}')
                    FROM jsonb_to_recordset(p_hours) AS s(dow smallint, opens time, closes time));
                DELETE FROM provider_hours WHERE provider_id = p_id;
            END IF;
            INSERT INTO provider_hours (provider_id, dow, opens, closes)
            SELECT v_id, s.dow, s.opens, s.closes
            FROM jsonb_to_recordset(p_hours) AS s(dow smallint, opens time, closes time);
        END IF;
    EXCEPTION
        WHEN check_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS v_tab = TABLE_NAME, v_con = CONSTRAINT_NAME,
                                    v_col = COLUMN_NAME, v_msg = MESSAGE_TEXT;
            RETURN careline_constraint_error(v_tab, v_con, v_col, v_msg);
        WHEN unique_violation THEN
            RETURN careline_error(422, 'invalid_value',
                'Two opening-hours spans start at the same time on the same day.', 'opening_hours');
    END;

    v_after := careline_provider_json(v_id);
    IF p_id IS NULL THEN
        PERFORM careline_audit(p_actor, 'provider.create', 'provider', v_id, NULL,
            v_after || jsonb_build_object('hours', p_hours,
                                          'webhook_secret_set', v_secret IS NOT NULL));
        RETURN jsonb_build_object('status', 201, 'body',
            v_after || CASE WHEN v_secret IS NOT NULL
                            THEN jsonb_build_object('webhook_secret', v_secret)
                            ELSE '{}'::jsonb END);
    END IF;

    v_diff := careline_json_diff(v_before, v_after);
    IF v_diff.after <> '{}'::jsonb OR v_hours_changed OR v_secret IS NOT NULL THEN
        PERFORM careline_audit(p_actor, 'provider.update', 'provider', v_id,
            v_diff.before,
            v_diff.after
            || CASE WHEN v_hours_changed THEN jsonb_build_object('hours', p_hours) ELSE '{}' END
            || CASE WHEN v_secret IS NOT NULL
                    THEN jsonb_build_object('webhook_secret_set', true) ELSE '{}' END);
    END IF;
    RETURN jsonb_build_object('status', 200, 'body',
        v_after || CASE WHEN v_secret IS NOT NULL
                        THEN jsonb_build_object('webhook_secret', v_secret)
                        ELSE '{}'::jsonb END);
END;
$$;

-- Oldest first; p_after_id is the cursor.
CREATE FUNCTION careline_provider_list(p_service text, p_active boolean,
                                       p_limit int, p_after_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 100), 1), 500);
    v_ids   bigint[];
    v_more  boolean;
BEGIN
    v_ids := ARRAY(SELECT p.id FROM providers p
                   WHERE (p_service IS NULL OR p_service = ANY (p.services))
                     AND (p_active IS NULL OR p.active = p_active)
                     AND (p_after_id IS NULL OR p.id > p_after_id)
                   ORDER BY p.id
                   LIMIT v_limit + 1);
    v_more := cardinality(v_ids) > v_limit;
    IF v_more THEN
        v_ids := v_ids[1:v_limit];
    END IF;
    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(careline_provider_json(u.id) ORDER BY u.ord)
                           FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)), '[]'::jsonb),
        'next_cursor', CASE WHEN v_more THEN to_jsonb(v_ids[v_limit]::text) ELSE 'null'::jsonb END);
END;
$$;

-- ---------------------------------------------------------------------------
-- API tokens: the daemon makes the token and its SHA-256; only the hash and
-- the prefix reach the database.

CREATE FUNCTION careline_token_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'name', t.name, 'role', t.role, 'provider_id', t.provider_id,
        'token_prefix', t.token_prefix, 'created_at', t.created_at,
        'last_used_at', t.last_used_at, 'expires_at', t.expires_at,
        'revoked_at', t.revoked_at)
    FROM api_tokens t WHERE t.id = p_id;
$$;

CREATE FUNCTION careline_token_create(p_actor text, p_name text, p_role text,
                                      p_provider_id bigint, p_hash bytea, p_prefix text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_tok api_tokens%ROWTYPE;
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('operator', 'admin', 'provider') THEN
        RETURN careline_error(422, 'invalid_value', 'role must be operator, admin or provider.', 'role');
    END IF;
    IF p_role = 'provider' AND p_provider_id IS NULL THEN
        RETURN careline_error(422, 'missing_field', 'A provider token needs provider_id.', 'provider_id');
    END IF;
    IF p_role <> 'provider' AND p_provider_id IS NOT NULL THEN
        RETURN careline_error(422, 'invalid_value',
            'Only a provider token is bound to a provider; drop provider_id.', 'provider_id');
    END IF;
    IF p_provider_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM providers WHERE id = p_provider_id) THEN
        RETURN careline_error(422, 'provider_not_found',
            format('There is no provider with id %s.', p_provider_id), 'provider_id');
    END IF;
    BEGIN
        INSERT INTO api_tokens (name, role, provider_id, token_hash, token_prefix)
        VALUES (p_name, p_role, p_provider_id, p_hash, p_prefix)
        RETURNING * INTO v_tok;
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        RETURN careline_error(422, 'invalid_value',
            'A value was rejected by the database: ' || SQLERRM,
            CASE WHEN SQLERRM LIKE '%prefix%' THEN NULL ELSE 'name' END);
    END;
    PERFORM careline_audit(p_actor, 'token.create', 'api_token', v_tok.id, NULL,
        jsonb_build_object('name', v_tok.name, 'role', v_tok.role,
                           'provider_id', v_tok.provider_id, 'token_prefix', v_tok.token_prefix));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'id', v_tok.id, 'name', v_tok.name, 'role', v_tok.role,
        'provider_id', v_tok.provider_id, 'token_prefix', v_tok.token_prefix,
        'created_at', v_tok.created_at));
END;
$$;

-- The token's owner, or no row. last_used_at is written at most once a
-- minute, and never waits for a lock (a busy token is simply not touched).
CREATE FUNCTION careline_token_auth(p_hash bytea)
RETURNS TABLE (id bigint, name text, role text, provider_id bigint)
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    WITH t AS (
        SELECT a.id, a.name, a.role, a.provider_id, a.last_used_at
        FROM api_tokens a
        WHERE a.token_hash = p_hash
          AND a.revoked_at IS NULL
          AND (a.expires_at IS NULL OR a.expires_at > now())
    ), touch AS (
        UPDATE api_tokens a SET last_used_at = now()
        WHERE a.id IN (SELECT x.id FROM api_tokens x
                       WHERE x.id = (SELECT t.id FROM t
                                     WHERE t.last_used_at IS NULL
                                        OR t.last_used_at < now() - interval '1 minute')
                       FOR UPDATE SKIP LOCKED)
        RETURNING a.id
    )
    SELECT t.id, t.name, t.role, t.provider_id FROM t;
$$;

CREATE FUNCTION careline_token_list()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('items',
        coalesce((SELECT jsonb_agg(careline_token_json(t.id) ORDER BY t.id)
                  FROM api_tokens t), '[]'::jsonb));
$$;

-- Revoking a revoked token answers 200 again and changes nothing.
CREATE FUNCTION careline_token_revoke(p_actor text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_revoked timestamptz;
BEGIN
    SELECT t.revoked_at INTO v_revoked FROM api_tokens t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'token_not_found',
            format('There is no API token with id %s.', p_id), NULL);
    END IF;
    IF v_revoked IS NULL THEN
        UPDATE api_tokens SET revoked_at = now() WHERE id = p_id;
        PERFORM careline_audit(p_actor, 'token.revoke', 'api_token', p_id,
            jsonb_build_object('revoked_at', NULL),
            jsonb_build_object('revoked_at', now()));
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', careline_token_json(p_id));
END;
$$;
