-- 0001_core.sql — careline core schema.
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here; the
-- migrator owns schema_migrations). Everything lives in schema public.
--
-- Conventions: bigint identity ids; timestamptz everywhere (wall-clock times
-- such as opening hours are read in the district's time zone, config default
-- Asia/Shanghai); points are geography(Point,4326) so distances come out in
-- metres; every rule that can be stated about one row is a CHECK, every link a
-- foreign key, so the daemon cannot write a state the dispatcher cannot read.

-- A superuser pre-creates it in dev and prod; here it is then a no-op.
CREATE EXTENSION IF NOT EXISTS postgis;

-- Keeps updated_at honest whatever code path writes the row.
CREATE FUNCTION careline_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

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
CREATE TRIGGER residents_touch BEFORE UPDATE ON residents
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();

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
CREATE TRIGGER providers_touch BEFORE UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();

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
    CONSTRAINT calls_closed_iff_final
        CHECK ((closed_at IS NOT NULL) = (status IN ('completed', 'cancelled'))),
    CHECK (closed_at IS NULL OR closed_at >= created_at),
    CONSTRAINT calls_idempotency_scoped
        CHECK (idempotency_key IS NULL OR created_by IS NOT NULL),
    CONSTRAINT calls_idempotency_hashed
        CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
    CONSTRAINT calls_idempotency_key UNIQUE (created_by, idempotency_key)
);
CREATE INDEX calls_status_created_idx ON calls (status, created_at);
-- Duplicate guard: "is there already an open call for this person and service?"
CREATE INDEX calls_open_resident_service_idx ON calls (resident_id, service)
    WHERE status IN ('new', 'offered', 'accepted', 'unmatched');
CREATE INDEX calls_created_desc_idx ON calls (created_at DESC);
CREATE INDEX calls_created_by_idx ON calls (created_by);
CREATE TRIGGER calls_touch BEFORE UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION careline_touch_updated_at();

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
                      CHECK (event_id ~ '^[A-Za-z0-9_-]{1,128}$'),
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

-- History is not rewritten; retention may still DELETE old rows.
CREATE FUNCTION careline_audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION careline_audit_log_immutable();
