-- sql/demo/programmes.sql — the district's other programmes, with the
-- figures of the source report (seed/hetang-district-report.txt), for the
-- demo district of sql/demo/seed.sql.
--
--   psql -v ON_ERROR_STOP=1 -v receiver_url=http://127.0.0.1:8089/hooks \
--        -f sql/demo/programmes.sql
--
-- Load it after seed.sql (which empties most of these tables through its
-- TRUNCATE ... CASCADE); it may be loaded again at any time: it empties its
-- own tables first, unlinks residents from estates and groups, and removes
-- the volunteers' provider rows (a volunteer provider that already has
-- offers is kept for the call history, detached and inactive).
--
-- Variables (optional):
--   receiver_url   the demo webhook receiver (default http://127.0.0.1:8089/hooks)
--   volunteer_url  base of the volunteers' notification channel (default
--                  receiver_url). A volunteer's notify_url is
--                  <volunteer_url>/<provider id of the volunteer>, signed with
--                  whsec_ + base64(sha256('demo-' || provider id)): exactly what
--                  tests/tools/demo-receiver expects (it serves /hooks/<provider id>
--                  and derives the secret from that id), so volunteers accept
--                  offers in the demo like every other provider.
--
-- What is real and what is not. Every figure of the report is reproduced,
-- as rows whose counts, sums and shares careline_report computes: 12 and 19
-- purchased projects (2017, 2018), 11 institutions, 6,000,000 + 4,000,000 +
-- 1,000,000 yuan (the report's lower bounds, "600余万" etc.), all towns and
-- streets covered in 2018, 6 centres receiving 500+ people a day, 50,000+
-- older people covered, the 22222099 line (民办公助), three policy
-- documents, 193 clinic points covering every estate, 123,500 visits to
-- 31 Oct 2018 (+45,391, +58.11%), 20 + 30 self-governing estates in two
-- batches a year (2018: 16 running, 6 upgrading, 5 in progress, 3
-- postponed), 2,100 WeChat groups reaching 158,000 people (49.1% of 321,800),
-- and 在荷塘: 24,000+ followers, ~10.5 million reads, ~31,000 a piece, 14
-- months at the top of the provincial ranking.
-- Names the report gives are used as given (青葵乐园, 有爱无障, 长沙三和,
-- 长沙仁与, 株洲大同, 湘华, 书香小区, 在荷塘, 仙庾镇 is the district's town).
-- Everything else is synthetic and marked so (synthetic = true): the other
-- project and institution names, which institution runs which project and
-- where, estate and village names, the monthly split of the visits, family
-- doctor sign-ups, group names and sizes, articles, volunteers and their
-- services. People and phone numbers are fictitious.
-- Deterministic: no random(); only created_at-like columns and the
-- volunteers' service dates follow the clock.

\if :{?receiver_url}
\else
\set receiver_url 'http://127.0.0.1:8089/hooks'
\endif
\if :{?volunteer_url}
\else
\set volunteer_url :receiver_url
\endif

BEGIN;
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Empty our tables (the ones others point at are DELETEd: TRUNCATE would
-- cascade into providers and residents).
UPDATE residents SET estate_id = NULL, wechat_group_id = NULL
WHERE estate_id IS NOT NULL OR wechat_group_id IS NOT NULL;

UPDATE providers p SET volunteer_id = NULL, active = false
WHERE p.volunteer_id IS NOT NULL
  AND (EXISTS (SELECT 1 FROM offers o WHERE o.provider_id = p.id)
       OR EXISTS (SELECT 1 FROM deliveries d WHERE d.provider_id = p.id));
DELETE FROM providers WHERE volunteer_id IS NOT NULL;

TRUNCATE timebank_entries, timebank_accounts, volunteer_services,
         clinic_point_services, clinic_schedules, clinic_points, clinic_services,
         family_doctor_signups, health_visit_counts, estate_autonomy,
         centre_daily_visits, care_centres, policy_documents, hotlines, district_figures,
         social_work_project_areas, social_work_projects, social_work_institutions,
         social_work_funding, wechat_articles, wechat_rankings, wechat_accounts
    RESTART IDENTITY;
DELETE FROM wechat_groups;
DELETE FROM estates;
DELETE FROM volunteers;
DELETE FROM subdistricts;
ALTER TABLE wechat_groups ALTER COLUMN id RESTART;
ALTER TABLE estates ALTER COLUMN id RESTART;
ALTER TABLE volunteers ALTER COLUMN id RESTART;
ALTER TABLE subdistricts ALTER COLUMN id RESTART;
ALTER SEQUENCE timebank_txn_seq RESTART;

-- Name pools for synthetic people.
CREATE TEMP TABLE demo_names (surnames, givens) ON COMMIT DROP AS
VALUES ('{刘,李,陈,王,张,周,谭,罗,彭,唐,邓,易,龚,文,黄,杨,胡,曾,谢,肖,贺,袁,段,廖,蒋,朱,丁,钟,邹,欧阳}'::text[],
        '{建国,国华,德明,志强,春生,永福,长庚,运生,立新,卫东,建华,光明,爱民,振兴,新民,'
        '秋菊,桂英,秀兰,淑珍,玉兰,冬梅,凤英,翠花,春兰,爱华,红梅,素芬,美玲,满秀,菊香,'
        '晓燕,丽华,海波,志军,小红,静,敏,勇,婷,磊}'::text[]);

-- ===========================================================================
-- Towns and streets: the six streets of the demo communities, and 仙庾镇,
-- the district's rural town (its centre is placed by hand, east of the
-- built-up area).
INSERT INTO subdistricts (name, kind, centre)
SELECT street, 'street', ST_Centroid(ST_Collect(centre::geometry))::geography
FROM communities GROUP BY street ORDER BY min(id);
INSERT INTO subdistricts (name, kind, centre)
VALUES ('仙庾镇', 'town', ST_SetSRID(ST_MakePoint(113.3000, 27.9050), 4326)::geography);

-- ===========================================================================
-- 三社联动.
INSERT INTO social_work_institutions (name, city, synthetic, source)
SELECT name, city, synthetic,
       CASE WHEN NOT synthetic THEN '引入长沙三和、长沙仁与、株洲大同等11家综合实力较强的机构承接服务' END
FROM (VALUES
    ( 1, '长沙三和',                     '长沙', false),
    ( 2, '长沙仁与',                     '长沙', false),
    ( 3, '株洲大同',                     '株洲', false),
    ( 4, '株洲荷馨社会工作服务中心',     '株洲', true),
    ( 5, '株洲暖阳社会工作服务社',       '株洲', true),
    ( 6, '湘东益友社会工作服务中心',     '株洲', true),
    ( 7, '株洲向日葵家庭服务中心',       '株洲', true),
    ( 8, '株洲春晖助老服务中心',         '株洲', true),
    ( 9, '荷塘区邻里汇社会组织服务中心', '株洲', true),
    (10, '株洲康桥心理咨询服务中心',     '株洲', true),
    (11, '湖南启明星残障服务中心',       '长沙', true)
) AS i(ord, name, city, synthetic)
ORDER BY ord;

CREATE TEMP TABLE demo_project (ord, year, name, target_group, institution, areas, synthetic)
    ON COMMIT DROP AS
VALUES
    -- 2017: 12 projects (all names synthetic).
    ( 1, 2017, '夕阳红·居家探访',       'elderly',    '长沙三和',   '{月塘街道,宋家桥街道}'::text[], true),
    ( 2, 2017, '四点半课堂',            'children',   '株洲向日葵家庭服务中心', '{桂花街道}', true),
    ( 3, 2017, '阳光助残',              'disabled',   '湖南启明星残障服务中心', '{茨菇塘街道}', true),
    ( 4, 2017, '邻里守望',              'community',  '荷塘区邻里汇社会组织服务中心', '{金山街道}', true),
    ( 5, 2017, '暖心家园·低保家庭帮扶', 'low_income', '长沙仁与',   '{明照街道}', true),
    ( 6, 2017, '心灵驿站',              'families',   '株洲康桥心理咨询服务中心', '{月塘街道}', true),
    ( 7, 2017, '银龄互助',              'elderly',    '株洲春晖助老服务中心', '{桂花街道,金山街道}', true),
    ( 8, 2017, '青少年成长护航',        'youth',      '株洲暖阳社会工作服务社', '{宋家桥街道}', true),
    ( 9, 2017, '失独家庭关爱',          'families',   '株洲大同',   '{茨菇塘街道}', true),
    (10, 2017, '社区志愿者孵化',        'community',  '株洲荷馨社会工作服务中心', '{明照街道}', true),
    (11, 2017, '困境儿童守护',          'children',   '湘东益友社会工作服务中心', '{仙庾镇}', true),
    (12, 2017, '时间银行试点',          'community',  '株洲大同',   '{月塘街道}', true),
    -- 2018: 19 projects; the report names two.
    (13, 2018, '青葵乐园',              'children',   '湘东益友社会工作服务中心', '{仙庾镇}', false),
    (14, 2018, '有爱无障',              'disabled',   '长沙仁与',
         '{月塘街道,宋家桥街道,桂花街道,茨菇塘街道,金山街道,明照街道}', false),
    (15, 2018, '夕阳红·居家探访',       'elderly',    '长沙三和',   '{月塘街道,宋家桥街道}', true),
    (16, 2018, '银龄互助',              'elderly',    '株洲春晖助老服务中心', '{桂花街道,金山街道}', true),
    (17, 2018, '四点半课堂',            'children',   '株洲向日葵家庭服务中心', '{桂花街道,茨菇塘街道}', true),
    (18, 2018, '邻里守望',              'community',  '荷塘区邻里汇社会组织服务中心', '{金山街道,明照街道}', true),
    (19, 2018, '暖心家园·低保家庭帮扶', 'low_income', '长沙仁与',   '{明照街道}', true),
    (20, 2018, '时间银行',              'community',  '株洲大同',   '{月塘街道,宋家桥街道}', true),
    (21, 2018, '失独家庭关爱',          'families',   '株洲大同',   '{茨菇塘街道}', true),
    (22, 2018, '社区志愿者孵化',        'community',  '株洲荷馨社会工作服务中心', '{明照街道,仙庾镇}', true),
    (23, 2018, '心灵驿站',              'families',   '株洲康桥心理咨询服务中心', '{月塘街道}', true),
    (24, 2018, '青少年成长护航',        'youth',      '株洲暖阳社会工作服务社', '{宋家桥街道}', true),
    (25, 2018, '空巢老人精神慰藉',      'elderly',    '株洲康桥心理咨询服务中心', '{桂花街道}', true),
    (26, 2018, '残疾人家庭康复指导',    'disabled',   '湖南启明星残障服务中心', '{茨菇塘街道}', true),
    (27, 2018, '低保家庭就业帮扶',      'low_income', '湘东益友社会工作服务中心', '{金山街道}', true),
    (28, 2018, '老旧小区自治培育',      'community',  '株洲荷馨社会工作服务中心', '{宋家桥街道}', true),
    (29, 2018, '农村留守老人关爱',      'elderly',    '长沙三和',   '{仙庾镇}', true),
    (30, 2018, '家庭医生签约宣传',      'community',  '株洲暖阳社会工作服务社', '{明照街道}', true),
    (31, 2018, '社区公益创投',          'community',  '荷塘区邻里汇社会组织服务中心', '{月塘街道}', true);

INSERT INTO social_work_projects (year, name, target_group, description, institution_id,
                                  synthetic, source)
SELECT p.year, p.name, p.target_group,
       CASE p.name WHEN '青葵乐园' THEN '农村留守儿童'
                   WHEN '有爱无障' THEN '低保残疾人'
                   ELSE '' END,
       i.id, p.synthetic,
       CASE WHEN NOT p.synthetic THEN
           '2018年,荷塘区深入推进了“青葵乐园”农村留守儿童、“有爱无障”低保残疾人等19个政府购买服务项目,'
           '实现镇、街道三社联动项目全域覆盖' END
FROM demo_project p JOIN social_work_institutions i ON i.name = p.institution
ORDER BY p.ord;

INSERT INTO social_work_project_areas (project_id, subdistrict_id)
SELECT sp.id, s.id
FROM demo_project p
JOIN social_work_projects sp ON sp.year = p.year AND sp.name = p.name
CROSS JOIN LATERAL unnest(p.areas) AS a(name)
JOIN subdistricts s ON s.name = a.name
ORDER BY 1, 2;

INSERT INTO social_work_funding (source_kind, year_from, year_to, amount_yuan, bound, source)
VALUES
    ('district_budget',  2017, 2018, 6000000, 'lower_bound', '近两年,荷塘区区级财政直接投入600余万元'),
    ('higher_level',     2017, 2018, 4000000, 'lower_bound', '争取上级资金400余万元'),
    ('social_resources', 2017, 2018, 1000000, 'lower_bound', '链接社会资源100余万元');

-- ===========================================================================
-- 养老服务.
INSERT INTO hotlines (number, name, operating_model, services, circle_minutes, source)
VALUES ('22222099', '荷塘区居家养老服务信息平台', '民办公助',
        '{daycare,meal,housekeeping,companionship}', 15,
        '采用民办公助的模式,以社区为依托,建立了22222099服务热线的居家养老服务信息平台,'
        '将区内老年群体需求和养老服务精准对接,打造了一个提供日间照料、送餐、家政、精神慰藉等'
        '多种养老服务产品的15分钟养老圈');

INSERT INTO policy_documents (title, issuer, section, source)
SELECT t, '荷塘区', 'elderly-services',
       '截至目前,荷塘区已先后出台《关于加快发展养老服务业的实施意见》'
       '《荷塘区老年人日间照料（居家养老服务）中心建设及运营实施方案》'
       '《荷塘区购买居家养老服务的实施方案》等规范性文件'
FROM unnest(ARRAY['关于加快发展养老服务业的实施意见',
                  '荷塘区老年人日间照料（居家养老服务）中心建设及运营实施方案',
                  '荷塘区购买居家养老服务的实施方案']) WITH ORDINALITY AS d(t, ord)
ORDER BY ord;

INSERT INTO district_figures (key, section, value, unit, bound, source, note)
VALUES
    ('elderly_covered', 'elderly-services', 50000, 'people', 'lower_bound',
     '通过合理布局,辐射覆盖了全区5万余名老年人', '5万余 stored as its lower bound'),
    ('centre_investment_yuan', 'elderly-services', 2000000, 'yuan', 'lower_bound',
     '荷塘区政府已投入200余万元改造建设了湘华等6个社区居家养老服务中心', '200余万 as its lower bound'),
    ('population', 'wechat', 321800, 'people', 'derived',
     '目前荷塘区已建各类微信群组2100个,直接联系群众15.8万人,占全区总人口的49.1%',
     '158,000 / 0.491 = 321,792, rounded to the hundred; the share recomputes to 49.1%');

-- The six centres are the seed's six 社区居家养老服务中心 providers.
INSERT INTO care_centres (name, provider_id, community_id, location, named_in_report, source)
SELECT p.name, p.id, p.community_id, p.location, p.name LIKE '湘华%',
       CASE WHEN p.name LIKE '湘华%' THEN
           '荷塘区政府已投入200余万元改造建设了湘华等6个社区居家养老服务中心,日接待居民500余人次' END
FROM providers p
WHERE p.name LIKE '%社区居家养老服务中心' AND p.volunteer_id IS NULL
ORDER BY p.id;

-- Weekdays of October 2018 (every centre is open then); bases sum to 505,
-- plus 0..10 per centre and day: 日接待居民500余人次.
INSERT INTO centre_daily_visits (centre_id, day, visits)
SELECT c.id, d::date,
       (ARRAY[110, 85, 90, 75, 80, 65])[c.id] + (extract(doy FROM d)::int * 7 + c.id * 13) % 11
FROM care_centres c
CROSS JOIN generate_series(date '2018-10-01', date '2018-10-31', interval '1 day') AS d
WHERE extract(isodow FROM d) <= 5
ORDER BY 1, 2;

-- ===========================================================================
-- Estates: 12 per community plus 书香小区 (the report's first pilot), 193 in
-- all. The old workers' villages (一村/二村/三村), 湘华新村 and 书香小区 have
-- no property management: the 50 self-governing pilots.
CREATE TEMP TABLE demo_estate ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY c.id, s.ord) AS n, c.id AS community_id, c.name AS community,
       CASE WHEN s.suffix = '书香小区' THEN '书香小区'
            ELSE regexp_replace(c.name, '社区$', '') || s.suffix END AS name,
       s.ord AS suffix_ord,
       least(27.9190, greatest(27.8410, ST_Y(c.centre::geometry)
             + s.r * cos(radians(s.deg)) / 111320.0)) AS lat,
       least(113.2390, greatest(113.1410, ST_X(c.centre::geometry)
             + s.r * sin(radians(s.deg)) / (111320.0 * cos(radians(ST_Y(c.centre::geometry))))))
           AS lon,
       (s.suffix IN ('一村', '二村', '三村', '书香小区')
        OR (s.suffix = '新村' AND c.name = '湘华社区')) AS no_pm
FROM communities c
CROSS JOIN (VALUES ( 1, '新村', 30, 250), ( 2, '一村', 60, 350), ( 3, '二村', 90, 450),
                   ( 4, '三村', 120, 550), ( 5, '花园', 150, 250), ( 6, '家园', 180, 350),
                   ( 7, '雅苑', 210, 450), ( 8, '公寓', 240, 550), ( 9, '小区', 270, 250),
                   (10, '北苑', 300, 350), (11, '南苑', 330, 450), (12, '嘉园', 0, 550),
                   (13, '书香小区', 15, 380)) AS s(ord, suffix, deg, r)
WHERE s.suffix <> '书香小区' OR c.name = '湘华社区';

INSERT INTO estates (name, community_id, location, has_property_management, households, synthetic)
SELECT name, community_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, NOT no_pm,
       CASE WHEN no_pm THEN 80 + (n * 37) % 220 ELSE 300 + (n * 53) % 900 END,
       name <> '书香小区'
FROM demo_estate ORDER BY n;

-- The pilots: 书香小区 first, then by kind of estate and community.
CREATE TEMP TABLE demo_pilot ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY (d.name <> '书香小区'), d.suffix_ord, d.community_id) AS rn,
       e.id AS estate_id
