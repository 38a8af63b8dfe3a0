-- 0010: sign-in throttling moves into carelined, keyed by client address
-- and by (address, account), so nobody can lock an operator out from
-- elsewhere; a failed sign-in costs the same work whether the name exists
-- or not; and whatever ends a credential tells every instance at once
-- (NOTIFY careline_auth), so no cached credential outlives it.
--
-- operators.failed_count and last_failed_at are no longer read.

DROP FUNCTION careline_login_lookup(text);
DROP FUNCTION careline_login_wait(int, timestamptz);
DROP FUNCTION careline_login_failed(bigint);

-- Always one row: the hash to verify (NULL for an unknown or disabled
-- name, checked against a dummy) and the key the throttle counts under.
CREATE FUNCTION careline_login_lookup(p_name text)
RETURNS TABLE (id bigint, password_hash text, account text)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT o.id, o.password_hash,
           coalesce('operator:' || o.id, 'name:' || lower(p_name))
    FROM (SELECT 1) AS one
    LEFT JOIN operators o
           ON lower(o.name) = lower(p_name) AND o.disabled_at IS NULL;
$$;

-- The same single insert for a known and an unknown name, so that the two
-- answers take the same time.
CREATE FUNCTION careline_login_failed(p_operator_id bigint, p_client text)
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO audit_log (actor, action, entity, entity_id, after)
    VALUES ('client:' || left(p_client, 90), 'session.failed', 'operator',
            p_operator_id, jsonb_build_object('client', p_client));
$$;

-- Both lookups also say how long the credential stays valid by itself
-- (valid_ms, NULL: no limit), so no cache keeps it past that.
DROP FUNCTION careline_token_auth(bytea);
CREATE FUNCTION careline_token_auth(p_hash bytea)
RETURNS TABLE (id bigint, name text, role text, provider_id bigint,
               valid_ms bigint)
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    WITH t AS (
        SELECT a.id, a.name, a.role, a.provider_id, a.last_used_at,
               a.expires_at
        FROM api_tokens a
        WHERE a.token_hash = p_hash
          AND a.revoked_at IS NULL
          AND (a.expires_at IS NULL OR a.expires_at > now())
    ), touch AS (
        UPDATE api_tokens a SET last_used_at = now()
        WHERE a.id IN (SELECT x.id FROM api_tokens x
                       WHERE x.id = (SELECT t.id FROM t
                                     WHERE t.last_used_at IS NULL
                                        OR t.last_used_at < now() - interval '1 minute')
                       FOR UPDATE SKIP LOCKED)
        RETURNING a.id
    )
    SELECT t.id, t.name, t.role, t.provider_id,
           floor(extract(epoch FROM t.expires_at - now()) * 1000)::bigint
    FROM t;
$$;

DROP FUNCTION careline_session_auth(bytea, int);
CREATE FUNCTION careline_session_auth(p_hash bytea, p_idle_s int)
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

-- NOTIFY careline_auth, "token:ID" or "operator:ID": every carelined drops
-- what it cached for it. Sent at commit, whoever made the change.
CREATE FUNCTION careline_auth_notify_token() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', 'token:' || OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_auth_notify
    AFTER UPDATE OF revoked_at, expires_at, role, provider_id OR DELETE
    ON api_tokens FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_token();

CREATE FUNCTION careline_auth_notify_session() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', coalesce('token:' || OLD.token_id,
                                                'operator:' || OLD.operator_id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_auth_notify
    AFTER UPDATE OF revoked_at OR DELETE
    ON sessions FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_session();

CREATE FUNCTION careline_auth_notify_operator() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', 'operator:' || OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER operators_auth_notify
    AFTER UPDATE OF disabled_at, role OR DELETE
    ON operators FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_operator();
