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

-- Opening hours, the one grammar of careline (docs/DECISIONS.md): what
-- admins type for a provider (careline_provider_save), volunteers'
-- availability (careline_volunteer_sync), the demo seed and the bench data.
--
--   hours := "24/7" | rule { ";" rule }        spaces allowed around rules
--   rule  := days " " { " " } span { "," span }
--   days  := day [ "-" day ] { "," day [ "-" day ] }   Mo Tu We Th Fr Sa Su;
--            a range may wrap over the weekend (Sa-Mo)
--   span  := HH:MM "-" HH:MM   24:00 only as a closing time; a span that
--            closes at or before it opens runs past midnight and continues
--            on the next day ("Su 22:00-02:00")
--
-- e.g. "Mo-Fr 08:00-18:00; Sa 09:00-12:00", "Mo,We 07:30-11:00,16:00-19:00".
-- A day not named is closed. Spans of one day that overlap or touch are
-- merged, so "Su 22:00-02:00; Mo 00:00-08:00" gives Su 22:00-24:00 and
-- Mo 00:00-08:00. At most 256 characters and 64 spans before merging.
-- Anything else raises 22023 (invalid_parameter_value) with a message
-- "<what is wrong> at character <n>" (n counts from 1), which
-- careline_provider_save hands to the admin (sql/tests/hours.sql).

-- "HH:MM" at p_at in p_spec as minutes after midnight, or raises.
CREATE OR REPLACE FUNCTION careline_hours_time(p_spec text, p_at int, p_closing boolean)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_t text := substr(p_spec, p_at, 5);
    v_h int;
    v_m int;
BEGIN
    IF v_t !~ '^[0-9]{2}:[0-9]{2}$' THEN
        RAISE EXCEPTION 'expected a time like 08:30 at character %', p_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_h := left(v_t, 2)::int;
    v_m := right(v_t, 2)::int;
    IF v_m > 59 OR v_h > 24 OR (v_h = 24 AND (v_m <> 0 OR NOT p_closing)) THEN
        RAISE EXCEPTION 'no such time of day at character %', p_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_h * 60 + v_m;
END;
$$;

CREATE OR REPLACE FUNCTION careline_hours_spans(p_spec text)
RETURNS TABLE (dow smallint, opens time, closes time)
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    c_days  CONSTANT text[] := '{Mo,Tu,We,Th,Fr,Sa,Su}';
    c_max_len   CONSTANT int := 256;
    c_max_spans CONSTANT int := 64;
    v_s     text := coalesce(p_spec, '');
    v_len   int := char_length(coalesce(p_spec, ''));
    v_i     int := 1;               -- the cursor, 1-based
    v_dow   int[] := '{}';          -- the spans before merging
    v_open  int[] := '{}';
    v_close int[] := '{}';
    v_days  boolean[];
    v_d1    int;
    v_d2    int;
    v_d     int;
    v_o     int;
    v_c     int;
