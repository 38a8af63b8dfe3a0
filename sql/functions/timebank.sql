-- timebank.sql: Time bank: double-entry ledger, accounts, postings and its guards.

CREATE OR REPLACE FUNCTION careline_timebank_entry_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timebank_entries is append-only; post a correcting transaction'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER timebank_entries_no_change BEFORE UPDATE OR DELETE ON timebank_entries
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_entry_immutable();

CREATE OR REPLACE FUNCTION careline_timebank_entry_apply() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE timebank_accounts SET balance_minutes = balance_minutes + NEW.amount_minutes
    WHERE id = NEW.account_id;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER timebank_entries_apply AFTER INSERT ON timebank_entries
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_entry_apply();

CREATE OR REPLACE FUNCTION careline_timebank_entries_truncated() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE timebank_accounts SET balance_minutes = 0 WHERE balance_minutes <> 0;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER timebank_entries_truncate AFTER TRUNCATE ON timebank_entries
    FOR EACH STATEMENT EXECUTE FUNCTION careline_timebank_entries_truncated();

-- At commit: every transaction touched balances to zero and is well formed.
CREATE OR REPLACE FUNCTION careline_timebank_txn_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v record;
BEGIN
    SELECT count(*) AS n, sum(e.amount_minutes) AS total,
           count(DISTINCT e.kind) AS kinds, min(e.kind) AS kind,
           count(DISTINCT coalesce(e.service_id, 0)) AS services, min(e.service_id) AS service_id,
           count(*) FILTER (WHERE a.kind = 'pool') AS pool_n,
           sum(e.amount_minutes) FILTER (WHERE a.kind = 'pool') AS pool_amount,
           bool_and(a.kind = 'pool'
                    OR (e.kind = 'earn' AND e.amount_minutes > 0 AND a.volunteer_id = s.volunteer_id)
                    OR (e.kind = 'spend' AND e.amount_minutes < 0 AND a.resident_id = s.resident_id)
                    OR (e.kind = 'grant' AND e.amount_minutes > 0)) AS parties_ok
    INTO v
    FROM timebank_entries e
    JOIN timebank_accounts a ON a.id = e.account_id
    LEFT JOIN volunteer_services s ON s.id = e.service_id
    WHERE e.txn_id = NEW.txn_id;

    IF v.total <> 0 OR v.n < 2 THEN
        RAISE EXCEPTION 'time-bank transaction % does not balance (% entries, sum %)',
            NEW.txn_id, v.n, v.total
            USING ERRCODE = 'check_violation', TABLE = 'timebank_entries';
    END IF;
    IF v.kinds <> 1 OR v.services <> 1 OR v.pool_n <> 1 OR NOT v.parties_ok
       OR (v.kind IN ('earn', 'grant') AND v.pool_amount >= 0)
       OR (v.kind = 'spend' AND v.pool_amount <= 0) THEN
        RAISE EXCEPTION 'time-bank transaction % is malformed: one kind, one service, '
                        'the pool on one side and the service''s own parties on the other',
            NEW.txn_id
            USING ERRCODE = 'check_violation', TABLE = 'timebank_entries';
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS timebank_entries_balanced ON timebank_entries;
CREATE CONSTRAINT TRIGGER timebank_entries_balanced AFTER INSERT ON timebank_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_txn_check();

