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
CREATE INDEX ringings_at_idx ON ringings (at);

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
    -- A pop is for the call ringing now: a day is ample to read it back,
    -- and numbers are not kept here longer than that (the audit log has
    -- its own rules).
    DELETE FROM ringings WHERE at < now() - interval '1 day';
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

-- For the event hub, in one snapshot (a STABLE function's statements see
-- its caller's): first the credentials (hex of token hashes: API tokens'
-- or console sessions') that are no longer good, as rows with a NULL id
-- and the hex in json; then events after p_after, oldest first. The rules
-- are careline_token_auth's and careline_session_auth's, without their
-- writes: a stream alone does not keep an idle session alive. A replay
-- (p_replay_max not NULL) goes back at most p_replay_max ids and
-- p_replay_age_s seconds. PL/pgSQL with a generic plan, so that it is
-- planned once per connection: planned at each call (as an SQL function,
-- or with PL/pgSQL's custom plans) planning took most of its time, and
-- the generic plan probes the same indexes.
CREATE FUNCTION careline_events_checked(p_after bigint, p_limit int,
                                        p_creds text[], p_idle_s int,
                                        p_replay_max int, p_replay_age_s int)
RETURNS TABLE (id bigint, type text, json text)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT NULL::bigint, 'credential.ended'::text, h.c
    FROM (SELECT u.c, decode(u.c, 'hex') AS hash FROM unnest(p_creds) u(c)) h
    WHERE NOT EXISTS (
              SELECT 1 FROM api_tokens a
              WHERE a.token_hash = h.hash AND a.revoked_at IS NULL
                AND (a.expires_at IS NULL OR a.expires_at > now()))
      AND NOT EXISTS (
              SELECT 1 FROM sessions s
              JOIN operators o ON o.id = s.operator_id
              LEFT JOIN api_tokens t ON t.id = s.token_id
              WHERE s.token_hash = h.hash AND s.revoked_at IS NULL
                AND t.revoked_at IS NULL AND o.disabled_at IS NULL
                AND s.last_seen_at > now() - p_idle_s * interval '1 second')
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
END;
$$;
