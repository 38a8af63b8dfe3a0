-- programmes.sql: Programmes: volunteers as providers, companionship credits, clinics, WeChat group levels.

-- The volunteer's provider row (and time-bank account) follow the volunteer.
CREATE OR REPLACE FUNCTION careline_volunteer_sync() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_pid  bigint;
    v_old  text;
BEGIN
    SELECT p.id, p.webhook_url INTO v_pid, v_old FROM providers p WHERE p.volunteer_id = NEW.id;
    IF v_pid IS NULL THEN
        INSERT INTO providers (name, services, location, travel_mode, capacity, opening_hours,
                               phone, community_id, webhook_url, webhook_secret, active,
                               volunteer_id)
        VALUES (NEW.name || '(志愿者)', '{companionship}', NEW.location, NEW.travel_mode, 1,
                NEW.availability, NEW.phone, NEW.community_id, NEW.notify_url,
                NEW.notify_secret, NEW.active AND NEW.notify_url IS NOT NULL, NEW.id)
        RETURNING id INTO v_pid;
        INSERT INTO provider_hours (provider_id, dow, opens, closes)
        SELECT v_pid, s.dow, s.opens, s.closes FROM careline_hours_spans(NEW.availability) s;
        PERFORM careline_timebank_account('volunteer', NEW.id);
    ELSE
        UPDATE providers
        SET name = NEW.name || '(志愿者)', location = NEW.location,
            travel_mode = NEW.travel_mode, opening_hours = NEW.availability,
            phone = NEW.phone, community_id = NEW.community_id,
            webhook_url = NEW.notify_url,
            webhook_secret = coalesce(NEW.notify_secret, webhook_secret),
            endpoint_disabled_at = CASE WHEN NEW.notify_url IS DISTINCT FROM v_old
                                        THEN NULL ELSE endpoint_disabled_at END,
            endpoint_failing_since = CASE WHEN NEW.notify_url IS DISTINCT FROM v_old
                                          THEN NULL ELSE endpoint_failing_since END,
            active = NEW.active AND NEW.notify_url IS NOT NULL
        WHERE id = v_pid;
        IF TG_OP = 'UPDATE' AND NEW.availability IS DISTINCT FROM OLD.availability THEN
            DELETE FROM provider_hours WHERE provider_id = v_pid;
            INSERT INTO provider_hours (provider_id, dow, opens, closes)
            SELECT v_pid, s.dow, s.opens, s.closes FROM careline_hours_spans(NEW.availability) s;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER volunteers_sync AFTER INSERT OR UPDATE ON volunteers
    FOR EACH ROW EXECUTE FUNCTION careline_volunteer_sync();

-- A volunteer's companionship job completed: record it and credit the
-- ledger, in the transaction that completes it (see the header).
CREATE OR REPLACE FUNCTION careline_companionship_completed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_volunteer bigint;
    v_call      calls%ROWTYPE;
    v_minutes   int;
    v_sid       bigint;
    v_earn      jsonb;
    v_spend     jsonb;
BEGIN
    SELECT p.volunteer_id INTO v_volunteer FROM providers p WHERE p.id = NEW.provider_id;
    IF v_volunteer IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_call FROM calls WHERE id = NEW.call_id;
    IF v_call.service <> 'companionship' THEN
        RETURN NULL;
    END IF;
    v_minutes := least(greatest(coalesce(
        nullif(current_setting('careline.companionship_minutes', true), '')::int, 60), 1), 720);

    INSERT INTO volunteer_services (volunteer_id, resident_id, call_id, kind, minutes, at, note)
    VALUES (v_volunteer, v_call.resident_id, v_call.id, 'companionship', v_minutes,
            NEW.completed_at, 'hotline call ' || v_call.id)
    ON CONFLICT (call_id) DO NOTHING
    RETURNING id INTO v_sid;
    IF v_sid IS NULL THEN
        RETURN NULL;            -- recorded before
    END IF;

    v_earn := careline_timebank_post('system', v_sid, 'earn');
    IF (v_earn ->> 'status')::int <> 201 THEN
        RAISE EXCEPTION 'time-bank earn for call % failed: %', v_call.id, v_earn -> 'body'
            USING ERRCODE = 'internal_error';
    END IF;
    -- The resident pays with banked minutes when they have enough; a 422
    -- here changed nothing and the pool pays.
    IF EXISTS (SELECT 1 FROM timebank_accounts a
               WHERE a.resident_id = v_call.resident_id AND a.balance_minutes >= v_minutes) THEN
        v_spend := careline_timebank_post('system', v_sid, 'spend');
    END IF;

    PERFORM careline_event('timebank.credited', v_call.id,
        jsonb_build_object('service_id', v_sid, 'volunteer_id', v_volunteer,
                           'offer_id', NEW.id, 'minutes', v_minutes,
                           'earn_txn', v_earn -> 'body' -> 'txn_id',
                           'spend_txn', CASE WHEN (v_spend ->> 'status')::int = 201
                                             THEN v_spend -> 'body' -> 'txn_id' END));
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER offers_companionship_completed AFTER UPDATE OF completed_at ON offers
    FOR EACH ROW
    WHEN (OLD.completed_at IS NULL AND NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION careline_companionship_completed();

-- A resident's group is a resident-group (level 4) one.
CREATE OR REPLACE FUNCTION careline_resident_group_level() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM wechat_groups g
                   WHERE g.id = NEW.wechat_group_id AND g.level = 4) THEN
        RAISE EXCEPTION 'wechat group % is not a resident-group (level 4) group',
            NEW.wechat_group_id
            USING ERRCODE = 'check_violation', TABLE = 'residents', COLUMN = 'wechat_group_id';
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER residents_wechat_group_level
    BEFORE INSERT OR UPDATE OF wechat_group_id ON residents
    FOR EACH ROW WHEN (NEW.wechat_group_id IS NOT NULL)
    EXECUTE FUNCTION careline_resident_group_level();

