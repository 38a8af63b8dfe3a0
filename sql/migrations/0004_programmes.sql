-- 0004_programmes.sql — the district's other programmes (the five actions of
-- the source report, seed/hetang-district-report.txt) as ancillary tables,
-- and where they help an older caller, linked to dispatch:
--
--   三社联动         subdistricts, social_work_institutions, social_work_projects,
--                    social_work_project_areas, social_work_funding
--   志愿者/时间银行  volunteers, volunteer_services, timebank_accounts,
--                    timebank_entries (double entry)
--   养老服务         care_centres, centre_daily_visits, policy_documents,
--                    hotlines, district_figures
--   公共卫生服务     clinic_points, clinic_schedules, clinic_services,
--                    clinic_point_services, family_doctor_signups,
--                    health_visit_counts
--   无物管小区自治   estates, estate_autonomy
--   网上群众路线     wechat_groups, wechat_accounts, wechat_articles,
--                    wechat_rankings
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here).
-- Conventions are those of 0002/0003 ({"status", "body"} replies, errors
-- {"error": {"code", "message", "field"}}, one audit row per change).
--
-- Figures. Wherever the report's figure counts things (projects, estates,
-- clinic points, groups, visits, articles, months at the top of a ranking)
-- it is not stored: careline_report counts rows. Totals that are not counts
-- of things (money, population, followers) are rows of their tables with
-- the report's sentence as their source and a bound ('lower_bound' for
-- "600余万", 'approx' for "约1050万"). The demo rows are loaded by
-- sql/demo/programmes.sql; rows the report does not name are marked
-- synthetic.
--
-- Dispatch links.
--   * Companionship (精神慰藉) by volunteers: every volunteer has one
--     provider row (providers.volunteer_id, services {companionship},
--     capacity 1), kept in step with the volunteer by a trigger, so
--     careline_match, the cascade and the webhooks treat volunteers exactly
--     like any provider. The volunteer's own notification channel is
--     volunteers.notify_url/notify_secret, copied to the provider's
--     webhook_url/webhook_secret; a volunteer without one is not offered
--     work (the provider row stays inactive). Edit the volunteer, not the
--     provider row: the next change to the volunteer overwrites it.
--   * When an accepted companionship job of a volunteer is completed (by
--     careline_offer_answer 'completed' or careline_call_transition
--     'complete': both set offers.completed_at), a trigger on offers records
--     a volunteer_services row and posts the time-bank credit in that same
--     transaction: 'earn' (pool -> volunteer, minutes = the setting
--     careline.companionship_minutes, default 60), and, when the resident has
--     a time-bank account holding enough minutes, 'spend' (resident -> pool).
--     Otherwise the district pool alone pays. The existing functions are
--     left as they are: the trigger is the one place this happens, whatever
--     code path completes the job.
--   * careline_clinic_nearest: the nearest mobile clinic point and its next
--     session; careline_resident_context: the resident's estate (and its
--     self-governing committee) and WeChat resident group.
--   * careline_report: one function per section of the report, plus the
--     hotline's own report from calls and offers.
--
-- Lock order (adds to 0003's): call, then its offers, then providers, then
-- volunteer_services, then time-bank accounts in id order.

-- The demo district's built-up area (DESIGN.md): estates, clinic points and
-- care centres must lie inside it.
CREATE FUNCTION careline_in_district(p geography)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT p IS NOT NULL AND NOT ST_IsEmpty(p::geometry)
       AND ST_Y(p::geometry) BETWEEN 27.84 AND 27.92
       AND ST_X(p::geometry) BETWEEN 113.14 AND 113.24;
$$;

-- The opening-hours subset the demo seed uses ("Mo-Fr 08:00-18:00; Sa
-- 09:00-12:00"), parsed into provider_hours spans; raises 22023 on anything
-- else. Used for volunteers' availability.
CREATE FUNCTION careline_hours_spans(p_spec text)
RETURNS TABLE (dow smallint, opens time, closes time)
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_rule text;
    v_m    text[];
    v_d1   int;
    v_d2   int;
    v_days text[] := '{Mo,Tu,We,Th,Fr,Sa,Su}';
BEGIN
    FOREACH v_rule IN ARRAY regexp_split_to_array(coalesce(p_spec, ''), ';') LOOP
        v_m := regexp_match(btrim(v_rule),
            '^(Mo|Tu|We|Th|Fr|Sa|Su)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))? ([0-2][0-9]:[0-5][0-9])-([0-2][0-9]:[0-5][0-9])$');
        v_d1 := array_position(v_days, v_m[1]);
        v_d2 := array_position(v_days, coalesce(v_m[2], v_m[1]));
        IF v_m IS NULL OR v_d1 > v_d2 OR v_m[3]::time >= v_m[4]::time THEN
            RAISE EXCEPTION 'not an opening-hours rule: %', btrim(v_rule)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN QUERY SELECT d::smallint, v_m[3]::time, v_m[4]::time
                     FROM generate_series(v_d1, v_d2) AS d;
    END LOOP;
END;
$$;

-- ===========================================================================
-- 三社联动: social-work linkage.

-- Towns (镇) and streets (街道) of the district; communities.street names
-- its row (a soft link: communities predates this table).
CREATE TABLE subdistricts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    text NOT NULL UNIQUE
            CHECK (char_length(name) BETWEEN 2 AND 50 AND name ~ '^\S+(街道|镇|乡)$'),
    kind    text NOT NULL CHECK (kind IN ('street', 'town', 'township')),
    centre  geography(Point, 4326) CHECK (centre IS NULL OR NOT ST_IsEmpty(centre::geometry)),
    CONSTRAINT subdistricts_kind_matches_name
        CHECK (kind = CASE WHEN name ~ '街道$' THEN 'street'
                           WHEN name ~ '镇$' THEN 'town' ELSE 'township' END)
);

-- The contracted institutions (机构承接). Only three are named in the report.
CREATE TABLE social_work_institutions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE
               CHECK (char_length(name) BETWEEN 2 AND 100 AND name ~ '\S'),
    city       text NOT NULL CHECK (char_length(city) BETWEEN 1 AND 20 AND city ~ '\S'),
    synthetic  boolean NOT NULL,
    source     text CHECK (char_length(source) <= 1000),
    CONSTRAINT social_work_institutions_named_have_source
        CHECK (synthetic OR source IS NOT NULL)
);

-- Government-purchased service projects (政府购买服务项目), one row per
-- project and year.
CREATE TABLE social_work_projects (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    year            smallint NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    target_group    text NOT NULL
                    CHECK (target_group IN ('elderly', 'children', 'youth', 'disabled',
                                            'low_income', 'families', 'community')),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    institution_id  bigint NOT NULL REFERENCES social_work_institutions (id),
    synthetic       boolean NOT NULL,
    source          text CHECK (char_length(source) <= 1000),
    CONSTRAINT social_work_projects_year_name_key UNIQUE (year, name),
    CONSTRAINT social_work_projects_named_have_source
        CHECK (synthetic OR source IS NOT NULL)
);
CREATE INDEX social_work_projects_institution_idx ON social_work_projects (institution_id);

-- Where each project works: "镇、街道三社联动项目全域覆盖" is a query over this.
CREATE TABLE social_work_project_areas (
    project_id      bigint NOT NULL REFERENCES social_work_projects (id) ON DELETE CASCADE,
    subdistrict_id  bigint NOT NULL REFERENCES subdistricts (id),
    PRIMARY KEY (project_id, subdistrict_id)
);
CREATE INDEX social_work_project_areas_subdistrict_idx
    ON social_work_project_areas (subdistrict_id);