-- Accounts are made when first needed.
CREATE OR REPLACE FUNCTION careline_timebank_account(p_kind text, p_owner_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_kind = 'pool' THEN
        SELECT id INTO v_id FROM timebank_accounts WHERE kind = 'pool';
        IF NOT FOUND THEN
            INSERT INTO timebank_accounts (kind) VALUES ('pool')
            ON CONFLICT ((true)) WHERE kind = 'pool' DO NOTHING;
            SELECT id INTO v_id FROM timebank_accounts WHERE kind = 'pool';
        END IF;
    ELSIF p_kind = 'volunteer' THEN
        INSERT INTO timebank_accounts (kind, volunteer_id) VALUES ('volunteer', p_owner_id)
        ON CONFLICT (volunteer_id) DO NOTHING;
        SELECT id INTO v_id FROM timebank_accounts WHERE volunteer_id = p_owner_id;
    ELSIF p_kind = 'resident' THEN
        INSERT INTO timebank_accounts (kind, resident_id) VALUES ('resident', p_owner_id)
        ON CONFLICT (resident_id) DO NOTHING;
        SELECT id INTO v_id FROM timebank_accounts WHERE resident_id = p_owner_id;
    ELSE
        RAISE EXCEPTION 'unknown time-bank account kind %', p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_id;
END;
$$;

-- One ledger transaction: p_minutes to p_party from the pool (negative:
-- from p_party to the pool), as two entries, the pool's first, under a new
-- txn_id that it returns. The caller has locked both accounts.
CREATE OR REPLACE FUNCTION careline_timebank_txn(p_kind text, p_pool bigint, p_party bigint,
                                                 p_minutes integer, p_service_id bigint,
                                                 p_note text, p_actor text)
RETURNS bigint
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    WITH t AS (SELECT nextval('timebank_txn_seq') AS id)
    INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, service_id, note, actor)
    SELECT t.id, p_kind, x.account, x.amount, p_service_id, p_note, p_actor
    FROM t, (VALUES (1, p_pool, -p_minutes), (2, p_party, p_minutes)) AS x(n, account, amount)
    ORDER BY x.n
    RETURNING txn_id;
$$;

-- A resident who receives a service gets an account ("one per resident
-- receiving"); it starts at zero.
CREATE OR REPLACE FUNCTION careline_volunteer_service_account() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.resident_id IS NOT NULL THEN
        PERFORM careline_timebank_account('resident', NEW.resident_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER volunteer_services_account AFTER INSERT ON volunteer_services
    FOR EACH ROW EXECUTE FUNCTION careline_volunteer_service_account();

-- Posts one service's 'earn' (pool -> its volunteer) or 'spend' (its
-- resident -> pool). p_minutes defaults to the service's minutes and may
-- not exceed them. Refusals change nothing:
--   422 missing_field / service_not_found   no service record to trace to
--   422 insufficient_balance                a spend the account cannot cover
--   422 no_recipient                        a spend for a community service
--   409 already_posted                      this service was earned (spent) before
CREATE OR REPLACE FUNCTION careline_timebank_post(p_actor text, p_service_id bigint, p_kind text,
                                       p_minutes integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_s        volunteer_services%ROWTYPE;
    v_minutes  int;
    v_pool     bigint;
    v_party    bigint;
    v_balance  bigint;
    v_txn      bigint;
    v_entries  jsonb;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('earn', 'spend') THEN
        RETURN careline_error(422, 'invalid_value', 'kind must be earn or spend.', 'kind');
    END IF;
    IF p_service_id IS NULL THEN
        RETURN careline_error(422, 'missing_field',
            'A time-bank entry must be traceable to a service record; send service_id.',
            'service_id');
    END IF;
    -- The service row serialises posts for one service.
    SELECT * INTO v_s FROM volunteer_services WHERE id = p_service_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN careline_error(422, 'service_not_found',
            format('There is no volunteer service record %s to post against.', p_service_id),
            'service_id');
    END IF;
    v_minutes := coalesce(p_minutes, v_s.minutes);
    IF v_minutes < 1 OR v_minutes > v_s.minutes THEN
        RETURN careline_error(422, 'invalid_value',
            format('minutes must be between 1 and the service''s %s.', v_s.minutes), 'minutes');
    END IF;
    IF EXISTS (SELECT 1 FROM timebank_entries e
               WHERE e.service_id = p_service_id AND e.kind = p_kind) THEN
        RETURN careline_error(409, 'already_posted',
            format('Service %s has already been posted as %s.', p_service_id, p_kind),
            'service_id');
    END IF;

    IF p_kind = 'spend' THEN
        IF v_s.resident_id IS NULL THEN
            RETURN careline_error(422, 'no_recipient',
                'This service was for the community, not a resident; nobody can spend for it.',
                'service_id');
        END IF;
        SELECT a.id INTO v_party FROM timebank_accounts a WHERE a.resident_id = v_s.resident_id;
        -- The pool exists whenever anyone holds minutes; no account: nothing to spend.
        SELECT a.id INTO v_pool FROM timebank_accounts a WHERE a.kind = 'pool';
    ELSE
        v_party := careline_timebank_account('volunteer', v_s.volunteer_id);
        v_pool := careline_timebank_account('pool', NULL);
    END IF;
    -- Accounts in id order, then the balance that decides a spend.
    PERFORM 1 FROM timebank_accounts a WHERE a.id IN (v_pool, v_party) ORDER BY a.id FOR UPDATE;
    IF p_kind = 'spend' THEN
        SELECT a.balance_minutes INTO v_balance FROM timebank_accounts a WHERE a.id = v_party;
        IF v_pool IS NULL OR coalesce(v_balance, 0) < v_minutes THEN
            RETURN careline_error(422, 'insufficient_balance',
                format('The resident''s time-bank balance (%s min) cannot cover %s min.',
                       coalesce(v_balance, 0), v_minutes),
                'minutes', jsonb_build_object('balance_minutes', coalesce(v_balance, 0)));
        END IF;
    END IF;

    v_txn := careline_timebank_txn(p_kind, v_pool, v_party,
        CASE p_kind WHEN 'earn' THEN v_minutes ELSE -v_minutes END, p_service_id, NULL, p_actor);

    SELECT jsonb_agg(jsonb_build_object('account_id', a.id, 'account_kind', a.kind,
                                        'amount_minutes', e.amount_minutes,
                                        'balance_minutes', a.balance_minutes) ORDER BY e.id)
    INTO v_entries
    FROM timebank_entries e JOIN timebank_accounts a ON a.id = e.account_id
    WHERE e.txn_id = v_txn;

    PERFORM careline_audit(p_actor, 'timebank.' || p_kind, 'volunteer_service', p_service_id,
        NULL, jsonb_build_object('txn_id', v_txn, 'minutes', v_minutes,
                                 'volunteer_id', v_s.volunteer_id,
                                 'resident_id', v_s.resident_id, 'call_id', v_s.call_id));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'txn_id', v_txn, 'kind', p_kind, 'service_id', p_service_id,
        'minutes', v_minutes, 'entries', v_entries));
