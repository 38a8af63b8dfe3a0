-- careline_report: its parameters, and the hotline report's counts, days
-- (in the district's time zone or the one asked for) and answer times.
\ir lib/fixtures.sql
SELECT plan(23);

SELECT pg_temp.residents('Wang Fang') \g /dev/null
SELECT pg_temp.provider('first', p_hours => false) \g /dev/null
INSERT INTO care_centres (name, location) VALUES
    ('Near Centre', 'SRID=4326;POINT(113.191 27.881)'), ('Far Centre', 'SRID=4326;POINT(113.23 27.91)');
-- Late on 1 December, just after midnight on 2 December (still 1 December
-- in UTC), mid-morning on 2 December, and 3 December.
INSERT INTO calls (resident_id, caller_phone, service, wanted_at, status, created_at, closed_at)
SELECT r.id, r.phone, c.service, c.at, c.status, c.at, CASE WHEN c.status = 'cancelled' THEN c.at END
FROM residents r, (VALUES
    ('meal', 'cancelled', '2026-12-01 23:30+08'::timestamptz),
    ('meal', 'accepted', '2026-12-02 00:30+08'),
    ('housekeeping', 'unmatched', '2026-12-02 10:00+08'),
    ('daycare', 'new', '2026-12-03 10:00+08')) AS c(service, status, at);
INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status, offered_at, answered_at, respond_by, created_at)
SELECT k.id, (SELECT id FROM providers), 1, 1, 'accepted', k.created_at, k.created_at + interval '30 seconds',
       k.created_at + interval '1 minute', k.created_at
FROM calls k WHERE k.status = 'accepted';

CREATE FUNCTION pg_temp.hot(p jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT careline_api_reports_get('hotline', p) -> 'body' $$;

-- Parameters.
SELECT is(careline_api_reports_get('nonsense', NULL) ->> 'status', '404', 'an unknown report: 404');
SELECT is(careline_api_reports_get('hotline', '[]') ->> 'status', '400', 'parameters that are not an object: 400');
SELECT is(careline_api_reports_get('hotline', '{"since": "2026-12-01"}') #>> '{body,error,field}', 'since',
          'an unknown parameter: 422 naming it');
SELECT is(careline_api_reports_get('hotline', '{"timezone": "Mars/Olympus"}') #>> '{body,error,field}', 'timezone',
          'an unknown time zone: 422');
SELECT is(careline_api_reports_get('hotline', '{"from": "2026-12-1"}') #>> '{body,error,field}', 'from',
          'a date not YYYY-MM-DD: 422');
SELECT is(careline_api_reports_get('hotline', '{"to": "2026-02-30"}') #>> '{body,error,field}', 'to',
          'a date not on the calendar: 422');
SELECT is(careline_api_reports_get('hotline', '{"from": "2026-12-03", "to": "2026-12-02"}') #>> '{body,error,code}',
          'invalid_value', 'from after to: 422');
SELECT is(careline_api_reports_get('hotline', '{"from": null, "to": null}') ->> 'status', '200', 'null dates: everything');
SELECT is((SELECT count(*) FROM unnest(ARRAY['social-work', 'timebank', 'elderly-services', 'public-health',
                                             'estates', 'wechat', 'hotline']) n
           WHERE careline_api_reports_get(n, '{}') ->> 'status' = '200'), 7::bigint, 'all seven reports answer on empty data');

-- The hotline report.
SELECT is(pg_temp.hot('{}') #>> '{figures,calls}', '4', 'all calls');
SELECT is(pg_temp.hot('{"from": "2026-12-02", "to": "2026-12-02"}') #>> '{figures,calls}', '2',
          '2 December in Shanghai: the 00:30 and the 10:00 calls');
SELECT is(pg_temp.hot('{"from": "2026-12-02", "to": "2026-12-02"}') -> 'figures' -> 'by_day',
          '{"2026-12-02": 2}'::jsonb, 'both counted on 2 December');
SELECT is(pg_temp.hot('{"from": "2026-12-02", "to": "2026-12-02", "timezone": "UTC"}') #>> '{figures,calls}', '1',
          '2 December in UTC: only the 10:00 (02:00 UTC) call');
SELECT is(pg_temp.hot('{"to": "2026-12-01", "timezone": "UTC"}') -> 'figures' -> 'by_day',
          '{"2026-12-01": 2}'::jsonb, 'in UTC the 00:30 call belongs to 1 December');
SELECT is(pg_temp.hot('{}') -> 'figures' -> 'by_status',
          '{"new": 1, "accepted": 1, "cancelled": 1, "unmatched": 1}'::jsonb, 'calls by status');
SELECT is(pg_temp.hot('{}') #>> '{figures,unmatched_share_pct}', '25.0', 'a quarter unmatched');
SELECT is(pg_temp.hot('{}') #>> '{figures,accept_p50_s}', '30.0', 'accepted in 30 s');
SELECT is(pg_temp.hot('{}') -> 'figures' -> 'by_centre', '{"Near Centre": 4}'::jsonb,
          'calls are counted at the nearest care centre');
SELECT is(pg_temp.hot('{"from": "2026-12-03"}') -> 'rows',
          '[["2026-12-03", "Near Centre", "daycare", "new", 1, 0]]'::jsonb, 'rows: day, centre, service, status, calls, unmatched');

SELECT is(careline_pct(1, 3, 1), 33.3, 'careline_pct rounds');
SELECT is(careline_pct(1, 0, 1), NULL, 'and has no answer for an empty whole');

SELECT is(careline_report_body('x', ARRAY['a', 'b'], '[[1, 2]]', '{"n": 1}'),
          '{"report": "x", "columns": ["a", "b"], "rows": [[1, 2]], "figures": {"n": 1}}'::jsonb,
          'careline_report_body: name, columns, rows and figures');
SELECT is(careline_report_body('x', ARRAY['a'], NULL, '{}') -> 'rows', '[]'::jsonb,
          'careline_report_body: no rows is an empty list');

SELECT * FROM finish();
ROLLBACK;
