-- sql/bench/dataset.sql — the benchmark district for `make bench`.
--
--   psql -v ON_ERROR_STOP=1 [-v receiver_url=http://127.0.0.1:PORT/hooks] -f sql/bench/dataset.sql
--
-- With receiver_url every active provider gets the webhook endpoint
-- receiver_url/<id> and one shared signing secret,
-- 'whsec_' || base64(sha256('careline-bench')), as a stand-in receiver
-- (build/demo-receiver --secret) needs; without it providers have none.
--
-- Loads into a freshly migrated database: 16 communities, 2,000 providers
-- and 50,000 residents spread over Hetang district's built-up area
-- (27.84–27.92 N, 113.14–113.24 E), and 200 days of history (50,000 calls
-- with their offers and webhooks). It empties every careline table first.
-- Deterministic: setseed() and generate_series, draws taken in id order, so
-- the same PostgreSQL major version gives the same rows and ids.
--
-- Everything is synthetic: names, addresses and (fictitious) phone numbers.
--
-- The mix, roughly as a district of 50,000 elderly people would have it:
--   providers   6% day-care centres (daycare+meal, own shuttle, 10-30 jobs)
--              28% kitchens and canteens (meal; e-bike, some by car, 4-20)
--              36% housekeeping (e-bike, on foot or by car, 2-15; some also
--                  companionship)
--              14% companionship (social workers, volunteers; on foot, 3-10)
--              16% car-based firms (meal+housekeeping or
--                  housekeeping+companionship, 6-20)
--               3% of all paused (active = false)
--   residents  95% clustered around a community (about 600 m spread),
--               5% scattered with no community; mobility 68% walk, 10% e-bike,
--               3% car, 11% wheelchair, 8% bedridden; every 12th shares the
--               phone and address of the one before (couples).
-- Opening hours come from templates of readable text, parsed into
-- provider_hours by careline_hours_spans (the one grammar, as the daemon's
-- provider save does), so the two cannot disagree.

\set ON_ERROR_STOP 1
\if :{?receiver_url}
\else
\set receiver_url ''
\endif

BEGIN;

-- CASCADE also empties tables later schema files hang off these (events, ...).
SET LOCAL client_min_messages = warning;
TRUNCATE audit_log, delivery_attempts, deliveries, offers, calls, api_tokens,
         provider_hours, providers, residents, communities
    RESTART IDENTITY CASCADE;

SELECT setseed(0.2099) AS seeded \gset

-- ---------------------------------------------------------------------------
-- Communities (the demo district's 16, same places).
CREATE TEMP TABLE bench_community (ord, name, street, road, lat, lon) ON COMMIT DROP AS
VALUES
    ( 1, '湘华社区',   '月塘街道',   '新华西路',  27.8580, 113.1520),
    ( 2, '月塘社区',   '月塘街道',   '月塘路',    27.8500, 113.1600),
    ( 3, '八达社区',   '月塘街道',   '八达路',    27.8630, 113.1660),
    ( 4, '宋家桥社区', '宋家桥街道', '红旗北路',  27.8520, 113.1800),
    ( 5, '新塘社区',   '宋家桥街道', '新塘路',    27.8600, 113.1920),
    ( 6, '樟树社区',   '宋家桥街道', '樟树路',    27.8480, 113.1990),
    ( 7, '桂花社区',   '桂花街道',   '桂花路',    27.8750, 113.1720),
    ( 8, '荷花社区',   '桂花街道',   '荷花路',    27.8820, 113.1600),
    ( 9, '东环社区',   '桂花街道',   '东环北路',  27.8780, 113.1880),
    (10, '茨菇塘社区', '茨菇塘街道', '茨菇塘路',  27.8930, 113.1520),
    (11, '铁东社区',   '茨菇塘街道', '铁东路',    27.9000, 113.1650),
    (12, '金山社区',   '金山街道',   '金山路',    27.9060, 113.1820),
    (13, '松石社区',   '金山街道',   '松石路',    27.9120, 113.1960),
    (14, '金钩山社区', '金山街道',   '金钩山路',  27.8970, 113.2050),
    (15, '明照社区',   '明照街道',   '明照路',    27.8800, 113.2180),
    (16, '星光社区',   '明照街道',   '星光路',    27.8660, 113.2260);

INSERT INTO communities (name, street, centre)
SELECT name, street, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography
FROM bench_community
ORDER BY ord;

-- ---------------------------------------------------------------------------
-- Opening-hours templates per kind of provider.
CREATE TEMP TABLE bench_hours (kind, ord, text) ON COMMIT DROP AS
VALUES
    ('centre', 1, 'Mo-Fr 07:30-18:00; Sa 08:00-12:00'),
    ('centre', 2, 'Mo-Fr 08:00-17:30'),
    ('centre', 3, 'Mo-Sa 08:00-17:30'),
    ('centre', 4, 'Mo-Fr 08:00-17:00; Sa-Su 09:00-12:00'),
    ('kitchen', 1, 'Mo-Su 06:30-19:30'),
    ('kitchen', 2, 'Mo-Sa 10:00-19:00'),
    ('kitchen', 3, 'Mo-Fr 10:30-13:30; Sa-Su 11:00-13:00'),
    ('kitchen', 4, 'Mo-Su 07:00-20:00'),
    ('kitchen', 5, 'Mo-Su 10:00-13:30,16:30-19:00'),
    ('kitchen', 6, 'Mo-Su 06:00-21:00'),
    ('housekeeping', 1, 'Mo-Su 08:00-20:00'),
    ('housekeeping', 2, 'Mo-Sa 08:00-18:00'),
    ('housekeeping', 3, 'Mo-Fr 08:30-17:30'),
    ('housekeeping', 4, 'Mo-Fr 08:00-18:00; Sa 09:00-12:00'),
    ('housekeeping', 5, 'Tu-Su 08:00-18:00'),
    ('housekeeping', 6, 'Mo-Su 07:30-19:30'),
    ('companionship', 1, 'Mo-Fr 09:00-17:00'),
    ('companionship', 2, 'Mo-Su 09:00-18:00'),
    ('companionship', 3, 'Sa-Su 09:00-17:00'),
    ('companionship', 4, 'Mo,We,Fr 14:00-20:00'),
    ('firm', 1, 'Mo-Su 08:00-20:00'),
    ('firm', 2, 'Mo-Sa 07:30-19:00'),
    ('firm', 3, '24/7'),
    ('firm', 4, 'Mo-Su 10:00-13:00');

-- ---------------------------------------------------------------------------
-- Providers: 2,000. Draws first (one row per provider, in order).
CREATE TEMP TABLE bench_pdraw ON COMMIT DROP AS
SELECT n,
       random() AS r_kind, random() AS r_mode, random() AS r_cap, random() AS r_hours,
       random() AS r_comm, random() AS r_scat,
       random() AS r_dy1, random() AS r_dy2, random() AS r_dy3,
       random() AS r_dx1, random() AS r_dx2, random() AS r_dx3,
       random() AS r_sy, random() AS r_sx, random() AS r_extra, random() AS r_active,
       random() AS r_name
FROM generate_series(1, 2000) AS n
ORDER BY n;

CREATE TEMP TABLE bench_provider ON COMMIT DROP AS
SELECT d.n,
       k.kind,
       CASE k.kind
           WHEN 'centre' THEN '{daycare,meal}'::text[]
           WHEN 'kitchen' THEN '{meal}'::text[]
           WHEN 'housekeeping' THEN CASE WHEN d.r_extra < 0.15
                                         THEN '{companionship,housekeeping}'::text[]
                                         ELSE '{housekeeping}'::text[] END
           WHEN 'companionship' THEN '{companionship}'::text[]
           ELSE CASE WHEN d.r_extra < 0.6 THEN '{housekeeping,meal}'::text[]
                     ELSE '{companionship,housekeeping}'::text[] END
       END AS services,
       CASE k.kind
           WHEN 'centre' THEN 'shuttle'
           WHEN 'kitchen' THEN CASE WHEN d.r_mode < 0.85 THEN 'ebike' ELSE 'car' END
           WHEN 'housekeeping' THEN CASE WHEN d.r_mode < 0.55 THEN 'ebike'
                                         WHEN d.r_mode < 0.90 THEN 'walk'
                                         ELSE 'car' END
           WHEN 'companionship' THEN 'walk'
           ELSE 'car'
       END AS travel_mode,
       CASE k.kind
           WHEN 'centre' THEN 10 + floor(d.r_cap * 21)::int
           WHEN 'kitchen' THEN 4 + floor(d.r_cap * 17)::int
           WHEN 'housekeeping' THEN 2 + floor(d.r_cap * 14)::int
           WHEN 'companionship' THEN 3 + floor(d.r_cap * 8)::int
           ELSE 6 + floor(d.r_cap * 15)::int
       END AS capacity,
       (SELECT h.text FROM bench_hours h
        WHERE h.kind = k.kind
        ORDER BY h.ord
        OFFSET floor(d.r_hours * (SELECT count(*) FROM bench_hours x WHERE x.kind = k.kind))
        LIMIT 1) AS opening_hours,
       CASE WHEN d.r_scat < 0.30 AND k.kind <> 'centre' THEN NULL
            ELSE 1 + floor(d.r_comm * 16)::int END AS community_ord,
       d.r_scat, d.r_sy, d.r_sx, d.r_dy1, d.r_dy2, d.r_dy3, d.r_dx1, d.r_dx2, d.r_dx3,
       d.r_active, d.r_name
FROM bench_pdraw d
CROSS JOIN LATERAL (SELECT CASE WHEN d.r_kind < 0.06 THEN 'centre'
                                WHEN d.r_kind < 0.34 THEN 'kitchen'
                                WHEN d.r_kind < 0.70 THEN 'housekeeping'
                                WHEN d.r_kind < 0.84 THEN 'companionship'
                                ELSE 'firm' END AS kind) k;

-- Centres sit near their community's centre, 70% of the others around a
-- community (about 800 m spread), the rest anywhere in the box.
INSERT INTO providers (name, services, location, travel_mode, capacity,
                       opening_hours, phone, community_id, active)
SELECT coalesce(c.name, '荷塘区')
           || ('{幸福,康乐,福寿,颐年,安康,长青,夕阳红,爱心,邻里,暖阳,和美,惠民}'::text[])
              [1 + floor(p.r_name * 12)::int]
           || CASE p.kind
                  WHEN 'centre' THEN '居家养老服务中心'
                  WHEN 'kitchen' THEN '长者食堂'
                  WHEN 'housekeeping' THEN '家政服务部'
                  WHEN 'companionship' THEN '陪伴志愿服务队'
                  ELSE '居家服务有限公司'
              END || p.n || '号' AS name,
       p.services,
       ST_SetSRID(ST_MakePoint(
           CASE WHEN p.community_ord IS NULL THEN 113.1410 + p.r_sx * 0.0980
                ELSE least(113.2390, greatest(113.1410, c.lon
                     + (p.r_dx1 + p.r_dx2 + p.r_dx3 - 1.5)
                       * CASE WHEN p.kind = 'centre' THEN 0.004 ELSE 0.016 END)) END,
           CASE WHEN p.community_ord IS NULL THEN 27.8410 + p.r_sy * 0.0780
                ELSE least(27.9190, greatest(27.8410, c.lat
                     + (p.r_dy1 + p.r_dy2 + p.r_dy3 - 1.5)
                       * CASE WHEN p.kind = 'centre' THEN 0.0036 ELSE 0.0144 END)) END),
           4326)::geography,
       p.travel_mode, p.capacity, p.opening_hours,
       '2861' || lpad(p.n::text, 4, '0'),               -- fictitious landline
       co.id,
       p.r_active >= 0.03
FROM bench_provider p
LEFT JOIN bench_community c ON c.ord = p.community_ord
LEFT JOIN communities co ON co.name = c.name
ORDER BY p.n;

UPDATE providers
SET webhook_url    = rtrim(:'receiver_url', '/') || '/' || id,
    webhook_secret = 'whsec_' || encode(sha256(convert_to('careline-bench', 'UTF8')), 'base64')
WHERE :'receiver_url' <> '' AND active;

-- Hours: each template's text parsed once.
INSERT INTO provider_hours (provider_id, dow, opens, closes)
SELECT p.id, s.dow, s.opens, s.closes
FROM providers p
JOIN (SELECT t.text, h.dow, h.opens, h.closes
      FROM (SELECT DISTINCT text FROM bench_hours) t
      CROSS JOIN LATERAL careline_hours_spans(t.text) AS h) s
    ON s.text = p.opening_hours
ORDER BY 1, 2, 3;

-- ---------------------------------------------------------------------------
-- Residents: 50,000.
CREATE TEMP TABLE bench_rdraw ON COMMIT DROP AS
SELECT n,
       random() AS r_comm,  random() AS r_dy1, random() AS r_dy2, random() AS r_dy3,
       random() AS r_dx1,   random() AS r_dx2, random() AS r_dx3,
       random() AS r_scat,  random() AS r_sy,  random() AS r_sx,
       random() AS r_no,    random() AS r_bldg, random() AS r_unit, random() AS r_room,
       random() AS r_phone,
       random() AS r_sur,   random() AS r_given, random() AS r_mob,
       random() AS r_alone, random() AS r_dis, random() AS r_low, random() AS r_age
FROM generate_series(1, 50000) AS n
ORDER BY n;

CREATE TEMP TABLE bench_household ON COMMIT DROP AS
SELECT d.n AS hh,
       CASE WHEN d.r_scat < 0.05 THEN NULL
            ELSE 1 + floor(d.r_comm * 16)::int END AS community_ord,
       CASE WHEN d.r_scat < 0.05 THEN 27.8410 + d.r_sy * 0.0780
            ELSE least(27.9190, greatest(27.8410,
                     c.lat + (d.r_dy1 + d.r_dy2 + d.r_dy3 - 1.5) * 0.0108)) END AS lat,
       CASE WHEN d.r_scat < 0.05 THEN 113.1410 + d.r_sx * 0.0980
            ELSE least(113.2390, greatest(113.1410,
                     c.lon + (d.r_dx1 + d.r_dx2 + d.r_dx3 - 1.5) * 0.0120)) END AS lon,
       '荷塘区' || c.road || (1 + floor(d.r_no * 280))::int || '号'
               || (1 + floor(d.r_bldg * 12))::int || '栋'
               || (1 + floor(d.r_unit * 4))::int || '单元'
               || (1 + floor(d.r_room * 7))::int || '0' || (1 + floor(d.r_no * 4))::int || '室'
           AS address,
       -- Fictitious numbers: 139000xxxxx mobiles, 289xxxxx landlines.
       CASE WHEN d.r_phone < 0.8 THEN '139000' || lpad(d.n::text, 5, '0')
            ELSE '28' || lpad(d.n::text, 6, '0') END AS phone
FROM bench_rdraw d
JOIN bench_community c ON c.ord = 1 + floor(d.r_comm * 16)::int
WHERE d.n % 12 <> 0;

INSERT INTO residents (name, phone, address, location, community_id, mobility,
                       lives_alone, disabled, low_income, created_at, updated_at)
SELECT x.name, h.phone, h.address,
       ST_SetSRID(ST_MakePoint(h.lon, h.lat), 4326)::geography,
       co.id, x.mobility,
       x.lives_alone, x.disabled, x.low_income, x.created_at, x.created_at
FROM (
    SELECT d.n,
           CASE WHEN d.n % 12 = 0 THEN d.n - 1 ELSE d.n END AS hh,
           ('{刘,李,陈,王,张,周,谭,罗,彭,唐,邓,易,龚,文,黄,杨,胡,曾,谢,肖,贺,袁,段,廖,蒋,朱,丁,钟,邹,欧阳}'::text[])
               [1 + floor(d.r_sur * 30)::int]
           || ('{建国,国华,德明,志强,春生,永福,长庚,运生,立新,卫东,建华,光明,爱民,振兴,新民,'
               '秋菊,桂英,秀兰,淑珍,玉兰,冬梅,凤英,翠花,春兰,爱华,红梅,素芬,美玲,满秀,菊香,'
               '华,英,明,芳,强,兰,军,平,珍,福}'::text[])
               [1 + floor(d.r_given * 40)::int] AS name,
           CASE WHEN d.r_mob < 0.68 THEN 'walk'
                WHEN d.r_mob < 0.78 THEN 'ebike'
                WHEN d.r_mob < 0.81 THEN 'car'
                WHEN d.r_mob < 0.92 THEN 'wheelchair'
                ELSE 'bedridden' END AS mobility,
           (d.n % 12 NOT IN (0, 11) AND d.r_alone < 0.36) AS lives_alone,
           CASE WHEN d.r_mob >= 0.81 THEN d.r_dis < 0.70
                ELSE d.r_dis < 0.05 END AS disabled,
           d.r_low < 0.15 AS low_income,
           now() - make_interval(days => floor(d.r_age * 700)::int) AS created_at
    FROM bench_rdraw d
) x
JOIN bench_household h ON h.hh = x.hh
LEFT JOIN bench_community c ON c.ord = h.community_ord
LEFT JOIN communities co ON co.name = c.name
ORDER BY x.n;

-- ---------------------------------------------------------------------------
-- History: 50,000 calls over the last 200 days (about 250 a day), so the
-- planner sees the tables as they are in service, not empty. 85% completed
-- (rank 1 accepted and done, ranks 2-5 never sent), 10% cancelled (rank 1
-- offered and expired), 5% unmatched (no candidate). One delivered
-- offer.created webhook with one attempt per sent offer, one audit row per
-- call. The bench's own calls come after these (scripts/bench.sh removes
-- them between runs by id).
CREATE TEMP TABLE bench_cdraw ON COMMIT DROP AS
SELECT n, random() AS r_res, random() AS r_svc, random() AS r_status, random() AS r_age,
       random() AS r_prov, random() AS r_min, random() AS r_answer, random() AS r_done
FROM generate_series(1, 50000) AS n
ORDER BY n;

CREATE TEMP TABLE bench_pool ON COMMIT DROP AS
SELECT s.service, array_agg(p.id ORDER BY p.id) AS ids
FROM unnest('{meal,housekeeping,daycare,companionship}'::text[]) AS s(service)
JOIN providers p ON s.service = ANY (p.services) AND p.active
GROUP BY s.service;

CREATE TEMP TABLE bench_call ON COMMIT DROP AS
SELECT d.n,
       1 + floor(d.r_res * 50000)::bigint AS resident_id,
       CASE WHEN d.r_svc < 0.55 THEN 'meal' WHEN d.r_svc < 0.85 THEN 'housekeeping'
            WHEN d.r_svc < 0.93 THEN 'daycare' ELSE 'companionship' END AS service,
       CASE WHEN d.r_status < 0.85 THEN 'completed' WHEN d.r_status < 0.95 THEN 'cancelled'
            ELSE 'unmatched' END AS status,
       -- Oldest first, so ids follow time.
       date_trunc('second', now()) - make_interval(secs => (50001 - d.n) * 345.6) AS created_at,
       d.r_prov, d.r_min, d.r_answer, d.r_done
FROM bench_cdraw d;

INSERT INTO calls (resident_id, caller_phone, service, wanted_at, notes, urgency, status,
                   created_at, updated_at, closed_at)
SELECT c.resident_id, r.phone, c.service, c.created_at, '',
       CASE WHEN c.n % 20 = 0 THEN 'urgent' ELSE 'normal' END, c.status,
       c.created_at, c.created_at + interval '2 hours',
       CASE WHEN c.status IN ('completed', 'cancelled') THEN c.created_at + interval '2 hours' END
FROM bench_call c
JOIN residents r ON r.id = c.resident_id
ORDER BY c.n;

-- Calls got ids 1..50000 in n order (fresh identity).
INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status, respond_by,
                    offered_at, answered_at, arrived_at, completed_at, created_at)
