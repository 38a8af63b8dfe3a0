-- dispatch.sql: Dispatch: the cascade of offers for a call and its parameters.

-- ---------------------------------------------------------------------------
-- Parameters.

-- The dispatch parameters in force for a call: the call's own strategy,
-- the rest from p_params, else from the call, else the defaults.
CREATE OR REPLACE FUNCTION careline_dispatch_params(p_stored jsonb, p_params jsonb)
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

-- ---------------------------------------------------------------------------
-- Dispatch: offer the call to the next candidate(s), or give up.
--
-- cascade: when no offer is out, the lowest-rank pending one is offered.
-- broadcast: when no offer is out, the next broadcast_k pending ones are.
-- A candidate that has since been deactivated or is full is skipped
-- (cancelled, reason 'provider_unavailable', nothing sent). When nothing is
-- out, nothing pending and nothing accepted, the call becomes unmatched.
CREATE OR REPLACE FUNCTION careline_dispatch(p_call_id bigint, p_params jsonb)
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
