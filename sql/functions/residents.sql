-- residents.sql: Residents: save, search, JSON, community lookup, context.

-- A community given as community_id or as its name; error is NULL on success.
CREATE OR REPLACE FUNCTION careline_resolve_community(p_fields jsonb,
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
            error := careline_raise('KL422', 'community_not_found',
                format('There is no community with id %s.', p_fields ->> 'community_id'),
                'community_id');
            RETURN;
        END IF;
    END IF;
    IF p_fields ? 'community' AND jsonb_typeof(p_fields -> 'community') <> 'null' THEN
        SELECT c.id INTO v_by_name FROM communities c WHERE c.name = p_fields ->> 'community';
        IF NOT FOUND THEN
            error := careline_raise('KL422', 'community_not_found',
                'There is no community of that name; check the spelling or use community_id.',
                'community');
            RETURN;
        END IF;
        IF p_fields ? 'community_id' AND community_id IS DISTINCT FROM v_by_name THEN
            error := careline_raise('KL422', 'community_mismatch',
                'community and community_id name different communities; send only one.',
                'community');
            RETURN;
        END IF;
        community_id := v_by_name;
    END IF;
END;
$$;

-- ---------------------------------------------------------------------------
-- Residents.
CREATE OR REPLACE FUNCTION careline_resident_json(p_id bigint)
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
CREATE OR REPLACE FUNCTION careline_resident_save(p_actor text, p_id bigint, p_fields jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_known   text[] := ARRAY['name', 'phone', 'address', 'lat', 'lon', 'community_id',
                              'community', 'mobility', 'lives_alone', 'disabled', 'low_income'];
    v_comm    record;
    v_old     residents%ROWTYPE;
    v_new     residents%ROWTYPE;
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
        PERFORM careline_raise('KL400', 'invalid_body', 'The body must be a JSON object.', NULL);
    END IF;
    PERFORM careline_fields_check(p_fields, v_known,
        CASE WHEN p_id IS NULL THEN ARRAY['name', 'phone', 'address', 'lat', 'lon'] END, 'a resident');

    v_comm := careline_resolve_community(p_fields);
    IF v_comm.error IS NOT NULL THEN
        RETURN v_comm.error;
    END IF;

    IF p_id IS NOT NULL THEN
        SELECT * INTO v_old FROM residents WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM careline_raise('KL404', 'resident_not_found',
                format('There is no resident with id %s.', p_id), NULL);
        END IF;
        v_new := v_old;
    END IF;

    IF p_fields ? 'lat' OR p_fields ? 'lon' THEN
        v_new.location := careline_fields_point(p_fields, v_old.location);
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
CREATE OR REPLACE FUNCTION careline_resident_search(p_phone text, p_name text, p_limit int)
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

-- What the resident card adds: the estate (and its owners' committee when
-- it governs itself; null while a postponed pilot has none) and the
-- resident-group WeChat group; "estate"/"wechat_group" are null when the
-- resident is not linked.
--   200 {"resident_id", "estate": {id, name, community, has_property_management,
--        self_governing, autonomy: {year, batch, status},
--        committee: {contact, phone, duties}}, "wechat_group": {id, name, level,
--        members, parent}}
--   404 resident_not_found
CREATE OR REPLACE FUNCTION careline_resident_context(p_resident_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce((
        SELECT jsonb_build_object('status', 200, 'body', jsonb_build_object(
            'resident_id', r.id,
            'estate', CASE WHEN e.id IS NOT NULL THEN jsonb_build_object(
                'id', e.id,
                'name', e.name,
                'community', ec.name,
                'has_property_management', e.has_property_management,
                'self_governing', a.estate_id IS NOT NULL)
                || CASE WHEN a.estate_id IS NOT NULL THEN jsonb_build_object(
                       'autonomy', jsonb_build_object('year', a.year, 'batch', a.batch,
                                                      'status', a.status),
                       'committee', CASE WHEN a.committee_contact IS NOT NULL THEN
                           jsonb_build_object('contact', a.committee_contact,
                                              'phone', a.committee_phone,
                                              'duties', to_jsonb(a.duties)) END)
                   ELSE '{}'::jsonb END
                END,
            'wechat_group', CASE WHEN g.id IS NOT NULL THEN jsonb_build_object(
                'id', g.id, 'name', g.name, 'level', g.level, 'members', g.members,
                'parent', p.name) END))
        FROM residents r
        LEFT JOIN estates e ON e.id = r.estate_id
        LEFT JOIN communities ec ON ec.id = e.community_id
        LEFT JOIN estate_autonomy a ON a.estate_id = e.id
        LEFT JOIN wechat_groups g ON g.id = r.wechat_group_id
        LEFT JOIN wechat_groups p ON p.id = g.parent_id
        WHERE r.id = p_resident_id),
        careline_raise('KL404', 'resident_not_found',
                       format('There is no resident with id %s.', p_resident_id), NULL));
$$;