SELECT c.n, pl.ids[1 + (floor(c.r_prov * cardinality(pl.ids))::int + k - 1) % cardinality(pl.ids)],
       k, round((0.5 + c.r_min * 3 + k * 1.5)::numeric, 2),
       CASE WHEN k > 1 THEN 'cancelled' WHEN c.status = 'completed' THEN 'accepted' ELSE 'expired' END,
       CASE WHEN k = 1 THEN c.created_at + interval '2 minutes' END,
       CASE WHEN k = 1 THEN c.created_at END,
       CASE WHEN k = 1 AND c.status = 'completed'
            THEN c.created_at + make_interval(secs => 5 + c.r_answer * 60) END,
       CASE WHEN k = 1 AND c.status = 'completed' THEN c.created_at + interval '40 minutes' END,
       CASE WHEN k = 1 AND c.status = 'completed' THEN c.created_at + interval '100 minutes' END,
       c.created_at
FROM bench_call c
JOIN bench_pool pl ON pl.service = c.service
CROSS JOIN generate_series(1, 5) AS k
WHERE c.status <> 'unmatched'
ORDER BY c.n, k;

INSERT INTO deliveries (provider_id, offer_id, event_type, payload, status, attempts,
                        next_attempt_at, created_at, delivered_at, last_http_status)
