-- calls.sql: Calls: create, read, list, transition, ringing, and the call status guard.

-- Idempotency-Key replay: NULL when this token has not used the key.
CREATE OR REPLACE FUNCTION careline_call_replay(p_token_id bigint, p_idem_key text, p_req_hash bytea)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE
               WHEN c.request_hash = p_req_hash THEN
                   jsonb_build_object('status', 201,
                                      'body', coalesce(c.response, careline_call_json(c.id)))
               ELSE careline_raise('KL422', 'idempotency_key_reused',
                   'This Idempotency-Key was already used for a different request; '
                   'use a new key for a new call.', NULL)
           END
    FROM calls c
    WHERE c.created_by = p_token_id AND c.idempotency_key = p_idem_key;
$$;

-- Newest first; NULL filters match everything; p_before_id is the cursor.
CREATE OR REPLACE FUNCTION careline_call_list(p_status text, p_service text, p_resident_id bigint,
                                   p_since timestamptz, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_sql   text := 'SELECT array_agg(id ORDER BY id DESC) FROM ('
                    'SELECT c.id FROM calls c WHERE true';
    v_ids   bigint[];
    v_more  boolean;
BEGIN
    IF p_status IS NOT NULL
       AND p_status NOT IN ('new', 'offered', 'accepted', 'completed', 'cancelled', 'unmatched') THEN
        RAISE EXCEPTION 'status must be one of new, offered, accepted, completed, cancelled, unmatched'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_service IS NOT NULL AND NOT p_service = ANY (careline_services()) THEN
        RAISE EXCEPTION 'service must be one of %', array_to_string(careline_services(), ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Only the filters given, so each query is planned for what it asks.
    IF p_status IS NOT NULL THEN v_sql := v_sql || ' AND c.status = $1'; END IF;
    IF p_service IS NOT NULL THEN v_sql := v_sql || ' AND c.service = $2'; END IF;
    IF p_resident_id IS NOT NULL THEN v_sql := v_sql || ' AND c.resident_id = $3'; END IF;
    IF p_since IS NOT NULL THEN v_sql := v_sql || ' AND c.created_at >= $4'; END IF;
    IF p_before_id IS NOT NULL THEN v_sql := v_sql || ' AND c.id < $5'; END IF;
    v_sql := v_sql || ' ORDER BY c.id DESC LIMIT $6) s';

    EXECUTE v_sql INTO v_ids
        USING p_status, p_service, p_resident_id, p_since, p_before_id, v_limit + 1;

    v_ids := coalesce(v_ids, '{}');
    v_more := cardinality(v_ids) > v_limit;
    IF v_more THEN
        v_ids := v_ids[1:v_limit];
    END IF;

    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(careline_call_json(u.id) ORDER BY u.ord)
                           FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)), '[]'::jsonb),
        'next_cursor', CASE WHEN v_more THEN to_jsonb(v_ids[v_limit]::text) ELSE 'null'::jsonb END);
END;
$$;

-- ---------------------------------------------------------------------------
-- Transitions, enforced whatever code path writes the row.
CREATE OR REPLACE FUNCTION careline_call_status_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'new'       AND NEW.status IN ('offered', 'unmatched', 'cancelled', 'completed'))
        OR (OLD.status = 'offered'   AND NEW.status IN ('accepted', 'unmatched', 'cancelled', 'completed'))
        OR (OLD.status = 'accepted'  AND NEW.status IN ('completed', 'cancelled'))
        OR (OLD.status = 'unmatched' AND NEW.status IN ('cancelled', 'completed'))) THEN
        RAISE EXCEPTION 'call %: % -> % is not a valid transition', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', TABLE = 'calls', COLUMN = 'status';
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER calls_status_guard BEFORE UPDATE OF status ON calls
    FOR EACH ROW EXECUTE FUNCTION careline_call_status_guard();