FROM demo_estate d JOIN estates e ON e.name = d.name
WHERE d.no_pm;

INSERT INTO estate_autonomy (estate_id, year, batch, started_on, status,
                             committee_contact, committee_phone, duties)
SELECT p.estate_id, x.year, x.batch, x.started_on, x.status,
       CASE WHEN x.status <> 'postponed' THEN
           n.surnames[1 + (p.rn * 7) % 30] || n.givens[1 + (p.rn * 11) % 40] END,
       CASE WHEN x.status <> 'postponed' THEN '1390002' || lpad(p.rn::text, 4, '0') END,
       CASE x.status WHEN 'postponed' THEN '{}'::text[]
                     WHEN 'in_progress' THEN '{cleaning,upkeep}'::text[]
                     ELSE '{cleaning,security,upkeep}'::text[] END
FROM demo_pilot p
CROSS JOIN demo_names n
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.rn <= 20 THEN 2017 ELSE 2018 END AS year,
           CASE WHEN p.rn <= 10 OR p.rn BETWEEN 21 AND 35 THEN 1 ELSE 2 END AS batch,
           CASE WHEN p.rn <= 10 THEN date '2017-04-01'
                WHEN p.rn <= 20 THEN date '2017-09-01'
                WHEN p.rn <= 35 THEN date '2018-03-01'
                ELSE date '2018-08-01' END AS started_on,
           CASE WHEN p.rn <= 32 THEN 'running'            -- 2017: 20; 2018 batch 1: 12
                WHEN p.rn <= 35 THEN 'upgrading'          -- 2018 batch 1: 3
                WHEN p.rn <= 39 THEN 'running'            -- 2018 batch 2: 4
                WHEN p.rn <= 42 THEN 'upgrading'          --               3
                WHEN p.rn <= 47 THEN 'in_progress'        --               5
                ELSE 'postponed' END AS status            --               3
) x
ORDER BY p.rn;