-- Funding by source over a span of years (近两年 = 2017-2018), in yuan.
CREATE TABLE social_work_funding (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_kind  text NOT NULL
                 CHECK (source_kind IN ('district_budget', 'higher_level', 'social_resources')),
    year_from    smallint NOT NULL CHECK (year_from BETWEEN 2000 AND 2100),
    year_to      smallint NOT NULL CHECK (year_to BETWEEN 2000 AND 2100),
    amount_yuan  numeric(14, 2) NOT NULL CHECK (amount_yuan > 0),
    bound        text NOT NULL CHECK (bound IN ('exact', 'lower_bound', 'approx')),
    source       text NOT NULL CHECK (char_length(source) BETWEEN 1 AND 1000),
    CHECK (year_from <= year_to),
    CONSTRAINT social_work_funding_once UNIQUE (source_kind, year_from, year_to)
);

-- ===========================================================================
-- Volunteers and the time bank (志愿服务积分、“时间银行”).

CREATE TABLE volunteers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    phone          text NOT NULL CHECK (phone ~ '^[0-9]{5,15}$'),
    community_id   bigint REFERENCES communities (id),
    location       geography(Point, 4326) NOT NULL
                   CHECK (NOT ST_IsEmpty(location::geometry)),
    travel_mode    text NOT NULL DEFAULT 'walk' CHECK (travel_mode IN ('walk', 'ebike')),
    -- When they can be offered companionship jobs, in the providers'
    -- opening-hours subset (see careline_hours_spans).
    availability   text NOT NULL DEFAULT 'Mo-Su 09:00-18:00'
                   CHECK (availability ~ ('^(Mo|Tu|We|Th|Fr|Sa|Su)(-(Mo|Tu|We|Th|Fr|Sa|Su))? '
                                          '[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]'
                                          '(; (Mo|Tu|We|Th|Fr|Sa|Su)(-(Mo|Tu|We|Th|Fr|Sa|Su))? '
                                          '[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9])*$')),
    -- The volunteer's own notification channel (a signed webhook, e.g. the
    -- bridge to their WeChat); without one they are not offered work.
    notify_url     text CHECK (notify_url ~ '^https?://[^[:space:]]+$'
                               AND char_length(notify_url) <= 2000),
    notify_secret  text CHECK (notify_secret ~ '^whsec_[A-Za-z0-9+/=]+$'),
    active         boolean NOT NULL DEFAULT true,
    registered_on  date NOT NULL DEFAULT current_date,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT volunteers_notify_needs_secret
        CHECK (notify_url IS NULL OR notify_secret IS NOT NULL)
);
CREATE INDEX volunteers_community_idx ON volunteers (community_id);
CREATE INDEX volunteers_location_gist ON volunteers USING gist (location);
CREATE TRIGGER volunteers_touch BEFORE UPDATE ON volunteers
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();

-- A volunteer's provider row: only companionship, and only reachable ones
-- are active.
ALTER TABLE providers
    ADD COLUMN volunteer_id bigint REFERENCES volunteers (id),
    ADD CONSTRAINT providers_volunteer_companionship
        CHECK (volunteer_id IS NULL OR services = '{companionship}'::text[]),
    ADD CONSTRAINT providers_volunteer_reachable
        CHECK (volunteer_id IS NULL OR NOT active OR webhook_url IS NOT NULL);
CREATE UNIQUE INDEX providers_volunteer_key ON providers (volunteer_id)
    WHERE volunteer_id IS NOT NULL;

-- Calls: lets a service record prove its resident is the call's resident.
ALTER TABLE calls ADD CONSTRAINT calls_id_resident_key UNIQUE (id, resident_id);

-- What volunteers did: for a resident (possibly through a hotline call), or
-- for the community at large.
CREATE TABLE volunteer_services (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    volunteer_id  bigint NOT NULL REFERENCES volunteers (id),
    resident_id   bigint REFERENCES residents (id),
    call_id       bigint UNIQUE,
    kind          text NOT NULL
                  CHECK (kind IN ('companionship', 'escort', 'chores', 'health_support',
                                  'community')),
    minutes       integer NOT NULL CHECK (minutes BETWEEN 1 AND 720),
    at            timestamptz NOT NULL,
    note          text NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT volunteer_services_call_resident
        FOREIGN KEY (call_id, resident_id) REFERENCES calls (id, resident_id),
    CONSTRAINT volunteer_services_call_has_resident
        CHECK (call_id IS NULL OR resident_id IS NOT NULL),
    CONSTRAINT volunteer_services_for_someone
        CHECK (resident_id IS NOT NULL OR kind = 'community')
);
CREATE INDEX volunteer_services_volunteer_idx ON volunteer_services (volunteer_id, at);
CREATE INDEX volunteer_services_resident_idx ON volunteer_services (resident_id, at);

-- One account per volunteer, per resident who receives, and the district
-- pool. balance_minutes is maintained from timebank_entries by a trigger;
-- only the pool may go below zero (it issues the minutes volunteers earn).
CREATE TABLE timebank_accounts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('pool', 'volunteer', 'resident')),
    volunteer_id     bigint UNIQUE REFERENCES volunteers (id),
    resident_id      bigint UNIQUE REFERENCES residents (id),
    balance_minutes  bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timebank_accounts_owner
        CHECK ((kind = 'volunteer') = (volunteer_id IS NOT NULL)
               AND (kind = 'resident') = (resident_id IS NOT NULL)),
    CONSTRAINT timebank_accounts_not_negative
        CHECK (kind = 'pool' OR balance_minutes >= 0)
);
CREATE UNIQUE INDEX timebank_accounts_one_pool ON timebank_accounts ((true))
    WHERE kind = 'pool';

CREATE SEQUENCE timebank_txn_seq;

-- The ledger. A transaction is the entries sharing txn_id: they sum to zero
-- (deferred constraint trigger below), have one kind, and
--   earn:  pool -m, the service's volunteer +m   (service_id required)
--   spend: the service's resident -m, pool +m    (service_id required)
--   grant: pool -m, any other account +m         (note required)
-- Append-only: entries are never updated or deleted (TRUNCATE, for demo
-- reloads, resets every balance to zero).
CREATE TABLE timebank_entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id          bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('earn', 'spend', 'grant')),
    account_id      bigint NOT NULL REFERENCES timebank_accounts (id),
    amount_minutes  integer NOT NULL CHECK (amount_minutes <> 0
                                            AND abs(amount_minutes) <= 100000),
    service_id      bigint REFERENCES volunteer_services (id),
    note            text CHECK (char_length(note) BETWEEN 1 AND 500),
    actor           text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 100 AND actor ~ '\S'),
    posted_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timebank_entries_traceable
        CHECK (CASE kind WHEN 'grant' THEN service_id IS NULL AND note IS NOT NULL
                         ELSE service_id IS NOT NULL END)
);
CREATE INDEX timebank_entries_txn_idx ON timebank_entries (txn_id);
CREATE INDEX timebank_entries_account_idx ON timebank_entries (account_id, id);
-- A service is earned once and spent once.
CREATE UNIQUE INDEX timebank_entries_once ON timebank_entries
    (service_id, kind, (amount_minutes > 0)) WHERE service_id IS NOT NULL;

CREATE FUNCTION careline_timebank_entry_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timebank_entries is append-only; post a correcting transaction'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER timebank_entries_no_change BEFORE UPDATE OR DELETE ON timebank_entries
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_entry_immutable();

CREATE FUNCTION careline_timebank_entry_apply() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE timebank_accounts SET balance_minutes = balance_minutes + NEW.amount_minutes
    WHERE id = NEW.account_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER timebank_entries_apply AFTER INSERT ON timebank_entries
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_entry_apply();

CREATE FUNCTION careline_timebank_entries_truncated() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE timebank_accounts SET balance_minutes = 0 WHERE balance_minutes <> 0;
    RETURN NULL;
END;
$$;
CREATE TRIGGER timebank_entries_truncate AFTER TRUNCATE ON timebank_entries
    FOR EACH STATEMENT EXECUTE FUNCTION careline_timebank_entries_truncated();

-- At commit: every transaction touched balances to zero and is well formed.
CREATE FUNCTION careline_timebank_txn_check() RETURNS trigger
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
CREATE CONSTRAINT TRIGGER timebank_entries_balanced AFTER INSERT ON timebank_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION careline_timebank_txn_check();