-- A group's level cannot change while residents hang off it.
CREATE OR REPLACE FUNCTION careline_wechat_level_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.level <> 4 AND EXISTS (SELECT 1 FROM residents r WHERE r.wechat_group_id = NEW.id) THEN
        RAISE EXCEPTION 'wechat group % has residents; it must stay at level 4', NEW.id
            USING ERRCODE = 'check_violation', TABLE = 'wechat_groups', COLUMN = 'level';
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER wechat_groups_level_guard BEFORE UPDATE OF level ON wechat_groups
    FOR EACH ROW WHEN (OLD.level = 4 AND NEW.level <> 4)
    EXECUTE FUNCTION careline_wechat_level_guard();

-- ===========================================================================
-- Functions for the console.

-- The nearest active clinic point and its next session starting after p_at
-- (sessions are local times in p_timezone, the district's).
--   200 {"clinic": {id, name, estate, lat, lon, distance_m, services: [...],
--                   schedule: [{dow, opens, closes}]},
--        "next_visit": ts | null, "next_visit_ends": ts | null}
--   404 resident_not_found | no_clinic
CREATE OR REPLACE FUNCTION careline_clinic_nearest(p_resident_id bigint, p_at timestamptz,
                                        p_timezone text DEFAULT 'Asia/Shanghai')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_loc    geography;
    v_tz     text := coalesce(p_timezone, 'Asia/Shanghai');
    v_at     timestamptz := coalesce(p_at, now());
    v_day    date;
    v_c      record;
    v_next   record;
BEGIN
    SELECT r.location INTO v_loc FROM residents r WHERE r.id = p_resident_id;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'resident_not_found',
            format('There is no resident with id %s.', p_resident_id), NULL);
    END IF;
    SELECT c.id, c.name, e.name AS estate, c.location, c.site_kind,
           ST_Distance(c.location, v_loc, false) AS dist
    INTO v_c
    FROM clinic_points c JOIN estates e ON e.id = c.estate_id
    WHERE c.active
    ORDER BY c.location <-> v_loc, c.id
    LIMIT 1;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'no_clinic', 'There is no active clinic point.', NULL);
    END IF;

    v_day := (v_at AT TIME ZONE v_tz)::date;
    SELECT ((v_day + k) + s.opens) AT TIME ZONE v_tz AS starts,
           ((v_day + k) + s.closes) AT TIME ZONE v_tz AS ends
    INTO v_next
    FROM generate_series(0, 7) AS k
    JOIN clinic_schedules s
      ON s.clinic_point_id = v_c.id AND s.dow = extract(isodow FROM v_day + k)
    WHERE ((v_day + k) + s.opens) AT TIME ZONE v_tz > v_at
    ORDER BY 1
    LIMIT 1;

    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'clinic', jsonb_build_object(
            'id', v_c.id, 'name', v_c.name, 'estate', v_c.estate, 'site_kind', v_c.site_kind,
            'lat', ST_Y(v_c.location::geometry), 'lon', ST_X(v_c.location::geometry),
            'distance_m', round(v_c.dist::numeric, 1),
            'services', coalesce((SELECT jsonb_agg(jsonb_build_object('code', s.code,
                                                                      'name', s.name)
                                                   ORDER BY s.id)
                                  FROM clinic_point_services ps
                                  JOIN clinic_services s ON s.id = ps.service_id
                                  WHERE ps.clinic_point_id = v_c.id), '[]'::jsonb),
            'schedule', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                             'dow', s.dow,
                                             'opens', to_char(s.opens, 'HH24:MI'),
                                             'closes', to_char(s.closes, 'HH24:MI'))
                                         ORDER BY s.dow, s.opens)
                                  FROM clinic_schedules s
                                  WHERE s.clinic_point_id = v_c.id), '[]'::jsonb)),
        'next_visit', v_next.starts,
        'next_visit_ends', v_next.ends));
END;
$$;
