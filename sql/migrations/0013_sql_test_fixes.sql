-- 0013: two bugs the pgTAP tests (sql/tests/) found.
--
-- careline_deliveries_record (0009) dropped from its count a second
-- success for a delivery the same batch had already closed: neither applied
-- nor stale, so careline_deliveries_stale_total missed it, where the
-- row-by-row rules it keeps count it as stale. Only the count changes; what
-- is applied does not (sql/tests/outbox.sql).
--
-- careline_hours_spans (0004) promises 22023 for anything outside its
-- subset, but a time like 25:00 matched its pattern and failed the cast
-- with 22008 (sql/tests/registry.sql).

CREATE OR REPLACE FUNCTION careline_deliveries_record(p_results jsonb, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_done       bigint[];
    v_providers  bigint[];
    v_rest       jsonb;
    v_out    jsonb;
    v_extra  int;           -- more successes for a row than the one applied
BEGIN
    IF p_results IS NULL OR jsonb_typeof(p_results) <> 'array' THEN
        RAISE EXCEPTION 'careline_deliveries_record: p_results must be an array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Deliveries first, in id order (as the row-by-row function does).
    PERFORM 1 FROM deliveries d
    WHERE d.id IN (SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(p_results) e)
    ORDER BY d.id
    FOR UPDATE;

    -- Fresh successes (still pending, still under the lease that sent
    -- them): the attempt logged and the delivery closed, in one statement.
    WITH r AS (
        SELECT DISTINCT ON (d.id) d.id, d.provider_id, d.lease_token,
               greatest(d.attempts, coalesce((SELECT max(a.attempt)
                                              FROM delivery_attempts a
                                              WHERE a.delivery_id = d.id), 0) + 1)
                   AS attempt,
               coalesce(x.started_at, now() - make_interval(
                   secs => coalesce(x.duration_ms, 0) / 1000.0)) AS started_at,
               CASE WHEN x.http_status BETWEEN 100 AND 599 THEN x.http_status END
                   AS http_status,
               CASE WHEN x.duration_ms >= 0 THEN x.duration_ms END AS duration_ms
        FROM jsonb_to_recordset(p_results)
             AS x(id bigint, lease_token bigint, outcome text, http_status int,
                  started_at timestamptz, duration_ms int)
        JOIN deliveries d ON d.id = x.id
        WHERE x.outcome = 'delivered' AND d.status = 'pending'
          AND d.lease_owner IS NOT NULL AND d.lease_token = x.lease_token
        ORDER BY d.id
    ), logged AS (
        INSERT INTO delivery_attempts (delivery_id, attempt, lease_token, started_at,
                                       finished_at, http_status, error, duration_ms)
        SELECT id, attempt, lease_token, started_at,
               started_at + make_interval(
                   secs => greatest(coalesce(duration_ms, 0), 0) / 1000.0),
               http_status, NULL, duration_ms
        FROM r
    ), closed AS (
        UPDATE deliveries d
        SET status = 'delivered', delivered_at = now(),
            lease_owner = NULL, lease_expires_at = NULL,
            last_http_status = r.http_status, last_error = NULL
        FROM r
        WHERE d.id = r.id
        RETURNING d.id, d.provider_id
    )
    SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(DISTINCT provider_id), '{}')
    INTO v_done, v_providers
    FROM closed;

    -- A provider that answered is not failing (providers in id order).
    PERFORM 1 FROM providers p WHERE p.id = ANY (v_providers)
        AND p.endpoint_failing_since IS NOT NULL ORDER BY p.id FOR UPDATE;
    UPDATE providers p SET endpoint_failing_since = NULL
    WHERE p.id = ANY (v_providers) AND p.endpoint_failing_since IS NOT NULL;

    -- A second success for a row closed above is stale, as the row-by-row
    -- function would find it (the row is no longer pending); counted here.
    SELECT count(*) - cardinality(v_done) INTO v_extra
    FROM jsonb_array_elements(p_results) e
    WHERE (e ->> 'id')::bigint = ANY (v_done) AND e ->> 'outcome' = 'delivered';

    -- The rest, and any stale success, one by one.
    SELECT coalesce(jsonb_agg(e), '[]') INTO v_rest
    FROM jsonb_array_elements(p_results) e
    WHERE NOT ((e ->> 'id')::bigint = ANY (v_done) AND e ->> 'outcome' = 'delivered');
    IF jsonb_array_length(v_rest) = 0 THEN
        RETURN jsonb_build_object('applied', cardinality(v_done), 'stale', v_extra);
    END IF;
    v_out := careline_deliveries_record_rows(v_rest, p_params);
    RETURN jsonb_build_object(
        'applied', cardinality(v_done) + (v_out ->> 'applied')::int,
        'stale', v_extra + (v_out ->> 'stale')::int);
END;
$$;

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