-- Accounts are made when first needed.
CREATE FUNCTION careline_timebank_account(p_kind text, p_owner_id bigint)
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

-- A resident who receives a service gets an account ("one per resident
-- receiving"); it starts at zero.
CREATE FUNCTION careline_volunteer_service_account() RETURNS trigger
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
CREATE TRIGGER volunteer_services_account AFTER INSERT ON volunteer_services
    FOR EACH ROW EXECUTE FUNCTION careline_volunteer_service_account();

-- The volunteer's provider row (and time-bank account) follow the volunteer.
CREATE FUNCTION careline_volunteer_sync() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_pid  bigint;
    v_old  text;
BEGIN
    SELECT p.id, p.webhook_url INTO v_pid, v_old FROM providers p WHERE p.volunteer_id = NEW.id;
    IF v_pid IS NULL THEN
        INSERT INTO providers (name, services, location, travel_mode, capacity, opening_hours,
                               phone, community_id, webhook_url, webhook_secret, active,
                               volunteer_id)
        VALUES (NEW.name || '(志愿者)', '{companionship}', NEW.location, NEW.travel_mode, 1,
                NEW.availability, NEW.phone, NEW.community_id, NEW.notify_url,
                NEW.notify_secret, NEW.active AND NEW.notify_url IS NOT NULL, NEW.id)
        RETURNING id INTO v_pid;
        INSERT INTO provider_hours (provider_id, dow, opens, closes)
        SELECT v_pid, s.dow, s.opens, s.closes FROM careline_hours_spans(NEW.availability) s;
        PERFORM careline_timebank_account('volunteer', NEW.id);
    ELSE
        UPDATE providers
        SET name = NEW.name || '(志愿者)', location = NEW.location,
            travel_mode = NEW.travel_mode, opening_hours = NEW.availability,
            phone = NEW.phone, community_id = NEW.community_id,
            webhook_url = NEW.notify_url,
            webhook_secret = coalesce(NEW.notify_secret, webhook_secret),
            endpoint_disabled_at = CASE WHEN NEW.notify_url IS DISTINCT FROM v_old
                                        THEN NULL ELSE endpoint_disabled_at END,
            endpoint_failing_since = CASE WHEN NEW.notify_url IS DISTINCT FROM v_old
                                          THEN NULL ELSE endpoint_failing_since END,
            active = NEW.active AND NEW.notify_url IS NOT NULL
        WHERE id = v_pid;
        IF TG_OP = 'UPDATE' AND NEW.availability IS DISTINCT FROM OLD.availability THEN
            DELETE FROM provider_hours WHERE provider_id = v_pid;
            INSERT INTO provider_hours (provider_id, dow, opens, closes)
            SELECT v_pid, s.dow, s.opens, s.closes FROM careline_hours_spans(NEW.availability) s;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER volunteers_sync AFTER INSERT OR UPDATE ON volunteers
    FOR EACH ROW EXECUTE FUNCTION careline_volunteer_sync();

-- Posts one service's 'earn' (pool -> its volunteer) or 'spend' (its
-- resident -> pool). p_minutes defaults to the service's minutes and may
-- not exceed them. Refusals change nothing:
--   422 missing_field / service_not_found   no service record to trace to
--   422 insufficient_balance                a spend the account cannot cover
--   422 no_recipient                        a spend for a community service
--   409 already_posted                      this service was earned (spent) before
CREATE FUNCTION careline_timebank_post(p_actor text, p_service_id bigint, p_kind text,
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

    v_txn := nextval('timebank_txn_seq');
    INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, service_id, actor)
    VALUES (v_txn, p_kind, v_pool, CASE p_kind WHEN 'earn' THEN -v_minutes ELSE v_minutes END,
            p_service_id, p_actor),
           (v_txn, p_kind, v_party, CASE p_kind WHEN 'earn' THEN v_minutes ELSE -v_minutes END,
            p_service_id, p_actor);

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
CREATE FUNCTION careline_timebank_grant(p_actor text, p_account_id bigint,
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
    v_txn := nextval('timebank_txn_seq');
    INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, note, actor)
    VALUES (v_txn, 'grant', v_pool, -p_minutes, p_note, p_actor),
           (v_txn, 'grant', p_account_id, p_minutes, p_note, p_actor);
    PERFORM careline_audit(p_actor, 'timebank.grant', 'timebank_account', p_account_id, NULL,
        jsonb_build_object('txn_id', v_txn, 'minutes', p_minutes, 'note', p_note));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object(
        'txn_id', v_txn, 'kind', 'grant', 'account_id', p_account_id, 'minutes', p_minutes,
        'balance_minutes', (SELECT balance_minutes FROM timebank_accounts
                            WHERE id = p_account_id)));
END;
$$;

-- A volunteer's companionship job completed: record it and credit the
-- ledger, in the transaction that completes it (see the header).
CREATE FUNCTION careline_companionship_completed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_volunteer bigint;
    v_call      calls%ROWTYPE;
    v_minutes   int;
    v_sid       bigint;
    v_earn      jsonb;
    v_spend     jsonb;
BEGIN
    SELECT p.volunteer_id INTO v_volunteer FROM providers p WHERE p.id = NEW.provider_id;
    IF v_volunteer IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_call FROM calls WHERE id = NEW.call_id;
    IF v_call.service <> 'companionship' THEN
        RETURN NULL;
    END IF;
    v_minutes := least(greatest(coalesce(
        nullif(current_setting('careline.companionship_minutes', true), '')::int, 60), 1), 720);

    INSERT INTO volunteer_services (volunteer_id, resident_id, call_id, kind, minutes, at, note)
    VALUES (v_volunteer, v_call.resident_id, v_call.id, 'companionship', v_minutes,
            NEW.completed_at, 'hotline call ' || v_call.id)
    ON CONFLICT (call_id) DO NOTHING
    RETURNING id INTO v_sid;
    IF v_sid IS NULL THEN
        RETURN NULL;            -- recorded before
    END IF;

    v_earn := careline_timebank_post('system', v_sid, 'earn');
    IF (v_earn ->> 'status')::int <> 201 THEN
        RAISE EXCEPTION 'time-bank earn for call % failed: %', v_call.id, v_earn -> 'body'
            USING ERRCODE = 'internal_error';
    END IF;
    -- The resident pays with banked minutes when they have enough; a 422
    -- here changed nothing and the pool pays.
    IF EXISTS (SELECT 1 FROM timebank_accounts a
               WHERE a.resident_id = v_call.resident_id AND a.balance_minutes >= v_minutes) THEN
        v_spend := careline_timebank_post('system', v_sid, 'spend');
    END IF;

    PERFORM careline_event('timebank.credited', v_call.id,
        jsonb_build_object('service_id', v_sid, 'volunteer_id', v_volunteer,
                           'offer_id', NEW.id, 'minutes', v_minutes,
                           'earn_txn', v_earn -> 'body' -> 'txn_id',
                           'spend_txn', CASE WHEN (v_spend ->> 'status')::int = 201
                                             THEN v_spend -> 'body' -> 'txn_id' END));
    RETURN NULL;
END;
$$;
CREATE TRIGGER offers_companionship_completed AFTER UPDATE OF completed_at ON offers
    FOR EACH ROW
    WHEN (OLD.completed_at IS NULL AND NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION careline_companionship_completed();

-- ===========================================================================
-- 养老服务: elderly services.

-- The six 社区居家养老服务中心 (湘华 is named), each tied to its provider row.
CREATE TABLE care_centres (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE
                     CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    provider_id      bigint UNIQUE REFERENCES providers (id) ON DELETE SET NULL,
    community_id     bigint REFERENCES communities (id),
    location         geography(Point, 4326) NOT NULL CHECK (careline_in_district(location)),
    named_in_report  boolean NOT NULL DEFAULT false,
    source           text CHECK (char_length(source) <= 1000),
    CONSTRAINT care_centres_named_have_source CHECK (NOT named_in_report OR source IS NOT NULL)
);
CREATE INDEX care_centres_location_gist ON care_centres USING gist (location);

-- 日接待居民: residents received per centre and day.
CREATE TABLE centre_daily_visits (
    centre_id  bigint NOT NULL REFERENCES care_centres (id) ON DELETE CASCADE,
    day        date NOT NULL,
    visits     integer NOT NULL CHECK (visits BETWEEN 0 AND 2000),
    PRIMARY KEY (centre_id, day)
);
CREATE INDEX centre_daily_visits_day_idx ON centre_daily_visits (day);

-- Normative documents (规范性文件); titles without the 《》.
CREATE TABLE policy_documents (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      text NOT NULL UNIQUE
               CHECK (char_length(title) BETWEEN 2 AND 200 AND title !~ '[《》]' AND title ~ '\S'),
    issuer     text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 100),
    section    text NOT NULL CHECK (section IN ('social-work', 'elderly-services',
                                                'public-health', 'estates', 'wechat')),
    issued_on  date,
    source     text NOT NULL CHECK (char_length(source) BETWEEN 1 AND 1000)
);