-- p_req (validated by the daemon):
--   {"resident_id": int?, "caller_phone": digits, "service": ..., "wanted_at": text?,
--    "notes": text?, "urgency": "normal"|"urgent"?, "duplicate_ok": bool?}
-- The call remembers its dispatch parameters, the operators get
-- call.created, and its first offers go out in this transaction (a call
-- with no candidate turns unmatched there, with call.unmatched). A call
-- with candidates is inserted 'offered' and its offers 'pending', the
-- first of them then sent by careline_offers_send: the call's row is
-- written once.
CREATE OR REPLACE FUNCTION careline_call_create(p_actor text, p_token_id bigint, p_req jsonb,
                                                p_params jsonb, p_idem_key text, p_req_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_reply       jsonb;
    v_resident_id bigint;
    v_phone       text := p_req ->> 'caller_phone';
    v_service     text := p_req ->> 'service';
    v_wanted      timestamptz;
    v_n           int;
    v_cands       jsonb;
    v_open_id     bigint;
    v_call        calls%ROWTYPE;
    v_offers      jsonb;
    v_body        jsonb;
    v_constraint  text;
    v_dispatch    jsonb;
    v_providers   bigint[];     -- the candidates, in rank order
    v_minutes     numeric[];
    v_want        int;          -- offers out at once
    v_send        bigint[];
BEGIN
    IF p_idem_key IS NOT NULL AND (p_token_id IS NULL OR p_req_hash IS NULL) THEN
        RAISE EXCEPTION 'careline_call_create: an idempotency key needs a token id and a request hash'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Bad dispatch parameters are the daemon's bug: fail before any write.
    v_dispatch := careline_dispatch_params(NULL, p_params);

    -- a. Idempotency: a key this token already used answers from its call.
    IF p_idem_key IS NOT NULL THEN
        v_reply := careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        IF v_reply IS NOT NULL THEN
            RETURN v_reply;
        END IF;
    END IF;

    -- b. Whom the call is for.
    IF jsonb_typeof(p_req -> 'resident_id') IS NOT NULL
       AND jsonb_typeof(p_req -> 'resident_id') <> 'null' THEN
        v_resident_id := (p_req ->> 'resident_id')::bigint;
        PERFORM 1 FROM residents r WHERE r.id = v_resident_id;
        IF NOT FOUND THEN
            PERFORM careline_raise('KL404', 'resident_not_found',
                format('There is no resident with id %s.', v_resident_id), 'resident_id');
        END IF;
    ELSE
        SELECT count(*), min(r.id),
               jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'address', r.address)
                         ORDER BY r.id)
        INTO v_n, v_resident_id, v_cands
        FROM residents r WHERE r.phone = v_phone;
        IF v_n = 0 THEN
            PERFORM careline_raise('KL422', 'resident_not_found',
                'No resident is registered with this number; register them first '
                '(or send resident_id if the caller is calling for someone else).',
                'caller_phone');
        ELSIF v_n > 1 THEN
            PERFORM careline_raise('KL422', 'ambiguous_resident',
                format('%s residents share this phone number; choose one and send its resident_id.', v_n),
                'resident_id', jsonb_build_object('candidates', v_cands));
        END IF;
    END IF;

    -- c. One operator at a time per resident: a second operator logging the
    -- same need waits here, then sees the first call.
    SELECT r.phone INTO v_phone FROM residents r WHERE r.id = v_resident_id FOR UPDATE;
    v_phone := coalesce(p_req ->> 'caller_phone', v_phone);

    -- A racing request with the same key waited on the lock above; it is a replay.
    IF p_idem_key IS NOT NULL THEN
        v_reply := careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        IF v_reply IS NOT NULL THEN
            RETURN v_reply;
        END IF;
    END IF;

    IF NOT coalesce((p_req ->> 'duplicate_ok')::boolean, false) THEN
        SELECT c.id INTO v_open_id
        FROM calls c
        WHERE c.resident_id = v_resident_id AND c.service = v_service
          AND c.status IN ('new', 'offered', 'accepted', 'unmatched')
        ORDER BY c.id DESC
        LIMIT 1;
        IF FOUND THEN
            PERFORM careline_raise('KL409', 'duplicate_call',
                format('Resident %s already has an open %s call (#%s); '
                       'send "duplicate_ok": true to log another one.',
                       v_resident_id, v_service, v_open_id),
                'service', jsonb_build_object('open_call', careline_call_json(v_open_id)));
        END IF;
    END IF;

    -- d. The ranked candidates, then the call: offered from its first row
    -- when there is one (matching returns only available providers).
    v_wanted := coalesce((p_req ->> 'wanted_at')::timestamptz, now());
    SELECT array_agg(m.provider_id ORDER BY m.rank), array_agg(m.travel_minutes ORDER BY m.rank)
    INTO v_providers, v_minutes
    FROM careline_match(v_resident_id, v_service, v_wanted, p_params) AS m;
    BEGIN
        INSERT INTO calls (resident_id, caller_phone, service, wanted_at, notes, urgency,
                           status, created_by, idempotency_key, request_hash, dispatch_params)
        VALUES (v_resident_id, v_phone, v_service, v_wanted,
                coalesce(p_req ->> 'notes', ''), coalesce(p_req ->> 'urgency', 'normal'),
                CASE WHEN v_providers IS NULL THEN 'new' ELSE 'offered' END,
                p_token_id, p_idem_key,
                CASE WHEN p_idem_key IS NOT NULL THEN p_req_hash END, v_dispatch)
        RETURNING * INTO v_call;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint = 'calls_idempotency_key' THEN
            -- The same key raced in for another resident and committed first.
            RETURN careline_call_replay(p_token_id, p_idem_key, p_req_hash);
        END IF;
        RAISE;
    END;

    v_want := CASE v_dispatch ->> 'strategy'
                  WHEN 'broadcast' THEN (v_dispatch ->> 'broadcast_k')::int ELSE 1 END;
    WITH ins AS (
        INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status)
        SELECT v_call.id, u.provider_id, u.rank, u.travel_minutes, 'pending'
        FROM unnest(v_providers, v_minutes) WITH ORDINALITY AS u(provider_id, travel_minutes, rank)
        ORDER BY u.rank
        RETURNING offers.id, offers.provider_id, offers.rank, offers.travel_minutes
    )
    SELECT jsonb_agg(jsonb_build_object('provider_id', i.provider_id, 'rank', i.rank,
                                        'travel_minutes', i.travel_minutes) ORDER BY i.rank),
           array_agg(i.id ORDER BY i.rank) FILTER (WHERE i.rank <= v_want)
    INTO v_offers, v_send
    FROM ins i;

    INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
    VALUES (p_actor, 'call.create', 'call', v_call.id, NULL,
            (to_jsonb(v_call) - 'response' - 'request_hash')
            || jsonb_build_object('candidates', coalesce(v_offers, '[]'::jsonb)));
    PERFORM careline_event('call.created', v_call.id,
        jsonb_build_object('service', v_call.service, 'urgency', v_call.urgency,
                           'candidates', coalesce(jsonb_array_length(v_offers), 0)));

    -- e. The first offers go out in this transaction: the call was just
    -- inserted (no one else sees it, nothing is out), so careline_dispatch's
    -- checks have nothing to find. With no candidate it turns the call
    -- unmatched.
    IF v_send IS NOT NULL THEN
        PERFORM careline_offers_send(v_call.id, v_send, v_dispatch);
    ELSE
        PERFORM careline_dispatch(v_call.id, p_params);
    END IF;

    -- f. The answer, kept for replays.
    v_body := careline_call_json(v_call.id);
    IF p_idem_key IS NOT NULL THEN
        UPDATE calls SET response = v_body WHERE id = v_call.id;
    END IF;
    RETURN jsonb_build_object('status', 201, 'body', v_body);
