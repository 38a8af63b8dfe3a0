-- providers.sql: Providers: save, list, JSON, webhook secret rotation.

-- opening_hours is parsed here by careline_hours_spans (util.sql), the one
-- grammar; text it cannot read is a 422 invalid_opening_hours on the field.
-- p_secret: a fresh whsec_ secret from the daemon, stored only when the
-- provider gets a webhook_url and has no secret yet; then returned once.
CREATE OR REPLACE FUNCTION careline_provider_save(p_actor text, p_id bigint, p_fields jsonb,
                                       p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_known   text[] := ARRAY['name', 'services', 'lat', 'lon', 'travel_mode', 'capacity',
                              'opening_hours', 'phone', 'community_id', 'community',
                              'webhook_url', 'active'];
    v_comm    record;
    v_old     providers%ROWTYPE;
    v_new     providers%ROWTYPE;
    v_id      bigint;
    v_secret  text;             -- the secret stored by this call, if any
    v_before  jsonb;
    v_after   jsonb;
    v_diff    record;
    v_hours   jsonb;            -- the parsed opening_hours, when given
    v_hours_changed boolean := false;
    v_tab     text;
    v_con     text;
    v_col     text;
    v_msg     text;
BEGIN
    IF p_fields IS NULL OR jsonb_typeof(p_fields) <> 'object' THEN
        PERFORM careline_raise('KL400', 'invalid_body', 'The body must be a JSON object.', NULL);
    END IF;
    PERFORM careline_fields_check(p_fields, v_known,
        CASE WHEN p_id IS NULL THEN ARRAY['name', 'services', 'lat', 'lon', 'travel_mode',
                                     'capacity', 'opening_hours'] END, 'a provider');
    IF p_fields ? 'opening_hours' AND jsonb_typeof(p_fields -> 'opening_hours') = 'string' THEN
        BEGIN
            SELECT coalesce(jsonb_agg(jsonb_build_object('dow', h.dow,
                                          'opens', to_char(h.opens, 'HH24:MI'),
                                          'closes', to_char(h.closes, 'HH24:MI'))
                                      ORDER BY h.dow, h.opens), '[]')
            INTO v_hours
            FROM careline_hours_spans(p_fields ->> 'opening_hours') AS h;
        EXCEPTION WHEN invalid_parameter_value THEN
            PERFORM careline_raise('KL422', 'invalid_opening_hours',
                format('opening_hours: %s (example: Mo-Fr 08:00-18:00; Sa 09:00-12:00)', SQLERRM),
                'opening_hours');
        END;
    END IF;
    IF p_fields ? 'services' AND jsonb_typeof(p_fields -> 'services') <> 'array' THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'services must be an array of names.', 'services');
    END IF;

    v_comm := careline_resolve_community(p_fields);
    IF v_comm.error IS NOT NULL THEN
        RETURN v_comm.error;
    END IF;

    IF p_id IS NOT NULL THEN
        SELECT * INTO v_old FROM providers WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM careline_raise('KL404', 'provider_not_found',
                format('There is no provider with id %s.', p_id), NULL);
        END IF;
        v_new := v_old;
    END IF;

    IF p_fields ? 'lat' OR p_fields ? 'lon' THEN
        v_new.location := careline_fields_point(p_fields, v_old.location);
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

        IF v_hours IS NOT NULL THEN
            IF p_id IS NOT NULL THEN
                v_hours_changed := (
                    SELECT coalesce(array_agg(ROW(h.dow, h.opens, h.closes)::text
                                              ORDER BY h.dow, h.opens), '{}')
                    FROM provider_hours h WHERE h.provider_id = p_id)
                    IS DISTINCT FROM (
                    SELECT coalesce(array_agg(ROW(s.dow, s.opens, s.closes)::text
                                              ORDER BY s.dow, s.opens), '{}')
                    FROM jsonb_to_recordset(v_hours) AS s(dow smallint, opens time, closes time));
                DELETE FROM provider_hours WHERE provider_id = p_id;
            END IF;
            INSERT INTO provider_hours (provider_id, dow, opens, closes)
            SELECT v_id, s.dow, s.opens, s.closes
            FROM jsonb_to_recordset(v_hours) AS s(dow smallint, opens time, closes time);
        END IF;
    EXCEPTION
        WHEN check_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS v_tab = TABLE_NAME, v_con = CONSTRAINT_NAME,
                                    v_col = COLUMN_NAME, v_msg = MESSAGE_TEXT;
            RETURN careline_constraint_error(v_tab, v_con, v_col, v_msg);
    END;

    v_after := careline_provider_json(v_id);
    IF p_id IS NULL THEN
        PERFORM careline_audit(p_actor, 'provider.create', 'provider', v_id, NULL,
            v_after || jsonb_build_object('hours', v_hours,
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
            || CASE WHEN v_hours_changed THEN jsonb_build_object('hours', v_hours) ELSE '{}' END
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
CREATE OR REPLACE FUNCTION careline_provider_list(p_service text, p_active boolean,
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
-- Providers: secret rotation; the JSON says whether the endpoint is failing.
CREATE OR REPLACE FUNCTION careline_provider_json(p_id bigint)
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
        'endpoint_failing', coalesce(p.endpoint_failing_since < now() - interval '10 minutes', false),
        'webhook_secret_rotated_at', p.webhook_secret_rotated_at,
        'created_at', p.created_at,
        'updated_at', p.updated_at)
    FROM providers p
    WHERE p.id = p_id;
$$;

-- The current secret becomes the previous one (both sign for 24 hours),
-- p_secret (a fresh whsec_ from the daemon) the current; returned once.
CREATE OR REPLACE FUNCTION careline_provider_rotate_secret(p_actor text, p_id bigint, p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_old  providers%ROWTYPE;
BEGIN
    IF p_secret IS NULL OR p_secret !~ '^whsec_[A-Za-z0-9+/=]+$' THEN
        RAISE EXCEPTION 'careline_provider_rotate_secret: p_secret must be a whsec_ secret'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_old FROM providers WHERE id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'provider_not_found',
            format('There is no provider with id %s.', p_id), NULL);
    END IF;
    UPDATE providers
    SET webhook_secret_previous = webhook_secret,
        webhook_secret_rotated_at = now(),
        webhook_secret = p_secret
    WHERE id = p_id;
    PERFORM careline_audit(p_actor, 'provider.rotate_secret', 'provider', p_id,
        jsonb_build_object('webhook_secret_rotated_at', v_old.webhook_secret_rotated_at),
        jsonb_build_object('webhook_secret_rotated_at', now(),
                           'previous_kept', v_old.webhook_secret IS NOT NULL));
    RETURN jsonb_build_object('status', 200, 'body',
        careline_provider_json(p_id) || jsonb_build_object('webhook_secret', p_secret));
END;
$$;