-- The hotline itself: the 居家养老服务信息平台 on 22222099.
CREATE TABLE hotlines (
    number           text PRIMARY KEY CHECK (number ~ '^[0-9]{8}$'),
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    operating_model  text NOT NULL
                     CHECK (operating_model IN ('民办公助', '公办公营', '公建民营', '民办民营')),
    services         text[] NOT NULL
                     CHECK (cardinality(services) >= 1 AND array_position(services, NULL) IS NULL
                            AND services <@ ARRAY['meal', 'housekeeping', 'daycare',
                                                  'companionship']::text[]),
    circle_minutes   integer NOT NULL CHECK (circle_minutes BETWEEN 1 AND 60),
    source           text NOT NULL CHECK (char_length(source) BETWEEN 1 AND 1000)
);

-- Headline totals that are not counts of things (population, people
-- covered, money), each with the report's sentence.
CREATE TABLE district_figures (
    key      text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    section  text NOT NULL CHECK (section IN ('social-work', 'elderly-services', 'public-health',
                                              'estates', 'wechat', 'hotline')),
    value    numeric NOT NULL CHECK (value >= 0),
    unit     text NOT NULL CHECK (unit IN ('people', 'yuan', 'percent', 'minutes')),
    bound    text NOT NULL CHECK (bound IN ('exact', 'lower_bound', 'approx', 'derived')),
    source   text NOT NULL CHECK (char_length(source) BETWEEN 1 AND 1000),
    note     text CHECK (char_length(note) <= 1000)
);

-- ===========================================================================
-- 无物管小区自治: estates, and the self-governing ones.

CREATE TABLE estates (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                     text NOT NULL UNIQUE
                             CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    community_id             bigint NOT NULL REFERENCES communities (id),
    location                 geography(Point, 4326) NOT NULL
                             CHECK (careline_in_district(location)),
    has_property_management  boolean NOT NULL,
    households               integer CHECK (households BETWEEN 1 AND 20000),
    synthetic                boolean NOT NULL DEFAULT true,
    -- Lets estate_autonomy insist on an estate without property management.
    CONSTRAINT estates_id_pm_key UNIQUE (id, has_property_management)
);
CREATE INDEX estates_community_idx ON estates (community_id);
CREATE INDEX estates_location_gist ON estates USING gist (location);

-- The owners' self-government pilots (业主自治), by year and batch. Only an
-- estate without property management can be one (composite FK); its
-- committee looks after 保洁、保安、保运转 (cleaning, security, upkeep).
-- A postponed pilot (暂缓实施) may have no committee yet.
CREATE TABLE estate_autonomy (
    estate_id                bigint PRIMARY KEY,
    has_property_management  boolean NOT NULL DEFAULT false
                             CHECK (NOT has_property_management),
    year                     smallint NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    batch                    smallint NOT NULL CHECK (batch BETWEEN 1 AND 12),
    started_on               date NOT NULL,
    status                   text NOT NULL
                             CHECK (status IN ('running', 'upgrading', 'in_progress', 'postponed')),
    committee_contact        text CHECK (char_length(committee_contact) BETWEEN 1 AND 100
                                         AND committee_contact ~ '\S'),
    committee_phone          text CHECK (committee_phone ~ '^[0-9]{5,15}$'),
    duties                   text[] NOT NULL DEFAULT '{}'
                             CHECK (array_position(duties, NULL) IS NULL
                                    AND coalesce(array_ndims(duties), 1) = 1
                                    AND duties <@ ARRAY['cleaning', 'security', 'upkeep']::text[]),
    CONSTRAINT estate_autonomy_no_pm
        FOREIGN KEY (estate_id, has_property_management)
        REFERENCES estates (id, has_property_management) ON DELETE CASCADE,
    CONSTRAINT estate_autonomy_started_in_year
        CHECK (extract(year FROM started_on) = year),
    CONSTRAINT estate_autonomy_contact_whole
        CHECK ((committee_contact IS NULL) = (committee_phone IS NULL)),
    CONSTRAINT estate_autonomy_committee
        CHECK (status = 'postponed'
               OR (committee_contact IS NOT NULL AND cardinality(duties) >= 1))
);
CREATE INDEX estate_autonomy_year_idx ON estate_autonomy (year, batch, status);

-- ===========================================================================
-- 公共卫生服务: mobile clinic points (流动巡诊点), one per estate.

CREATE TABLE clinic_services (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code  text NOT NULL UNIQUE
          CHECK (code IN ('checkup', 'chronic_screening', 'health_advice', 'home_visit')),
    name  text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Who it is for, e.g. '65岁以上老年人', '特殊人群'.
    audience text NOT NULL CHECK (char_length(audience) BETWEEN 1 AND 100)
);

CREATE TABLE clinic_points (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    estate_id  bigint NOT NULL UNIQUE REFERENCES estates (id),
    -- 小区 / 人口集聚地 / 物业管理处
    site_kind  text NOT NULL CHECK (site_kind IN ('estate', 'gathering_place', 'property_office')),
    location   geography(Point, 4326) NOT NULL CHECK (careline_in_district(location)),
    team       text NOT NULL CHECK (char_length(team) BETWEEN 1 AND 100),
    active     boolean NOT NULL DEFAULT true
);
CREATE INDEX clinic_points_location_gist ON clinic_points USING gist (location) WHERE active;

-- Weekly sessions in the district's local time; dow ISO (1 = Monday).
CREATE TABLE clinic_schedules (
    clinic_point_id  bigint NOT NULL REFERENCES clinic_points (id) ON DELETE CASCADE,
    dow              smallint NOT NULL CHECK (dow BETWEEN 1 AND 7),
    opens            time NOT NULL,
    closes           time NOT NULL,
    PRIMARY KEY (clinic_point_id, dow, opens),
    CHECK (opens < closes)
);

CREATE TABLE clinic_point_services (
    clinic_point_id  bigint NOT NULL REFERENCES clinic_points (id) ON DELETE CASCADE,
    service_id       bigint NOT NULL REFERENCES clinic_services (id),
    PRIMARY KEY (clinic_point_id, service_id)
);

-- 家庭医生签约, counted by community (no per-person health data here).
CREATE TABLE family_doctor_signups (
    community_id    bigint NOT NULL REFERENCES communities (id),
    as_of           date NOT NULL,
    signed          integer NOT NULL CHECK (signed >= 0),
    elderly_signed  integer NOT NULL CHECK (elderly_signed >= 0),
    synthetic       boolean NOT NULL,
    PRIMARY KEY (community_id, as_of),
    CHECK (elderly_signed <= signed)
);

-- 门诊及住院服务量 of the primary-care institutions, by month.
CREATE TABLE health_visit_counts (
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    kind       text NOT NULL CHECK (kind IN ('outpatient', 'inpatient')),
    visits     integer NOT NULL CHECK (visits BETWEEN 0 AND 1000000),
    synthetic  boolean NOT NULL,
    PRIMARY KEY (month, kind)
);

-- ===========================================================================
-- 网上群众路线: the WeChat group tree and the 在荷塘 public account.

