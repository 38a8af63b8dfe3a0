-- 0003_offers.sql — offers over signed webhooks: dispatch (cascade and
-- broadcast), answers by link or token, offer timers, the delivery outbox
-- with leases and fencing, and the operators' event stream.
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here).
--
-- Conventions are those of 0002 (jsonb {"status", "body"} replies, errors
-- {"error": {"code", "message", "field"}}, one audit row per change, actors
-- 'token:N'; changes the daemon makes on its own are audited as 'system').
--
-- p_params, passed by the daemon to every function that may move a call on:
--   {"strategy": "cascade"|"broadcast", "offer_timeout_ms": 120000,
--    "broadcast_k": 3, "public_url": "http://127.0.0.1:8080",
--    "retry_ms": [5000, 30000, 120000, 600000, 1800000], ...matching keys}
-- A call keeps the strategy it was created with (calls.dispatch_params);
-- timeout, k and public_url follow the daemon's current configuration and
-- fall back to what the call was created with when p_params is NULL (the
-- delivery claim has no p_params).
--
-- Lock order, for every function that takes more than one lock:
--   deliveries (by id), then calls (by id), then their offers, then
--   providers (by id). Nobody waits on a delivery row while holding a call:
--   whoever holds a call only inserts deliveries. The fairness stamp
--   providers.last_offered_at is written with SKIP LOCKED, never waited for.
--
-- Statuses (enforced by triggers below):
--   call:  new -> offered -> accepted -> completed; new|offered|accepted|
--          unmatched -> cancelled; new|offered -> unmatched; new|offered|
--          unmatched -> completed (an operator's override, as in 0002).
--   offer: pending -> offered -> accepted | declined | expired | cancelled;
--          pending -> cancelled (never sent); accepted -> cancelled (the
--          call was cancelled after the accept).

-- ---------------------------------------------------------------------------
-- Schema.

-- One-time answer link of an offer: only its SHA-256 is kept; the link
-- expires with the offer (respond_by) and is spent by the first answer.
ALTER TABLE offers
    ADD COLUMN link_hash bytea CHECK (octet_length(link_hash) = 32),
    ADD COLUMN link_used_at timestamptz;

-- What the call was dispatched with (strategy, timeout, k, public_url).
ALTER TABLE calls
    ADD COLUMN dispatch_params jsonb
        CHECK (dispatch_params IS NULL OR jsonb_typeof(dispatch_params) = 'object');

-- Operators' event stream (the console follows it by id).
CREATE TABLE events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    type     text NOT NULL CHECK (type ~ '^[a-z]+(\.[a-z_]+)+$'),
    call_id  bigint REFERENCES calls (id) ON DELETE SET NULL,
    data     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object')
);
CREATE INDEX events_call_idx ON events (call_id, id);

-- Lists: newest first, by status or by provider.
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id);
CREATE INDEX deliveries_provider_id_idx ON deliveries (provider_id, id);
-- Leases in flight: careline_next_due wants the earliest expiry.
CREATE INDEX deliveries_lease_idx ON deliveries (lease_expires_at)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Transitions, enforced whatever code path writes the row.

CREATE FUNCTION careline_call_status_guard() RETURNS trigger
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
CREATE TRIGGER calls_status_guard BEFORE UPDATE OF status ON calls
    FOR EACH ROW EXECUTE FUNCTION careline_call_status_guard();

CREATE FUNCTION careline_offer_status_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'pending'  AND NEW.status IN ('offered', 'cancelled'))
        OR (OLD.status = 'offered'  AND NEW.status IN ('accepted', 'declined', 'expired', 'cancelled'))
        OR (OLD.status = 'accepted' AND NEW.status = 'cancelled')) THEN
        RAISE EXCEPTION 'offer %: % -> % is not a valid transition', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', TABLE = 'offers', COLUMN = 'status';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER offers_status_guard BEFORE UPDATE OF status ON offers
    FOR EACH ROW EXECUTE FUNCTION careline_offer_status_guard();

-- ---------------------------------------------------------------------------
-- Wake-ups. NOTIFY is sent at commit; identical payloads in one transaction
-- fold into one.

CREATE FUNCTION careline_deliveries_wake() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('careline_deliveries', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER deliveries_wake_insert AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION careline_deliveries_wake();
CREATE TRIGGER deliveries_wake_update AFTER UPDATE ON deliveries
    FOR EACH ROW
    WHEN (NEW.status = 'pending'
          AND (OLD.status <> 'pending' OR NEW.next_attempt_at < OLD.next_attempt_at))
    EXECUTE FUNCTION careline_deliveries_wake();

-- An event for the operators; returns its id.
CREATE FUNCTION careline_event(p_type text, p_call_id bigint, p_data jsonb)
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

-- ---------------------------------------------------------------------------
-- JSON of offers and deliveries (no payloads: those may carry personal data).

CREATE FUNCTION careline_offer_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', o.id, 'call_id', o.call_id, 'provider_id', o.provider_id,
        'rank', o.rank, 'travel_minutes', o.travel_minutes, 'status', o.status,
        'respond_by', o.respond_by, 'offered_at', o.offered_at,
        'answered_at', o.answered_at, 'reason', o.reason,
        'arrived_at', o.arrived_at, 'completed_at', o.completed_at)
    FROM offers o WHERE o.id = p_id;
$$;

CREATE FUNCTION careline_delivery_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'event_id', d.event_id, 'event_type', d.event_type,
        'provider_id', d.provider_id, 'provider_name', p.name,
        'offer_id', d.offer_id, 'call_id', o.call_id, 'status', d.status,
        'attempts', d.attempts, 'next_attempt_at', d.next_attempt_at,
        'last_http_status', d.last_http_status, 'last_error', d.last_error,
        'created_at', d.created_at, 'delivered_at', d.delivered_at)
    FROM deliveries d
    JOIN providers p ON p.id = d.provider_id
    LEFT JOIN offers o ON o.id = d.offer_id
    WHERE d.id = p_id;
$$;

-- ---------------------------------------------------------------------------
-- Parameters.