-- ===========================================================================
-- 公共卫生服务: one clinic point per estate, seven general-practice teams,
-- team t out on weekday t (每天上街巡诊); old estates get a second session.
INSERT INTO clinic_services (code, name, audience)
VALUES ('checkup', '老年人免费体检', '65岁以上老年人'),
       ('chronic_screening', '慢性病筛查', '辖区居民'),
       ('health_advice', '健康咨询', '辖区居民'),
       ('home_visit', '上门服务', '特殊人群(失能、独居、残疾老人等)');

INSERT INTO clinic_points (name, estate_id, site_kind, location, team)
SELECT e.name || '巡诊点', e.id,
       CASE WHEN e.has_property_management THEN
                CASE WHEN e.id % 2 = 0 THEN 'property_office' ELSE 'estate' END
            ELSE CASE WHEN e.id % 3 = 0 THEN 'gathering_place' ELSE 'estate' END END,
       ST_SetSRID(ST_MakePoint(ST_X(e.location::geometry) + 0.0003,
                               ST_Y(e.location::geometry) - 0.0002), 4326)::geography,
       '全科医生巡诊' || (1 + (e.id - 1) % 7) || '队'
FROM estates e ORDER BY e.id;

INSERT INTO clinic_schedules (clinic_point_id, dow, opens, closes)
SELECT c.id, 1 + (c.id - 1) % 7,
       CASE WHEN c.id % 2 = 1 THEN time '08:30' ELSE time '14:30' END,
       CASE WHEN c.id % 2 = 1 THEN time '11:30' ELSE time '17:30' END
