-- util.sql: Shared helpers: errors, audit, JSON diffs, updated_at and immutable-log triggers, district bounds, opening hours.

-- Keeps updated_at honest whatever code path writes the row.
CREATE OR REPLACE FUNCTION careline_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER residents_touch BEFORE UPDATE ON residents
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();
CREATE OR REPLACE TRIGGER providers_touch BEFORE UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();
CREATE OR REPLACE TRIGGER calls_touch BEFORE UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();
CREATE OR REPLACE TRIGGER volunteers_touch BEFORE UPDATE ON volunteers
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();

-- History is not rewritten; retention may still DELETE old rows.
CREATE OR REPLACE FUNCTION careline_audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION careline_audit_log_immutable();

-- ---------------------------------------------------------------------------
-- Small helpers.

-- {"status": s, "body": {"error": {...}} || extra}
CREATE OR REPLACE FUNCTION careline_error(p_status int, p_code text, p_message text,
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

CREATE OR REPLACE FUNCTION careline_audit(p_actor text, p_action text, p_entity text,
                               p_entity_id bigint, p_before jsonb, p_after jsonb)
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
    VALUES (p_actor, p_action, p_entity, p_entity_id, p_before, p_after);
$$;

-- The keys whose values differ between two objects, as {before, after}.
CREATE OR REPLACE FUNCTION careline_json_diff(p_before jsonb, p_after jsonb,
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

-- A constraint violation turned into a 422 naming the input field.
CREATE OR REPLACE FUNCTION careline_constraint_error(p_table text, p_constraint text,
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

-- The demo district's built-up area (DESIGN.md): estates, clinic points and
-- care centres must lie inside it.
CREATE OR REPLACE FUNCTION careline_in_district(p geography)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT p IS NOT NULL AND NOT ST_IsEmpty(p::geometry)
       AND ST_Y(p::geometry) BETWEEN 27.84 AND 27.92
       AND ST_X(p::geometry) BETWEEN 113.14 AND 113.24;
$$;

-- The opening-hours subset the demo seed uses ("Mo-Fr 08:00-18:00; Sa
-- 09:00-12:00"), parsed into provider_hours spans; raises 22023 on anything
-- else, a time like 25:00 included (sql/tests/registry.sql). Used for
-- volunteers' availability.
CREATE OR REPLACE FUNCTION careline_hours_spans(p_spec text)
RETURNS TABLE (dow smallint, opens time, closes time)
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_rule text;
    v_m    text[];
    v_d1   int;
    v_d2   int;
    v_days text[] := '{Mo,Tu,We,Th,Fr,Sa,Su}';
BEGIN
    FOREACH v_rule IN ARRAY regexp_split_to_array(coalesce(p_spec, ''), ';') LOOP
        v_m := regexp_match(btrim(v_rule),
            '^(Mo|Tu|We|Th|Fr|Sa|Su)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))? ([0-2][0-9]:[0-5][0-9])-([0-2][0-9]:[0-5][0-9])$');
        -- Times the pattern lets through but no clock shows (25:00, 24:30)
        -- are refused here, before a cast would fail with another code.
        IF v_m IS NULL OR left(v_m[3], 2)::int > 23 OR left(v_m[4], 2)::int > 24
           OR (left(v_m[4], 2) = '24' AND right(v_m[4], 2) <> '00') THEN
            RAISE EXCEPTION 'not an opening-hours rule: %', btrim(v_rule)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_d1 := array_position(v_days, v_m[1]);
        v_d2 := array_position(v_days, coalesce(v_m[2], v_m[1]));
        IF v_m IS NULL OR v_d1 > v_d2 OR v_m[3]::time >= v_m[4]::time THEN
            RAISE EXCEPTION 'not an opening-hours rule: %', btrim(v_rule)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN QUERY SELECT d::smallint, v_m[3]::time, v_m[4]::time
                     FROM generate_series(v_d1, v_d2) AS d;
    END LOOP;
END;
$$;