BEGIN
    IF v_len > c_max_len THEN
        RAISE EXCEPTION 'opening hours are too long (at most % characters) at character 1',
            c_max_len USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WHILE substr(v_s, v_i, 1) = ' ' LOOP v_i := v_i + 1; END LOOP;
    IF substr(v_s, v_i, 4) = '24/7' THEN
        v_i := v_i + 4;
        WHILE substr(v_s, v_i, 1) = ' ' LOOP v_i := v_i + 1; END LOOP;
        IF v_i <= v_len THEN
            RAISE EXCEPTION 'nothing may follow 24/7 at character %', v_i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN QUERY SELECT d::smallint, '00:00'::time, '24:00'::time
                     FROM generate_series(1, 7) AS d;
        RETURN;
    END IF;
    IF v_i > v_len THEN
        RAISE EXCEPTION 'opening hours are empty at character %', v_i
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOOP
        -- One rule: the days, then the spans.
        v_days := array_fill(false, ARRAY[7]);
        LOOP
            v_d1 := array_position(c_days, substr(v_s, v_i, 2));
            IF v_d1 IS NULL THEN
                RAISE EXCEPTION 'expected a day (Mo Tu We Th Fr Sa Su) at character %', v_i
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_i := v_i + 2;
            v_d2 := v_d1;
            IF substr(v_s, v_i, 1) = '-' THEN
                v_i := v_i + 1;
                v_d2 := array_position(c_days, substr(v_s, v_i, 2));
                IF v_d2 IS NULL THEN
                    RAISE EXCEPTION 'expected a day after ''-'' at character %', v_i
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                v_i := v_i + 2;
            END IF;
            v_d := v_d1;            -- Sa-Mo wraps over the weekend
            LOOP
                v_days[v_d] := true;
                EXIT WHEN v_d = v_d2;
                v_d := v_d % 7 + 1;
            END LOOP;
            EXIT WHEN substr(v_s, v_i, 1) <> ',';
            v_i := v_i + 1;
        END LOOP;
        IF substr(v_s, v_i, 1) <> ' ' THEN
            RAISE EXCEPTION 'expected a space between days and times at character %', v_i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        WHILE substr(v_s, v_i, 1) = ' ' LOOP v_i := v_i + 1; END LOOP;
        LOOP
            v_o := careline_hours_time(v_s, v_i, false);
            v_i := v_i + 5;
            IF substr(v_s, v_i, 1) <> '-' THEN
                RAISE EXCEPTION 'expected ''-'' between times at character %', v_i
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_i := v_i + 1;
            v_c := careline_hours_time(v_s, v_i, true);
            v_i := v_i + 5;
            IF v_c = v_o THEN
                RAISE EXCEPTION 'a span must not be empty at character %', v_i
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOR v_d IN 1..7 LOOP
                CONTINUE WHEN NOT v_days[v_d];
                IF v_c > v_o THEN
                    v_dow := v_dow || v_d;
                    v_open := v_open || v_o;
                    v_close := v_close || v_c;
                ELSE
                    -- Past midnight: the rest belongs to the next day.
                    v_dow := v_dow || v_d;
                    v_open := v_open || v_o;
                    v_close := v_close || 1440;
                    IF v_c > 0 THEN
                        v_dow := v_dow || (v_d % 7 + 1);
                        v_open := v_open || 0;
                        v_close := v_close || v_c;
                    END IF;
                END IF;
                IF cardinality(v_dow) > c_max_spans THEN
                    RAISE EXCEPTION 'too many opening spans (at most %) at character %',
                        c_max_spans, v_i USING ERRCODE = 'invalid_parameter_value';
                END IF;
            END LOOP;
            EXIT WHEN substr(v_s, v_i, 1) <> ',';
            v_i := v_i + 1;
        END LOOP;
        WHILE substr(v_s, v_i, 1) = ' ' LOOP v_i := v_i + 1; END LOOP;
        EXIT WHEN v_i > v_len;
        IF substr(v_s, v_i, 1) <> ';' THEN
            RAISE EXCEPTION 'expected '';'' between rules at character %', v_i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_i := v_i + 1;
        WHILE substr(v_s, v_i, 1) = ' ' LOOP v_i := v_i + 1; END LOOP;
    END LOOP;
    -- Spans of a day that overlap or touch become one.
    RETURN QUERY
    WITH s AS (
        SELECT u.d, u.o, u.c,
               max(u.c) OVER (PARTITION BY u.d ORDER BY u.o, u.c
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
        FROM unnest(v_dow, v_open, v_close) AS u(d, o, c)
    ), g AS (
        SELECT s.d, s.o, s.c,
               count(*) FILTER (WHERE s.reach IS NULL OR s.o > s.reach)
                   OVER (PARTITION BY s.d ORDER BY s.o, s.c) AS grp
        FROM s
    )
    SELECT g.d::smallint,
           format('%s:%s', lpad((min(g.o) / 60)::text, 2, '0'), lpad((min(g.o) % 60)::text, 2, '0'))::time,
           format('%s:%s', lpad((max(g.c) / 60)::text, 2, '0'), lpad((max(g.c) % 60)::text, 2, '0'))::time
    FROM g
    GROUP BY g.d, g.grp
    ORDER BY 1, 2;
END;
$$;

-- What a register's save checks of its body before anything else: no key
-- outside p_known (KL422 unknown_field), and on a creation (p_required not
-- NULL) each of p_required present and not null (KL422 missing_field,
-- "NAME is required to register p_what.").
CREATE OR REPLACE FUNCTION careline_fields_check(p_fields jsonb, p_known text[],
                                                 p_required text[], p_what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_key text;
BEGIN
    FOR v_key IN SELECT jsonb_object_keys(p_fields) LOOP
        IF NOT v_key = ANY (p_known) THEN
            PERFORM careline_raise('KL422', 'unknown_field', format('Unknown field %s.', v_key), v_key);
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY coalesce(p_required, '{}') LOOP
        IF coalesce(jsonb_typeof(p_fields -> v_key), 'null') = 'null' THEN
            PERFORM careline_raise('KL422', 'missing_field',
                format('%s is required to register %s.', v_key, p_what), v_key);
        END IF;
    END LOOP;
END;
$$;

-- The point a body's lat and lon make, each falling back to p_old's
-- (NULL on a creation); KL422 naming the coordinate out of range.
CREATE OR REPLACE FUNCTION careline_fields_point(p_fields jsonb, p_old geography)
RETURNS geography
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_lat double precision := coalesce((p_fields ->> 'lat')::double precision, ST_Y(p_old::geometry));
    v_lon double precision := coalesce((p_fields ->> 'lon')::double precision, ST_X(p_old::geometry));
BEGIN
    IF v_lat IS NULL OR NOT v_lat BETWEEN -90 AND 90 THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'lat must be between -90 and 90.', 'lat');
    END IF;
    IF v_lon IS NULL OR NOT v_lon BETWEEN -180 AND 180 THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'lon must be between -180 and 180.', 'lon');
    END IF;
    RETURN ST_SetSRID(ST_MakePoint(v_lon, v_lat), 4326)::geography;
END;
$$;
