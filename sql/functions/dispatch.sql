-- dispatch.sql: Dispatch: the cascade of offers for a call and its parameters.

-- ---------------------------------------------------------------------------
-- Parameters.

-- The dispatch parameters in force for a call: the call's own strategy,
-- the rest from p_params, else from the call. No defaults here: the daemon
-- passes every key from its configuration (docs/DECISIONS.md), and a call
-- keeps what it was created with.
CREATE OR REPLACE FUNCTION careline_dispatch_params(p_stored jsonb, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_s jsonb := coalesce(p_stored, '{}'::jsonb);
    v_p jsonb := coalesce(p_params, '{}'::jsonb);
    v_strategy text := coalesce(v_s ->> 'strategy', v_p ->> 'strategy');
    v_timeout  bigint := coalesce((v_p ->> 'offer_timeout_ms')::bigint,
                                  (v_s ->> 'offer_timeout_ms')::bigint);
    v_k        int := coalesce((v_p ->> 'broadcast_k')::int, (v_s ->> 'broadcast_k')::int);
    v_url      text := rtrim(coalesce(v_p ->> 'public_url', v_s ->> 'public_url'), '/');
BEGIN
    IF v_strategy IS NULL OR v_timeout IS NULL OR v_k IS NULL OR v_url IS NULL THEN
        RAISE EXCEPTION 'dispatch parameters missing: strategy, offer_timeout_ms, broadcast_k '
                        'and public_url are all required (got %, stored %)', p_params, p_stored
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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

-- ---------------------------------------------------------------------------
-- Dispatch: offer the call to the next candidate(s), or give up.
--
-- cascade: when no offer is out, the lowest-rank pending one is offered.
-- broadcast: when no offer is out, the next broadcast_k pending ones are.
-- A candidate that has since been deactivated or is full is skipped
-- (cancelled, reason 'provider_unavailable', nothing sent) when it stands
-- before the last one chosen. When nothing is out, nothing pending and
-- nothing accepted, the call becomes unmatched.
CREATE OR REPLACE FUNCTION careline_dispatch(p_call_id bigint, p_params jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_call     calls%ROWTYPE;
    v_par      jsonb;
    v_want     int;
    v_send     bigint[];
    v_skip     bigint[];
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

    -- In rank order: the first v_want available candidates are sent; the
    -- unavailable ones before the last of them are skipped.
    SELECT array_agg(c.id ORDER BY c.rank) FILTER (WHERE c.ok AND c.nth <= v_want),
           array_agg(c.id ORDER BY c.rank) FILTER (WHERE NOT c.ok AND c.nth < v_want)
    INTO v_send, v_skip
    FROM (SELECT a.id, a.rank, a.ok,
                 count(*) FILTER (WHERE a.ok) OVER (ORDER BY a.rank) AS nth
          FROM (SELECT o.id, o.rank,
                       p.active AND p.capacity > (
                           SELECT count(*) FROM offers b JOIN calls k ON k.id = b.call_id
                           WHERE b.provider_id = p.id AND b.status = 'accepted'
                             AND b.completed_at IS NULL AND k.status = 'accepted') AS ok
                FROM offers o JOIN providers p ON p.id = o.provider_id
                WHERE o.call_id = p_call_id AND o.status = 'pending') a) c;

    IF v_skip IS NOT NULL THEN
        WITH s AS (
            UPDATE offers SET status = 'cancelled', reason = 'provider_unavailable'
            WHERE id = ANY (v_skip)
            RETURNING id, rank
        )
        INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
        SELECT 'system', 'offer.skip', 'offer', s.id, '{"status": "pending"}',
               '{"status": "cancelled", "reason": "provider_unavailable"}'
        FROM s ORDER BY s.rank;
    END IF;

    IF v_send IS NOT NULL THEN
        PERFORM careline_offers_send(p_call_id, v_send, v_par);
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

-- Offers chosen by the caller go out, as a set: each gets a one-time link
-- (>= 244 random bits; only its hash is kept), the provider its
-- offer.created, the fairness stamp (best effort, never waited for), the
-- audit its offer.send and the operators offer.offered, in rank order.
-- The caller holds the call (locked, or inserted in this transaction) and
-- has checked that the offers are pending and their providers available.
-- Returns how many were sent.
CREATE OR REPLACE FUNCTION careline_offers_send(p_call_id bigint, p_offer_ids bigint[], p_par jsonb)
RETURNS int
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_resp  timestamptz := now() + make_interval(secs => (p_par ->> 'offer_timeout_ms')::bigint / 1000.0);
    v_url   text := p_par ->> 'public_url';
    v_base  jsonb;       -- the call's part of offer.created
    v_sent  jsonb;       -- [{id, provider_id, rank}] in rank order
    v_id    bigint;
BEGIN
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

    WITH t AS MATERIALIZED (
        SELECT o.id, o.provider_id, o.rank, o.travel_minutes,
               encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text,
                                        'UTF8')), 'hex') AS token
        FROM offers o
        WHERE o.id = ANY (p_offer_ids) AND o.call_id = p_call_id AND o.status = 'pending'
    ), sent AS (
        UPDATE offers o
        SET status = 'offered', offered_at = now(), respond_by = v_resp,
            link_hash = sha256(convert_to(t.token, 'UTF8')), link_used_at = NULL
        FROM t
        WHERE o.id = t.id
        RETURNING o.id
    ), outbox AS (
        INSERT INTO deliveries (provider_id, offer_id, event_type, payload)
        SELECT t.provider_id, t.id, 'offer.created',
               jsonb_build_object('type', 'offer.created', 'timestamp', now(),
                   'data', v_base || jsonb_build_object(
                       'offer_id', t.id,
                       'travel_minutes', t.travel_minutes,
                       'respond_by', v_resp,
                       'accept_url', v_url || '/v1/offers/' || t.id || '/accept?t=' || t.token,
                       'decline_url', v_url || '/v1/offers/' || t.id || '/decline?t=' || t.token))
        FROM t JOIN sent s ON s.id = t.id
        ORDER BY t.rank
    ), stamped AS (
        UPDATE providers p SET last_offered_at = now()
        WHERE p.id IN (SELECT x.id FROM providers x
                       WHERE x.id IN (SELECT t.provider_id FROM t)
                       ORDER BY x.id
                       FOR NO KEY UPDATE SKIP LOCKED)
    ), audited AS (
        INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
        SELECT 'system', 'offer.send', 'offer', t.id, '{"status": "pending"}',
               jsonb_build_object('status', 'offered', 'respond_by', v_resp,
                                  'strategy', p_par ->> 'strategy')
        FROM t JOIN sent s ON s.id = t.id
        ORDER BY t.rank
    )
    SELECT jsonb_agg(jsonb_build_object('id', t.id, 'provider_id', t.provider_id, 'rank', t.rank)
                     ORDER BY t.rank)
    INTO v_sent
    FROM t JOIN sent s ON s.id = t.id;

    FOR v_id IN
        INSERT INTO events (type, call_id, data)
        SELECT 'offer.offered', p_call_id,
               jsonb_build_object('offer_id', (e ->> 'id')::bigint,
                                  'provider_id', (e ->> 'provider_id')::bigint,
                                  'rank', (e ->> 'rank')::int, 'respond_by', v_resp)
        FROM jsonb_array_elements(v_sent) WITH ORDINALITY AS x(e, n)
        ORDER BY x.n
        RETURNING id
    LOOP
        PERFORM pg_notify('careline_events', v_id::text);
    END LOOP;
    RETURN coalesce(jsonb_array_length(v_sent), 0);
END;
$$;