SELECT o.provider_id, o.id, 'offer.created',
       jsonb_build_object('type', 'offer.created', 'timestamp', o.offered_at,
                          'data', jsonb_build_object('call_id', o.call_id, 'offer_id', o.id)),
       'delivered', 1, o.offered_at, o.offered_at, o.offered_at + interval '150 milliseconds', 200
FROM offers o
WHERE o.offered_at IS NOT NULL
ORDER BY o.id;

INSERT INTO delivery_attempts (delivery_id, attempt, lease_token, started_at, finished_at,
                               http_status, duration_ms)
SELECT d.id, 1, 1, d.created_at, d.delivered_at, 200, 150
FROM deliveries d
ORDER BY d.id;

INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after)
SELECT c.created_at, 'token:0', 'call.create', 'call', c.id, NULL,
       jsonb_build_object('status', 'new', 'service', c.service, 'resident_id', c.resident_id)
FROM calls c
ORDER BY c.id;

-- ---------------------------------------------------------------------------
-- Refuse to commit a dataset that is not the one described above.
DO $$
DECLARE
    box geometry := ST_MakeEnvelope(113.14, 27.84, 113.24, 27.92, 4326);
BEGIN
    IF (SELECT count(*) FROM communities) <> 16
       OR (SELECT count(*) FROM providers) <> 2000
       OR (SELECT count(*) FROM residents) <> 50000
       OR (SELECT min(id) FROM residents) <> 1
       OR (SELECT max(id) FROM residents) <> 50000
       OR (SELECT count(*) FROM calls) <> 50000
       OR (SELECT max(id) FROM calls) <> 50000 THEN
        RAISE EXCEPTION 'bench dataset: unexpected row counts or ids';
    END IF;
    IF EXISTS (SELECT 1 FROM residents WHERE NOT ST_Within(location::geometry, box))
       OR EXISTS (SELECT 1 FROM providers WHERE NOT ST_Within(location::geometry, box)) THEN
        RAISE EXCEPTION 'bench dataset: a point lies outside the Hetang box';
    END IF;
    -- Every provider has hours (careline_hours_spans refused any bad text).
    IF EXISTS (SELECT 1 FROM providers p
                  WHERE NOT EXISTS (SELECT 1 FROM provider_hours h WHERE h.provider_id = p.id)) THEN
        RAISE EXCEPTION 'bench dataset: opening_hours and provider_hours disagree';
    END IF;
END;
$$;

COMMIT;

ANALYZE;
