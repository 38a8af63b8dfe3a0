-- 0011: the operators' event stream carries ids, never a person. A
-- call.ringing event used to hold whole resident records (name, phone,
-- address), kept in the events table and replayed to any console that
-- connected with Last-Event-ID: 0. Now the number that rang is kept in a
-- ringings row, the event names that row and the residents' ids, and a
-- console fetches the number (GET /v1/ringing/{id}) and the cards
-- (GET /v1/residents/{id}) with its own credential. Replays are bounded,
-- and one statement both checks the credentials of the open streams and
-- reads the new events, so an event committed after a sign-out is never
-- sent on that session's stream.

CREATE TABLE ringings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    phone         text NOT NULL,
    resident_ids  bigint[] NOT NULL DEFAULT '{}'
);

-- Events already stored keep the residents' ids and lose the rest.
UPDATE events
SET data = jsonb_build_object('resident_ids', coalesce(
        (SELECT jsonb_agg((r ->> 'id')::bigint)
         FROM jsonb_array_elements(
             CASE WHEN jsonb_typeof(data -> 'residents') = 'array'
                  THEN data -> 'residents' ELSE '[]'::jsonb END) r),
        '[]'::jsonb))
WHERE type = 'call.ringing';

-- The PBX says a number is ringing. The PBX's answer still names who it
-- may be (it asked, with its token); the event only points at them.
CREATE OR REPLACE FUNCTION careline_ringing(p_actor text, p_phone text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_ids bigint[];
    v_ringing bigint;
    v_residents jsonb;
BEGIN
    SELECT coalesce(array_agg(r.id ORDER BY r.name, r.id), '{}')
    INTO v_ids
    FROM (SELECT id, name FROM residents WHERE phone = p_phone
          ORDER BY name, id LIMIT 10) r;
    INSERT INTO ringings (phone, resident_ids) VALUES (p_phone, v_ids)
    RETURNING id INTO v_ringing;
    SELECT coalesce(jsonb_agg(careline_resident_json(u.id) ORDER BY u.n),
                    '[]'::jsonb)
    INTO v_residents
    FROM unnest(v_ids) WITH ORDINALITY AS u(id, n);
    PERFORM careline_event('call.ringing', NULL, jsonb_build_object(
        'ringing_id', v_ringing, 'resident_ids', to_jsonb(v_ids)));
    PERFORM careline_audit(p_actor, 'call.ringing', 'resident', NULL, NULL,
                           jsonb_build_object('phone', p_phone,
                               'matches', cardinality(v_ids)));
    RETURN jsonb_build_object('status', 202, 'body', jsonb_build_object(
        'ringing_id', v_ringing, 'phone', p_phone,
        'residents', v_residents));
END;
$$;

-- What a console shows for a ring: the number and who it may be (ids).
CREATE FUNCTION careline_ringing_get(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(
        (SELECT jsonb_build_object('status', 200, 'body', jsonb_build_object(
                    'id', g.id, 'at', g.at, 'phone', g.phone,
                    'resident_ids', to_jsonb(g.resident_ids)))
         FROM ringings g WHERE g.id = p_id),
        careline_error(404, 'ringing_not_found',
                       format('There is no ringing with id %s.', p_id), NULL));
$$;

-- Is this token hash (an API token's, or a console session's) still good?
-- The rules of careline_token_auth and careline_session_auth, without
-- their writes: a stream alone does not keep an idle session alive.
CREATE FUNCTION careline_credential_live(p_hash bytea, p_idle_s int)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (
               SELECT 1 FROM api_tokens a
               WHERE a.token_hash = p_hash AND a.revoked_at IS NULL
                 AND (a.expires_at IS NULL OR a.expires_at > now()))
        OR EXISTS (
               SELECT 1 FROM sessions s
               JOIN operators o ON o.id = s.operator_id
               LEFT JOIN api_tokens t ON t.id = s.token_id
               WHERE s.token_hash = p_hash AND s.revoked_at IS NULL
                 AND t.revoked_at IS NULL AND o.disabled_at IS NULL
                 AND s.last_seen_at > now() - p_idle_s * interval '1 second');
$$;

-- For the event hub, in one snapshot: first the credentials (hex of their
-- hashes) that are no longer good, as rows with a NULL id and the hex in
-- json; then events after p_after, oldest first. A replay (p_replay_max
-- not NULL) goes back at most p_replay_max ids and p_replay_age_s seconds.
CREATE FUNCTION careline_events_checked(p_after bigint, p_limit int,
                                        p_creds text[], p_idle_s int,
                                        p_replay_max int, p_replay_age_s int)
RETURNS TABLE (id bigint, type text, json text)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT NULL::bigint, 'credential.ended', c
    FROM unnest(p_creds) c
    WHERE NOT careline_credential_live(decode(c, 'hex'), p_idle_s)
    UNION ALL
    SELECT x.id, x.type, x.json
    FROM (SELECT e.id, e.type,
                 jsonb_build_object('id', e.id, 'type', e.type, 'at', e.at,
                                    'call_id', e.call_id, 'data', e.data)::text
                     AS json
          FROM events e
          WHERE e.id > greatest(p_after,
                    (SELECT max(m.id) FROM events m) - p_replay_max)
            AND (p_replay_age_s IS NULL
                 OR e.at > now() - p_replay_age_s * interval '1 second')
          ORDER BY e.id
          LIMIT p_limit) x;
$$;
