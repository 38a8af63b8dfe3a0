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
