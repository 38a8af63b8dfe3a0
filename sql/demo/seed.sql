-- sql/demo/seed.sql — the demo district (Hetang, Zhuzhou) for `make run` and tests.
--
--   psql -v ON_ERROR_STOP=1 -v receiver_url=http://127.0.0.1:8089/hooks -f sql/demo/seed.sql
--
-- Loads into a freshly migrated database and may be loaded again: it empties
-- every careline table first (calls, offers, deliveries, api_tokens and the
-- audit log go too), so create demo tokens after loading it.
-- Deterministic: setseed() plus generate_series; the same PostgreSQL major
-- version gives the same rows and ids (only created_at follows the clock).
--
-- Everything here is synthetic. The report names only the 湘华 centre and the
-- 22222099 line; the other centre, community, road and company names are
-- invented but plausible, coordinates are placed by hand inside the
-- district's built-up area (27.84–27.92 N, 113.14–113.24 E), and all phone
-- numbers are fictitious. No real person is described.

\if :{?receiver_url}
\else
\set receiver_url 'http://127.0.0.1:8089/hooks'
\endif

BEGIN;

TRUNCATE audit_log, delivery_attempts, deliveries, offers, calls, api_tokens,
         provider_hours, providers, residents, communities
    RESTART IDENTITY CASCADE;

SELECT setseed(0.42);

-- ---------------------------------------------------------------------------
-- Communities. Street names are Hetang's 街道; community names other than 湘华
-- are invented (several echo their street's name). `road` feeds addresses.
CREATE TEMP TABLE demo_community (ord, name, street, road, lat, lon) ON COMMIT DROP AS
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
FROM demo_community
ORDER BY ord;

-- ---------------------------------------------------------------------------
-- Providers. Opening-hours strings are in careline's one grammar (see
-- careline_hours_spans in sql/functions/util.sql), the one admins type.
CREATE TEMP TABLE demo_provider (ord, name, services, travel_mode, capacity,
                                 opening_hours, community, active) ON COMMIT DROP AS
