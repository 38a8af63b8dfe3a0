-- 0001_baseline.sql — careline's schema: tables, indexes, sequences, as
-- the migrations 0001-0015 of the first releases left them, squashed into
-- one file. Functions, trigger functions, their triggers and views are not
-- here: they live in sql/functions/ and are re-applied whenever a file
-- there changes (see README "Database and migrations").
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here; the
-- migrator owns schema_migrations). Everything lives in schema public.
-- Forward-only: never edit this file once applied; add 0002_... instead.
--
-- Conventions: bigint identity ids; timestamptz everywhere (wall-clock times
-- such as opening hours are read in the district's time zone, config default
-- Asia/Shanghai); points are geography(Point,4326) so distances come out in
-- metres; every rule that can be stated about one row is a CHECK, every link a
-- foreign key, so the daemon cannot write a state the dispatcher cannot read.

-- A superuser pre-creates it in dev and prod; here it is then a no-op.
CREATE EXTENSION IF NOT EXISTS postgis;

-- ---------------------------------------------------------------------------
-- Communities: operators and reports group people by 社区 and by the 街道/镇
-- above it; the centre point lets the console place a community on the map.
CREATE TABLE communities (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    street      text NOT NULL
                CHECK (char_length(street) BETWEEN 1 AND 100 AND street ~ '\S'),
    centre      geography(Point, 4326)
                CHECK (centre IS NULL OR NOT ST_IsEmpty(centre::geometry))
);

CREATE INDEX communities_centre_gist ON communities USING gist (centre);

-- ---------------------------------------------------------------------------
-- Residents: the people the hotline serves. The location is where help has
-- to go (or where the shuttle picks up), so it is mandatory. Personal data
-- under PIPL: read and changed only through audited functions.
CREATE TABLE residents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL
                  CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    -- Normalised by the app (no spaces/dashes, no +86/0086, no 0731 prefix).
    -- Not unique: a couple often shares one phone.
    phone         text NOT NULL CHECK (phone ~ '^[0-9]{5,15}$'),
    address       text NOT NULL
                  CHECK (char_length(address) BETWEEN 1 AND 300 AND address ~ '\S'),
    location      geography(Point, 4326) NOT NULL
                  CHECK (NOT ST_IsEmpty(location::geometry)),
    community_id  bigint REFERENCES communities (id),
    -- wheelchair / bedridden: day care needs the centre's shuttle.
    mobility      text NOT NULL DEFAULT 'walk'
                  CHECK (mobility IN ('walk', 'ebike', 'car', 'wheelchair', 'bedridden')),
    lives_alone   boolean NOT NULL DEFAULT false,
    disabled      boolean NOT NULL DEFAULT false,
    low_income    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Caller-ID lookup: the PBX hook hands us a number, we find who calls.
CREATE INDEX residents_phone_idx ON residents (phone);

-- Prefix search by name from the console (pg_trgm is not guaranteed).
CREATE INDEX residents_name_lower_idx ON residents (lower(name) text_pattern_ops);

CREATE INDEX residents_community_idx ON residents (community_id);

CREATE INDEX residents_location_gist ON residents USING gist (location);

-- ---------------------------------------------------------------------------
-- Providers: whoever can take a job (community centres, central kitchens,
-- housekeeping firms). Matching reads location, travel mode, capacity and
-- hours; the dispatcher reads the webhook endpoint and its signing secrets.
CREATE TABLE providers (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                      text NOT NULL
                              CHECK (char_length(name) BETWEEN 1 AND 200 AND name ~ '\S'),
    services                  text[] NOT NULL
                              CHECK (cardinality(services) >= 1
                                     AND array_ndims(services) = 1
                                     AND array_position(services, NULL) IS NULL
                                     AND services <@ ARRAY['meal', 'housekeeping',
                                                           'daycare', 'companionship']::text[]),
    location                  geography(Point, 4326) NOT NULL
                              CHECK (NOT ST_IsEmpty(location::geometry)),
    -- 'shuttle': the centre fetches day-care guests itself.
    travel_mode               text NOT NULL
                              CHECK (travel_mode IN ('walk', 'ebike', 'car', 'shuttle')),
    -- Jobs it can carry at once (accepted, not yet completed offers).
    capacity                  integer NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    -- The admin's readable spec, e.g. 'Mo-Fr 08:00-18:00; Sa 09:00-12:00';
    -- provider_hours holds the parsed form that matching uses.
    opening_hours             text NOT NULL
                              CHECK (char_length(opening_hours) BETWEEN 1 AND 500
                                     AND opening_hours ~ '\S'),
    phone                     text CHECK (phone ~ '^[0-9]{5,15}$'),
    community_id              bigint REFERENCES communities (id),
    webhook_url               text
                              CHECK (webhook_url ~ '^https?://[^[:space:]]+$'
                                     AND char_length(webhook_url) <= 2000),
    webhook_secret            text CHECK (webhook_secret ~ '^whsec_[A-Za-z0-9+/=]+$'),
    -- During a rotation both secrets sign, so receivers can switch over.
    webhook_secret_previous   text CHECK (webhook_secret_previous ~ '^whsec_[A-Za-z0-9+/=]+$'),
    webhook_secret_rotated_at timestamptz,
    endpoint_disabled_at      timestamptz,
    endpoint_failing_since    timestamptz,
    -- Fairness among equally good candidates: least recently offered first.
    last_offered_at           timestamptz,
    active                    boolean NOT NULL DEFAULT true,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- A webhook we cannot sign is a webhook we must not send.
    CONSTRAINT providers_webhook_needs_secret
        CHECK (webhook_url IS NULL OR webhook_secret IS NOT NULL),
    CONSTRAINT providers_previous_secret_has_rotation
        CHECK (webhook_secret_previous IS NULL OR webhook_secret_rotated_at IS NOT NULL)
);

