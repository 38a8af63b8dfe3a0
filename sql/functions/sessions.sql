-- sessions.sql: Sessions: console sign-in sessions.

CREATE OR REPLACE FUNCTION careline_session_start(p_operator_id bigint,
                                                  p_hash bytea, p_idle_s int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_op operators;
    v_token bigint;
BEGIN
    UPDATE operators SET failed_count = 0, last_failed_at = NULL
    WHERE id = p_operator_id AND disabled_at IS NULL
    RETURNING * INTO v_op;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL401', 'invalid_credentials',
                              'wrong name or password', NULL);
    END IF;
    INSERT INTO api_tokens (name, role, token_hash, token_prefix)
    VALUES ('console:' || v_op.name, v_op.role, sha256(p_hash), 'cls_')
    RETURNING id INTO v_token;
    INSERT INTO sessions (operator_id, token_hash, token_id)
    VALUES (p_operator_id, p_hash, v_token);
    PERFORM careline_audit('operator:' || p_operator_id, 'session.start',
                           'operator', p_operator_id, NULL, NULL);
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'operator', jsonb_build_object('id', v_op.id, 'name', v_op.name,
                                       'role', v_op.role),
        'idle_timeout_s', p_idle_s));
END;
$$;

CREATE OR REPLACE FUNCTION careline_session_end(p_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_op bigint;
    v_token bigint;
BEGIN
    UPDATE sessions SET revoked_at = now()
    WHERE token_hash = p_hash AND revoked_at IS NULL
    RETURNING operator_id, token_id INTO v_op, v_token;
    IF FOUND THEN
        UPDATE api_tokens SET revoked_at = now()
        WHERE id = v_token AND revoked_at IS NULL;
        PERFORM careline_audit('operator:' || v_op, 'session.end', 'operator',
                               v_op, NULL, NULL);
    END IF;
    RETURN jsonb_build_object('status', 204, 'body', NULL);
END;
$$;

CREATE OR REPLACE FUNCTION careline_session_auth(p_hash bytea, p_idle_s int)
RETURNS TABLE (id bigint, name text, role text, token_id bigint,
               valid_ms bigint)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_session sessions;
    v_seen timestamptz;
BEGIN
    -- Revoking the session's token (DELETE /v1/tokens/{id}) ends it too.
    SELECT s.* INTO v_session FROM sessions s
    LEFT JOIN api_tokens t ON t.id = s.token_id
    WHERE s.token_hash = p_hash AND s.revoked_at IS NULL
      AND t.revoked_at IS NULL
      AND s.last_seen_at > now() - p_idle_s * interval '1 second';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_seen := v_session.last_seen_at;
    IF v_seen < now() - least(30, p_idle_s / 2.0) * interval '1 second' THEN
        UPDATE sessions SET last_seen_at = now() WHERE sessions.id = v_session.id;
        v_seen := now();
    END IF;
    RETURN QUERY
        SELECT o.id, o.name, o.role, v_session.token_id,
               floor(extract(epoch FROM v_seen + p_idle_s * interval '1 second'
                                        - now()) * 1000)::bigint
        FROM operators o
        WHERE o.id = v_session.operator_id AND o.disabled_at IS NULL;
END;
$$;
