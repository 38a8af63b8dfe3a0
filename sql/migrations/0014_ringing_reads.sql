-- 0014: the PBX's caller-ID lookup is a read of the residents it names.
-- POST /v1/ringing answers with their cards (0011), so it records one
-- resident_reads row per resident, like every other route that answers
-- with a person (0012). The console's GET /v1/ringing/{id} gives only the
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
