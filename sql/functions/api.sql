-- api.sql: The /v1 routes: careline_raise and the typed errors, the one place they become HTTP statuses, and one careline_api_<resource>_<action> function per route.

-- ---------------------------------------------------------------------------
-- Typed errors. A domain function that refuses raises one of these
-- SQLSTATEs (class KL, in the range the SQL standard leaves to
-- implementations) with careline_raise; only the careline_api_* functions
-- below turn them into HTTP statuses. This table is the only list of them.
--
--   KL400  the request is malformed (a body that is not an object)
--   KL401  not authenticated (wrong name or password)
--   KL403  not allowed (a link that does not fit, another provider's offer)
--   KL404  no such thing
--   KL409  conflict, or the thing is in the wrong state for this
--   KL410  gone (an expired offer link)
--   KL422  a value is invalid
--   KL500  a rule the daemon should have kept was broken (internal)
--
-- MESSAGE is the text the client reads; DETAIL is jsonb {"code": the error
-- code the client sees, "field": the field or null, ...more keys put
-- beside "error" in the body, e.g. "candidates"}. DETAIL may hold personal
-- data: every route catches these errors, so they never reach the log.
CREATE OR REPLACE FUNCTION careline_api_status(p_state text)
RETURNS int
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE p_state
        WHEN 'KL400' THEN 400 WHEN 'KL401' THEN 401 WHEN 'KL403' THEN 403
        WHEN 'KL404' THEN 404 WHEN 'KL409' THEN 409 WHEN 'KL410' THEN 410
        WHEN 'KL422' THEN 422 WHEN 'KL500' THEN 500
    END;
$$;

-- Raises; never returns. Declared jsonb so a SQL expression can use it
-- where a value is expected (coalesce(row, careline_raise(...))). VOLATILE
-- so the planner never evaluates it ahead of time.
CREATE OR REPLACE FUNCTION careline_raise(p_state text, p_code text, p_message text,
                                          p_field text DEFAULT NULL, p_extra jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF careline_api_status(p_state) IS NULL THEN
        RAISE EXCEPTION 'careline_raise: % is not a careline error', p_state
            USING ERRCODE = 'internal_error';
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = coalesce(p_message, p_code),
        DETAIL = (jsonb_build_object('code', p_code, 'field', p_field)
                  || coalesce(p_extra, '{}'::jsonb))::text;
END;
$$;

-- What a route answers for an error it caught: the typed errors, and the
-- database's own refusals of a value (class 22), of a row (class 23) and
-- of a missing row (P0002). Anything else is raised again for the daemon
-- (a serialization failure is a 503 there, the rest 500).
CREATE OR REPLACE FUNCTION careline_api_error(p_state text, p_message text, p_detail text,
                                              p_constraint text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_status int := careline_api_status(p_state);
    v_detail jsonb;
    v_on     text := CASE WHEN p_constraint <> '' THEN ': ' || p_constraint ELSE '' END;
BEGIN
    IF v_status IS NOT NULL THEN
        v_detail := coalesce(p_detail, '{}')::jsonb;
        RETURN jsonb_build_object('status', v_status, 'body',
            jsonb_build_object('error', jsonb_build_object(
                'code', v_detail -> 'code', 'message', p_message,
                'field', coalesce(v_detail -> 'field', 'null'::jsonb)))
            || (v_detail - 'code' - 'field'));
    ELSIF p_state = '23505' THEN
        RETURN careline_error(409, 'conflict',
            'this conflicts with an existing record' || v_on, NULL);
    ELSIF left(p_state, 2) = '23' THEN
        RETURN careline_error(422, 'constraint_violation',
            'the data breaks a rule of the database' || v_on, NULL);
    ELSIF p_state = 'P0002' THEN
        RETURN careline_error(404, 'not_found', 'no such record', NULL);
    ELSIF left(p_state, 2) = '22' THEN
        RETURN careline_error(422, 'invalid_value',
            'a value is out of range or malformed', NULL);
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message;
END;
$$;

-- {"status": 200, "body": p_body}, or 404 with p_code when p_body is NULL.
CREATE OR REPLACE FUNCTION careline_api_found(p_body jsonb, p_code text, p_message text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN p_body IS NULL THEN careline_error(404, p_code, p_message, NULL)
                ELSE jsonb_build_object('status', 200, 'body', p_body) END;
$$;

-- ---------------------------------------------------------------------------
-- One function per route, each returning {"status", "body"}: the daemon
-- sends the status and the body as they are. Every one has the same
-- handler: the errors of careline_api_error's list become the answer, the
-- rest go on to the daemon. Time arguments arrive as text and are read
-- inside, so an impossible date is a 422 here, not a failed statement.

-- POST /v1/calls
CREATE OR REPLACE FUNCTION careline_api_calls_create(p_actor text, p_token_id bigint,
                                                     p_req jsonb, p_params jsonb,
                                                     p_idem_key text, p_req_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_call_create(p_actor, p_token_id, p_req, p_params, p_idem_key, p_req_hash);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/calls/{id}
CREATE OR REPLACE FUNCTION careline_api_calls_get(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_call_read(p_actor, p_route, p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/calls
CREATE OR REPLACE FUNCTION careline_api_calls_list(p_actor text, p_route text, p_status text,
                                                   p_service text, p_resident_id bigint,
                                                   p_since text, p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        careline_call_list_read(p_actor, p_route, p_status, p_service, p_resident_id,
                                p_since::timestamptz, p_limit, p_before_id));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/calls/{id}/cancel, POST /v1/calls/{id}/complete
CREATE OR REPLACE FUNCTION careline_api_calls_transition(p_actor text, p_id bigint,
                                                         p_action text, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_call_transition(p_actor, p_id, p_action, p_reason);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/matches
CREATE OR REPLACE FUNCTION careline_api_matches_list(p_actor text, p_route text,
                                                     p_resident_id bigint, p_service text,
                                                     p_at text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        careline_matches_read(p_actor, p_route, p_resident_id, p_service,
                              p_at::timestamptz, p_params));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/residents (p_id NULL), PATCH /v1/residents/{id}
CREATE OR REPLACE FUNCTION careline_api_residents_save(p_actor text, p_id bigint, p_fields jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_resident_save(p_actor, p_id, p_fields);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/residents/{id}
CREATE OR REPLACE FUNCTION careline_api_residents_get(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_resident_read(p_actor, p_route, p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/residents?phone=|name=
CREATE OR REPLACE FUNCTION careline_api_residents_search(p_actor text, p_route text,
                                                         p_phone text, p_name text, p_limit int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        careline_resident_search_read(p_actor, p_route, p_phone, p_name, p_limit));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/residents/{id}/context
CREATE OR REPLACE FUNCTION careline_api_residents_context(p_actor text, p_route text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_resident_context_read(p_actor, p_route, p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/residents/{id}/access-log
CREATE OR REPLACE FUNCTION careline_api_residents_access_log(p_id bigint, p_limit int,
                                                             p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_resident_access_log(p_id, p_limit, p_before_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/providers (p_id NULL), PATCH /v1/providers/{id},
-- POST /v1/providers/{id}/deactivate
CREATE OR REPLACE FUNCTION careline_api_providers_save(p_actor text, p_id bigint, p_fields jsonb,
                                                       p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_provider_save(p_actor, p_id, p_fields, p_secret);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/providers/{id}
CREATE OR REPLACE FUNCTION careline_api_providers_get(p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_api_found(careline_provider_json(p_id), 'provider_not_found',
                              'no provider with this id');
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/providers
CREATE OR REPLACE FUNCTION careline_api_providers_list(p_service text, p_active boolean,
                                                       p_limit int, p_after_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        careline_provider_list(p_service, p_active, p_limit, p_after_id));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/providers/{id}/rotate-secret
CREATE OR REPLACE FUNCTION careline_api_providers_rotate_secret(p_actor text, p_id bigint,
                                                                p_secret text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_provider_rotate_secret(p_actor, p_id, p_secret);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/offers/{id}/accept|decline|arrived|completed
CREATE OR REPLACE FUNCTION careline_api_offers_answer(p_actor text, p_offer_id bigint,
                                                      p_provider_id bigint, p_link_token text,
                                                      p_action text, p_reason text,
                                                      p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_offer_answer_checked(p_actor, p_offer_id, p_provider_id, p_link_token,
                                         p_action, p_reason, p_params);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/deliveries
CREATE OR REPLACE FUNCTION careline_api_deliveries_list(p_status text, p_provider_id bigint,
                                                        p_limit int, p_before_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        careline_delivery_list(p_status, p_provider_id, p_limit, p_before_id));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/deliveries/{id}/retry
CREATE OR REPLACE FUNCTION careline_api_deliveries_retry(p_actor text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_delivery_retry(p_actor, p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/session, its last step (the name and password were checked by
-- the daemon with careline_login_lookup and careline_login_failed).
CREATE OR REPLACE FUNCTION careline_api_session_start(p_operator_id bigint, p_hash bytea,
                                                      p_idle_s int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_session_start(p_operator_id, p_hash, p_idle_s);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/session
CREATE OR REPLACE FUNCTION careline_api_session_get(p_operator_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body',
        jsonb_build_object('operator', careline_operator_json(p_operator_id)));
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- DELETE /v1/session
CREATE OR REPLACE FUNCTION careline_api_session_end(p_hash bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_session_end(p_hash);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/operators (and carelined --create-operator). Caught errors are
-- not logged: a statement carrying the hash never fails.
CREATE OR REPLACE FUNCTION careline_api_operators_create(p_actor text, p_name text,
                                                         p_hash text, p_role text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_operator_create(p_actor, p_name, p_hash, p_role);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/operators
CREATE OR REPLACE FUNCTION careline_api_operators_list()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body', careline_operator_list());
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/ringing
CREATE OR REPLACE FUNCTION careline_api_ringing_create(p_actor text, p_phone text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_ringing(p_actor, p_phone);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/ringing/{id}
CREATE OR REPLACE FUNCTION careline_api_ringing_get(p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_ringing_get(p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/clinics/nearest (p_at NULL: now)
CREATE OR REPLACE FUNCTION careline_api_clinics_nearest(p_resident_id bigint, p_at text,
                                                        p_timezone text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_clinic_nearest(p_resident_id, coalesce(p_at::timestamptz, now()),
                                   p_timezone);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/reports/{name}
CREATE OR REPLACE FUNCTION careline_api_reports_get(p_name text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_report(p_name, p_params);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- POST /v1/tokens
CREATE OR REPLACE FUNCTION careline_api_tokens_create(p_actor text, p_name text, p_role text,
                                                      p_provider_id bigint, p_hash bytea,
                                                      p_prefix text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_token_create(p_actor, p_name, p_role, p_provider_id, p_hash, p_prefix);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- GET /v1/tokens
CREATE OR REPLACE FUNCTION careline_api_tokens_list()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN jsonb_build_object('status', 200, 'body', careline_token_list());
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;

-- DELETE /v1/tokens/{id}
CREATE OR REPLACE FUNCTION careline_api_tokens_revoke(p_actor text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    e_detail text;
    e_constraint text;
BEGIN
    RETURN careline_token_revoke(p_actor, p_id);
EXCEPTION WHEN SQLSTATE 'KL000' OR data_exception OR integrity_constraint_violation
               OR no_data_found THEN
    GET STACKED DIAGNOSTICS e_detail = PG_EXCEPTION_DETAIL, e_constraint = CONSTRAINT_NAME;
    RETURN careline_api_error(SQLSTATE, SQLERRM, e_detail, e_constraint);
END;
$$;
