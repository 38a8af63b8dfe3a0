-- 0012: personal data under PIPL. Every read of a resident's record through
-- the API leaves a row saying who read whom, when and by which route (one
-- row per resident per request, written by one INSERT ... SELECT inside the
-- function that reads, so an audited read costs no extra round trip); admins
-- see them at GET /v1/residents/{id}/access-log. Operator accounts are
-- created without ever letting a row that holds a password hash fail (a
-- refused row is quoted whole in the server's log). An offer link that does
-- not fit answers the same whether the offer exists or not.

CREATE TABLE resident_reads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    -- No foreign key: the record of who looked outlives the person's row.
    resident_id  bigint NOT NULL,
    actor        text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 100),
    operator_id  bigint,
    token_id     bigint,
    route        text NOT NULL CHECK (char_length(route) BETWEEN 1 AND 100)
);
CREATE INDEX resident_reads_resident_idx ON resident_reads (resident_id, id);

-- One row per distinct resident of p_ids. The actor is "operator:N" (a
-- console session) or "token:N" (an API token); the ids are kept apart so
-- the log can name them after the fact.
CREATE FUNCTION careline_resident_reads_record(p_actor text, p_route text,
                                               p_ids bigint[])
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO resident_reads (resident_id, actor, operator_id, token_id, route)
    SELECT DISTINCT u.id, p_actor,
           nullif(regexp_replace(p_actor, '^operator:([0-9]{1,18})$|.*', '\1'), '')::bigint,
           nullif(regexp_replace(p_actor, '^token:([0-9]{1,18})$|.*', '\1'), '')::bigint,
           p_route
    FROM unnest(p_ids) AS u(id)
    WHERE u.id IS NOT NULL;
$$;

-- GET /v1/residents/{id}
CREATE FUNCTION careline_resident_read(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_resident_json(p_id);
BEGIN
    IF v IS NULL THEN
        RETURN careline_error(404, 'resident_not_found', 'no resident with this id', NULL);
    END IF;
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY[p_id]);
    RETURN jsonb_build_object('status', 200, 'body', v);
END;
$$;

-- GET /v1/residents?phone=|name=: every resident in the answer was read.
CREATE FUNCTION careline_resident_search_read(p_actor text, p_route text,
                                              p_phone text, p_name text, p_limit int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_resident_search(p_phone, p_name, p_limit);
BEGIN
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY(
        SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(v -> 'items') e));
    RETURN v;
END;
$$;

-- GET /v1/residents/{id}/context
CREATE FUNCTION careline_resident_context_read(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_resident_context(p_id);
BEGIN
    IF (v ->> 'status')::int = 200 THEN
        PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY[p_id]);
    END IF;
    RETURN v;
END;
$$;

-- GET /v1/calls/{id}: the call carries its resident's name.
CREATE FUNCTION careline_call_read(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_call_json(p_id);
BEGIN
    IF v IS NULL THEN
        RETURN careline_error(404, 'call_not_found', 'no call with this id', NULL);
    END IF;
    PERFORM careline_resident_reads_record(p_actor, p_route,
                                           ARRAY[(v ->> 'resident_id')::bigint]);
    RETURN jsonb_build_object('status', 200, 'body', v);
END;
$$;

-- GET /v1/calls: one row per resident on the page, however many calls.
CREATE FUNCTION careline_call_list_read(p_actor text, p_route text,
                                        p_status text, p_service text, p_resident_id bigint,
                                        p_since timestamptz, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_call_list(p_status, p_service, p_resident_id, p_since,
                                  p_limit, p_before_id);
BEGIN
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY(
        SELECT (e ->> 'resident_id')::bigint FROM jsonb_array_elements(v -> 'items') e));
    RETURN v;
END;
$$;

-- GET /v1/matches: who can reach this resident, which says where they live.
CREATE FUNCTION careline_matches_read(p_actor text, p_route text, p_resident_id bigint,
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

-- GET /v1/residents/{id}/access-log: newest first, p_before_id pages back.
-- who: {kind: operator | token, id, name}.
CREATE FUNCTION careline_resident_access_log(p_id bigint, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 50), 1), 200);
    v_items jsonb;
    v_count int;
    v_last  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM residents WHERE id = p_id)
       AND NOT EXISTS (SELECT 1 FROM resident_reads WHERE resident_id = p_id) THEN
        RETURN careline_error(404, 'resident_not_found', 'no resident with this id', NULL);
    END IF;
    WITH page AS (
        SELECT * FROM resident_reads
        WHERE resident_id = p_id AND (p_before_id IS NULL OR id < p_before_id)
        ORDER BY id DESC
        LIMIT v_limit + 1
    ), shown AS (
        SELECT * FROM page ORDER BY id DESC LIMIT v_limit
    )
    SELECT jsonb_agg(jsonb_build_object(
               'id', s.id, 'at', s.at, 'route', s.route, 'actor', s.actor,
               'who', jsonb_build_object(
                   'kind', CASE WHEN s.operator_id IS NOT NULL THEN 'operator'
                                WHEN s.token_id IS NOT NULL THEN 'token' END,
                   'id', coalesce(s.operator_id, s.token_id),
                   'name', coalesce(o.name, t.name)))
               ORDER BY s.id DESC),
           (SELECT count(*) FROM page), min(s.id)
    INTO v_items, v_count, v_last
    FROM shown s
    LEFT JOIN operators o ON o.id = s.operator_id
    LEFT JOIN api_tokens t ON t.id = s.token_id;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'items', coalesce(v_items, '[]'::jsonb),
        'next_cursor', CASE WHEN v_count > v_limit THEN to_jsonb(v_last::text)
                            ELSE 'null'::jsonb END));
