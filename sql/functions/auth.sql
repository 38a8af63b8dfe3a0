-- auth.sql: Auth: API tokens, operators, sign-in throttle, and the NOTIFY that drops cached credentials.

-- ---------------------------------------------------------------------------
-- API tokens: the daemon makes the token and its SHA-256; only the hash and
-- the prefix reach the database.
CREATE OR REPLACE FUNCTION careline_token_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'name', t.name, 'role', t.role, 'provider_id', t.provider_id,
        'token_prefix', t.token_prefix, 'created_at', t.created_at,
        'last_used_at', t.last_used_at, 'expires_at', t.expires_at,
        'revoked_at', t.revoked_at)
    FROM api_tokens t WHERE t.id = p_id;
$$;

CREATE OR REPLACE FUNCTION careline_token_create(p_actor text, p_name text, p_role text,
                                      p_provider_id bigint, p_hash bytea, p_prefix text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_tok api_tokens%ROWTYPE;
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('operator', 'admin', 'provider') THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'role must be operator, admin or provider.', 'role');
    END IF;
    IF p_role = 'provider' AND p_provider_id IS NULL THEN
        PERFORM careline_raise('KL422', 'missing_field', 'A provider token needs provider_id.', 'provider_id');
    END IF;
    IF p_role <> 'provider' AND p_provider_id IS NOT NULL THEN
        PERFORM careline_raise('KL422', 'invalid_value',
            'Only a provider token is bound to a provider; drop provider_id.', 'provider_id');
    END IF;
    IF p_provider_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM providers WHERE id = p_provider_id) THEN
        PERFORM careline_raise('KL422', 'provider_not_found',
            format('There is no provider with id %s.', p_provider_id), 'provider_id');
    END IF;
    BEGIN
        INSERT INTO api_tokens (name, role, provider_id, token_hash, token_prefix)
        VALUES (p_name, p_role, p_provider_id, p_hash, p_prefix)
        RETURNING * INTO v_tok;
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        PERFORM careline_raise('KL422', 'invalid_value',
            'A value was rejected by the database: ' || SQLERRM,
            CASE WHEN SQLERRM LIKE '%prefix%' THEN NULL ELSE 'name' END);
    END;
    PERFORM careline_audit(p_actor, 'token.create', 'api_token', v_tok.id, NULL,
        jsonb_build_object('name', v_tok.name, 'role', v_tok.role,
                           'provider_id', v_tok.provider_id, 'token_prefix', v_tok.token_prefix));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'id', v_tok.id, 'name', v_tok.name, 'role', v_tok.role,
        'provider_id', v_tok.provider_id, 'token_prefix', v_tok.token_prefix,
        'created_at', v_tok.created_at));
END;
$$;

CREATE OR REPLACE FUNCTION careline_token_list()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('items',
        coalesce((SELECT jsonb_agg(careline_token_json(t.id) ORDER BY t.id)
                  FROM api_tokens t), '[]'::jsonb));
$$;

-- Revoking a revoked token answers 200 again and changes nothing.
CREATE OR REPLACE FUNCTION careline_token_revoke(p_actor text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_revoked timestamptz;
BEGIN
    SELECT t.revoked_at INTO v_revoked FROM api_tokens t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'token_not_found',
            format('There is no API token with id %s.', p_id), NULL);
    END IF;
    IF v_revoked IS NULL THEN
        UPDATE api_tokens SET revoked_at = now() WHERE id = p_id;
        PERFORM careline_audit(p_actor, 'token.revoke', 'api_token', p_id,
            jsonb_build_object('revoked_at', NULL),
            jsonb_build_object('revoked_at', now()));
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', careline_token_json(p_id));
END;
$$;

CREATE OR REPLACE FUNCTION careline_operator_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('id', id, 'name', name, 'role', role,
                              'created_at', created_at,
                              'disabled', disabled_at IS NOT NULL)
    FROM operators WHERE id = p_id;
$$;

CREATE OR REPLACE FUNCTION careline_operator_list()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('items', coalesce(jsonb_agg(
        careline_operator_json(id) ORDER BY id), '[]'::jsonb))
    FROM operators;
$$;

-- Always one row: the hash to verify (NULL for an unknown or disabled
-- name, checked against a dummy) and the key the throttle counts under.
CREATE OR REPLACE FUNCTION careline_login_lookup(p_name text)
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
CREATE OR REPLACE FUNCTION careline_login_failed(p_operator_id bigint, p_client text)
RETURNS void
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO audit_log (actor, action, entity, entity_id, after)
    VALUES ('client:' || left(p_client, 90), 'session.failed', 'operator',
            p_operator_id, jsonb_build_object('client', p_client));
$$;

CREATE OR REPLACE FUNCTION careline_token_auth(p_hash bytea)
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

-- NOTIFY careline_auth, "token:ID" or "operator:ID": every carelined drops
-- what it cached for it. Sent at commit, whoever made the change.
CREATE OR REPLACE FUNCTION careline_auth_notify_token() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', 'token:' || OLD.id);
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER api_tokens_auth_notify
    AFTER UPDATE OF revoked_at, expires_at, role, provider_id OR DELETE
    ON api_tokens FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_token();

CREATE OR REPLACE FUNCTION careline_auth_notify_session() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', coalesce('token:' || OLD.token_id,
                                                'operator:' || OLD.operator_id));
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER sessions_auth_notify
    AFTER UPDATE OF revoked_at OR DELETE
    ON sessions FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_session();

CREATE OR REPLACE FUNCTION careline_auth_notify_operator() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_auth', 'operator:' || OLD.id);
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER operators_auth_notify
    AFTER UPDATE OF disabled_at, role OR DELETE
    ON operators FOR EACH ROW EXECUTE FUNCTION careline_auth_notify_operator();

-- Operator accounts: every rule of the table checked here and a race on
-- the name caught, each raised as a typed error, which
-- careline_api_operators_create answers: called through it (as the daemon
-- and --create-operator do), no statement that carries the hash fails where
-- PostgreSQL would log its row.
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
        PERFORM careline_raise('KL422', 'invalid_name',
                              'name must be 1 to 64 characters without spaces', 'name');
    END IF;
    IF p_role IS NULL OR p_role NOT IN ('operator', 'admin') THEN
        PERFORM careline_raise('KL422', 'invalid_field', 'role must be operator or admin', 'role');
    END IF;
    IF p_hash IS NULL OR p_hash NOT LIKE '$argon2id$%' THEN
        PERFORM careline_raise('KL500', 'internal', 'the password hash is not Argon2id', NULL);
    END IF;
    IF EXISTS (SELECT 1 FROM operators WHERE lower(name) = lower(p_name)) THEN
        PERFORM careline_raise('KL409', 'operator_exists',
                              'an operator with this name exists', 'name');
    END IF;
    BEGIN
        INSERT INTO operators (name, password_hash, role)
        VALUES (p_name, p_hash, p_role) RETURNING id INTO v_id;
    EXCEPTION
        -- Caught errors are not logged: the row with the hash stays out.
        WHEN unique_violation THEN
            PERFORM careline_raise('KL409', 'operator_exists',
                                  'an operator with this name exists', 'name');
        WHEN check_violation OR not_null_violation THEN
            PERFORM careline_raise('KL422', 'invalid_name',
                                  'the account breaks a rule of the database', 'name');
    END;
    PERFORM careline_audit(p_actor, 'operator.create', 'operator', v_id, NULL,
                           careline_operator_json(v_id));
    RETURN jsonb_build_object('status', 201, 'body', careline_operator_json(v_id));
END;
$$;