END;
$$;

-- 'cancel':   new | offered | accepted | unmatched -> cancelled
-- 'complete': accepted -> completed (the accepted offer gets completed_at);
--             new | offered | unmatched -> completed as an operator's override.
-- Either way the call's pending and offered offers are cancelled. The
-- outbox: on a cancel, every provider whose offer was
-- out ('offered') or won ('accepted') gets offer.cancelled (reason
-- 'call_cancelled') and the accepted offer is cancelled too; on an
-- operator's complete, offers still out get offer.cancelled (reason
-- 'call_completed'). Pending offers were never sent: cancelled silently.
CREATE OR REPLACE FUNCTION careline_call_transition(p_actor text, p_call_id bigint,
                                                    p_action text, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_call       calls%ROWTYPE;
    v_to         text;
    v_why        text;
    v_told       bigint[];      -- offers whose providers are told
    v_cancelled  bigint[];      -- offers withdrawn
    v_completed  bigint[];      -- the accepted offer that is now done
    v_id         bigint;
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('cancel', 'complete') THEN
        PERFORM careline_raise('KL422', 'invalid_action',
            'action must be cancel or complete.', 'action');
    END IF;

    SELECT * INTO v_call FROM calls WHERE id = p_call_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'call_not_found',
            format('There is no call with id %s.', p_call_id), NULL);
    END IF;
    IF v_call.status NOT IN ('new', 'offered', 'accepted', 'unmatched') THEN
        PERFORM careline_raise('KL409', 'invalid_transition',
            format('Call %s is already %s; it cannot be %s.', p_call_id, v_call.status,
                   CASE p_action WHEN 'cancel' THEN 'cancelled' ELSE 'completed' END),
            NULL, jsonb_build_object('call', careline_call_json(p_call_id)));
    END IF;
    v_to := CASE p_action WHEN 'cancel' THEN 'cancelled' ELSE 'completed' END;
    v_why := CASE p_action WHEN 'cancel' THEN 'call_cancelled' ELSE 'call_completed' END;

    SELECT array_agg(o.id ORDER BY o.id) INTO v_told
    FROM offers o
    WHERE o.call_id = p_call_id
      AND (o.status = 'offered' OR (p_action = 'cancel' AND o.status = 'accepted'));

    WITH u AS (
        UPDATE offers SET status = 'cancelled', reason = v_why
        WHERE call_id = p_call_id
          AND (status IN ('pending', 'offered') OR (p_action = 'cancel' AND status = 'accepted'))
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO v_cancelled FROM u;

    IF v_to = 'completed' THEN
        WITH u AS (
            UPDATE offers SET completed_at = now()
            WHERE call_id = p_call_id AND status = 'accepted' AND completed_at IS NULL
            RETURNING id
        )
        SELECT array_agg(id ORDER BY id) INTO v_completed FROM u;
    END IF;

    UPDATE calls SET status = v_to, closed_at = now() WHERE id = p_call_id;

    -- OUTBOX: tell the providers here, in this transaction.
    FOREACH v_id IN ARRAY coalesce(v_told, '{}') LOOP
        PERFORM careline_outbox_offer_cancelled(v_id, v_why);
    END LOOP;

    PERFORM careline_audit(p_actor, 'call.' || p_action, 'call', p_call_id,
        jsonb_build_object('status', v_call.status),
        jsonb_build_object('status', v_to, 'reason', p_reason,
                           'cancelled_offers', coalesce(to_jsonb(v_cancelled), '[]'::jsonb),
                           'completed_offers', coalesce(to_jsonb(v_completed), '[]'::jsonb)));
    PERFORM careline_event('call.' || v_to, p_call_id,
        jsonb_build_object('from', v_call.status,
                           'cancelled_offers', coalesce(to_jsonb(v_cancelled), '[]'::jsonb),
                           'notified_offers', coalesce(to_jsonb(v_told), '[]'::jsonb)));

    RETURN jsonb_build_object('status', 200, 'body', careline_call_json(p_call_id));
END;
$$;

-- careline_call_json runs inside every call's transaction and every
-- GET; as a SQL function with its own search_path PostgreSQL planned it
-- afresh on each use (0.8 of 2.1 ms per call, measured by make bench).
-- The same query in PL/pgSQL keeps its plan for the connection's life.
CREATE OR REPLACE FUNCTION careline_call_json(p_call_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb;
BEGIN
    SELECT jsonb_build_object(
        'id', c.id,
        'resident_id', c.resident_id,
        'caller_phone', c.caller_phone,
        'service', c.service,
        'wanted_at', c.wanted_at,
        'notes', c.notes,
        'urgency', c.urgency,
        'status', c.status,
        'created_at', c.created_at,
        'updated_at', c.updated_at,
        'closed_at', c.closed_at,
        'resident', jsonb_build_object('id', r.id, 'name', r.name, 'community', co.name),
        'candidates', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'offer_id', o.id,
                       'rank', o.rank,
                       'provider_id', o.provider_id,
                       'provider_name', p.name,
                       'travel_minutes', o.travel_minutes,
                       'status', o.status,
                       'respond_by', o.respond_by) ORDER BY o.rank)
            FROM offers o JOIN providers p ON p.id = o.provider_id
            WHERE o.call_id = c.id), '[]'::jsonb),
        'accepted_provider', (
            SELECT jsonb_build_object('id', p.id, 'name', p.name)
            FROM offers o JOIN providers p ON p.id = o.provider_id
            WHERE o.call_id = c.id AND o.status = 'accepted'),
        'deliveries', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', d.id,
                       'event_type', d.event_type,
                       'provider_id', d.provider_id,
                       'status', d.status,
                       'attempts', d.attempts,
                       'last_http_status', d.last_http_status,
                       'last_error', d.last_error,
                       'delivered_at', d.delivered_at,
                       'attempts_log', coalesce((
                           SELECT jsonb_agg(jsonb_build_object(
                                      'attempt', a.attempt,
                                      'http_status', a.http_status,
                                      'error', a.error,
                                      'started_at', a.started_at,
                                      'duration_ms', a.duration_ms) ORDER BY a.attempt)
                           FROM delivery_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb))
                   ORDER BY d.id)
            FROM offers o JOIN deliveries d ON d.offer_id = o.id
            WHERE o.call_id = c.id), '[]'::jsonb))
    INTO v
    FROM calls c
    JOIN residents r ON r.id = c.resident_id
    LEFT JOIN communities co ON co.id = r.community_id
    WHERE c.id = p_call_id;
    RETURN v;