VALUES
    -- The six 社区居家养老服务中心 (only 湘华 is named in the report):
    -- day care with their own shuttle, and meals.
    ( 1, '湘华社区居家养老服务中心',   '{daycare,meal}'::text[], 'shuttle', 20,
         'Mo-Fr 07:30-18:00; Sa 08:00-12:00',            '湘华社区',   true),
    ( 2, '宋家桥社区居家养老服务中心', '{daycare,meal}',         'shuttle', 15,
         'Mo-Fr 08:00-17:30',                            '宋家桥社区', true),
    ( 3, '桂花社区居家养老服务中心',   '{daycare,meal}',         'shuttle', 16,
         'Mo-Sa 08:00-17:30',                            '桂花社区',   true),
    ( 4, '茨菇塘社区居家养老服务中心', '{daycare,meal}',         'shuttle', 12,
         'Mo-Fr 08:00-17:00; Sa-Su 09:00-12:00',         '茨菇塘社区', true),
    ( 5, '金山社区居家养老服务中心',   '{daycare,meal}',         'shuttle', 12,
         'Mo-Fr 07:30-17:30',                            '金山社区',   true),
    ( 6, '明照社区居家养老服务中心',   '{daycare,meal}',         'shuttle', 10,
         'Mo-Fr 08:00-17:00; Sa 08:30-11:30',            '明照社区',   true),
    -- Central kitchens and canteens delivering meals by e-bike.
    ( 7, '荷塘区中央厨房(月塘配送点)', '{meal}',                 'ebike',   20,
         'Mo-Su 06:30-19:30',                            '月塘社区',   true),
    ( 8, '康乐长者食堂',               '{meal}',                 'ebike',    8,
         'Mo-Sa 10:00-19:00',                            '八达社区',   true),
    ( 9, '福寿老年助餐点',             '{meal}',                 'ebike',    6,
         'Mo-Fr 10:30-13:30; Sa-Su 11:00-13:00',         '新塘社区',   true),
    (10, '颐年配餐中心',               '{meal}',                 'ebike',   12,
         'Mo-Su 07:00-20:00',                            '荷花社区',   true),
    (11, '好味道社区食堂',             '{meal}',                 'ebike',    5,
         'Mo-Fr 10:00-18:30',                            '铁东社区',   true),
    (12, '湘厨老年餐配送部',           '{meal}',                 'ebike',   10,
         'Mo-Su 09:30-19:00',                            '东环社区',   true),
    (13, '金山长者饭堂',               '{meal}',                 'ebike',    6,
         'Mo-Sa 10:00-13:30; Su 11:00-13:00',            '松石社区',   true),
    -- Housekeeping firms and co-operatives.
    (14, '好帮手家政服务有限公司',     '{housekeeping}',         'ebike',   15,
         'Mo-Su 08:00-20:00',                            '桂花社区',   true),
    (15, '巧姐家政',                   '{housekeeping}',         'ebike',    6,
         'Mo-Sa 08:00-18:00',                            '湘华社区',   true),
    (16, '安心家政服务部',             '{housekeeping}',         'walk',     4,
         'Mo-Fr 08:30-17:30',                            '月塘社区',   true),
    (17, '金管家家政服务有限公司',     '{housekeeping}',         'ebike',   12,
         'Mo-Fr 08:00-18:00; Sa 09:00-12:00',            '金山社区',   true),
    (18, '邻里帮家政合作社',           '{housekeeping}',         'walk',     5,
         'Mo-Sa 08:00-17:00',                            '茨菇塘社区', true),
    (19, '洁美家政',                   '{housekeeping}',         'ebike',    8,
         'Mo-Su 07:30-19:30',                            '樟树社区',   true),
    (20, '惠民家政服务中心',           '{housekeeping}',         'walk',     6,
         'Mo-Fr 08:00-17:00',                            '荷花社区',   true),
    (21, '阿姨帮家政',                 '{housekeeping}',         'ebike',   10,
         'Mo-Su 08:00-20:00',                            '东环社区',   true),
    (22, '桂花巷便民家政',             '{housekeeping}',         'walk',     3,
         'Mo-Sa 08:30-17:30',                            '桂花社区',   true),
    (23, '明照乡里家政服务队',         '{housekeeping}',         'ebike',    5,
         'Mo-Fr 08:00-17:00; Sa-Su 08:00-12:00',         '星光社区',   true),
    -- Paused by the admin: the demo keeps one inactive provider on purpose.
    (24, '宋家桥爱心家政',             '{housekeeping}',         'walk',     4,
         'Mo-Fr 08:00-17:00',                            '宋家桥社区', false),
    (25, '勤嫂家政服务部',             '{housekeeping}',         'ebike',    7,
         'Tu-Su 08:00-18:00',                            '八达社区',   true),
    -- Car-based firms covering the wider district.
    (26, '株洲康护居家服务有限公司',   '{housekeeping,companionship}', 'car', 10,
         'Mo-Su 08:00-20:00',                            '金钩山社区', true),
    (27, '夕阳红养老服务有限公司',     '{meal,housekeeping}',    'car',     14,
         'Mo-Sa 07:30-19:00',                            '新塘社区',   true),
    (28, '颐康上门护理服务部',         '{housekeeping}',         'car',      6,
         'Mo-Fr 08:00-18:00',                            '明照社区',   true),
    (29, '荷塘助老送餐车队',           '{meal}',                 'car',      9,
         'Mo-Su 10:00-13:00',                            '铁东社区',   true),
    -- Companionship (精神慰藉): social workers and volunteers, on foot.
    (30, '荷塘区社工服务站',           '{companionship}',        'walk',     8,
         'Mo-Fr 09:00-17:00',                            '湘华社区',   true),
    (31, '暖心陪伴志愿服务队',         '{companionship}',        'walk',     6,
         'Mo-Su 09:00-18:00',                            '宋家桥社区', true),
    (32, '邻里守望互助队',             '{companionship,housekeeping}', 'walk', 4,
         'Sa-Su 09:00-17:00',                            '金山社区',   true);

-- Centres sit at their community's centre; others within ~500 m of it.
INSERT INTO providers (name, services, location, travel_mode, capacity,
                       opening_hours, phone, community_id, active)
SELECT p.name, p.services,
       ST_SetSRID(ST_MakePoint(
           c.lon + CASE WHEN p.travel_mode = 'shuttle' THEN 0.0005
                        ELSE (random() - 0.5) * 0.010 END,
           c.lat + CASE WHEN p.travel_mode = 'shuttle' THEN 0.0004
                        ELSE (random() - 0.5) * 0.009 END), 4326)::geography,
       p.travel_mode, p.capacity, p.opening_hours,
       '2861' || lpad(p.ord::text, 4, '0'),          -- fictitious landline
       co.id, p.active
FROM demo_provider p
JOIN demo_community c ON c.name = p.community
JOIN communities co ON co.name = p.community
ORDER BY p.ord;

-- Every provider gets a demo endpoint on the receiver and a deterministic,
-- obviously-demo signing secret.
UPDATE providers
SET webhook_url    = rtrim(:'receiver_url', '/') || '/' || id,
    webhook_secret = 'whsec_' || encode(sha256(convert_to('demo-' || id, 'UTF8')), 'base64');

-- Parse the opening-hours strings into provider_hours, so both always agree:
-- careline_hours_spans (sql/functions/util.sql) raises on anything outside
-- the grammar, so every string is parsed or the seed stops.
INSERT INTO provider_hours (provider_id, dow, opens, closes)
SELECT p.id, s.dow, s.opens, s.closes
FROM providers p
CROSS JOIN LATERAL careline_hours_spans(p.opening_hours) AS s
ORDER BY 1, 2, 3;