END;
$$;

-- The district gives minutes from the pool (e.g. hours a resident banked
-- before the ledger existed). Needs a note saying why.
CREATE OR REPLACE FUNCTION careline_timebank_grant(p_actor text, p_account_id bigint,
                                        p_minutes integer, p_note text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_kind  text;
    v_pool  bigint;
    v_txn   bigint;
BEGIN
    IF p_minutes IS NULL OR p_minutes < 1 OR p_minutes > 100000 THEN
        RETURN careline_error(422, 'invalid_value', 'minutes must be between 1 and 100000.',
                              'minutes');
    END IF;
    IF p_note IS NULL OR btrim(p_note) = '' OR char_length(p_note) > 500 THEN
        RETURN careline_error(422, 'missing_field', 'A grant needs a note saying why.', 'note');
    END IF;
    SELECT kind INTO v_kind FROM timebank_accounts WHERE id = p_account_id;
    IF NOT FOUND OR v_kind = 'pool' THEN
        RETURN careline_error(404, 'account_not_found',
            format('There is no volunteer or resident account %s.', p_account_id), 'account_id');
    END IF;
    v_pool := careline_timebank_account('pool', NULL);
    PERFORM 1 FROM timebank_accounts a WHERE a.id IN (v_pool, p_account_id)
    ORDER BY a.id FOR UPDATE;
    v_txn := careline_timebank_txn('grant', v_pool, p_account_id, p_minutes, NULL, p_note, p_actor);
    PERFORM careline_audit(p_actor, 'timebank.grant', 'timebank_account', p_account_id, NULL,
        jsonb_build_object('txn_id', v_txn, 'minutes', p_minutes, 'note', p_note));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'txn_id', v_txn, 'kind', 'grant', 'account_id', p_account_id, 'minutes', p_minutes,
        'balance_minutes', (SELECT balance_minutes FROM timebank_accounts
                            WHERE id = p_account_id)));
END;
$$;