FROM clinic_points c
UNION ALL
SELECT c.id, 1 + (c.id + 2) % 7,
       CASE WHEN c.id % 2 = 0 THEN time '08:30' ELSE time '14:30' END,
       CASE WHEN c.id % 2 = 0 THEN time '11:30' ELSE time '17:30' END
FROM clinic_points c JOIN estates e ON e.id = c.estate_id
WHERE NOT e.has_property_management
ORDER BY 1, 2, 3;

INSERT INTO clinic_point_services (clinic_point_id, service_id)
SELECT c.id, s.id
FROM clinic_points c JOIN estates e ON e.id = c.estate_id CROSS JOIN clinic_services s
WHERE s.code <> 'home_visit' OR NOT e.has_property_management OR c.id % 4 = 0
ORDER BY 1, 2;

INSERT INTO family_doctor_signups (community_id, as_of, signed, elderly_signed, synthetic)
SELECT c.id, date '2018-10-31', 2400 + (c.id * 379) % 1600,
       round((2400 + (c.id * 379) % 1600) * 0.38)::int, true
FROM communities c ORDER BY c.id;

-- 门诊及住院服务量, January to October: 2017 sums to 78,109 and 2018 to
-- 123,500 (the report: 123,500, up 45,391). The monthly and
-- outpatient/inpatient split is synthetic; the remainder of the rounding
-- goes to October's outpatients.
INSERT INTO health_visit_counts (month, kind, visits, synthetic)
SELECT make_date(y.year, m.m, 1), k.kind,
       CASE k.kind
           WHEN 'outpatient' THEN floor(y.total * m.w / 10.0 * 0.92)::int
           ELSE floor(y.total * m.w / 10.0 * 0.08)::int END,
       true
