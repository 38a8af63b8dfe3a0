-- 0007: careline_call_json runs inside every call's transaction and every
-- GET; as a SQL function with its own search_path PostgreSQL planned it
-- afresh on each use (0.8 of 2.1 ms per call, measured by make bench).
-- The same query in PL/pgSQL keeps its plan for the connection's life.
-- The body is unchanged from 0003.

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