CREATE INDEX providers_location_gist ON providers USING gist (location);

-- Matching prefilter, one small index per service. The planner uses one only
-- when the query spells the predicate with a literal service, e.g.
--   WHERE active AND 'meal' = ANY (services) AND ST_DWithin(location, $1, $2)
CREATE INDEX providers_meal_gist ON providers USING gist (location)
    WHERE active AND 'meal' = ANY (services);

CREATE INDEX providers_housekeeping_gist ON providers USING gist (location)
    WHERE active AND 'housekeeping' = ANY (services);

CREATE INDEX providers_daycare_gist ON providers USING gist (location)
    WHERE active AND 'daycare' = ANY (services);

CREATE INDEX providers_companionship_gist ON providers USING gist (location)
    WHERE active AND 'companionship' = ANY (services);

CREATE INDEX providers_community_idx ON providers (community_id);

-- ---------------------------------------------------------------------------
-- Provider hours: the opening_hours text parsed once on write, so "open when
-- the service is wanted" is an indexed lookup, not a parse per candidate.
-- Times are local wall-clock times in the district's time zone; dow is ISO
-- (1 = Monday, as extract(isodow ...)). A span past midnight is stored as two
-- rows; closes = '24:00' is allowed.
CREATE TABLE provider_hours (
    provider_id bigint NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    dow         smallint NOT NULL CHECK (dow BETWEEN 1 AND 7),
    opens       time NOT NULL,
    closes      time NOT NULL,
    PRIMARY KEY (provider_id, dow, opens),
    CHECK (opens < closes)
);

-- ---------------------------------------------------------------------------
-- API tokens: only a SHA-256 of each token is kept, so a leaked table cannot
-- be replayed; the prefix lets people tell their tokens apart. A provider
-- token is bound to exactly one provider, other roles to none.
CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL
                  CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    role          text NOT NULL CHECK (role IN ('operator', 'admin', 'provider')),
    provider_id   bigint REFERENCES providers (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    token_prefix  text NOT NULL
                  CHECK (token_prefix ~ '^[[:graph:]]{1,32}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT api_tokens_provider_role
        CHECK ((role = 'provider') = (provider_id IS NOT NULL)),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE INDEX api_tokens_provider_idx ON api_tokens (provider_id);

-- ---------------------------------------------------------------------------
-- Calls: one row per request taken on the hotline. The row is the unit the
-- 201 acknowledges, so the Idempotency-Key replay data lives on it too.
CREATE TABLE calls (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id      bigint NOT NULL REFERENCES residents (id),
    caller_phone     text NOT NULL CHECK (caller_phone ~ '^[0-9]{5,15}$'),
    service          text NOT NULL
                     CHECK (service IN ('meal', 'housekeeping', 'daycare', 'companionship')),
    wanted_at        timestamptz NOT NULL,
    notes            text NOT NULL DEFAULT '' CHECK (char_length(notes) <= 2000),
    urgency          text NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'urgent')),
    status           text NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'offered', 'accepted', 'completed',
                                       'cancelled', 'unmatched')),
    created_by       bigint REFERENCES api_tokens (id),
    -- Idempotency-Key: scoped per token; request_hash (SHA-256 of the
    -- canonical request) tells a replay from a key reused for another body.
    idempotency_key  text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     bytea CHECK (octet_length(request_hash) = 32),
    response         jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    -- What the call was dispatched with (strategy, timeout, k, public_url).
    dispatch_params  jsonb
                     CHECK (dispatch_params IS NULL OR jsonb_typeof(dispatch_params) = 'object'),
    CONSTRAINT calls_closed_iff_final
        CHECK ((closed_at IS NOT NULL) = (status IN ('completed', 'cancelled'))),
    CHECK (closed_at IS NULL OR closed_at >= created_at),
    CONSTRAINT calls_idempotency_scoped
        CHECK (idempotency_key IS NULL OR created_by IS NOT NULL),
    CONSTRAINT calls_idempotency_hashed
        CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
    CONSTRAINT calls_idempotency_key UNIQUE (created_by, idempotency_key),
    -- Lets a service record prove its resident is the call's resident.
    CONSTRAINT calls_id_resident_key UNIQUE (id, resident_id)
);