FROM (VALUES (2017, 78109), (2018, 123500)) AS y(year, total)
CROSS JOIN (VALUES (1, 0.93), (2, 0.82), (3, 1.01), (4, 0.99), (5, 1.02),
                   (6, 1.00), (7, 1.03), (8, 1.05), (9, 1.04), (10, 1.11)) AS m(m, w)
CROSS JOIN (VALUES ('outpatient'), ('inpatient')) AS k(kind)
ORDER BY 1, 2;
UPDATE health_visit_counts h
SET visits = h.visits + t.total - (SELECT sum(visits) FROM health_visit_counts x
                                   WHERE extract(year FROM x.month) = t.year)
FROM (VALUES (2017, 78109), (2018, 123500)) AS t(year, total)
WHERE h.month = make_date(t.year, 10, 1) AND h.kind = 'outpatient';

-- ===========================================================================
-- 网上群众路线: the five-level group tree, 2,100 groups.
-- 1 district; 7 towns/streets; 16 communities + 8 villages of 仙庾镇; one
-- resident-group group per estate + 10 村民小组 per village (273); 6 or 7
-- residents' groups under each (1,795). Sizes are synthetic; the last step
-- makes them sum to the report's 158,000.
INSERT INTO wechat_groups (level, name, members)
VALUES (1, '荷塘区群众工作群', 180);

INSERT INTO wechat_groups (parent_id, level, name, members, subdistrict_id)
SELECT (SELECT id FROM wechat_groups WHERE level = 1), 2, s.name || '群众工作群', 120 + s.id * 5, s.id
FROM subdistricts s ORDER BY s.id;