END;
$$;

-- Operator accounts: every rule of the table checked here and answered
-- without raising, and a race on the name caught, so no statement that
-- carries the hash fails where PostgreSQL would log its row.
CREATE OR REPLACE FUNCTION careline_operator_create(p_actor text, p_name text,
                                                    p_hash text, p_role text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_name IS NULL OR length(p_name) NOT BETWEEN 1 AND 64
       OR p_name ~ '[[:space:][:cntrl:]]' THEN
        RETURN careline_error(422, 'invalid_name',
                              'name must be 1 to 64 characters without spaces', 'name');
    END IF;
    IF p_role IS NULL OR p_role NOT IN ('operator', 'admin') THEN
        RETURN careline_error(422, 'invalid_field', 'role must be operator or admin', 'role');
    END IF;
    IF p_hash IS NULL OR p_hash NOT LIKE '$argon2id$%' THEN
        RETURN careline_error(500, 'internal', 'the password hash is not Argon2id', NULL);
    END IF;
    IF EXISTS (SELECT 1 FROM operators WHERE lower(name) = lower(p_name)) THEN
        RETURN careline_error(409, 'operator_exists',
                              'an operator with this name exists', 'name');
    END IF;
    BEGIN
        INSERT INTO operators (name, password_hash, role)
        VALUES (p_name, p_hash, p_role) RETURNING id INTO v_id;
    EXCEPTION
        -- Caught errors are not logged: the row with the hash stays out.
        WHEN unique_violation THEN
            RETURN careline_error(409, 'operator_exists',
                                  'an operator with this name exists', 'name');
        WHEN check_violation OR not_null_violation THEN
            RETURN careline_error(422, 'invalid_name',
                                  'the account breaks a rule of the database', 'name');
    END;
    PERFORM careline_audit(p_actor, 'operator.create', 'operator', v_id, NULL,
                           careline_operator_json(v_id));
    RETURN jsonb_build_object('status', 201, 'body', careline_operator_json(v_id));
END;
$$;

-- An offer answered by link: an unknown offer and a link that does not fit
-- a known one get the same 403, so a guessed URL says nothing about which
-- offers exist. Everything else is careline_offer_answer's.
CREATE FUNCTION careline_offer_answer_checked(p_actor text, p_offer_id bigint,
                                              p_provider_id bigint, p_link_token text,
                                              p_action text, p_reason text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_link_token IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM offers
        WHERE id = p_offer_id
          AND link_hash = sha256(convert_to(p_link_token, 'UTF8'))) THEN
        RETURN careline_error(403, 'invalid_link', 'this link is not valid', 't');
    END IF;
    RETURN careline_offer_answer(p_actor, p_offer_id, p_provider_id, p_link_token,
                                 p_action, p_reason, p_params);
END;
$$;