CREATE INDEX calls_status_created_idx ON calls (status, created_at);

-- Duplicate guard: "is there already an open call for this person and service?"
CREATE INDEX calls_open_resident_service_idx ON calls (resident_id, service)
    WHERE status IN ('new', 'offered', 'accepted', 'unmatched');

CREATE INDEX calls_created_desc_idx ON calls (created_at DESC);

CREATE INDEX calls_created_by_idx ON calls (created_by);

-- ---------------------------------------------------------------------------
-- Offers: the ranked candidates of one call, and what each of them did. Being
-- rows, offers and their timers survive restarts and can be taken over by any
-- carelined instance; the partial unique index makes a double booking
-- impossible even when two accepts race.
CREATE TABLE offers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         bigint NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    provider_id     bigint NOT NULL REFERENCES providers (id),
    rank            integer NOT NULL CHECK (rank >= 1),
    travel_minutes  numeric(6,2) NOT NULL CHECK (travel_minutes >= 0),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'offered', 'accepted', 'declined',
                                      'expired', 'cancelled')),
    respond_by      timestamptz,
    offered_at      timestamptz,
    answered_at     timestamptz,
    reason          text CHECK (char_length(reason) <= 500),
    arrived_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- One-time answer link of an offer: only its SHA-256 is kept; the link
    -- expires with the offer (respond_by) and is spent by the first answer.
    link_hash       bytea CHECK (octet_length(link_hash) = 32),
    link_used_at    timestamptz,
    CONSTRAINT offers_call_provider_key UNIQUE (call_id, provider_id),
    CONSTRAINT offers_call_rank_key UNIQUE (call_id, rank),
    -- Lets deliveries prove their provider is the offer's provider.
    CONSTRAINT offers_id_provider_key UNIQUE (id, provider_id),
    -- An open offer always has a deadline, or its timer would never fire.
    CONSTRAINT offers_offered_has_deadline
        CHECK (status <> 'offered' OR respond_by IS NOT NULL),
    -- Only an offer that was sent can be answered or time out.
    CONSTRAINT offers_sent_has_offered_at
        CHECK (status NOT IN ('offered', 'accepted', 'declined', 'expired')
               OR offered_at IS NOT NULL),
    CONSTRAINT offers_answer_matches_status
        CHECK (CASE
                 WHEN status IN ('accepted', 'declined') THEN answered_at IS NOT NULL
                 WHEN status IN ('pending', 'offered')   THEN answered_at IS NULL
                 ELSE true
               END),
    -- Arrival and completion are the accepted provider's to report (a job
    -- cancelled after arrival keeps its arrived_at).
    CONSTRAINT offers_completed_only_when_accepted
        CHECK (completed_at IS NULL OR status = 'accepted'),
    CONSTRAINT offers_arrived_only_after_accept
        CHECK (arrived_at IS NULL OR (status IN ('accepted', 'cancelled')
                                      AND answered_at IS NOT NULL))
);

CREATE UNIQUE INDEX offers_one_accepted_per_call ON offers (call_id)
    WHERE status = 'accepted';

-- Offer timers: due open offers.
CREATE INDEX offers_respond_by_idx ON offers (respond_by)
    WHERE status = 'offered';

-- Capacity: jobs a provider is carrying now.
CREATE INDEX offers_provider_busy_idx ON offers (provider_id)
    WHERE status = 'accepted' AND completed_at IS NULL;

CREATE INDEX offers_provider_idx ON offers (provider_id, created_at);

