-- reports.sql: Reports: the district report, one function per section.

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
CREATE OR REPLACE FUNCTION careline_pct(p_part numeric, p_whole numeric, p_digits int)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN p_whole > 0 THEN round(p_part * 100 / p_whole, p_digits) END;
$$;

-- A report's body: its name, columns, rows (NULL: none) and figures.
CREATE OR REPLACE FUNCTION careline_report_body(p_report text, p_columns text[], p_rows jsonb,
                                                p_figures jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('report', p_report, 'columns', to_jsonb(p_columns),
                              'rows', coalesce(p_rows, '[]'::jsonb), 'figures', p_figures);
$$;

CREATE OR REPLACE FUNCTION careline_report_social_work()
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
    SELECT careline_report_body('social-work',
        ARRAY['year', 'project', 'target_group', 'institution',
              'areas', 'synthetic'],
        (
            SELECT jsonb_agg(jsonb_build_array(p.year, p.name, p.target_group, i.name,
                       (SELECT coalesce(jsonb_agg(s.name ORDER BY s.id), '[]'::jsonb)
                        FROM social_work_project_areas pa
                        JOIN subdistricts s ON s.id = pa.subdistrict_id
                        WHERE pa.project_id = p.id),
                       p.synthetic) ORDER BY p.year, p.id)
            FROM social_work_projects p
            JOIN social_work_institutions i ON i.id = p.institution_id),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report_timebank(p_from timestamptz, p_to timestamptz)
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
    SELECT careline_report_body('timebank',
        ARRAY['volunteer_id', 'community', 'active', 'services',
              'minutes', 'balance_minutes'],
        (
            SELECT jsonb_agg(jsonb_build_array(v.id, c.name, v.active,
                       (SELECT count(*) FROM s WHERE s.volunteer_id = v.id),
                       (SELECT coalesce(sum(s.minutes), 0) FROM s WHERE s.volunteer_id = v.id),
                       a.balance_minutes) ORDER BY v.id)
            FROM volunteers v
            LEFT JOIN communities c ON c.id = v.community_id
            LEFT JOIN timebank_accounts a ON a.volunteer_id = v.id),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report_elderly_services()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    WITH per_day AS (
        SELECT day, sum(visits) AS visits FROM centre_daily_visits GROUP BY day)
    SELECT careline_report_body('elderly-services',
        ARRAY['centre', 'community', 'provider_id', 'days', 'visits',
              'daily_avg'],
        (
            SELECT jsonb_agg(jsonb_build_array(c.name, co.name, c.provider_id,
                       (SELECT count(*) FROM centre_daily_visits v WHERE v.centre_id = c.id),
                       (SELECT coalesce(sum(v.visits), 0) FROM centre_daily_visits v
                        WHERE v.centre_id = c.id),
                       (SELECT round(avg(v.visits), 1) FROM centre_daily_visits v
                        WHERE v.centre_id = c.id)) ORDER BY c.id)
            FROM care_centres c LEFT JOIN communities co ON co.id = c.community_id),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report_public_health()
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
    SELECT careline_report_body('public-health',
        ARRAY['month', 'visits_previous_year', 'visits'],
        (
            SELECT jsonb_agg(jsonb_build_array(to_char(make_date(cur.y, m, 1), 'YYYY-MM'),
                       (SELECT coalesce(sum(h.visits), 0) FROM health_visit_counts h
                        WHERE h.month = make_date(cur.y - 1, m, 1)),
                       (SELECT coalesce(sum(h.visits), 0) FROM health_visit_counts h
                        WHERE h.month = make_date(cur.y, m, 1))) ORDER BY m)
            FROM cur, generate_series(1, cur.mm) AS m),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report_estates()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT careline_report_body('estates',
        ARRAY['year', 'batch', 'status', 'estates'],
        (
            SELECT jsonb_agg(jsonb_build_array(year, batch, status, n)
                             ORDER BY year, batch, status)
            FROM (SELECT year, batch, status, count(*) AS n FROM estate_autonomy
                  GROUP BY year, batch, status) x),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report_wechat()
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
    SELECT careline_report_body('wechat',
        ARRAY['level', 'label', 'groups', 'members'],
        (
            SELECT jsonb_agg(jsonb_build_array(l, (ARRAY['区级', '乡镇街道', '村(社区)',
                                                         '居民小组', '居民'])[l],
                       (SELECT count(*) FROM wechat_groups w WHERE w.level = l),
                       (SELECT coalesce(sum(members), 0) FROM wechat_groups w WHERE w.level = l))
                             ORDER BY l)
            FROM generate_series(1, 5) AS l),
        jsonb_build_object(
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
CREATE OR REPLACE FUNCTION careline_report_hotline(p_from timestamptz, p_to timestamptz, p_tz text)
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
    SELECT careline_report_body('hotline',
        ARRAY['day', 'centre', 'service', 'status', 'calls', 'unmatched'],
        (
            SELECT jsonb_agg(jsonb_build_array(day, centre, service, status, n, u)
                             ORDER BY day, centre, service, status)
            FROM (SELECT day, centre, service, status, count(*) AS n,
                         count(*) FILTER (WHERE unmatched) AS u
                  FROM c GROUP BY day, centre, service, status) x),
        jsonb_build_object(
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

CREATE OR REPLACE FUNCTION careline_report(p_name text, p_params jsonb)
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
        PERFORM careline_raise('KL404', 'unknown_report',
            'There is no such report; try social-work, timebank, elderly-services, '
            'public-health, estates, wechat or hotline.', 'name');
    END IF;
    IF jsonb_typeof(v_params) <> 'object' THEN
        PERFORM careline_raise('KL400', 'invalid_body', 'The parameters must be a JSON object.', NULL);
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(v_params) LOOP
        IF v_key NOT IN ('from', 'to', 'timezone') THEN
            PERFORM careline_raise('KL422', 'unknown_field', format('Unknown field %s.', v_key), v_key);
        END IF;
    END LOOP;

    v_tz := coalesce(v_params ->> 'timezone', 'Asia/Shanghai');
    BEGIN
        PERFORM now() AT TIME ZONE v_tz;
    EXCEPTION WHEN invalid_parameter_value THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'timezone is not a known time zone.',
                              'timezone');
    END;
    FOREACH v_key IN ARRAY ARRAY['from', 'to'] LOOP
        IF v_params ? v_key AND jsonb_typeof(v_params -> v_key) <> 'null' THEN
            IF jsonb_typeof(v_params -> v_key) <> 'string'
               OR (v_params ->> v_key) !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
                PERFORM careline_raise('KL422', 'invalid_value',
                    format('%s must be a date, YYYY-MM-DD.', v_key), v_key);
            END IF;
            BEGIN
                IF v_key = 'from' THEN
                    v_from := (v_params ->> v_key)::date;
                ELSE
                    v_to := (v_params ->> v_key)::date;
                END IF;
            EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
                PERFORM careline_raise('KL422', 'invalid_value',
                    format('%s is not a calendar date.', v_key), v_key);
            END;
        END IF;
    END LOOP;
    IF v_from > v_to THEN
        PERFORM careline_raise('KL422', 'invalid_value', 'from must not be after to.', 'from');
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