CREATE TEMP TABLE demo_village (ord, name) ON COMMIT DROP AS
VALUES (1, '枫仙村'), (2, '桃源村'), (3, '黄陂村'), (4, '长岭村'),
       (5, '新桥村'), (6, '石塘村'), (7, '白石村'), (8, '荷叶村');

INSERT INTO wechat_groups (parent_id, level, name, members, community_id)
SELECT g.id, 3, c.name || '居民群', 240 + (c.id * 17) % 120, c.id
FROM communities c JOIN wechat_groups g ON g.level = 2
JOIN subdistricts s ON s.id = g.subdistrict_id AND s.name = c.street
ORDER BY c.id;
INSERT INTO wechat_groups (parent_id, level, name, members)
SELECT g.id, 3, '仙庾镇' || v.name || '村民群', 240 + ((16 + v.ord) * 17) % 120
FROM demo_village v JOIN wechat_groups g ON g.level = 2
JOIN subdistricts s ON s.id = g.subdistrict_id AND s.name = '仙庾镇'
ORDER BY v.ord;

INSERT INTO wechat_groups (parent_id, level, name, members, estate_id)
SELECT g.id, 4, e.name || '居民小组群', 100 + (e.id * 13) % 60, e.id
FROM estates e JOIN wechat_groups g ON g.level = 3 AND g.community_id = e.community_id
ORDER BY e.id;
INSERT INTO wechat_groups (parent_id, level, name, members)
SELECT g.id, 4, v.name || '第' || k || '村民小组群', 100 + ((v.ord * 10 + k) * 13) % 60
FROM demo_village v
JOIN wechat_groups g ON g.level = 3 AND g.name = '仙庾镇' || v.name || '村民群'
CROSS JOIN generate_series(1, 10) AS k
ORDER BY v.ord, k;

INSERT INTO wechat_groups (parent_id, level, name, members)
SELECT g.id, 5,
       regexp_replace(g.name, '(居民小组群|村民小组群)$', '')
           || CASE WHEN g.estate_id IS NOT NULL THEN k || '栋住户群' ELSE '组' || k || '片住户群' END,
       58 + (g.id * 7 + k) % 12
FROM (SELECT w.*, row_number() OVER (ORDER BY w.id) AS rn FROM wechat_groups w
      WHERE w.level = 4) g
CROSS JOIN LATERAL generate_series(1, CASE WHEN g.rn <= 157 THEN 7 ELSE 6 END) AS k
ORDER BY g.id, k;

-- 直接联系群众15.8万人: spread the difference over the residents' groups.
WITH d AS (SELECT 158000 - sum(members) AS diff,
                  (SELECT count(*) FROM wechat_groups WHERE level = 5) AS n
           FROM wechat_groups),
     l5 AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM wechat_groups WHERE level = 5)
UPDATE wechat_groups w
SET members = w.members + div(d.diff, d.n)::int
              + CASE WHEN l5.rn <= abs(mod(d.diff, d.n)) THEN sign(d.diff)::int ELSE 0 END
FROM d, l5
WHERE w.id = l5.id;

INSERT INTO wechat_accounts (name, followers, followers_bound, as_of, source)
VALUES ('在荷塘', 24000, 'lower_bound', date '2018-11-30',
        '“在荷塘”微信公众号“圈粉”2.4万余人,连续14个月蝉联全省县级政务微信公众号的榜首,'
        '稿件总阅读量累计约1050万次,平均阅读量约3.1万次/篇');

-- ~10,500,000 reads at ~31,000 a piece: 339 articles (titles synthetic).
INSERT INTO wechat_articles (account_id, published_on, title, reads, synthetic)
SELECT (SELECT id FROM wechat_accounts WHERE name = '在荷塘'), date '2017-10-01' + (n * 425 / 339),
       (ARRAY['荷塘动态', '民生关注', '养老服务', '社区故事', '健康荷塘', '志愿荷塘',
              '政策解读', '便民提示', '文明荷塘', '小区自治', '三社联动', '荷塘人物'])
           [1 + n % 12] || '|第' || n || '期',
       31000 + (n * 7919) % 12001 - 6000, true
FROM generate_series(1, 339) AS n
ORDER BY n;
WITH d AS (SELECT 10500000 - sum(reads) AS diff, count(*) AS n FROM wechat_articles),
     a AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM wechat_articles)
UPDATE wechat_articles w
SET reads = w.reads + div(d.diff, d.n)::int
            + CASE WHEN a.rn <= abs(mod(d.diff, d.n)) THEN sign(d.diff)::int ELSE 0 END
FROM d, a
WHERE w.id = a.id;

-- 连续14个月蝉联榜首: October 2017 to November 2018 at rank 1 (the three
-- months before are synthetic).
INSERT INTO wechat_rankings (account_id, month, rank)
SELECT (SELECT id FROM wechat_accounts WHERE name = '在荷塘'), m::date,
       CASE WHEN m < date '2017-10-01' THEN (ARRAY[4, 2, 2])[extract(month FROM m)::int - 6]
            ELSE 1 END
