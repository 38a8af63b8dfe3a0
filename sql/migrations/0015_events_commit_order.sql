-- 0015: the operators' event stream follows commit order, not id order.
-- An event's id is taken when it is inserted, but its transaction may
-- commit after one with a higher id that the hub has already sent; read
-- by "id > last", it was skipped by every console for good. Each event
-- now records its inserting transaction, and the hub reads only events
-- whose transaction is older than its snapshot's xmin: every such
-- transaction has ended, so no event can appear behind the hub's
-- position any more. Its position is (xid, id) of the last event sent,
-- and a console's Last-Event-ID (an event id) names one too: the xid is
-- looked up. See docs/DECISIONS.md ("The event stream follows commit
-- order").

-- Rows already there were all committed: the migration's own xid orders
-- them after nothing that can still be running.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_xid_idx ON events (xid, id);

-- Whatever inserts the row (a COPY, a hand-written INSERT), its xid is
-- the transaction's: a wrong one would hide the row or hold the stream.
CREATE FUNCTION careline_events_xid() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    NEW.xid := pg_current_xact_id();
    RETURN NEW;
END;
$$;
CREATE TRIGGER events_xid BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION careline_events_xid();

-- For the event hub, in one snapshot (a STABLE function's statements see
-- its caller's): first the credentials that are no longer good, as rows
-- with a NULL id, type 'credential.ended' and the hex in json (as in
-- 0011); then, if events are committed but not yet readable (an older
-- transaction still runs), one row with a NULL id and type 'events.held'
-- (the hub polls until they are: their release sends no NOTIFY when the
-- older transaction wrote no event); then events after the position
-- (p_after_xid, p_after), in commit order, each with its xid. With
-- p_after_xid NULL the position is the event p_after's (a console's
-- Last-Event-ID); if that event is gone, events with a higher id. A replay
-- (p_replay_max not NULL) goes back at most p_replay_max ids and
-- p_replay_age_s seconds.
CREATE FUNCTION careline_events_after(p_after_xid xid8, p_after bigint,
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
    SELECT NULL::bigint, 'credential.ended'::text, h.c, NULL::xid8
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
    SELECT NULL::bigint, 'events.held'::text, NULL::text, NULL::xid8
    -- max() walks the index from its end; an EXISTS, planned for any
    -- v_xmin, was a sequential scan of the whole table.
    WHERE (SELECT max(e.xid) FROM events e) >= v_xmin;
    -- Two statements, two generic plans: the live read walks the xid
    -- index from its position; a replay takes the newest ids first (the
    -- pkey), then puts them in commit order.
    IF p_replay_max IS NULL THEN
        RETURN QUERY
        SELECT e.id, e.type,
               jsonb_build_object('id', e.id, 'type', e.type, 'at', e.at,
                                  'call_id', e.call_id, 'data', e.data)::text,
               e.xid
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
        FROM (SELECT e.id, e.type, e.xid,
                     jsonb_build_object('id', e.id, 'type', e.type,
                                        'at', e.at, 'call_id', e.call_id,
                                        'data', e.data)::text AS json
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
CREATE FUNCTION careline_events_position()
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
