-- privacy.sql: Privacy: audited reads of residents and calls, and the access log.

-- The N of an actor "KIND:N" (p_kind 'operator' or 'token'); NULL for any
-- other actor.
CREATE OR REPLACE FUNCTION careline_actor_id(p_actor text, p_kind text)
RETURNS bigint
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT (regexp_match(p_actor, '^' || p_kind || ':([0-9]{1,18})$'))[1]::bigint;
$$;

-- One row per distinct resident of p_ids. The actor is "operator:N" (a
-- console session) or "token:N" (an API token); the ids are kept apart so
-- the log can name them after the fact.
CREATE OR REPLACE FUNCTION careline_resident_reads_record(p_actor text, p_route text,
                                               p_ids bigint[])
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO resident_reads (resident_id, actor, operator_id, token_id, route)
    SELECT DISTINCT u.id, p_actor,
           careline_actor_id(p_actor, 'operator'), careline_actor_id(p_actor, 'token'),
           p_route
    FROM unnest(p_ids) AS u(id)
    WHERE u.id IS NOT NULL;
$$;

-- GET /v1/residents/{id}
CREATE OR REPLACE FUNCTION careline_resident_read(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_resident_json(p_id);
BEGIN
    IF v IS NULL THEN
        PERFORM careline_raise('KL404', 'resident_not_found', 'no resident with this id', NULL);
    END IF;
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY[p_id]);
    RETURN jsonb_build_object('status', 200, 'body', v);
END;
$$;

-- GET /v1/residents?phone=|name=: every resident in the answer was read.
CREATE OR REPLACE FUNCTION careline_resident_search_read(p_actor text, p_route text,
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
CREATE OR REPLACE FUNCTION careline_resident_context_read(p_actor text, p_route text, p_id bigint)
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

-- GET /v1/residents/{id}/access-log: newest first, p_before_id pages back.
-- who: {kind: operator | token, id, name}.
CREATE OR REPLACE FUNCTION careline_resident_access_log(p_id bigint, p_limit int, p_before_id bigint)
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
        PERFORM careline_raise('KL404', 'resident_not_found', 'no resident with this id', NULL);
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
