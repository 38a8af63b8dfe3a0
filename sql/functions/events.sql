-- events.sql: Events: the operators' live feed, in commit order.

-- An event for the operators; returns its id.
CREATE OR REPLACE FUNCTION careline_event(p_type text, p_call_id bigint, p_data jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO events (type, call_id, data)
    VALUES (p_type, p_call_id, coalesce(p_data, '{}'::jsonb))
    RETURNING id INTO v_id;
    PERFORM pg_notify('careline_events', v_id::text);
    RETURN v_id;
END;
$$;

-- An event as the stream sends it: {id, type, at, call_id, data}. No SET
-- search_path (it names only its argument's columns), so that the planner
-- inlines it into the stream's queries and their cached generic plans.
CREATE OR REPLACE FUNCTION careline_event_text(p_event events)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', p_event.id, 'type', p_event.type,
                              'at', p_event.at, 'call_id', p_event.call_id,
                              'data', p_event.data)::text;
$$;

-- Of p_creds (hex of token hashes: API tokens' or console sessions'),
-- those no longer good. The rules are careline_token_auth's and
-- careline_session_auth's, without their writes: a stream alone does not
-- keep an idle session alive. No SET search_path (its tables are named
-- with their schema), so that it is inlined into its callers and planned
-- with them once.
CREATE OR REPLACE FUNCTION careline_creds_ended(p_creds text[], p_idle_s int)
RETURNS SETOF text
LANGUAGE sql STABLE
AS $$
    SELECT h.c
    FROM (SELECT u.c, decode(u.c, 'hex') AS hash FROM unnest(p_creds) u(c)) h
    WHERE NOT EXISTS (
              SELECT 1 FROM public.api_tokens a
              WHERE a.token_hash = h.hash AND a.revoked_at IS NULL
                AND (a.expires_at IS NULL OR a.expires_at > now()))
      AND NOT EXISTS (
              SELECT 1 FROM public.sessions s
              JOIN public.operators o ON o.id = s.operator_id
              LEFT JOIN public.api_tokens t ON t.id = s.token_id
              WHERE s.token_hash = h.hash AND s.revoked_at IS NULL
                AND t.revoked_at IS NULL AND o.disabled_at IS NULL
                AND s.last_seen_at > now() - p_idle_s * interval '1 second');
$$;

-- Events after a given id, oldest first, for a console catching up.
CREATE OR REPLACE FUNCTION careline_events_since(p_after bigint, p_limit int)
RETURNS TABLE (id bigint, type text, json text)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT e.id, e.type, careline_event_text(e)
    FROM events e
    WHERE e.id > p_after
    ORDER BY e.id
    LIMIT p_limit;
$$;

-- For the event hub, in one snapshot (a STABLE function's statements see
-- its caller's): first the credentials that are no longer good
-- (careline_creds_ended), as rows with a NULL id and the hex in json; then
-- events after p_after, oldest first. A replay
-- (p_replay_max not NULL) goes back at most p_replay_max ids and
-- p_replay_age_s seconds. PL/pgSQL with a generic plan, so that it is
-- planned once per connection: planned at each call (as an SQL function,
-- or with PL/pgSQL's custom plans) planning took most of its time, and
-- the generic plan probes the same indexes.
CREATE OR REPLACE FUNCTION careline_events_checked(p_after bigint, p_limit int,
                                        p_creds text[], p_idle_s int,
                                        p_replay_max int, p_replay_age_s int)
RETURNS TABLE (id bigint, type text, json text)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT NULL::bigint, 'credential.ended'::text, c
    FROM careline_creds_ended(p_creds, p_idle_s) AS c
    UNION ALL
    SELECT x.id, x.type, x.json
    FROM (SELECT e.id, e.type, careline_event_text(e) AS json
          FROM events e
          WHERE e.id > greatest(p_after,
                    (SELECT max(m.id) FROM events m) - p_replay_max)
            AND (p_replay_age_s IS NULL
                 OR e.at > now() - p_replay_age_s * interval '1 second')
          ORDER BY e.id
          LIMIT p_limit) x;
END;
$$;

-- Whatever inserts the row (a COPY, a hand-written INSERT), its xid is
-- the transaction's: a wrong one would hide the row or hold the stream.
CREATE OR REPLACE FUNCTION careline_events_xid() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    NEW.xid := pg_current_xact_id();
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER events_xid BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION careline_events_xid();

-- For the event hub, in one snapshot (a STABLE function's statements see
-- its caller's): first the credentials that are no longer good
-- (careline_creds_ended), as rows with a NULL id, type 'credential.ended'
-- and the hex in json; then, if events are committed but not yet readable (an older
-- transaction still runs), one row with a NULL id and type 'events.held'
-- (the hub polls until they are: their release sends no NOTIFY when the
-- older transaction wrote no event); then events after the position
-- (p_after_xid, p_after), in commit order, each with its xid. With
-- p_after_xid NULL the position is the event p_after's (a console's
-- Last-Event-ID); if that event is gone, events with a higher id. A replay
-- (p_replay_max not NULL) goes back at most p_replay_max ids and
-- p_replay_age_s seconds.
CREATE OR REPLACE FUNCTION careline_events_after(p_after_xid xid8, p_after bigint,
                                      p_limit int, p_creds text[],
                                      p_idle_s int, p_replay_max int,
                                      p_replay_age_s int)
RETURNS TABLE (id bigint, type text, json text, xid xid8)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    -- Every transaction below this has ended: its events are final.
    v_xmin xid8 := pg_snapshot_xmin(pg_current_snapshot());
    v_xid xid8 := p_after_xid;
BEGIN
    IF v_xid IS NULL THEN
        SELECT e.xid INTO v_xid FROM events e WHERE e.id = p_after;
    END IF;
    RETURN QUERY
    SELECT NULL::bigint, 'credential.ended'::text, c, NULL::xid8
    FROM careline_creds_ended(p_creds, p_idle_s) AS c
    UNION ALL
    SELECT NULL::bigint, 'events.held'::text, NULL::text, NULL::xid8
    -- max() walks the index from its end; an EXISTS, planned for any
    -- v_xmin, was a sequential scan of the whole table.
    WHERE (SELECT max(e.xid) FROM events e) >= v_xmin;
    -- Two statements, two generic plans: the live read walks the xid
    -- index from its position; a replay takes the newest ids first (the
    -- pkey), then puts them in commit order.
    IF p_replay_max IS NULL THEN
        RETURN QUERY
        SELECT e.id, e.type, careline_event_text(e), e.xid
        FROM events e
        WHERE e.xid < v_xmin
          AND (e.xid, e.id) > (coalesce(v_xid, '0'::xid8),
                               CASE WHEN v_xid IS NULL THEN 0
                                    ELSE p_after END)
          AND (v_xid IS NOT NULL OR e.id > p_after)
        ORDER BY e.xid, e.id
        LIMIT p_limit;
    ELSE
        RETURN QUERY
        SELECT x.id, x.type, x.json, x.xid
        FROM (SELECT e.id, e.type, e.xid, careline_event_text(e) AS json
              FROM events e
              WHERE e.id > (SELECT max(m.id) FROM events m) - p_replay_max
                AND (v_xid IS NOT NULL OR e.id > p_after)
                AND (p_replay_age_s IS NULL
                     OR e.at > now() - p_replay_age_s * interval '1 second')) x
        WHERE x.xid < v_xmin
          AND (v_xid IS NULL OR (x.xid, x.id) > (v_xid, p_after))
        ORDER BY x.xid, x.id
        LIMIT p_limit;
    END IF;
END;
$$;

-- Where the hub starts: the last event that is final now (no row: none).
CREATE OR REPLACE FUNCTION careline_events_position()
RETURNS TABLE (xid xid8, id bigint)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT e.xid, e.id
    FROM events e
    WHERE e.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY e.xid DESC, e.id DESC
    LIMIT 1;
$$;