-- Five levels: 1 district, 2 town/street, 3 village/community, 4 resident
-- group (居民小组), 5 residents. A child is exactly one level below its
-- parent (composite FK on the generated parent_level). members counts the
-- people whose home group this is (each person once, in the lowest group
-- they joined), so the sum over groups is the number of people reached; a
-- WeChat group holds at most 500.
CREATE TABLE wechat_groups (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id       bigint,
    level           smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    parent_level    smallint GENERATED ALWAYS AS (level - 1) STORED,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    members         integer NOT NULL CHECK (members BETWEEN 0 AND 500),
    subdistrict_id  bigint REFERENCES subdistricts (id),
    community_id    bigint REFERENCES communities (id),
    estate_id       bigint REFERENCES estates (id),
    synthetic       boolean NOT NULL DEFAULT true,
    CONSTRAINT wechat_groups_id_level_key UNIQUE (id, level),
    CONSTRAINT wechat_groups_parent_one_up
        FOREIGN KEY (parent_id, parent_level) REFERENCES wechat_groups (id, level),
    CONSTRAINT wechat_groups_root CHECK ((level = 1) = (parent_id IS NULL)),
    CONSTRAINT wechat_groups_subdistrict_level CHECK ((level = 2) = (subdistrict_id IS NOT NULL)),
    CONSTRAINT wechat_groups_community_level CHECK (community_id IS NULL OR level = 3),
    CONSTRAINT wechat_groups_estate_level CHECK (estate_id IS NULL OR level = 4)
);
CREATE INDEX wechat_groups_parent_idx ON wechat_groups (parent_id);
CREATE INDEX wechat_groups_community_idx ON wechat_groups (community_id);
CREATE INDEX wechat_groups_estate_idx ON wechat_groups (estate_id);

CREATE TABLE wechat_accounts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100),
    followers        integer NOT NULL CHECK (followers >= 0),
    followers_bound  text NOT NULL CHECK (followers_bound IN ('exact', 'lower_bound', 'approx')),
    as_of            date NOT NULL,
    source           text NOT NULL CHECK (char_length(source) BETWEEN 1 AND 1000)
);

CREATE TABLE wechat_articles (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES wechat_accounts (id) ON DELETE CASCADE,
    published_on  date NOT NULL,
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    reads         integer NOT NULL CHECK (reads >= 0),
    synthetic     boolean NOT NULL
);
CREATE INDEX wechat_articles_account_idx ON wechat_articles (account_id, published_on);

-- Monthly rank among the province's county-level government accounts.
CREATE TABLE wechat_rankings (
    account_id  bigint NOT NULL REFERENCES wechat_accounts (id) ON DELETE CASCADE,
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    rank        integer NOT NULL CHECK (rank >= 1),
    PRIMARY KEY (account_id, month)
);

-- ===========================================================================
-- Residents: their estate and their resident-group-level WeChat group.

ALTER TABLE residents
    ADD COLUMN estate_id bigint REFERENCES estates (id) ON DELETE SET NULL,
    ADD COLUMN wechat_group_id bigint REFERENCES wechat_groups (id) ON DELETE SET NULL;
CREATE INDEX residents_estate_idx ON residents (estate_id);
CREATE INDEX residents_wechat_group_idx ON residents (wechat_group_id);

-- A resident's group is a resident-group (level 4) one.
CREATE FUNCTION careline_resident_group_level() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM wechat_groups g
                   WHERE g.id = NEW.wechat_group_id AND g.level = 4) THEN
        RAISE EXCEPTION 'wechat group % is not a resident-group (level 4) group',
            NEW.wechat_group_id
            USING ERRCODE = 'check_violation', TABLE = 'residents', COLUMN = 'wechat_group_id';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER residents_wechat_group_level
    BEFORE INSERT OR UPDATE OF wechat_group_id ON residents
    FOR EACH ROW WHEN (NEW.wechat_group_id IS NOT NULL)
    EXECUTE FUNCTION careline_resident_group_level();

-- A group's level cannot change while residents hang off it.
CREATE FUNCTION careline_wechat_level_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.level <> 4 AND EXISTS (SELECT 1 FROM residents r WHERE r.wechat_group_id = NEW.id) THEN
        RAISE EXCEPTION 'wechat group % has residents; it must stay at level 4', NEW.id
            USING ERRCODE = 'check_violation', TABLE = 'wechat_groups', COLUMN = 'level';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER wechat_groups_level_guard BEFORE UPDATE OF level ON wechat_groups
    FOR EACH ROW WHEN (OLD.level = 4 AND NEW.level <> 4)
    EXECUTE FUNCTION careline_wechat_level_guard();

-- ===========================================================================
-- Functions for the console.

-- The nearest active clinic point and its next session starting after p_at
-- (sessions are local times in p_timezone, the district's).
--   200 {"clinic": {id, name, estate, lat, lon, distance_m, services: [...],
--                   schedule: [{dow, opens, closes}]},
--        "next_visit": ts | null, "next_visit_ends": ts | null}
--   404 resident_not_found | no_clinic
CREATE FUNCTION careline_clinic_nearest(p_resident_id bigint, p_at timestamptz,
                                        p_timezone text DEFAULT 'Asia/Shanghai')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_loc    geography;
    v_tz     text := coalesce(p_timezone, 'Asia/Shanghai');
    v_at     timestamptz := coalesce(p_at, now());
    v_day    date;
    v_c      record;
    v_next   record;
BEGIN
    SELECT r.location INTO v_loc FROM residents r WHERE r.id = p_resident_id;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'resident_not_found',
            format('There is no resident with id %s.', p_resident_id), NULL);
    END IF;
    SELECT c.id, c.name, e.name AS estate, c.location, c.site_kind,
           ST_Distance(c.location, v_loc, false) AS dist
    INTO v_c
    FROM clinic_points c JOIN estates e ON e.id = c.estate_id
    WHERE c.active
    ORDER BY c.location <-> v_loc, c.id
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN careline_error(404, 'no_clinic', 'There is no active clinic point.', NULL);
    END IF;

    v_day := (v_at AT TIME ZONE v_tz)::date;
    SELECT ((v_day + k) + s.opens) AT TIME ZONE v_tz AS starts,
           ((v_day + k) + s.closes) AT TIME ZONE v_tz AS ends
    INTO v_next
    FROM generate_series(0, 7) AS k
    JOIN clinic_schedules s
      ON s.clinic_point_id = v_c.id AND s.dow = extract(isodow FROM v_day + k)
    WHERE ((v_day + k) + s.opens) AT TIME ZONE v_tz > v_at
    ORDER BY 1
    LIMIT 1;

    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'clinic', jsonb_build_object(
            'id', v_c.id, 'name', v_c.name, 'estate', v_c.estate, 'site_kind', v_c.site_kind,
            'lat', ST_Y(v_c.location::geometry), 'lon', ST_X(v_c.location::geometry),
            'distance_m', round(v_c.dist::numeric, 1),
            'services', coalesce((SELECT jsonb_agg(jsonb_build_object('code', s.code,
                                                                      'name', s.name)
                                                   ORDER BY s.id)
                                  FROM clinic_point_services ps
                                  JOIN clinic_services s ON s.id = ps.service_id
                                  WHERE ps.clinic_point_id = v_c.id), '[]'::jsonb),
            'schedule', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                             'dow', s.dow,
                                             'opens', to_char(s.opens, 'HH24:MI'),
                                             'closes', to_char(s.closes, 'HH24:MI'))
                                         ORDER BY s.dow, s.opens)
                                  FROM clinic_schedules s
                                  WHERE s.clinic_point_id = v_c.id), '[]'::jsonb)),
        'next_visit', v_next.starts,
        'next_visit_ends', v_next.ends));
END;
$$;