FROM generate_series(date '2017-07-01', date '2018-11-01', interval '1 month') AS m
ORDER BY 1, 2;

-- ===========================================================================
-- Residents: their estate (the nearest in their own community, or the
-- nearest at all when no community is on file) and that estate's
-- resident-group WeChat group.
UPDATE residents r
SET estate_id = x.estate_id,
    wechat_group_id = (SELECT g.id FROM wechat_groups g
                       WHERE g.level = 4 AND g.estate_id = x.estate_id)
FROM (SELECT r2.id,
             (SELECT e.id FROM estates e
              WHERE r2.community_id IS NULL OR e.community_id = r2.community_id
              ORDER BY e.location <-> r2.location, e.id LIMIT 1) AS estate_id
      FROM residents r2) x
WHERE x.id = r.id;

-- ===========================================================================
-- Volunteers (60; every 15th inactive) and the time bank. The insert makes
-- each volunteer's provider row and account; the update then gives them
-- their notification channel, which activates the provider.
INSERT INTO volunteers (name, phone, community_id, location, travel_mode, availability,
                        active, registered_on)
SELECT n.surnames[1 + (v * 13) % 30] || n.givens[1 + (v * 17) % 40],
       '1390001' || lpad(v::text, 4, '0'),
       c.id,
       ST_SetSRID(ST_MakePoint(
           ST_X(c.centre::geometry) + (100 + (v * 37) % 500) * sin(radians(v * 47))
               / (111320.0 * cos(radians(ST_Y(c.centre::geometry)))),
           ST_Y(c.centre::geometry) + (100 + (v * 37) % 500) * cos(radians(v * 47)) / 111320.0),
           4326)::geography,
       CASE WHEN v % 4 = 0 THEN 'ebike' ELSE 'walk' END,
       CASE v % 3 WHEN 0 THEN 'Sa-Su 09:00-18:00'
                  WHEN 1 THEN 'Mo-Su 08:00-20:00'
                  ELSE 'Mo-Fr 09:00-17:00' END,
       v % 15 <> 0,
       date '2017-03-01' + (v * 13) % 600
FROM generate_series(1, 60) AS v
CROSS JOIN demo_names n
JOIN communities c ON c.id = 1 + (v - 1) % 16
ORDER BY v;

UPDATE volunteers v
SET notify_url = rtrim(:'volunteer_url', '/') || '/' || p.id,
    notify_secret = 'whsec_' || encode(sha256(convert_to('demo-' || p.id, 'UTF8')), 'base64')
FROM providers p
WHERE p.volunteer_id = v.id;

-- Their past services (synthetic): 360 over the last 90 days, for residents
-- of their own community (community work for nobody in particular).
INSERT INTO volunteer_services (volunteer_id, resident_id, kind, minutes, at, note)
SELECT v.id,
       CASE WHEN k.kind = 'community' THEN NULL ELSE
           (SELECT r.id FROM residents r WHERE r.community_id = v.community_id
            ORDER BY r.id OFFSET (s * 7) % greatest(1, (SELECT count(*) FROM residents r2
                                                        WHERE r2.community_id = v.community_id))
            LIMIT 1) END,
       k.kind, 30 + 15 * ((s * 5) % 11),
       date_trunc('hour', now()) - make_interval(days => 1 + (s * 37) % 90, hours => (s * 5) % 9),
       '演示数据'
FROM generate_series(1, 360) AS s
JOIN volunteers v ON v.id = 1 + (s * 7) % 60
CROSS JOIN LATERAL (SELECT (ARRAY['companionship', 'companionship', 'companionship',
                                  'companionship', 'escort', 'escort', 'chores', 'chores',
                                  'health_support', 'community'])[1 + s % 10] AS kind) k
ORDER BY s;

-- The pool, then the ledger: hours banked before the ledger are granted to
-- 20 residents who used to volunteer; every service is earned; a service a
-- granted resident received is spent from their account while it lasts.
INSERT INTO timebank_accounts (kind) VALUES ('pool');

DO $$
DECLARE
    v_pool  bigint := (SELECT id FROM timebank_accounts WHERE kind = 'pool');
    v_s     record;
    v_acct  record;
    v_txn   bigint;