-- The dispatch parameters in force for a call: the call's own strategy,
-- the rest from p_params, else from the call, else the defaults.
CREATE FUNCTION careline_dispatch_params(p_stored jsonb, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_s jsonb := coalesce(p_stored, '{}'::jsonb);
    v_p jsonb := coalesce(p_params, '{}'::jsonb);
    v_strategy text := coalesce(v_s ->> 'strategy', v_p ->> 'strategy', 'cascade');
    v_timeout  bigint := coalesce((v_p ->> 'offer_timeout_ms')::bigint,
                                  (v_s ->> 'offer_timeout_ms')::bigint, 120000);
    v_k        int := coalesce((v_p ->> 'broadcast_k')::int, (v_s ->> 'broadcast_k')::int, 3);
    v_url      text := rtrim(coalesce(v_p ->> 'public_url', v_s ->> 'public_url',
                                      'http://127.0.0.1:8080'), '/');
BEGIN
    IF v_strategy NOT IN ('cascade', 'broadcast') THEN
        RAISE EXCEPTION 'strategy must be cascade or broadcast, not %', v_strategy
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_timeout < 1000 OR v_timeout > 86400000 THEN
        RAISE EXCEPTION 'offer_timeout_ms must be between 1000 and 86400000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_k < 1 OR v_k > 100 THEN
        RAISE EXCEPTION 'broadcast_k must be between 1 and 100'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_url !~ '^https?://[^[:space:]]+$' THEN
        RAISE EXCEPTION 'public_url must be an http(s) URL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN jsonb_build_object('strategy', v_strategy, 'offer_timeout_ms', v_timeout,
                              'broadcast_k', v_k, 'public_url', v_url);
END;
$$;

-- The retry schedule (ms before retry n), non-empty.
CREATE FUNCTION careline_retry_ms(p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v jsonb := coalesce(p_params -> 'retry_ms', '[5000, 30000, 120000, 600000, 1800000]'::jsonb);
BEGIN
    IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e
                  WHERE jsonb_typeof(e) <> 'number' OR e::text::numeric < 0) THEN
        RAISE EXCEPTION 'retry_ms must be a non-empty array of non-negative numbers'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v;
END;
$$;

-- ---------------------------------------------------------------------------
-- Outbox helpers (the caller holds the call's lock).

-- offer.cancelled to the offer's provider.
CREATE FUNCTION careline_outbox_offer_cancelled(p_offer_id bigint, p_reason text)
RETURNS bigint
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    INSERT INTO deliveries (provider_id, offer_id, event_type, payload)
    SELECT o.provider_id, o.id, 'offer.cancelled',
           jsonb_build_object('type', 'offer.cancelled', 'timestamp', now(),
               'data', jsonb_build_object('offer_id', o.id, 'call_id', o.call_id,
                                          'reason', p_reason))
    FROM offers o WHERE o.id = p_offer_id
    RETURNING id;
$$;

-- ---------------------------------------------------------------------------
-- Dispatch: offer the call to the next candidate(s), or give up.
--
-- cascade: when no offer is out, the lowest-rank pending one is offered.
-- broadcast: when no offer is out, the next broadcast_k pending ones are.
-- A candidate that has since been deactivated or is full is skipped
-- (cancelled, reason 'provider_unavailable', nothing sent). When nothing is
-- out, nothing pending and nothing accepted, the call becomes unmatched.
CREATE FUNCTION careline_dispatch(p_call_id bigint, p_params jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_call     calls%ROWTYPE;
    v_par      jsonb;
    v_want     int;
    v_n        int := 0;
    v_o        record;
    v_token    text;
    v_resp     timestamptz;
    v_base     jsonb;       -- the call's part of offer.created
    v_url      text;
BEGIN
    SELECT * INTO v_call FROM calls WHERE id = p_call_id FOR UPDATE;
    IF NOT FOUND OR v_call.status NOT IN ('new', 'offered') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM offers o WHERE o.call_id = p_call_id
               AND o.status IN ('offered', 'accepted')) THEN
        RETURN;
    END IF;

    v_par := careline_dispatch_params(v_call.dispatch_params, p_params);
    v_want := CASE v_par ->> 'strategy' WHEN 'broadcast' THEN (v_par ->> 'broadcast_k')::int ELSE 1 END;
    v_resp := now() + make_interval(secs => (v_par ->> 'offer_timeout_ms')::bigint / 1000.0);
    v_url := v_par ->> 'public_url';

    -- Need to know: the service, the time, the notes, the community and a
    -- location blurred to ~100 m; no name, phone or address.
    SELECT jsonb_build_object(
               'call_id', c.id, 'service', c.service, 'wanted_at', c.wanted_at,
               'notes', c.notes, 'urgency', c.urgency, 'community', co.name,
               'location', jsonb_build_object(
                   'lat', round(ST_Y(r.location::geometry)::numeric, 3),
                   'lon', round(ST_X(r.location::geometry)::numeric, 3)))
    INTO v_base
    FROM calls c
    JOIN residents r ON r.id = c.resident_id
    LEFT JOIN communities co ON co.id = r.community_id
    WHERE c.id = p_call_id;

    FOR v_o IN
        SELECT o.id, o.provider_id, o.rank, o.travel_minutes, p.active,
               p.capacity - (SELECT count(*) FROM offers b JOIN calls k ON k.id = b.call_id
                             WHERE b.provider_id = p.id AND b.status = 'accepted'
                               AND b.completed_at IS NULL AND k.status = 'accepted') AS spare
        FROM offers o JOIN providers p ON p.id = o.provider_id
        WHERE o.call_id = p_call_id AND o.status = 'pending'
        ORDER BY o.rank
    LOOP
        EXIT WHEN v_n >= v_want;
        IF NOT v_o.active OR v_o.spare <= 0 THEN
            UPDATE offers SET status = 'cancelled', reason = 'provider_unavailable'
            WHERE id = v_o.id;
            PERFORM careline_audit('system', 'offer.skip', 'offer', v_o.id,
                jsonb_build_object('status', 'pending'),
                jsonb_build_object('status', 'cancelled', 'reason', 'provider_unavailable'));
            CONTINUE;
        END IF;

        -- >= 244 random bits; only the hash is stored.
        v_token := encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text,
                                            'UTF8')), 'hex');
        UPDATE offers
        SET status = 'offered', offered_at = now(), respond_by = v_resp,
            link_hash = sha256(convert_to(v_token, 'UTF8')), link_used_at = NULL
        WHERE id = v_o.id;

        INSERT INTO deliveries (provider_id, offer_id, event_type, payload)
        VALUES (v_o.provider_id, v_o.id, 'offer.created',
                jsonb_build_object('type', 'offer.created', 'timestamp', now(),
                    'data', v_base || jsonb_build_object(
                        'offer_id', v_o.id,
                        'travel_minutes', v_o.travel_minutes,
                        'respond_by', v_resp,
                        'accept_url', v_url || '/v1/offers/' || v_o.id || '/accept?t=' || v_token,
                        'decline_url', v_url || '/v1/offers/' || v_o.id || '/decline?t=' || v_token)));

        -- Fairness stamp: best effort, never waited for.
        UPDATE providers SET last_offered_at = now()
        WHERE id = (SELECT x.id FROM providers x WHERE x.id = v_o.provider_id
                    FOR NO KEY UPDATE SKIP LOCKED);

        PERFORM careline_audit('system', 'offer.send', 'offer', v_o.id,
            jsonb_build_object('status', 'pending'),
            jsonb_build_object('status', 'offered', 'respond_by', v_resp,
                               'strategy', v_par ->> 'strategy'));
        PERFORM careline_event('offer.offered', p_call_id,
            jsonb_build_object('offer_id', v_o.id, 'provider_id', v_o.provider_id,
                               'rank', v_o.rank, 'respond_by', v_resp));
        v_n := v_n + 1;
    END LOOP;

    IF v_n > 0 THEN
        IF v_call.status = 'new' THEN
            UPDATE calls SET status = 'offered' WHERE id = p_call_id;
        END IF;
        RETURN;
    END IF;

    -- Nobody left (nothing out, nothing pending, nothing accepted).
    UPDATE calls SET status = 'unmatched' WHERE id = p_call_id;
    PERFORM careline_audit('system', 'call.unmatch', 'call', p_call_id,
        jsonb_build_object('status', v_call.status),
        jsonb_build_object('status', 'unmatched'));
    PERFORM careline_event('call.unmatched', p_call_id,
        jsonb_build_object('candidates',
            (SELECT count(*) FROM offers o WHERE o.call_id = p_call_id)));
