-- 0005: the operators' console. Operator accounts with Argon2id password
-- hashes (made and checked by carelined with libsodium: the database never
-- sees a password), browser sessions whose tokens are stored hashed and
-- lapse when idle, sign-in throttling, and the caller-ID screen pop.

CREATE TABLE operators (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64
                                         AND name !~ '[[:space:][:cntrl:]]'),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role            text NOT NULL DEFAULT 'operator'
                    CHECK (role IN ('operator', 'admin')),
    -- Consecutive failed sign-ins: each one past the third doubles the wait.
    failed_count    int NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    last_failed_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
CREATE UNIQUE INDEX operators_name_idx ON operators (lower(name));

CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id     bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK (last_seen_at >= created_at)
);
CREATE INDEX sessions_operator_idx ON sessions (operator_id) WHERE revoked_at IS NULL;

-- How long the next sign-in for this operator must wait, in seconds (0: now).
CREATE FUNCTION careline_login_wait(p_failed int, p_last timestamptz)
RETURNS int
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN p_failed < 3 OR p_last IS NULL THEN 0
           ELSE greatest(0, ceil(extract(epoch FROM
                    p_last + least(300, 2 ^ (p_failed - 2)) * interval '1 second'
                    - now()))::int)
           END;
$$;

-- What carelined needs to check a sign-in: the hash to verify and the wait.
CREATE FUNCTION careline_login_lookup(p_name text)
RETURNS TABLE (id bigint, role text, password_hash text, wait_s int)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT o.id, o.role, o.password_hash,
           careline_login_wait(o.failed_count, o.last_failed_at)
    FROM operators o
    WHERE lower(o.name) = lower(p_name) AND o.disabled_at IS NULL;
$$;

CREATE FUNCTION careline_login_failed(p_operator_id bigint)
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    UPDATE operators SET failed_count = failed_count + 1, last_failed_at = now()
    WHERE id = p_operator_id;
    INSERT INTO audit_log (actor, action, entity, entity_id)
    VALUES ('operator:' || p_operator_id, 'session.failed', 'operator', p_operator_id);
$$;

-- A verified sign-in: a session, the failures forgotten, an audit row.
CREATE FUNCTION careline_session_start(p_operator_id bigint, p_hash bytea,
                                       p_idle_s int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_op operators;
BEGIN
    UPDATE operators SET failed_count = 0, last_failed_at = NULL
    WHERE id = p_operator_id AND disabled_at IS NULL
    RETURNING * INTO v_op;
    IF NOT FOUND THEN
        RETURN careline_error(401, 'invalid_credentials',
                              'wrong name or password', NULL);
    END IF;
    INSERT INTO sessions (operator_id, token_hash) VALUES (p_operator_id, p_hash);
    PERFORM careline_audit('operator:' || p_operator_id, 'session.start',
                           'operator', p_operator_id, NULL, NULL);
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'operator', jsonb_build_object('id', v_op.id, 'name', v_op.name,
                                       'role', v_op.role),
        'idle_timeout_s', p_idle_s));
END;
$$;

-- A live session's operator; touches last_seen_at at most every 30 s (or
-- half the idle time, if shorter) so that reads stay cheap. Idle past
-- p_idle_s: nothing (the token is dead).
CREATE FUNCTION careline_session_auth(p_hash bytea, p_idle_s int)
RETURNS TABLE (id bigint, name text, role text)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_session sessions;
BEGIN
    SELECT * INTO v_session FROM sessions s
    WHERE s.token_hash = p_hash AND s.revoked_at IS NULL
      AND s.last_seen_at > now() - p_idle_s * interval '1 second';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_session.last_seen_at < now() - least(30, p_idle_s / 2.0) * interval '1 second' THEN
        UPDATE sessions SET last_seen_at = now() WHERE sessions.id = v_session.id;
    END IF;
    RETURN QUERY
        SELECT o.id, o.name, o.role FROM operators o
        WHERE o.id = v_session.operator_id AND o.disabled_at IS NULL;
END;
$$;

CREATE FUNCTION careline_session_end(p_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_op bigint;
BEGIN
    UPDATE sessions SET revoked_at = now()
    WHERE token_hash = p_hash AND revoked_at IS NULL
    RETURNING operator_id INTO v_op;
    IF FOUND THEN
        PERFORM careline_audit('operator:' || v_op, 'session.end', 'operator',
                               v_op, NULL, NULL);
    END IF;
    RETURN jsonb_build_object('status', 204, 'body', NULL);
END;
$$;

CREATE FUNCTION careline_operator_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('id', id, 'name', name, 'role', role,
                              'created_at', created_at,
                              'disabled', disabled_at IS NOT NULL)
    FROM operators WHERE id = p_id;
$$;

CREATE FUNCTION careline_operator_create(p_actor text, p_name text,
                                         p_hash text, p_role text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM operators WHERE lower(name) = lower(p_name)) THEN
        RETURN careline_error(409, 'operator_exists',
                              'an operator with this name exists', 'name');
    END IF;
    INSERT INTO operators (name, password_hash, role)
    VALUES (p_name, p_hash, p_role) RETURNING id INTO v_id;
    PERFORM careline_audit(p_actor, 'operator.create', 'operator', v_id, NULL,
                           careline_operator_json(v_id));
    RETURN jsonb_build_object('status', 201, 'body', careline_operator_json(v_id));
END;
$$;

CREATE FUNCTION careline_operator_list()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('items', coalesce(jsonb_agg(
        careline_operator_json(id) ORDER BY id), '[]'::jsonb))
    FROM operators;
$$;

-- The PBX says a number is ringing: every console shows who it may be.
CREATE FUNCTION careline_ringing(p_actor text, p_phone text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_residents jsonb;
    v_data jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(careline_resident_json(r.id) ORDER BY r.name, r.id),
                    '[]'::jsonb)
    INTO v_residents
    FROM (SELECT id, name FROM residents WHERE phone = p_phone
          ORDER BY name, id LIMIT 10) r;
    v_data := jsonb_build_object('phone', p_phone, 'residents', v_residents);
    PERFORM careline_event('call.ringing', NULL, v_data);
    PERFORM careline_audit(p_actor, 'call.ringing', 'resident', NULL, NULL,
                           jsonb_build_object('phone', p_phone,
                               'matches', jsonb_array_length(v_residents)));
    RETURN jsonb_build_object('status', 202, 'body', v_data);
END;
$$;

-- Events after a given id, oldest first, for a console catching up.
CREATE FUNCTION careline_events_since(p_after bigint, p_limit int)
RETURNS TABLE (id bigint, type text, json text)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT e.id, e.type,
           jsonb_build_object('id', e.id, 'type', e.type, 'at', e.at,
                              'call_id', e.call_id, 'data', e.data)::text
    FROM events e
    WHERE e.id > p_after
    ORDER BY e.id
    LIMIT p_limit;
$$;
