-- careline_hours_spans: the one opening-hours grammar (providers' opening
-- hours, volunteers' availability, seeds), its spans and the reasons an
-- admin reads when a spec is refused. The cases of the former C parser's
-- tests (common/hours.c), plus what only SQL does: merging spans of a day.
BEGIN;
SELECT plan(46);

-- The spans as text, by day and time: '1 08:00-18:00'.
CREATE FUNCTION pg_temp.spans(p_spec text) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(s.dow || ' ' || to_char(s.opens, 'HH24:MI') || '-'
                              || to_char(s.closes, 'HH24:MI') ORDER BY s.dow, s.opens), '{}')
    FROM careline_hours_spans(p_spec) s
$$;

-- Refused with 22023 and exactly this reason.
CREATE FUNCTION pg_temp.refused(p_spec text, p_why text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_ok(format('SELECT * FROM careline_hours_spans(%L)', p_spec), '22023', p_why,
                     format('%L is refused: %s', p_spec, p_why))
$$;

-- Days, lists, several spans.
SELECT is(pg_temp.spans('Mo-Fr 08:00-18:00; Sa 09:00-12:00'),
          ARRAY['1 08:00-18:00', '2 08:00-18:00', '3 08:00-18:00', '4 08:00-18:00', '5 08:00-18:00',
                '6 09:00-12:00'], 'a week and a Saturday');
SELECT is(pg_temp.spans('Mo,We 07:30-11:00,16:00-19:00'),
          ARRAY['1 07:30-11:00', '1 16:00-19:00', '3 07:30-11:00', '3 16:00-19:00'],
          'a list of days and two spans each');
SELECT is(pg_temp.spans('  Tu   10:00-11:00 ;  Th 10:00-11:00  '), ARRAY['2 10:00-11:00', '4 10:00-11:00'],
          'spaces around rules and after the days are allowed');
SELECT is(pg_temp.spans('Mo-We 08:00-12:00; Sa 09:00-10:30'),
          ARRAY['1 08:00-12:00', '2 08:00-12:00', '3 08:00-12:00', '6 09:00-10:30'],
          'day ranges and rules are expanded to spans');
SELECT is(pg_temp.spans('Mo-We,Fr 09:00-10:00'),
          ARRAY['1 09:00-10:00', '2 09:00-10:00', '3 09:00-10:00', '5 09:00-10:00'],
          'a range and a day in one list');
SELECT is(pg_temp.spans('Sa-Mo 10:00-11:00'), ARRAY['1 10:00-11:00', '6 10:00-11:00', '7 10:00-11:00'],
          'a day range wraps over the weekend');
SELECT is(pg_temp.spans('Mo-Mo 10:00-11:00'), ARRAY['1 10:00-11:00'], 'a range of one day');
SELECT is(pg_temp.spans('Tu 09:00-10:00'), ARRAY['2 09:00-10:00'], 'a day not named is closed');

-- Past midnight.
SELECT is(pg_temp.spans('Su 22:00-02:00'), ARRAY['1 00:00-02:00', '7 22:00-24:00'],
          'a span past midnight continues on the next day (Sunday into Monday)');
SELECT is(pg_temp.spans('Su 22:00-02:00; Mo 00:00-08:00'), ARRAY['1 00:00-08:00', '7 22:00-24:00'],
          'the rule issue 10 found refused: accepted, Monday''s spans merged');
SELECT is(pg_temp.spans('Mo 20:00-00:00'), ARRAY['1 20:00-24:00'],
          'closing at midnight adds no empty span on the next day');
SELECT is(pg_temp.spans('Mo 20:00-24:00'), ARRAY['1 20:00-24:00'], 'nor does closing at 24:00');
SELECT is(pg_temp.spans('Mo-Su 20:00-02:00'),
          ARRAY['1 00:00-02:00', '1 20:00-24:00', '2 00:00-02:00', '2 20:00-24:00', '3 00:00-02:00',
                '3 20:00-24:00', '4 00:00-02:00', '4 20:00-24:00', '5 00:00-02:00', '5 20:00-24:00',
                '6 00:00-02:00', '6 20:00-24:00', '7 00:00-02:00', '7 20:00-24:00'],
          'every night: Sunday''s night runs into Monday');

-- Merging.
SELECT is(pg_temp.spans('Mo 08:00-12:00,10:00-14:00'), ARRAY['1 08:00-14:00'], 'overlapping spans merge');
SELECT is(pg_temp.spans('Mo 08:00-12:00,12:00-14:00'), ARRAY['1 08:00-14:00'], 'touching spans merge');
SELECT is(pg_temp.spans('Mo 08:00-18:00; Mo 09:00-10:00'), ARRAY['1 08:00-18:00'], 'a span inside another');
SELECT is(pg_temp.spans('Mo 08:00-09:00,10:00-11:00'), ARRAY['1 08:00-09:00', '1 10:00-11:00'],
          'a gap keeps two spans');

-- Always open.
SELECT is(pg_temp.spans(' 24/7 '),
          ARRAY['1 00:00-24:00', '2 00:00-24:00', '3 00:00-24:00', '4 00:00-24:00', '5 00:00-24:00',
                '6 00:00-24:00', '7 00:00-24:00'], '24/7 is every day, all day');
SELECT pg_temp.refused('24/7 Mo 08:00-09:00', 'nothing may follow 24/7 at character 6');

-- Times refused.
SELECT pg_temp.refused('Mo 24:00-08:00', 'no such time of day at character 4');
SELECT pg_temp.refused('Mo 08:00-24:01', 'no such time of day at character 10');
SELECT pg_temp.refused('Mo 08:00-24:30', 'no such time of day at character 10');
SELECT pg_temp.refused('Mo 08:00-25:00', 'no such time of day at character 10');
SELECT pg_temp.refused('Mo 08:60-09:00', 'no such time of day at character 4');
SELECT pg_temp.refused('Mo 25:00-26:00', 'no such time of day at character 4');
SELECT pg_temp.refused('Mo 8:00-09:00', 'expected a time like 08:30 at character 4');
SELECT pg_temp.refused('Mo 08:00', 'expected ''-'' between times at character 9');
SELECT pg_temp.refused('Mo 08:00-', 'expected a time like 08:30 at character 10');
SELECT pg_temp.refused('Mo 08:00-08:00', 'a span must not be empty at character 15');

-- Structure refused.
SELECT pg_temp.refused('', 'opening hours are empty at character 1');
SELECT pg_temp.refused('   ', 'opening hours are empty at character 4');
SELECT throws_ok($$SELECT * FROM careline_hours_spans(NULL)$$, '22023',
                 'opening hours are empty at character 1', 'NULL is empty');
SELECT pg_temp.refused('Xx 08:00-09:00', 'expected a day (Mo Tu We Th Fr Sa Su) at character 1');
SELECT pg_temp.refused('mo 08:00-09:00', 'expected a day (Mo Tu We Th Fr Sa Su) at character 1');
SELECT pg_temp.refused('Mo- 08:00-09:00', 'expected a day after ''-'' at character 4');
SELECT pg_temp.refused('Mo08:00-09:00', 'expected a space between days and times at character 3');
SELECT pg_temp.refused('Mo 08:00-09:00 Tu 10:00-11:00', 'expected '';'' between rules at character 16');
SELECT pg_temp.refused('Mo 08:00-09:00;', 'expected a day (Mo Tu We Th Fr Sa Su) at character 16');
SELECT pg_temp.refused('Mo 08:00-09:00; Xx', 'expected a day (Mo Tu We Th Fr Sa Su) at character 17');
SELECT pg_temp.refused('Mo-Fr 8-18', 'expected a time like 08:30 at character 7');

-- Limits: 64 spans before merging, 256 characters.
SELECT is(cardinality(pg_temp.spans('Mo-Su 00:00-01:00,01:00-02:00,02:00-03:00,03:00-04:00,04:00-05:00,'
                                    '05:00-06:00,06:00-07:00,07:00-08:00,08:00-09:00; Mo 23:00-23:30')), 8,
          'exactly 64 spans pass (and merge into 8)');
SELECT pg_temp.refused('Mo-Su 00:00-01:00,01:00-02:00,02:00-03:00,03:00-04:00,04:00-05:00,'
                       '05:00-06:00,06:00-07:00,07:00-08:00,08:00-09:00; Mo 23:00-23:30,23:30-23:45',
                       'too many opening spans (at most 64) at character 142');
SELECT is(pg_temp.spans(rpad('Mo 08:00-09:00', 256)), ARRAY['1 08:00-09:00'], '256 characters pass');
SELECT pg_temp.refused(rpad('Mo 08:00-09:00', 257), 'opening hours are too long (at most 256 characters) at character 1');

-- Volunteers' availability is read the same way.
INSERT INTO volunteers (name, phone, location, availability)
VALUES ('Night Owl', '13900000009', 'SRID=4326;POINT(113.19 27.88)', 'Su 22:00-02:00; Mo 00:00-08:00');
SELECT is((SELECT array_agg(h.dow || ' ' || to_char(h.opens, 'HH24:MI') || '-' || to_char(h.closes, 'HH24:MI')
                            ORDER BY h.dow, h.opens)
           FROM provider_hours h JOIN providers p ON p.id = h.provider_id
           JOIN volunteers v ON v.id = p.volunteer_id WHERE v.name = 'Night Owl'),
          ARRAY['1 00:00-08:00', '7 22:00-24:00'], 'a volunteer''s availability across midnight');
SELECT throws_ok($$INSERT INTO volunteers (name, phone, location, availability)
                   VALUES ('Vague', '13900000008', 'SRID=4326;POINT(113.19 27.88)', 'evenings')$$,
                 '22023', 'expected a day (Mo Tu We Th Fr Sa Su) at character 1',
                 'an availability the grammar refuses raises 22023');

SELECT * FROM finish();
ROLLBACK;