-- ---------------------------------------------------------------------------
-- Deliveries: the webhook outbox. The event is written in the same
-- transaction as the state change it announces, so nothing is sent that did
-- not happen and nothing that happened goes unsent. event_id is the
-- webhook-id header, stable across retries so receivers can deduplicate.
-- Instances claim due rows with FOR UPDATE SKIP LOCKED plus a lease; the
-- lease_token fences a stale instance whose lease has been taken over.
CREATE TABLE deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          text NOT NULL UNIQUE
                      DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', '')
                      CHECK (char_length(event_id) BETWEEN 1 AND 128
                             AND event_id ~ '^[A-Za-z0-9_-]+$'),
    provider_id       bigint NOT NULL REFERENCES providers (id),
    offer_id          bigint,          -- FK below, together with provider_id
    event_type        text NOT NULL CHECK (event_type ~ '^[a-z]+\.[a-z_]+$'),
    payload           jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text CHECK (char_length(lease_owner) BETWEEN 1 AND 200),
    lease_token       bigint NOT NULL DEFAULT 0 CHECK (lease_token >= 0),
    lease_expires_at  timestamptz,
    last_http_status  integer CHECK (last_http_status BETWEEN 100 AND 599),
    last_error        text CHECK (char_length(last_error) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    CONSTRAINT deliveries_offer_same_provider
        FOREIGN KEY (offer_id, provider_id) REFERENCES offers (id, provider_id)
        ON DELETE CASCADE,
    CONSTRAINT deliveries_lease_whole
        CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CONSTRAINT deliveries_delivered_iff_status
        CHECK ((delivered_at IS NOT NULL) = (status = 'delivered'))
);

CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at)
    WHERE status = 'pending';

CREATE INDEX deliveries_provider_idx ON deliveries (provider_id, created_at);

CREATE INDEX deliveries_offer_idx ON deliveries (offer_id);

-- One row per HTTP attempt: what operators and providers look at when asking
-- "why did my webhook not arrive"; lease_token shows which claim sent it.
CREATE TABLE delivery_attempts (
    delivery_id  bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    lease_token  bigint NOT NULL CHECK (lease_token >= 0),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    http_status  integer CHECK (http_status BETWEEN 100 AND 599),
    error        text CHECK (char_length(error) <= 2000),
    duration_ms  integer CHECK (duration_ms >= 0),
    PRIMARY KEY (delivery_id, attempt),
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);

-- ---------------------------------------------------------------------------
-- Audit log: PIPL wants to know who read or changed a person's record, and
-- operators want to know who moved a call. Rows carry ids and field values
-- of the entity, never free-form log text. Append-only: see the trigger.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 100 AND actor ~ '\S'),
    action     text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    entity     text NOT NULL CHECK (entity ~ '^[a-z_]{1,50}$'),
    entity_id  bigint,
    before     jsonb,
    after      jsonb
);

CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, at);

-- ---------------------------------------------------------------------------
-- Indexes for the list endpoints (newest first, filtered).
CREATE INDEX calls_status_id_idx ON calls (status, id);

CREATE INDEX calls_resident_id_idx ON calls (resident_id, id);

-- Operators' event stream (the console follows it by id).
CREATE TABLE events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    type     text NOT NULL CHECK (type ~ '^[a-z]+(\.[a-z_]+)+$'),
    call_id  bigint REFERENCES calls (id) ON DELETE SET NULL,
    data     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    -- The inserting transaction: the stream reads in commit order, see
    -- docs/DECISIONS.md ("The event stream follows commit order").
    xid      xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX events_call_idx ON events (call_id, id);

-- Lists: newest first, by status or by provider.
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id);

CREATE INDEX deliveries_provider_id_idx ON deliveries (provider_id, id);

-- Leases in flight: careline_next_due wants the earliest expiry.
CREATE INDEX deliveries_lease_idx ON deliveries (lease_expires_at)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;

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

-- A volunteer's provider row: only companionship, and only reachable ones
-- are active. (An ALTER because providers comes before volunteers.)
ALTER TABLE providers
    ADD COLUMN volunteer_id bigint REFERENCES volunteers (id),
    ADD CONSTRAINT providers_volunteer_companionship
        CHECK (volunteer_id IS NULL OR services = '{companionship}'::text[]),
    ADD CONSTRAINT providers_volunteer_reachable
        CHECK (volunteer_id IS NULL OR NOT active OR webhook_url IS NOT NULL);

CREATE UNIQUE INDEX providers_volunteer_key ON providers (volunteer_id)
    WHERE volunteer_id IS NOT NULL;

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

-- ===========================================================================
-- 养老服务: elderly services.