-- What the resident card adds: the estate (and its owners' committee when
-- it governs itself; null while a postponed pilot has none) and the
-- resident-group WeChat group; "estate"/"wechat_group" are null when the
-- resident is not linked.
--   200 {"resident_id", "estate": {id, name, community, has_property_management,
--        self_governing, autonomy: {year, batch, status},
--        committee: {contact, phone, duties}}, "wechat_group": {id, name, level,
--        members, parent}}
--   404 resident_not_found
CREATE FUNCTION careline_resident_context(p_resident_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce((
        SELECT jsonb_build_object('status', 200, 'body', jsonb_build_object(
            'resident_id', r.id,
            'estate', CASE WHEN e.id IS NOT NULL THEN jsonb_build_object(
                'id', e.id,
                'name', e.name,
                'community', ec.name,
                'has_property_management', e.has_property_management,
                'self_governing', a.estate_id IS NOT NULL)
                || CASE WHEN a.estate_id IS NOT NULL THEN jsonb_build_object(
                       'autonomy', jsonb_build_object('year', a.year, 'batch', a.batch,
                                                      'status', a.status),
                       'committee', CASE WHEN a.committee_contact IS NOT NULL THEN
                           jsonb_build_object('contact', a.committee_contact,
                                              'phone', a.committee_phone,
                                              'duties', to_jsonb(a.duties)) END)
                   ELSE '{}'::jsonb END
                END,
            'wechat_group', CASE WHEN g.id IS NOT NULL THEN jsonb_build_object(
                'id', g.id, 'name', g.name, 'level', g.level, 'members', g.members,
                'parent', p.name) END))
        FROM residents r
        LEFT JOIN estates e ON e.id = r.estate_id
        LEFT JOIN communities ec ON ec.id = e.community_id
        LEFT JOIN estate_autonomy a ON a.estate_id = e.id
        LEFT JOIN wechat_groups g ON g.id = r.wechat_group_id
        LEFT JOIN wechat_groups p ON p.id = g.parent_id
        WHERE r.id = p_resident_id),
        careline_error(404, 'resident_not_found',
                       format('There is no resident with id %s.', p_resident_id), NULL));
$$;

-- ===========================================================================
-- Reports.
--
-- careline_report(name, params) ->
--   200 {"report": name, "columns": [...], "rows": [[...], ...],
--        "figures": {headline: value, ...}}
--   404 unknown_report; 422 unknown_field / invalid_value for bad params.
-- params (all optional): "from", "to" (local dates, inclusive) and
-- "timezone" (default Asia/Shanghai); the hotline and timebank reports use
-- them, the programme reports are the report's fixed figures.

-- A percentage rounded to p_digits, NULL when the whole is zero.
CREATE FUNCTION careline_pct(p_part numeric, p_whole numeric, p_digits int)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN p_whole > 0 THEN round(p_part * 100 / p_whole, p_digits) END;
$$;

CREATE FUNCTION careline_report_social_work()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH latest AS (SELECT max(year) AS y FROM social_work_projects),
    cov AS (
        SELECT count(*) AS subdistricts,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM social_work_project_areas pa
                   JOIN social_work_projects p ON p.id = pa.project_id
                   WHERE pa.subdistrict_id = s.id AND p.year = (SELECT y FROM latest))) AS covered
        FROM subdistricts s),
    fund AS (
        SELECT coalesce(sum(amount_yuan) FILTER (WHERE source_kind = 'district_budget'), 0) AS d,
               coalesce(sum(amount_yuan) FILTER (WHERE source_kind = 'higher_level'), 0) AS h,
               coalesce(sum(amount_yuan) FILTER (WHERE source_kind = 'social_resources'), 0) AS s
        FROM social_work_funding)
    SELECT jsonb_build_object(
        'report', 'social-work',
        'columns', jsonb_build_array('year', 'project', 'target_group', 'institution',
                                     'areas', 'synthetic'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(p.year, p.name, p.target_group, i.name,
                       (SELECT coalesce(jsonb_agg(s.name ORDER BY s.id), '[]'::jsonb)
                        FROM social_work_project_areas pa
                        JOIN subdistricts s ON s.id = pa.subdistrict_id
                        WHERE pa.project_id = p.id),
                       p.synthetic) ORDER BY p.year, p.id)
            FROM social_work_projects p
            JOIN social_work_institutions i ON i.id = p.institution_id), '[]'::jsonb),
        'figures', jsonb_build_object(
            'projects_2017', (SELECT count(*) FROM social_work_projects WHERE year = 2017),
            'projects_2018', (SELECT count(*) FROM social_work_projects WHERE year = 2018),
            'projects_by_year', (SELECT coalesce(jsonb_object_agg(y, n), '{}'::jsonb)
                                 FROM (SELECT year::text AS y, count(*) AS n
                                       FROM social_work_projects GROUP BY year) x),
            'institutions', (SELECT count(DISTINCT institution_id) FROM social_work_projects),
            'named_institutions', (SELECT coalesce(jsonb_agg(name ORDER BY id), '[]'::jsonb)
                                   FROM social_work_institutions WHERE NOT synthetic),
            'named_projects', (SELECT coalesce(jsonb_agg(name ORDER BY year, id), '[]'::jsonb)
                               FROM social_work_projects WHERE NOT synthetic),
            'funding_district', fund.d,
            'funding_higher_level', fund.h,
            'funding_social', fund.s,
            'funding_total', fund.d + fund.h + fund.s,
            'coverage_year', (SELECT y FROM latest),
            'subdistricts', cov.subdistricts,
            'subdistricts_covered', cov.covered,
            'subdistrict_coverage_pct', careline_pct(cov.covered, cov.subdistricts, 1)))
    FROM cov, fund;
$$;

CREATE FUNCTION careline_report_timebank(p_from timestamptz, p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH s AS (
        SELECT * FROM volunteer_services
        WHERE (p_from IS NULL OR at >= p_from) AND (p_to IS NULL OR at < p_to)),
    ledger AS (
        SELECT count(DISTINCT txn_id) AS txns,
               coalesce(sum(amount_minutes), 0) AS total,
               coalesce(sum(amount_minutes) FILTER (WHERE kind = 'earn' AND amount_minutes > 0), 0)
                   AS earned,
               coalesce(sum(amount_minutes) FILTER (WHERE kind = 'spend' AND amount_minutes > 0), 0)
                   AS spent,
               coalesce(sum(amount_minutes) FILTER (WHERE kind = 'grant' AND amount_minutes > 0), 0)
                   AS granted
        FROM timebank_entries)
    SELECT jsonb_build_object(
        'report', 'timebank',
        'columns', jsonb_build_array('volunteer_id', 'community', 'active', 'services',
                                     'minutes', 'balance_minutes'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(v.id, c.name, v.active,
                       (SELECT count(*) FROM s WHERE s.volunteer_id = v.id),
                       (SELECT coalesce(sum(s.minutes), 0) FROM s WHERE s.volunteer_id = v.id),
                       a.balance_minutes) ORDER BY v.id)
            FROM volunteers v
            LEFT JOIN communities c ON c.id = v.community_id
            LEFT JOIN timebank_accounts a ON a.volunteer_id = v.id), '[]'::jsonb),
        'figures', jsonb_build_object(
            'volunteers', (SELECT count(*) FROM volunteers),
            'volunteers_active', (SELECT count(*) FROM volunteers WHERE active),
            'volunteers_reachable', (SELECT count(*) FROM providers
                                     WHERE volunteer_id IS NOT NULL AND active),
            'services', (SELECT count(*) FROM s),
            'service_minutes', (SELECT coalesce(sum(minutes), 0) FROM s),
            'service_hours', (SELECT round(coalesce(sum(minutes), 0) / 60.0, 1) FROM s),
            'services_by_kind', (SELECT coalesce(jsonb_object_agg(kind, n), '{}'::jsonb)
                                 FROM (SELECT kind, count(*) AS n FROM s GROUP BY kind) x),
            'companionship_calls_credited', (SELECT count(*) FROM s WHERE call_id IS NOT NULL),
            'accounts', (SELECT count(*) FROM timebank_accounts),
            'resident_accounts', (SELECT count(*) FROM timebank_accounts WHERE kind = 'resident'),
            'transactions', ledger.txns,
            'minutes_earned', ledger.earned,
            'minutes_spent', ledger.spent,
            'minutes_granted', ledger.granted,
            'pool_balance', (SELECT coalesce(sum(balance_minutes), 0) FROM timebank_accounts
                             WHERE kind = 'pool'),
            'ledger_sum', ledger.total,
            'ledger_balanced', ledger.total = 0,
            'balances_match_entries', NOT EXISTS (
                SELECT 1 FROM timebank_accounts a
                WHERE a.balance_minutes <> (SELECT coalesce(sum(e.amount_minutes), 0)
                                            FROM timebank_entries e
                                            WHERE e.account_id = a.id))))
    FROM ledger;