END;
$$;

-- What a console shows for a ring: the number and who it may be (ids).
CREATE OR REPLACE FUNCTION careline_ringing_get(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(
        (SELECT jsonb_build_object('status', 200, 'body', jsonb_build_object(
                    'id', g.id, 'at', g.at, 'phone', g.phone,
                    'resident_ids', to_jsonb(g.resident_ids)))
         FROM ringings g WHERE g.id = p_id),
        careline_raise('KL404', 'ringing_not_found',
                       format('There is no ringing with id %s.', p_id), NULL));
$$;

-- GET /v1/calls/{id}: the call carries its resident's name.
CREATE OR REPLACE FUNCTION careline_call_read(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_call_json(p_id);
BEGIN
    IF v IS NULL THEN
        PERFORM careline_raise('KL404', 'call_not_found', 'no call with this id', NULL);
    END IF;
    PERFORM careline_resident_reads_record(p_actor, p_route,
                                           ARRAY[(v ->> 'resident_id')::bigint]);
    RETURN jsonb_build_object('status', 200, 'body', v);
END;
$$;

-- GET /v1/calls: one row per resident on the page, however many calls.
CREATE OR REPLACE FUNCTION careline_call_list_read(p_actor text, p_route text,
                                        p_status text, p_service text, p_resident_id bigint,
                                        p_since timestamptz, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := careline_call_list(p_status, p_service, p_resident_id, p_since,
                                  p_limit, p_before_id);
BEGIN
    PERFORM careline_resident_reads_record(p_actor, p_route, ARRAY(
        SELECT (e ->> 'resident_id')::bigint FROM jsonb_array_elements(v -> 'items') e));
    RETURN v;
END;
$$;

-- The PBX's caller-ID lookup is a read of the residents it names.
-- POST /v1/ringing answers with their cards, so it records one
-- resident_reads row per resident, like every other route that answers
-- with a person (privacy.sql). The console's GET /v1/ringing/{id} gives only the
-- number and ids; the cards it then fetches are recorded by their route.
-- The audit row of a ring names the ringings row and the residents, not
-- the number: the audit log is kept for years, the number for a day.
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
    -- The PBX's answer shows who they may be: a read of each (PIPL).
    PERFORM careline_resident_reads_record(p_actor, 'POST /v1/ringing', v_ids);
    PERFORM careline_event('call.ringing', NULL, jsonb_build_object(
        'ringing_id', v_ringing, 'resident_ids', to_jsonb(v_ids)));
    -- The audit log is kept for years; the number only a day (ringings).
    PERFORM careline_audit(p_actor, 'call.ringing', 'resident', NULL, NULL,
                           jsonb_build_object('ringing_id', v_ringing,
                               'resident_ids', to_jsonb(v_ids)));
    RETURN jsonb_build_object('status', 202, 'body', jsonb_build_object(
        'ringing_id', v_ringing, 'phone', p_phone,
        'residents', v_residents));
END;
$$;