-- The six 社区居家养老服务中心 (湘华 is named), each tied to its provider row.
CREATE TABLE care_centres (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE
                     CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '\S'),
    provider_id      bigint UNIQUE REFERENCES providers (id) ON DELETE SET NULL,
    community_id     bigint REFERENCES communities (id),
    location         geography(Point, 4326) NOT NULL CHECK (location IS NOT NULL AND NOT ST_IsEmpty(location::geometry)
                                     AND ST_Y(location::geometry) BETWEEN 27.84 AND 27.92
                                     AND ST_X(location::geometry) BETWEEN 113.14 AND 113.24),
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
                             CHECK (location IS NOT NULL AND NOT ST_IsEmpty(location::geometry)
                                     AND ST_Y(location::geometry) BETWEEN 27.84 AND 27.92
                                     AND ST_X(location::geometry) BETWEEN 113.14 AND 113.24),
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
    location   geography(Point, 4326) NOT NULL CHECK (location IS NOT NULL AND NOT ST_IsEmpty(location::geometry)
                                     AND ST_Y(location::geometry) BETWEEN 27.84 AND 27.92
                                     AND ST_X(location::geometry) BETWEEN 113.14 AND 113.24),
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
-- (An ALTER because residents comes before estates and wechat_groups.)
ALTER TABLE residents
    ADD COLUMN estate_id bigint REFERENCES estates (id) ON DELETE SET NULL,
    ADD COLUMN wechat_group_id bigint REFERENCES wechat_groups (id) ON DELETE SET NULL;

CREATE INDEX residents_estate_idx ON residents (estate_id);

CREATE INDEX residents_wechat_group_idx ON residents (wechat_group_id);

-- The operators' console. Operator accounts with Argon2id password
-- hashes (made and checked by carelined with libsodium: the database never
-- sees a password), browser sessions whose tokens are stored hashed and
-- lapse when idle, sign-in throttling, and the caller-ID screen pop.
CREATE TABLE operators (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64
                                         AND name !~ '[[:space:][:cntrl:]]'),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role            text NOT NULL DEFAULT 'operator'
                    CHECK (role IN ('operator', 'admin')),
    -- Consecutive failed sign-ins: each one past the third doubles the wait.
    failed_count    int NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    last_failed_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);

CREATE UNIQUE INDEX operators_name_idx ON operators (lower(name));

CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id     bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    -- A console session acts through an API token minted for it, so that
    -- what calls record (created_by) and how Idempotency-Key is scoped stay
    -- one thing for scripts and for operators. The token's hash is the
    -- SHA-256 of the session's hash: no clt_ token can ever match it, so it
    -- cannot be used except through its session. Ending the session
    -- revokes it.
    token_id        bigint REFERENCES api_tokens (id),
    CHECK (last_seen_at >= created_at)
);

CREATE INDEX sessions_operator_idx ON sessions (operator_id) WHERE revoked_at IS NULL;

-- The operators' event stream carries ids, never a person. A
-- call.ringing event used to hold whole resident records (name, phone,
-- address), kept in the events table and replayed to any console that
-- connected with Last-Event-ID: 0. Now the number that rang is kept in a
-- ringings row, the event names that row and the residents' ids, and a
-- console fetches the number (GET /v1/ringing/{id}) and the cards
-- (GET /v1/residents/{id}) with its own credential. Replays are bounded,
-- and one statement both checks the credentials of the open streams and
-- reads the new events, so an event committed after a sign-out is never
-- sent on that session's stream.
CREATE TABLE ringings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    phone         text NOT NULL,
    resident_ids  bigint[] NOT NULL DEFAULT '{}'
);

CREATE INDEX ringings_at_idx ON ringings (at);

-- Personal data under PIPL. Every read of a resident's record through
-- the API leaves a row saying who read whom, when and by which route (one
-- row per resident per request, written by one INSERT ... SELECT inside the
-- function that reads, so an audited read costs no extra round trip); admins
-- see them at GET /v1/residents/{id}/access-log. Operator accounts are
-- created without ever letting a row that holds a password hash fail (a
-- refused row is quoted whole in the server's log). An offer link that does
-- not fit answers the same whether the offer exists or not.
CREATE TABLE resident_reads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    -- No foreign key: the record of who looked outlives the person's row.
    resident_id  bigint NOT NULL,
    actor        text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 100),
    operator_id  bigint,
    token_id     bigint,
    route        text NOT NULL CHECK (char_length(route) BETWEEN 1 AND 100)
);

CREATE INDEX resident_reads_resident_idx ON resident_reads (resident_id, id);

CREATE INDEX events_xid_idx ON events (xid, id);