$$;

CREATE FUNCTION careline_report_elderly_services()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH per_day AS (
        SELECT day, sum(visits) AS visits FROM centre_daily_visits GROUP BY day)
    SELECT jsonb_build_object(
        'report', 'elderly-services',
        'columns', jsonb_build_array('centre', 'community', 'provider_id', 'days', 'visits',
                                     'daily_avg'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(c.name, co.name, c.provider_id,
                       (SELECT count(*) FROM centre_daily_visits v WHERE v.centre_id = c.id),
                       (SELECT coalesce(sum(v.visits), 0) FROM centre_daily_visits v
                        WHERE v.centre_id = c.id),
                       (SELECT round(avg(v.visits), 1) FROM centre_daily_visits v
                        WHERE v.centre_id = c.id)) ORDER BY c.id)
            FROM care_centres c LEFT JOIN communities co ON co.id = c.community_id), '[]'::jsonb),
        'figures', jsonb_build_object(
            'centres', (SELECT count(*) FROM care_centres),
            'named_centres', (SELECT coalesce(jsonb_agg(name ORDER BY id), '[]'::jsonb)
                              FROM care_centres WHERE named_in_report),
            'days', (SELECT count(*) FROM per_day),
            'daily_visits_avg', (SELECT round(avg(visits), 1) FROM per_day),
            'daily_visits_min', (SELECT min(visits) FROM per_day),
            'policy_documents', (SELECT count(*) FROM policy_documents
                                 WHERE section = 'elderly-services'),
            'policy_titles', (SELECT coalesce(jsonb_agg('《' || title || '》' ORDER BY id),
                                              '[]'::jsonb)
                              FROM policy_documents WHERE section = 'elderly-services'),
            'hotline', (SELECT number FROM hotlines ORDER BY number LIMIT 1),
            'operating_model', (SELECT operating_model FROM hotlines ORDER BY number LIMIT 1),
            'circle_minutes', (SELECT circle_minutes FROM hotlines ORDER BY number LIMIT 1),
            'hotline_services', (SELECT to_jsonb(services) FROM hotlines ORDER BY number LIMIT 1),
            'elderly_covered', (SELECT value FROM district_figures WHERE key = 'elderly_covered'),
            'centre_investment_yuan', (SELECT value FROM district_figures
                                       WHERE key = 'centre_investment_yuan')));
$$;

CREATE FUNCTION careline_report_public_health()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH asof AS (SELECT max(month) AS m FROM health_visit_counts),
    cur AS (
        SELECT extract(year FROM m)::int AS y, extract(month FROM m)::int AS mm FROM asof),
    v AS (
        SELECT coalesce(sum(h.visits) FILTER (WHERE extract(year FROM h.month) = cur.y), 0) AS now_,
               coalesce(sum(h.visits) FILTER (WHERE extract(year FROM h.month) = cur.y - 1), 0)
                   AS prev
        FROM health_visit_counts h, cur
        WHERE extract(month FROM h.month) <= cur.mm),
    cov AS (
        SELECT count(*) AS estates,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM clinic_points c
                                              WHERE c.estate_id = e.id AND c.active)) AS covered
        FROM estates e)
    SELECT jsonb_build_object(
        'report', 'public-health',
        'columns', jsonb_build_array('month', 'visits_previous_year', 'visits'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(to_char(make_date(cur.y, m, 1), 'YYYY-MM'),
                       (SELECT coalesce(sum(h.visits), 0) FROM health_visit_counts h
                        WHERE h.month = make_date(cur.y - 1, m, 1)),
                       (SELECT coalesce(sum(h.visits), 0) FROM health_visit_counts h
                        WHERE h.month = make_date(cur.y, m, 1))) ORDER BY m)
            FROM cur, generate_series(1, cur.mm) AS m), '[]'::jsonb),
        'figures', jsonb_build_object(
            'clinic_points', (SELECT count(*) FROM clinic_points WHERE active),
            'estates', cov.estates,
            'estates_covered', cov.covered,
            'estate_coverage_pct', careline_pct(cov.covered, cov.estates, 1),
            'sessions_per_week', (SELECT count(*) FROM clinic_schedules s
                                  JOIN clinic_points c ON c.id = s.clinic_point_id
                                  WHERE c.active),
            'services', (SELECT coalesce(jsonb_object_agg(s.code, (
                                    SELECT count(*) FROM clinic_point_services ps
                                    WHERE ps.service_id = s.id)), '{}'::jsonb)
                         FROM clinic_services s),
            'family_doctor_signed', (SELECT coalesce(sum(f.signed), 0) FROM family_doctor_signups f
                                     WHERE f.as_of = (SELECT max(as_of) FROM family_doctor_signups
                                                      g WHERE g.community_id = f.community_id)),
            'visits_as_of', (SELECT (m + interval '1 month' - interval '1 day')::date FROM asof),
            'visits_2018', (SELECT v.now_ FROM cur WHERE cur.y = 2018),
            'visits_2017_same_period', (SELECT v.prev FROM cur WHERE cur.y = 2018),
            'visits', v.now_,
            'visits_previous_year', v.prev,
            'visits_growth', v.now_ - v.prev,
            'growth_pct', careline_pct(v.now_ - v.prev, v.prev, 2)))
    FROM cov, v;
$$;

CREATE FUNCTION careline_report_estates()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'report', 'estates',
        'columns', jsonb_build_array('year', 'batch', 'status', 'estates'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(year, batch, status, n)
                             ORDER BY year, batch, status)
            FROM (SELECT year, batch, status, count(*) AS n FROM estate_autonomy
                  GROUP BY year, batch, status) x), '[]'::jsonb),
        'figures', jsonb_build_object(
            'estates', (SELECT count(*) FROM estates),
            'with_property_management', (SELECT count(*) FROM estates
                                         WHERE has_property_management),
            'without_property_management', (SELECT count(*) FROM estates
                                            WHERE NOT has_property_management),
            'autonomy_total', (SELECT count(*) FROM estate_autonomy),
            'autonomy_2017', (SELECT count(*) FROM estate_autonomy WHERE year = 2017),
            'autonomy_2018', (SELECT count(*) FROM estate_autonomy WHERE year = 2018),
            'batches_2017', (SELECT count(DISTINCT batch) FROM estate_autonomy WHERE year = 2017),
            'batches_2018', (SELECT count(DISTINCT batch) FROM estate_autonomy WHERE year = 2018),
            'running_2017', (SELECT count(*) FROM estate_autonomy
                             WHERE year = 2017 AND status = 'running'),
            'running_2018', (SELECT count(*) FROM estate_autonomy
                             WHERE year = 2018 AND status = 'running'),
            'upgrading', (SELECT count(*) FROM estate_autonomy
                          WHERE year = 2018 AND status = 'upgrading'),
            'in_progress', (SELECT count(*) FROM estate_autonomy
                            WHERE year = 2018 AND status = 'in_progress'),
            'postponed', (SELECT count(*) FROM estate_autonomy
                          WHERE year = 2018 AND status = 'postponed'),
            'committees', (SELECT count(*) FROM estate_autonomy
                           WHERE committee_contact IS NOT NULL)));
$$;