BEGIN
    FOR v_acct IN
        SELECT a.id FROM timebank_accounts a WHERE a.kind = 'resident'
        ORDER BY a.resident_id LIMIT 20
    LOOP
        v_txn := nextval('timebank_txn_seq');
        INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, note, actor,
                                      posted_at)
        VALUES (v_txn, 'grant', v_pool, -600, '往年志愿服务时长转入(演示)', 'demo-seed',
                now() - interval '91 days'),
               (v_txn, 'grant', v_acct.id, 600, '往年志愿服务时长转入(演示)', 'demo-seed',
                now() - interval '91 days');
    END LOOP;

    FOR v_s IN
        SELECT s.*, va.id AS vacct, ra.id AS racct
        FROM volunteer_services s
        JOIN timebank_accounts va ON va.volunteer_id = s.volunteer_id
        LEFT JOIN timebank_accounts ra ON ra.resident_id = s.resident_id
        ORDER BY s.at, s.id
    LOOP
        v_txn := nextval('timebank_txn_seq');
        INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, service_id,
                                      actor, posted_at)
        VALUES (v_txn, 'earn', v_pool, -v_s.minutes, v_s.id, 'demo-seed', v_s.at),
               (v_txn, 'earn', v_s.vacct, v_s.minutes, v_s.id, 'demo-seed', v_s.at);
        IF v_s.racct IS NOT NULL
           AND (SELECT balance_minutes FROM timebank_accounts WHERE id = v_s.racct)
               >= v_s.minutes THEN
            v_txn := nextval('timebank_txn_seq');
            INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, service_id,
                                          actor, posted_at)
            VALUES (v_txn, 'spend', v_s.racct, -v_s.minutes, v_s.id, 'demo-seed', v_s.at),
                   (v_txn, 'spend', v_pool, v_s.minutes, v_s.id, 'demo-seed', v_s.at);
        END IF;
    END LOOP;
END;
$$;

-- ===========================================================================
-- Refuse to commit data that does not reproduce the report.
SET CONSTRAINTS ALL IMMEDIATE;
DO $$
DECLARE
    f    jsonb;
    bad  text[] := '{}';
    r    jsonb;
BEGIN
    IF EXISTS (SELECT DISTINCT street FROM communities
               EXCEPT SELECT name FROM subdistricts) THEN
        bad := bad || 'a community''s street is not a subdistrict'::text;
    END IF;

    f := careline_report('social-work', NULL) -> 'body' -> 'figures';
    IF (f ->> 'projects_2017')::int <> 12 OR (f ->> 'projects_2018')::int <> 19
       OR (f ->> 'institutions')::int <> 11 OR (f ->> 'funding_total')::numeric < 11000000
       OR (f ->> 'subdistrict_coverage_pct')::numeric <> 100 THEN
        bad := bad || ('social-work ' || f::text);
    END IF;

    f := careline_report('elderly-services', NULL) -> 'body' -> 'figures';
    IF (f ->> 'centres')::int <> 6 OR (f ->> 'daily_visits_avg')::numeric < 500
       OR (f ->> 'daily_visits_avg')::numeric >= 600 OR (f ->> 'policy_documents')::int <> 3
       OR f ->> 'hotline' <> '22222099' OR (f ->> 'elderly_covered')::numeric < 50000
       OR f -> 'named_centres' <> '["湘华社区居家养老服务中心"]' THEN
        bad := bad || ('elderly-services ' || f::text);
    END IF;

    f := careline_report('public-health', NULL) -> 'body' -> 'figures';
    IF (f ->> 'clinic_points')::int <> 193 OR (f ->> 'estate_coverage_pct')::numeric <> 100
       OR (f ->> 'visits_2018')::int <> 123500 OR (f ->> 'visits_growth')::int <> 45391
       OR (f ->> 'growth_pct')::numeric <> 58.11 THEN
        bad := bad || ('public-health ' || f::text);
    END IF;

    f := careline_report('estates', NULL) -> 'body' -> 'figures';
    IF (f ->> 'estates')::int <> 193 OR (f ->> 'without_property_management')::int <> 50
       OR (f ->> 'autonomy_2017')::int <> 20 OR (f ->> 'autonomy_2018')::int <> 30
       OR (f ->> 'batches_2017')::int <> 2 OR (f ->> 'batches_2018')::int <> 2
       OR (f ->> 'running_2017')::int <> 20 OR (f ->> 'running_2018')::int <> 16
       OR (f ->> 'upgrading')::int <> 6 OR (f ->> 'in_progress')::int <> 5
       OR (f ->> 'postponed')::int <> 3 THEN
        bad := bad || ('estates ' || f::text);
    END IF;

    f := careline_report('wechat', NULL) -> 'body' -> 'figures';
    IF (f ->> 'groups')::int <> 2100 OR (f ->> 'levels')::int <> 5
       OR (f ->> 'people')::int <> 158000 OR (f ->> 'population_share_pct')::numeric <> 49.1
       OR (f ->> 'followers')::int < 24000 OR (f ->> 'reads_total')::bigint <> 10500000
       OR round((f ->> 'reads_avg')::numeric, -3) <> 31000 OR (f ->> 'months_top')::int <> 14 THEN
        bad := bad || ('wechat ' || f::text);
    END IF;

    f := careline_report('timebank', NULL) -> 'body' -> 'figures';
    IF NOT (f ->> 'ledger_balanced')::boolean OR NOT (f ->> 'balances_match_entries')::boolean
       OR (f ->> 'volunteers_reachable')::int <> 56 THEN
        bad := bad || ('timebank ' || f::text);
    END IF;

    IF EXISTS (SELECT 1 FROM residents WHERE estate_id IS NULL OR wechat_group_id IS NULL) THEN
        bad := bad || 'a resident has no estate or group'::text;
    END IF;

    IF cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'programmes seed does not reproduce the report: %', bad;
    END IF;
END;
$$;

COMMIT;

ANALYZE;
