-- offers.sql: Offers: answers, expiry, JSON, and the offer status guard.

CREATE OR REPLACE FUNCTION careline_offer_status_guard() RETURNS trigger
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
CREATE OR REPLACE TRIGGER offers_status_guard BEFORE UPDATE OF status ON offers
    FOR EACH ROW EXECUTE FUNCTION careline_offer_status_guard();

-- ---------------------------------------------------------------------------
-- JSON of offers and deliveries (no payloads: those may carry personal data).
CREATE OR REPLACE FUNCTION careline_offer_json(p_id bigint)
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

-- ---------------------------------------------------------------------------
-- A provider answers: accept | decline (by one-time link or token), then
-- arrived | completed (token only).
--
-- p_link_token: the t= of the link; p_provider_id: the provider of the
-- token; both NULL: an operator/admin acting for the provider.
CREATE OR REPLACE FUNCTION careline_offer_answer(p_actor text, p_offer_id bigint, p_provider_id bigint,
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
        PERFORM careline_raise('KL422', 'invalid_action',
            'action must be accept, decline, arrived or completed.', 'action');
    END IF;

    SELECT o.call_id INTO v_call_id FROM offers o WHERE o.id = p_offer_id;
    IF NOT FOUND THEN
        PERFORM careline_raise('KL404', 'offer_not_found',
            format('There is no offer with id %s.', p_offer_id), NULL);
    END IF;
    -- The call first: racing answers to one call queue up here.
    SELECT * INTO v_call FROM calls WHERE id = v_call_id FOR UPDATE;
    SELECT * INTO v_offer FROM offers WHERE id = p_offer_id FOR UPDATE;

    -- Who may answer.
    IF p_link_token IS NOT NULL THEN
        IF p_action NOT IN ('accept', 'decline') THEN
            PERFORM careline_raise('KL403', 'invalid_link',
                'An offer link can only accept or decline; report arrival and completion '
                'with the provider''s token.', NULL);
        END IF;
        IF v_offer.link_hash IS NULL
           OR sha256(convert_to(p_link_token, 'UTF8')) <> v_offer.link_hash THEN
            PERFORM careline_raise('KL403', 'invalid_link', 'This link is not valid for this offer.', 't');
        END IF;
        IF v_offer.link_used_at IS NOT NULL THEN
            PERFORM careline_raise('KL409', 'link_used',
                'This link has already been used; each offer link works once.', 't',
                jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
        IF now() > v_offer.respond_by THEN
            PERFORM careline_raise('KL410', 'link_expired',
                'This offer link has expired; the offer was open until respond_by.', 't',
                jsonb_build_object('offer', careline_offer_json(p_offer_id)));
        END IF;
    END IF;
    IF p_provider_id IS NOT NULL AND v_offer.provider_id <> p_provider_id THEN
        PERFORM careline_raise('KL403', 'not_your_offer',
            'This offer was made to another provider.', NULL);
    END IF;

    IF p_action = 'accept' THEN
        IF v_offer.status <> 'offered' OR v_call.status <> 'offered' THEN
            PERFORM careline_raise('KL409', 'offer_not_open',
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
            PERFORM careline_raise('KL409', 'offer_not_open',
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
            PERFORM careline_raise('KL409', 'offer_not_accepted',
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
            PERFORM careline_raise('KL409', 'offer_not_accepted',
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
CREATE OR REPLACE FUNCTION careline_offers_expire(p_params jsonb)
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

-- An offer answered by link: an unknown offer and a link that does not fit
-- a known one get the same 403, so a guessed URL says nothing about which
-- offers exist. Everything else is careline_offer_answer's.
CREATE OR REPLACE FUNCTION careline_offer_answer_checked(p_actor text, p_offer_id bigint,
                                              p_provider_id bigint, p_link_token text,
                                              p_action text, p_reason text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_link_token IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM offers
        WHERE id = p_offer_id
          AND link_hash = sha256(convert_to(p_link_token, 'UTF8'))) THEN
        PERFORM careline_raise('KL403', 'invalid_link', 'this link is not valid', 't');
    END IF;
    RETURN careline_offer_answer(p_actor, p_offer_id, p_provider_id, p_link_token,
                                 p_action, p_reason, p_params);
END;
$$;