CREATE FUNCTION careline_report_wechat()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH acct AS (SELECT * FROM wechat_accounts WHERE name = '在荷塘'),
    art AS (
        SELECT count(*) AS n, coalesce(sum(reads), 0) AS reads
        FROM wechat_articles WHERE account_id = (SELECT id FROM acct)),
    tops AS (   -- runs of consecutive months at rank 1
        SELECT count(*) AS len
        FROM (SELECT month,
                     (extract(year FROM month) * 12 + extract(month FROM month))::int
                     - row_number() OVER (ORDER BY month) AS grp
              FROM wechat_rankings
              WHERE account_id = (SELECT id FROM acct) AND rank = 1) r
        GROUP BY grp),
    g AS (SELECT count(*) AS groups, coalesce(sum(members), 0) AS people FROM wechat_groups),
    pop AS (SELECT value FROM district_figures WHERE key = 'population')
    SELECT jsonb_build_object(
        'report', 'wechat',
        'columns', jsonb_build_array('level', 'label', 'groups', 'members'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(l, (ARRAY['区级', '乡镇街道', '村(社区)',
                                                         '居民小组', '居民'])[l],
                       (SELECT count(*) FROM wechat_groups w WHERE w.level = l),
                       (SELECT coalesce(sum(members), 0) FROM wechat_groups w WHERE w.level = l))
                             ORDER BY l)
            FROM generate_series(1, 5) AS l), '[]'::jsonb),
        'figures', jsonb_build_object(
            'groups', g.groups,
            'levels', (SELECT count(DISTINCT level) FROM wechat_groups),
            'people', g.people,
            'population', (SELECT value FROM pop),
            'population_share_pct', careline_pct(g.people, (SELECT value FROM pop), 1),
            'account', (SELECT name FROM acct),
            'followers', (SELECT followers FROM acct),
            'articles', art.n,
            'reads_total', art.reads,
            'reads_avg', CASE WHEN art.n > 0 THEN round(art.reads::numeric / art.n) END,
            'months_top', (SELECT coalesce(max(len), 0) FROM tops)))
    FROM g, art;
$$;

-- The hotline's own report. A call belongs to the day it was logged (local
-- date) and to the care centre nearest its resident. Unmatched: the call is
-- unmatched now or went unmatched before an operator closed it (event
-- call.unmatched). Time to acceptance: answered_at - created_at of accepted
-- offers, in seconds.
CREATE FUNCTION careline_report_hotline(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH c AS (
        SELECT k.id, k.service, k.status,
               (k.created_at AT TIME ZONE p_tz)::date AS day,
               (SELECT cc.name FROM care_centres cc
                ORDER BY cc.location <-> r.location, cc.id LIMIT 1) AS centre,
               (k.status = 'unmatched'
                OR EXISTS (SELECT 1 FROM events e
                           WHERE e.call_id = k.id AND e.type = 'call.unmatched')) AS unmatched
        FROM calls k JOIN residents r ON r.id = k.resident_id
        WHERE (p_from IS NULL OR k.created_at >= p_from)
          AND (p_to IS NULL OR k.created_at < p_to)),
    acc AS (
        SELECT extract(epoch FROM o.answered_at - o.created_at) AS secs
        FROM offers o JOIN c ON c.id = o.call_id
        -- accepted, or accepted and then cancelled with its call (only
        -- those are 'cancelled' with an answer time)
        WHERE o.answered_at IS NOT NULL AND o.status IN ('accepted', 'cancelled'))
    SELECT jsonb_build_object(
        'report', 'hotline',
        'columns', jsonb_build_array('day', 'centre', 'service', 'status', 'calls', 'unmatched'),
        'rows', coalesce((
            SELECT jsonb_agg(jsonb_build_array(day, centre, service, status, n, u)
                             ORDER BY day, centre, service, status)
            FROM (SELECT day, centre, service, status, count(*) AS n,
                         count(*) FILTER (WHERE unmatched) AS u
                  FROM c GROUP BY day, centre, service, status) x), '[]'::jsonb),
        'figures', jsonb_build_object(
            'calls', (SELECT count(*) FROM c),
            'by_service', (SELECT coalesce(jsonb_object_agg(service, n), '{}'::jsonb)
                           FROM (SELECT service, count(*) AS n FROM c GROUP BY service) x),
            'by_status', (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
                          FROM (SELECT status, count(*) AS n FROM c GROUP BY status) x),
            'by_day', (SELECT coalesce(jsonb_object_agg(day, n), '{}'::jsonb)
                       FROM (SELECT day::text, count(*) AS n FROM c GROUP BY day) x),
            'by_centre', (SELECT coalesce(jsonb_object_agg(coalesce(centre, '(none)'), n),
                                          '{}'::jsonb)
                          FROM (SELECT centre, count(*) AS n FROM c GROUP BY centre) x),
            'accepted', (SELECT count(*) FROM acc),
            'accept_p50_s', (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)::numeric, 1)
                             FROM acc),
            'accept_p90_s', (SELECT round(percentile_cont(0.9) WITHIN GROUP (ORDER BY secs)::numeric, 1)
                             FROM acc),
            'unmatched', (SELECT count(*) FROM c WHERE unmatched),
            'unmatched_share_pct', (SELECT careline_pct(count(*) FILTER (WHERE unmatched),
                                                        count(*), 1) FROM c)));
$$;

CREATE FUNCTION careline_report(p_name text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_params jsonb := coalesce(p_params, '{}'::jsonb);
    v_key    text;
    v_tz     text;
    v_from   date;
    v_to     date;
    v_f      timestamptz;
    v_t      timestamptz;
BEGIN
    IF p_name IS NULL OR p_name NOT IN ('social-work', 'timebank', 'elderly-services',
                                        'public-health', 'estates', 'wechat', 'hotline') THEN
        RETURN careline_error(404, 'unknown_report',
            'There is no such report; try social-work, timebank, elderly-services, '
            'public-health, estates, wechat or hotline.', 'name');
    END IF;
    IF jsonb_typeof(v_params) <> 'object' THEN
        RETURN careline_error(400, 'invalid_body', 'The parameters must be a JSON object.', NULL);
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(v_params) LOOP
        IF v_key NOT IN ('from', 'to', 'timezone') THEN
            RETURN careline_error(422, 'unknown_field', format('Unknown field %s.', v_key), v_key);
        END IF;
    END LOOP;

    v_tz := coalesce(v_params ->> 'timezone', 'Asia/Shanghai');
    BEGIN
        PERFORM now() AT TIME ZONE v_tz;
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN careline_error(422, 'invalid_value', 'timezone is not a known time zone.',
                              'timezone');
    END;
    FOREACH v_key IN ARRAY ARRAY['from', 'to'] LOOP
        IF v_params ? v_key AND jsonb_typeof(v_params -> v_key) <> 'null' THEN
            IF jsonb_typeof(v_params -> v_key) <> 'string'
               OR (v_params ->> v_key) !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
                RETURN careline_error(422, 'invalid_value',
                    format('%s must be a date, YYYY-MM-DD.', v_key), v_key);
            END IF;
            BEGIN
                IF v_key = 'from' THEN
                    v_from := (v_params ->> v_key)::date;
                ELSE
                    v_to := (v_params ->> v_key)::date;
                END IF;
            EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
                RETURN careline_error(422, 'invalid_value',
                    format('%s is not a calendar date.', v_key), v_key);
            END;
        END IF;
    END LOOP;
    IF v_from > v_to THEN
        RETURN careline_error(422, 'invalid_value', 'from must not be after to.', 'from');
    END IF;
    v_f := v_from::timestamp AT TIME ZONE v_tz;
    v_t := (v_to + 1)::timestamp AT TIME ZONE v_tz;

    RETURN jsonb_build_object('status', 200, 'body', CASE p_name
        WHEN 'social-work'      THEN careline_report_social_work()
        WHEN 'timebank'         THEN careline_report_timebank(v_f, v_t)
        WHEN 'elderly-services' THEN careline_report_elderly_services()
        WHEN 'public-health'    THEN careline_report_public_health()
        WHEN 'estates'          THEN careline_report_estates()
        WHEN 'wechat'           THEN careline_report_wechat()
        ELSE careline_report_hotline(v_f, v_t, v_tz)
    END);
END;
$$;