-- ---------------------------------------------------------------------------
-- Residents: 300 synthetic people. Most live clustered around a community;
-- 5% are scattered and have no community on file. Every 12th person is the
-- spouse of the one before: same phone, address and location.
CREATE TEMP TABLE demo_draw ON COMMIT DROP AS
SELECT n,
       random() AS r_comm,  random() AS r_dy1, random() AS r_dy2, random() AS r_dy3,
       random() AS r_dx1,   random() AS r_dx2, random() AS r_dx3,
       random() AS r_scat,  random() AS r_sy,  random() AS r_sx,
       random() AS r_no,    random() AS r_bldg, random() AS r_unit, random() AS r_room,
       random() AS r_phone,
       random() AS r_sur,   random() AS r_given, random() AS r_mob,
       random() AS r_alone, random() AS r_dis, random() AS r_low, random() AS r_age
FROM generate_series(1, 300) AS n
ORDER BY n;

CREATE TEMP TABLE demo_household ON COMMIT DROP AS
SELECT d.n AS hh,
       CASE WHEN d.r_scat < 0.05 THEN NULL
            ELSE 1 + floor(d.r_comm * 16)::int END AS community_ord,
       -- Scattered: anywhere in the box. Clustered: ~N(0, 500 m) around the
       -- community centre (sum of three uniforms), clamped into the box.
       CASE WHEN d.r_scat < 0.05 THEN 27.8410 + d.r_sy * 0.0780
            ELSE least(27.9190, greatest(27.8410,
                     c.lat + (d.r_dy1 + d.r_dy2 + d.r_dy3 - 1.5) * 0.0090)) END AS lat,
       CASE WHEN d.r_scat < 0.05 THEN 113.1410 + d.r_sx * 0.0980
            ELSE least(113.2390, greatest(113.1410,
                     c.lon + (d.r_dx1 + d.r_dx2 + d.r_dx3 - 1.5) * 0.0100)) END AS lon,
       '荷塘区' || c.road || (1 + floor(d.r_no * 280))::int || '号'
               || (1 + floor(d.r_bldg * 12))::int || '栋'
               || (1 + floor(d.r_unit * 4))::int || '单元'
               || (1 + floor(d.r_room * 7))::int || '0' || (1 + floor(d.r_no * 4))::int || '室'
           AS address,
       -- Fictitious numbers: 1390000xxxx mobiles, 2890xxxx landlines.
       CASE WHEN d.r_phone < 0.8 THEN '1390000' || lpad(d.n::text, 4, '0')
            ELSE '2890' || lpad(d.n::text, 4, '0') END AS phone
FROM demo_draw d
JOIN demo_community c ON c.ord = 1 + floor(d.r_comm * 16)::int
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
           -- Couples do not live alone; p = 0.36 over the rest gives ~30%.
           (d.n % 12 NOT IN (0, 11) AND d.r_alone < 0.36) AS lives_alone,
           CASE WHEN d.r_mob >= 0.81 THEN d.r_dis < 0.70
                ELSE d.r_dis < 0.05 END AS disabled,
           d.r_low < 0.15 AS low_income,
           now() - make_interval(days => floor(d.r_age * 700)::int) AS created_at
    FROM demo_draw d
) x
JOIN demo_household h ON h.hh = x.hh
LEFT JOIN demo_community c ON c.ord = h.community_ord
LEFT JOIN communities co ON co.name = c.name
ORDER BY x.n;

-- ---------------------------------------------------------------------------
-- Refuse to commit a demo that does not look like the district.
DO $$
DECLARE
    box geometry := ST_MakeEnvelope(113.14, 27.84, 113.24, 27.92, 4326);
BEGIN
    IF (SELECT count(*) FROM communities) <> 16
       OR (SELECT count(*) FROM providers) <> 32
       OR (SELECT count(*) FROM residents) <> 300 THEN
        RAISE EXCEPTION 'demo seed: unexpected row counts';
    END IF;
    IF EXISTS (SELECT 1 FROM residents WHERE NOT ST_Within(location::geometry, box))
       OR EXISTS (SELECT 1 FROM providers WHERE NOT ST_Within(location::geometry, box))
       OR EXISTS (SELECT 1 FROM communities WHERE NOT ST_Within(centre::geometry, box)) THEN
        RAISE EXCEPTION 'demo seed: a point lies outside the Hetang box';
    END IF;
    -- Every provider has hours (careline_hours_spans refused any bad rule).
    IF EXISTS (SELECT 1 FROM providers p
               WHERE NOT EXISTS (SELECT 1 FROM provider_hours h WHERE h.provider_id = p.id)) THEN
        RAISE EXCEPTION 'demo seed: opening_hours and provider_hours disagree';
    END IF;
END;
$$;

COMMIT;

ANALYZE;