END;
$$;

-- ---------------------------------------------------------------------------
-- Calls: create now dispatches; the JSON shows the winner and the outbox.

CREATE OR REPLACE FUNCTION careline_call_json(p_call_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
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
    FROM calls c
    JOIN residents r ON r.id = c.resident_id
    LEFT JOIN communities co ON co.id = r.community_id
    WHERE c.id = p_call_id;
$$;

-- As in 0002, then: the call remembers its dispatch parameters, the
-- operators get call.created, and dispatch starts in this transaction (a
-- call with no candidate turns unmatched there, with call.unmatched).
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
            RETURN careline_error(404, 'resident_not_found',
                format('There is no resident with id %s.', v_resident_id), 'resident_id');
        END IF;
    ELSE
        SELECT count(*), min(r.id),
               jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'address', r.address)
                         ORDER BY r.id)
        INTO v_n, v_resident_id, v_cands
        FROM residents r WHERE r.phone = v_phone;
        IF v_n = 0 THEN
            RETURN careline_error(422, 'resident_not_found',
                'No resident is registered with this number; register them first '
                '(or send resident_id if the caller is calling for someone else).',
                'caller_phone');
        ELSIF v_n > 1 THEN
            RETURN careline_error(422, 'ambiguous_resident',
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
            RETURN careline_error(409, 'duplicate_call',
                format('Resident %s already has an open %s call (#%s); '
                       'send "duplicate_ok": true to log another one.',
                       v_resident_id, v_service, v_open_id),
                'service', jsonb_build_object('open_call', careline_call_json(v_open_id)));
        END IF;
    END IF;

    -- d. The call, then its ranked candidates.
    v_wanted := coalesce((p_req ->> 'wanted_at')::timestamptz, now());
    BEGIN
        INSERT INTO calls (resident_id, caller_phone, service, wanted_at, notes, urgency,
                           status, created_by, idempotency_key, request_hash, dispatch_params)
        VALUES (v_resident_id, v_phone, v_service, v_wanted,
                coalesce(p_req ->> 'notes', ''), coalesce(p_req ->> 'urgency', 'normal'),
                'new', p_token_id, p_idem_key,
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

    WITH ins AS (
        INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status)
        SELECT v_call.id, m.provider_id, m.rank, m.travel_minutes, 'pending'
        FROM careline_match(v_resident_id, v_service, v_wanted, p_params) AS m
        RETURNING offers.provider_id, offers.rank, offers.travel_minutes
    )
    SELECT jsonb_agg(jsonb_build_object('provider_id', i.provider_id, 'rank', i.rank,
                                        'travel_minutes', i.travel_minutes) ORDER BY i.rank)
    INTO v_offers FROM ins i;

    PERFORM careline_audit(p_actor, 'call.create', 'call', v_call.id, NULL,
        (to_jsonb(v_call) - 'response' - 'request_hash')
        || jsonb_build_object('candidates', coalesce(v_offers, '[]'::jsonb)));
    PERFORM careline_event('call.created', v_call.id,
        jsonb_build_object('service', v_call.service, 'urgency', v_call.urgency,
                           'candidates', coalesce(jsonb_array_length(v_offers), 0)));

    -- e. Offers go out (or the call turns unmatched) in this transaction.
    PERFORM careline_dispatch(v_call.id, p_params);

    -- f. The answer, kept for replays.
    v_body := careline_call_json(v_call.id);
    IF p_idem_key IS NOT NULL THEN
        UPDATE calls SET response = v_body WHERE id = v_call.id;
    END IF;
    RETURN jsonb_build_object('status', 201, 'body', v_body);
END;
$$;

-- As in 0002, plus the outbox: on a cancel, every provider whose offer was
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
        RETURN careline_error(422, 'invalid_action',
            'action must be cancel or complete.', 'action');
    END IF;

    SELECT * INTO v_call FROM calls WHERE id = p_call_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'call_not_found',
            format('There is no call with id %s.', p_call_id), NULL);
    END IF;
    IF v_call.status NOT IN ('new', 'offered', 'accepted', 'unmatched') THEN
        RETURN careline_error(409, 'invalid_transition',
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

-- ---------------------------------------------------------------------------
-- A provider answers: accept | decline (by one-time link or token), then
-- arrived | completed (token only).
--
-- p_link_token: the t= of the link; p_provider_id: the provider of the
-- token; both NULL: an operator/admin acting for the provider.
CREATE FUNCTION careline_offer_answer(p_actor text, p_offer_id bigint, p_provider_id bigint,
                                      p_link_token text, p_action text, p_reason text,
                                      p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_call_id   bigint;
    v_call      calls%ROWTYPE;
    v_offer     offers%ROWTYPE;
    v_other     record;
    v_taken     bigint[] := '{}';
    v_dropped   bigint[];
    v_resident  jsonb;
    v_res_id    bigint;
    v_deliv     bigint;
    v_reason    text := left(nullif(btrim(p_reason), ''), 500);
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('accept', 'decline', 'arrived', 'completed') THEN
        RETURN careline_error(422, 'invalid_action',
            'action must be accept, decline, arrived or completed.', 'action');
    END IF;

    SELECT o.call_id INTO v_call_id FROM offers o WHERE o.id = p_offer_id;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'offer_not_found',
            format('There is no offer with id %s.', p_offer_id), NULL);
    END IF;
    -- The call first: racing answers to one call queue up here.
    SELECT * INTO v_call FROM calls WHERE id = v_call_id FOR UPDATE;
    SELECT * INTO v_offer FROM offers WHERE id = p_offer_id FOR UPDATE;

    -- Who may answer.
    IF p_link_token IS NOT NULL THEN
        IF p_action NOT IN ('accept', 'decline') THEN
            RETURN careline_error(403, 'invalid_link',
                'An offer link can only accept or decline; report arrival and completion '
                'with the provider''s token.', NULL);
        END IF;
        IF v_offer.link_hash IS NULL
           OR sha256(convert_to(p_link_token, 'UTF8')) <> v_offer.link_hash THEN
            RETURN careline_error(403, 'invalid_link', 'This link is not valid for this offer.', 't');
        END IF;
        IF v_offer.link_used_at IS NOT NULL THEN
            RETURN careline_error(409, 'link_used',
                'This link has already been used; each offer link works once.', 't',
                jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
        IF now() > v_offer.respond_by THEN
            RETURN careline_error(410, 'link_expired',
                'This offer link has expired; the offer was open until respond_by.', 't',
                jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
    END IF;
    IF p_provider_id IS NOT NULL AND v_offer.provider_id <> p_provider_id THEN
        RETURN careline_error(403, 'not_your_offer',
            'This offer was made to another provider.', NULL);
    END IF;

    IF p_action = 'accept' THEN
        IF v_offer.status <> 'offered' OR v_call.status <> 'offered' THEN
            RETURN careline_error(409, 'offer_not_open',
                format('Offer %s is %s; it can no longer be accepted.', p_offer_id,
                       CASE WHEN v_offer.status = 'offered' THEN 'closed' ELSE v_offer.status END),
                NULL, jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;

        UPDATE offers SET status = 'accepted', answered_at = now(),
                          link_used_at = coalesce(link_used_at, now())
        WHERE id = p_offer_id;
        UPDATE calls SET status = 'accepted' WHERE id = v_call_id;

        -- The others: those out are withdrawn and told, the rest silently.
        FOR v_other IN
            UPDATE offers SET status = 'cancelled', reason = 'taken'
            WHERE call_id = v_call_id AND status = 'offered' AND id <> p_offer_id
            RETURNING id
        LOOP
            PERFORM careline_outbox_offer_cancelled(v_other.id, 'taken');
            v_taken := v_taken || v_other.id;
        END LOOP;
        WITH u AS (
            UPDATE offers SET status = 'cancelled', reason = 'taken'
            WHERE call_id = v_call_id AND status = 'pending'
            RETURNING id
        )
        SELECT array_agg(id ORDER BY id) INTO v_dropped FROM u;

        -- Now, and only now, this provider learns who and where.
        SELECT r.id,
               jsonb_build_object('name', r.name, 'phone', r.phone, 'address', r.address,
                                  'lat', ST_Y(r.location::geometry),
                                  'lon', ST_X(r.location::geometry),
                                  'community', co.name)
        INTO v_res_id, v_resident
        FROM residents r LEFT JOIN communities co ON co.id = r.community_id
        WHERE r.id = v_call.resident_id;

        INSERT INTO deliveries (provider_id, offer_id, event_type, payload)
        VALUES (v_offer.provider_id, p_offer_id, 'offer.confirmed',
                jsonb_build_object('type', 'offer.confirmed', 'timestamp', now(),
                    'data', jsonb_build_object(
                        'offer_id', p_offer_id, 'call_id', v_call_id,
                        'service', v_call.service, 'wanted_at', v_call.wanted_at,
                        'notes', v_call.notes, 'resident', v_resident)))
        RETURNING id INTO v_deliv;

        PERFORM careline_audit(p_actor, 'offer.accept', 'offer', p_offer_id,
            jsonb_build_object('status', 'offered'),
            jsonb_build_object('status', 'accepted', 'call_id', v_call_id,
                               'provider_id', v_offer.provider_id,
                               'by_link', p_link_token IS NOT NULL,
                               'cancelled_offers', to_jsonb(v_taken),
                               'dropped_offers', coalesce(to_jsonb(v_dropped), '[]'::jsonb)));
        PERFORM careline_audit(p_actor, 'resident.read', 'resident', v_res_id, NULL,
            jsonb_build_object('fields', jsonb_build_array('name', 'phone', 'address',
                                                           'location', 'community'),
                               'purpose', 'offer.accept', 'call_id', v_call_id,
                               'offer_id', p_offer_id, 'provider_id', v_offer.provider_id,
                               'disclosed_via', jsonb_build_array('accept_response',
                                                                  'offer.confirmed'),
                               'delivery_id', v_deliv));
        PERFORM careline_event('offer.accepted', v_call_id,
            jsonb_build_object('offer_id', p_offer_id, 'provider_id', v_offer.provider_id,
                               'cancelled_offers', to_jsonb(v_taken)));

        RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
            'offer', careline_offer_json(p_offer_id),
            'call_id', v_call_id,
            'resident', v_resident));

    ELSIF p_action = 'decline' THEN
        IF v_offer.status <> 'offered' THEN
            RETURN careline_error(409, 'offer_not_open',
                format('Offer %s is %s; it can no longer be declined.', p_offer_id, v_offer.status),
                NULL, jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
        UPDATE offers SET status = 'declined', answered_at = now(), reason = v_reason,
                          link_used_at = coalesce(link_used_at, now())
        WHERE id = p_offer_id;
        PERFORM careline_audit(p_actor, 'offer.decline', 'offer', p_offer_id,
            jsonb_build_object('status', 'offered'),
            jsonb_build_object('status', 'declined', 'reason', v_reason,
                               'by_link', p_link_token IS NOT NULL));
        PERFORM careline_event('offer.declined', v_call_id,
            jsonb_build_object('offer_id', p_offer_id, 'provider_id', v_offer.provider_id));
        PERFORM careline_dispatch(v_call_id, p_params);

    ELSIF p_action = 'arrived' THEN
        IF v_offer.status <> 'accepted' OR v_call.status <> 'accepted' THEN
            RETURN careline_error(409, 'offer_not_accepted',
                format('Offer %s is %s (call %s); arrival is reported on an accepted job.',
                       p_offer_id, v_offer.status, v_call.status),
                NULL, jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
        IF v_offer.arrived_at IS NULL THEN
            UPDATE offers SET arrived_at = now() WHERE id = p_offer_id;
            PERFORM careline_audit(p_actor, 'offer.arrive', 'offer', p_offer_id,
                jsonb_build_object('arrived_at', NULL), jsonb_build_object('arrived_at', now()));
            PERFORM careline_event('offer.arrived', v_call_id,
                jsonb_build_object('offer_id', p_offer_id, 'provider_id', v_offer.provider_id));
        END IF;

    ELSE -- completed
        IF v_offer.status = 'accepted' AND v_offer.completed_at IS NOT NULL
           AND v_call.status = 'completed' THEN
            NULL;   -- said twice: the same answer
        ELSIF v_offer.status <> 'accepted' OR v_call.status <> 'accepted' THEN
            RETURN careline_error(409, 'offer_not_accepted',
                format('Offer %s is %s (call %s); only an accepted job can be completed.',
                       p_offer_id, v_offer.status, v_call.status),
                NULL, jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        ELSE
            UPDATE offers SET completed_at = now() WHERE id = p_offer_id;
            UPDATE calls SET status = 'completed', closed_at = now() WHERE id = v_call_id;
            PERFORM careline_audit(p_actor, 'offer.complete', 'offer', p_offer_id,
                jsonb_build_object('completed_at', NULL), jsonb_build_object('completed_at', now()));
            PERFORM careline_audit(p_actor, 'call.complete', 'call', v_call_id,
                jsonb_build_object('status', 'accepted'),
                jsonb_build_object('status', 'completed', 'completed_offers',
                                   jsonb_build_array(p_offer_id)));
            PERFORM careline_event('call.completed', v_call_id,
                jsonb_build_object('from', 'accepted', 'offer_id', p_offer_id,
                                   'provider_id', v_offer.provider_id));
        END IF;
    END IF;

    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'offer', careline_offer_json(p_offer_id), 'call_id', v_call_id));
END;
$$;

-- ---------------------------------------------------------------------------
-- Offer timers: open offers past respond_by expire, their providers are
-- told, and the call moves on. Calls being worked on by someone else are
-- skipped (SKIP LOCKED) and come back on the next run.
CREATE FUNCTION careline_offers_expire(p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_calls  bigint[];
    v_call   bigint;
    v_o      record;
    v_n      int := 0;
BEGIN
    -- Lock the calls of up to 500 due offers (the call lock guards its offers).
    SELECT array_agg(DISTINCT s.call_id ORDER BY s.call_id) INTO v_calls
    FROM (SELECT o.call_id
          FROM offers o JOIN calls c ON c.id = o.call_id
          WHERE o.status = 'offered' AND o.respond_by <= now()
          ORDER BY o.respond_by
          LIMIT 500
          FOR UPDATE OF c SKIP LOCKED) s;

    FOREACH v_call IN ARRAY coalesce(v_calls, '{}') LOOP
        FOR v_o IN
            UPDATE offers SET status = 'expired', reason = 'expired'
            WHERE call_id = v_call AND status = 'offered' AND respond_by <= now()
            RETURNING id, provider_id
        LOOP
            PERFORM careline_outbox_offer_cancelled(v_o.id, 'expired');
            PERFORM careline_audit('system', 'offer.expire', 'offer', v_o.id,
                jsonb_build_object('status', 'offered'),
                jsonb_build_object('status', 'expired', 'reason', 'expired'));
            PERFORM careline_event('offer.expired', v_call,
                jsonb_build_object('offer_id', v_o.id, 'provider_id', v_o.provider_id,
                                   'reason', 'expired'));
            v_n := v_n + 1;
        END LOOP;
        PERFORM careline_dispatch(v_call, p_params);
    END LOOP;

    RETURN jsonb_build_object('expired', v_n,
        'next_due', (SELECT min(o.respond_by) FROM offers o WHERE o.status = 'offered'));
END;
$$;

-- ---------------------------------------------------------------------------
-- Dead letters: what follows when deliveries die (the caller holds the
-- delivery rows; calls are locked here, in id order).
--   * event delivery.dead, always;
--   * an offer.created whose offer is still out: the offer expires (reason
--     'undeliverable') and the call moves on.
CREATE FUNCTION careline_deliveries_dead_letter(p_ids bigint[], p_params jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_d     record;
    v_call  bigint;
    v_o     record;
BEGIN
    FOR v_call IN
        SELECT DISTINCT o.call_id FROM deliveries d JOIN offers o ON o.id = d.offer_id
        WHERE d.id = ANY (p_ids) ORDER BY o.call_id
    LOOP
        PERFORM 1 FROM calls WHERE id = v_call FOR UPDATE;
        FOR v_d IN
            SELECT d.id, d.event_type, d.provider_id, d.offer_id, d.attempts,
                   d.last_http_status, d.last_error
            FROM deliveries d JOIN offers o ON o.id = d.offer_id
            WHERE d.id = ANY (p_ids) AND o.call_id = v_call
            ORDER BY d.id
        LOOP
            PERFORM careline_event('delivery.dead', v_call,
                jsonb_build_object('delivery_id', v_d.id, 'event_type', v_d.event_type,
                                   'provider_id', v_d.provider_id, 'offer_id', v_d.offer_id,
                                   'attempts', v_d.attempts,
                                   'last_http_status', v_d.last_http_status,
                                   'last_error', v_d.last_error));
            IF v_d.event_type = 'offer.created' THEN
                FOR v_o IN
                    UPDATE offers SET status = 'expired', reason = 'undeliverable'
                    WHERE id = v_d.offer_id AND status = 'offered'
                    RETURNING id, provider_id
                LOOP
                    PERFORM careline_audit('system', 'offer.expire', 'offer', v_o.id,
                        jsonb_build_object('status', 'offered'),
                        jsonb_build_object('status', 'expired', 'reason', 'undeliverable',
                                           'delivery_id', v_d.id));
                    PERFORM careline_event('offer.expired', v_call,
                        jsonb_build_object('offer_id', v_o.id, 'provider_id', v_o.provider_id,
                                           'reason', 'undeliverable'));
                END LOOP;
            END IF;
        END LOOP;
        PERFORM careline_dispatch(v_call, p_params);
    END LOOP;

    -- Deliveries not tied to an offer (none today) still raise the alarm.
    FOR v_d IN
        SELECT d.id, d.event_type, d.provider_id, d.attempts, d.last_http_status, d.last_error
        FROM deliveries d WHERE d.id = ANY (p_ids) AND d.offer_id IS NULL ORDER BY d.id
    LOOP
        PERFORM careline_event('delivery.dead', NULL,
            jsonb_build_object('delivery_id', v_d.id, 'event_type', v_d.event_type,
                               'provider_id', v_d.provider_id, 'offer_id', NULL,
                               'attempts', v_d.attempts,
                               'last_http_status', v_d.last_http_status,
                               'last_error', v_d.last_error));
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- Sending: claim, then record.
--
-- Claims up to p_limit due deliveries for p_lease_ms under a new fencing
-- token (attempt = the attempt being made). Never waits: rows locked by
-- another claimer are skipped. Due rows that must not be sent are settled
-- here instead of returned:
--   * the provider has no webhook_url or its endpoint is disabled: dead
--     ('no endpoint'), with the dead-letter consequences;
--   * an offer.created whose offer is no longer out (answered, expired,
--     cancelled before it could be sent): dead ('superseded: ...'), nothing
--     else follows (the provider gets, or got, offer.cancelled).
CREATE FUNCTION careline_deliveries_claim(p_owner text, p_limit int, p_lease_ms int)
RETURNS TABLE (id bigint, event_id text, lease_token bigint, attempt int, event_type text,
               url text, secret text, secret_previous text, payload text)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit   int := least(greatest(coalesce(p_limit, 50), 1), 1000);
    v_ids     bigint[];
    v_noend   bigint[];
    v_stale   bigint[];
BEGIN
    IF p_owner IS NULL OR p_lease_ms IS NULL OR p_lease_ms < 1 THEN
        RAISE EXCEPTION 'careline_deliveries_claim: owner and a positive lease are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT array_agg(s.id) INTO v_ids
    FROM (SELECT d.id FROM deliveries d
          WHERE d.status = 'pending' AND d.next_attempt_at <= now()
            AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
          ORDER BY d.next_attempt_at
          LIMIT v_limit
          FOR UPDATE SKIP LOCKED) s;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    SELECT array_agg(d.id ORDER BY d.id) FILTER (
               WHERE p.webhook_url IS NULL OR p.endpoint_disabled_at IS NOT NULL),
           array_agg(d.id ORDER BY d.id) FILTER (
               WHERE p.webhook_url IS NOT NULL AND p.endpoint_disabled_at IS NULL
                 AND d.event_type = 'offer.created' AND o.status IS DISTINCT FROM 'offered')
    INTO v_noend, v_stale
    FROM deliveries d
    JOIN providers p ON p.id = d.provider_id
    LEFT JOIN offers o ON o.id = d.offer_id
    WHERE d.id = ANY (v_ids);

    IF v_stale IS NOT NULL THEN
        UPDATE deliveries d
        SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL,
            last_error = 'superseded: the offer closed before it was delivered'
        WHERE d.id = ANY (v_stale);
    END IF;
    IF v_noend IS NOT NULL THEN
        UPDATE deliveries d
        SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL,
            last_error = 'no endpoint'
        WHERE d.id = ANY (v_noend);
        PERFORM careline_deliveries_dead_letter(v_noend, NULL);
    END IF;

    RETURN QUERY
    WITH c AS (
        UPDATE deliveries d
        SET lease_owner = p_owner,
            lease_token = d.lease_token + 1,
            lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0),
            attempts = d.attempts + 1
        WHERE d.id = ANY (v_ids)
          AND NOT d.id = ANY (coalesce(v_noend, '{}') || coalesce(v_stale, '{}'))
        RETURNING d.id, d.event_id, d.lease_token, d.attempts, d.event_type,
                  d.provider_id, d.payload, d.next_attempt_at
    )
    SELECT c.id, c.event_id, c.lease_token, c.attempts, c.event_type,
           p.webhook_url, p.webhook_secret,
           CASE WHEN p.webhook_secret_rotated_at > now() - interval '24 hours'
                THEN p.webhook_secret_previous END,
           c.payload::text
    FROM c JOIN providers p ON p.id = c.provider_id
    ORDER BY c.next_attempt_at, c.id;
END;
$$;

-- Records a batch of attempt results:
--   [{"id", "lease_token", "outcome": "delivered"|"retry"|"dead"|"gone",
--     "http_status", "error", "retry_after_ms", "started_at", "duration_ms"}]
-- A result applies only while its row is pending and still leased under its
-- lease_token (fencing); anything else is stale and ignored. Returns
-- {"applied": n, "stale": m}.
CREATE FUNCTION careline_deliveries_record(p_results jsonb, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_retry    jsonb := careline_retry_ms(p_params);
    v_max      int := jsonb_array_length(v_retry) + 1;
    v_cap      numeric := (SELECT max(e::text::numeric) FROM jsonb_array_elements(v_retry) e);
    v_r        record;
    v_d        deliveries%ROWTYPE;
    v_applied  int := 0;
    v_stale    int := 0;
    v_attempt  int;
    v_started  timestamptz;
    v_delay    numeric;
    v_dead     bigint[] := '{}';
    v_gone     bigint[] := '{}';   -- providers whose endpoint said 410
    v_seen     jsonb := '[]';      -- [{provider_id, at, ok}] for the failing flags
    v_p        record;
BEGIN
    IF p_results IS NULL OR jsonb_typeof(p_results) <> 'array' THEN
        RAISE EXCEPTION 'careline_deliveries_record: p_results must be an array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Deliveries first, in id order.
    PERFORM 1 FROM deliveries d
    WHERE d.id IN (SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(p_results) e)
    ORDER BY d.id
    FOR UPDATE;

    FOR v_r IN
        SELECT x.*
        FROM ROWS FROM (jsonb_to_recordset(p_results)
                 AS (id bigint, lease_token bigint, outcome text, http_status int, error text,
                     retry_after_ms bigint, started_at timestamptz, duration_ms int))
             WITH ORDINALITY AS x(id, lease_token, outcome, http_status, error,
                                  retry_after_ms, started_at, duration_ms, ord)
        ORDER BY x.id, x.ord
    LOOP
        IF v_r.outcome IS NULL OR v_r.outcome NOT IN ('delivered', 'retry', 'dead', 'gone') THEN
            RAISE EXCEPTION 'careline_deliveries_record: unknown outcome %', v_r.outcome
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT * INTO v_d FROM deliveries d WHERE d.id = v_r.id;
        IF NOT FOUND OR v_d.status <> 'pending' OR v_d.lease_owner IS NULL
           OR v_d.lease_token IS DISTINCT FROM v_r.lease_token THEN
            v_stale := v_stale + 1;
            CONTINUE;
        END IF;
        v_applied := v_applied + 1;

        -- The log keeps counting across an admin's re-send (attempts restarts at 0).
        SELECT greatest(v_d.attempts, coalesce(max(a.attempt), 0) + 1) INTO v_attempt
        FROM delivery_attempts a WHERE a.delivery_id = v_d.id;
        v_started := coalesce(v_r.started_at,
                              now() - make_interval(secs => coalesce(v_r.duration_ms, 0) / 1000.0));
        INSERT INTO delivery_attempts (delivery_id, attempt, lease_token, started_at, finished_at,
                                       http_status, error, duration_ms)
        VALUES (v_d.id, v_attempt, v_d.lease_token, v_started,
                v_started + make_interval(secs => greatest(coalesce(v_r.duration_ms, 0), 0) / 1000.0),
                CASE WHEN v_r.http_status BETWEEN 100 AND 599 THEN v_r.http_status END,
                left(v_r.error, 2000),
                CASE WHEN v_r.duration_ms >= 0 THEN v_r.duration_ms END);

        v_seen := v_seen || jsonb_build_object('provider_id', v_d.provider_id,
                                               'at', v_started, 'ok', v_r.outcome = 'delivered');

        IF v_r.outcome = 'delivered' THEN
            UPDATE deliveries
            SET status = 'delivered', delivered_at = now(),
                lease_owner = NULL, lease_expires_at = NULL,
                last_http_status = CASE WHEN v_r.http_status BETWEEN 100 AND 599
                                        THEN v_r.http_status END,
                last_error = NULL
            WHERE id = v_d.id;
        ELSIF v_r.outcome = 'retry' AND v_d.attempts < v_max THEN
            -- The receiver's Retry-After wins, within [0, the longest step].
            IF v_r.retry_after_ms IS NOT NULL THEN
                v_delay := greatest(least(v_r.retry_after_ms::numeric, v_cap), 0);
            ELSE
                v_delay := (v_retry -> (v_d.attempts - 1))::text::numeric
                           * (0.8 + random()::numeric * 0.4);
            END IF;
            UPDATE deliveries
            SET next_attempt_at = now() + make_interval(secs => v_delay / 1000.0),
                lease_owner = NULL, lease_expires_at = NULL,
                last_http_status = CASE WHEN v_r.http_status BETWEEN 100 AND 599
                                        THEN v_r.http_status END,
                last_error = left(v_r.error, 2000)
            WHERE id = v_d.id;
        ELSE
            -- dead, gone, or a retry with no attempt left.
            UPDATE deliveries
            SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL,
                last_http_status = CASE WHEN v_r.http_status BETWEEN 100 AND 599
                                        THEN v_r.http_status END,
                last_error = left(coalesce(v_r.error,
                    CASE v_r.outcome
                        WHEN 'gone' THEN 'endpoint gone (HTTP 410)'
                        WHEN 'retry' THEN format('gave up after %s attempts', v_d.attempts)
                        ELSE 'failed' END), 2000)
            WHERE id = v_d.id;
            v_dead := v_dead || v_d.id;
            IF v_r.outcome = 'gone' THEN
                v_gone := v_gone || v_d.provider_id;
            END IF;
        END IF;
    END LOOP;

    -- Then calls (dead letters move their cascades on) ...
    IF cardinality(v_dead) > 0 THEN
        PERFORM careline_deliveries_dead_letter(v_dead, p_params);
    END IF;

    -- ... then providers, in id order: the latest attempt in the batch says
    -- whether an endpoint works; a 410 disables it.
    FOR v_p IN
        SELECT s.provider_id, s.ok, s.provider_id = ANY (v_gone) AS gone
        FROM (SELECT DISTINCT ON (x.provider_id) x.provider_id, x.ok
              FROM jsonb_to_recordset(v_seen) AS x(provider_id bigint, at timestamptz, ok boolean)
              ORDER BY x.provider_id, x.at DESC) s
        ORDER BY s.provider_id
    LOOP
        IF v_p.gone THEN
            UPDATE providers
            SET endpoint_disabled_at = now(),
                endpoint_failing_since = coalesce(endpoint_failing_since, now())
            WHERE id = v_p.provider_id AND endpoint_disabled_at IS NULL;
            IF FOUND THEN
                PERFORM careline_audit('system', 'provider.endpoint_disable', 'provider',
                    v_p.provider_id, jsonb_build_object('endpoint_disabled_at', NULL),
                    jsonb_build_object('endpoint_disabled_at', now(), 'reason', 'HTTP 410'));
                PERFORM careline_event('provider.endpoint_disabled', NULL,
                    jsonb_build_object('provider_id', v_p.provider_id, 'reason', 'HTTP 410'));
            END IF;
        ELSIF v_p.ok THEN
            UPDATE providers SET endpoint_failing_since = NULL
            WHERE id = v_p.provider_id AND endpoint_failing_since IS NOT NULL;
        ELSE
            UPDATE providers SET endpoint_failing_since = now()
            WHERE id = v_p.provider_id AND endpoint_failing_since IS NULL;
        END IF;
    END LOOP;

    RETURN jsonb_build_object('applied', v_applied, 'stale', v_stale);
END;
$$;

-- An admin re-sends a dead delivery (the same webhook-id). Sending to a
-- disabled endpoint re-enables it: the re-send is the admin saying "try
-- again". An offer.created whose offer has closed meanwhile is accepted
-- here but settled as superseded by the next claim, never sent.
CREATE FUNCTION careline_delivery_retry(p_actor text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_d        deliveries%ROWTYPE;
    v_url      text;
    v_disabled timestamptz;
BEGIN
    SELECT * INTO v_d FROM deliveries WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'delivery_not_found',
            format('There is no delivery with id %s.', p_id), NULL);
    END IF;
    IF v_d.status <> 'dead' THEN
        RETURN careline_error(409, 'delivery_not_dead',
            format('Delivery %s is %s; only a dead delivery can be sent again.', p_id, v_d.status),
            NULL, jsonb_build_object('delivery', careline_delivery_json(p_id)));
    END IF;
    SELECT p.webhook_url, p.endpoint_disabled_at INTO v_url, v_disabled
    FROM providers p WHERE p.id = v_d.provider_id FOR NO KEY UPDATE;
    IF v_url IS NULL THEN
        RETURN careline_error(409, 'no_endpoint',
            'The provider has no webhook_url; set one first.', NULL,
            jsonb_build_object('delivery', careline_delivery_json(p_id)));
    END IF;

    UPDATE deliveries
    SET status = 'pending', attempts = 0, next_attempt_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = p_id;
    IF v_disabled IS NOT NULL THEN
        UPDATE providers SET endpoint_disabled_at = NULL WHERE id = v_d.provider_id;
        PERFORM careline_audit(p_actor, 'provider.endpoint_enable', 'provider', v_d.provider_id,
            jsonb_build_object('endpoint_disabled_at', v_disabled),
            jsonb_build_object('endpoint_disabled_at', NULL, 'delivery_id', p_id));
    END IF;
    PERFORM careline_audit(p_actor, 'delivery.retry', 'delivery', p_id,
        jsonb_build_object('status', 'dead', 'attempts', v_d.attempts),
        jsonb_build_object('status', 'pending', 'attempts', 0));
    RETURN jsonb_build_object('status', 200, 'body', careline_delivery_json(p_id));
END;
$$;

-- Newest first; NULL filters match everything; p_before_id is the cursor.
CREATE FUNCTION careline_delivery_list(p_status text, p_provider_id bigint,
                                       p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_limit int := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_ids   bigint[];
    v_more  boolean;
BEGIN
    IF p_status IS NOT NULL AND p_status NOT IN ('pending', 'delivered', 'dead') THEN
        RAISE EXCEPTION 'status must be one of pending, delivered, dead'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_ids := ARRAY(SELECT d.id FROM deliveries d
                   WHERE (p_status IS NULL OR d.status = p_status)
                     AND (p_provider_id IS NULL OR d.provider_id = p_provider_id)
                     AND (p_before_id IS NULL OR d.id < p_before_id)
                   ORDER BY d.id DESC
                   LIMIT v_limit + 1);
    v_more := cardinality(v_ids) > v_limit;
    IF v_more THEN
        v_ids := v_ids[1:v_limit];
    END IF;
    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(careline_delivery_json(u.id) ORDER BY u.ord)
                           FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)), '[]'::jsonb),
        'next_cursor', CASE WHEN v_more THEN to_jsonb(v_ids[v_limit]::text) ELSE 'null'::jsonb END);
END;
$$;

-- When the daemon must look again: the earliest due delivery (or expiring
-- lease) and the earliest offer deadline; NULL when nothing is waiting.
-- VOLATILE on purpose: called in the same statement as
-- careline_offers_expire, it must see what that call just changed.
CREATE FUNCTION careline_next_due()
RETURNS timestamptz
LANGUAGE sql VOLATILE
SET search_path = public, pg_temp
AS $$
    SELECT least(
        (SELECT d.next_attempt_at FROM deliveries d
         WHERE d.status = 'pending'
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
         ORDER BY d.next_attempt_at LIMIT 1),
        (SELECT min(d.lease_expires_at) FROM deliveries d
         WHERE d.status = 'pending' AND d.lease_owner IS NOT NULL),
        (SELECT min(o.respond_by) FROM offers o WHERE o.status = 'offered'));
$$;

-- ---------------------------------------------------------------------------
-- Providers: secret rotation; the JSON says whether the endpoint is failing.

CREATE OR REPLACE FUNCTION careline_provider_json(p_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', p.id,
        'name', p.name,
        'services', to_jsonb(p.services),
        'lat', ST_Y(p.location::geometry),
        'lon', ST_X(p.location::geometry),
        'travel_mode', p.travel_mode,
        'capacity', p.capacity,
        'opening_hours', p.opening_hours,
        'phone', p.phone,
        'community_id', p.community_id,
        'webhook_url', p.webhook_url,
        'active', p.active,
        'endpoint_disabled_at', p.endpoint_disabled_at,
        'endpoint_failing_since', p.endpoint_failing_since,
        'endpoint_failing', coalesce(p.endpoint_failing_since < now() - interval '10 minutes', false),
        'webhook_secret_rotated_at', p.webhook_secret_rotated_at,
        'created_at', p.created_at,
        'updated_at', p.updated_at)
    FROM providers p
    WHERE p.id = p_id;
$$;

-- The current secret becomes the previous one (both sign for 24 hours),
-- p_secret (a fresh whsec_ from the daemon) the current; returned once.
CREATE FUNCTION careline_provider_rotate_secret(p_actor text, p_id bigint, p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_old  providers%ROWTYPE;
BEGIN
    IF p_secret IS NULL OR p_secret !~ '^whsec_[A-Za-z0-9+/=]+$' THEN
        RAISE EXCEPTION 'careline_provider_rotate_secret: p_secret must be a whsec_ secret'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_old FROM providers WHERE id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'provider_not_found',
            format('There is no provider with id %s.', p_id), NULL);
    END IF;
    UPDATE providers
    SET webhook_secret_previous = webhook_secret,
        webhook_secret_rotated_at = now(),
        webhook_secret = p_secret
    WHERE id = p_id;
    PERFORM careline_audit(p_actor, 'provider.rotate_secret', 'provider', p_id,
        jsonb_build_object('webhook_secret_rotated_at', v_old.webhook_secret_rotated_at),
        jsonb_build_object('webhook_secret_rotated_at', now(),
                           'previous_kept', v_old.webhook_secret IS NOT NULL));
    RETURN jsonb_build_object('status', 200, 'body',
        careline_provider_json(p_id) || jsonb_build_object('webhook_secret', p_secret));
END;
$$;
