-- The registers: careline_resident_save, careline_provider_save and their
-- helpers (community lookup, constraint errors, diffs), and
-- careline_in_district. The opening-hours grammar itself: hours.sql.
\ir lib/fixtures.sql
SELECT plan(38);

INSERT INTO communities (name, street) VALUES ('East Gate', 'Main Street'), ('West Gate', 'Main Street');

\set r '\'{"name": "Wang Fang", "phone": "13900000001", "address": "Flat 1", "lat": 27.88, "lon": 113.19, "community": "East Gate"}\'::jsonb'

-- Residents.
SELECT is(careline_api_residents_save('token:1', NULL, '[]') ->> 'status', '400', 'a body that is not an object: 400');
SELECT is(careline_api_residents_save('token:1', NULL, :r || '{"age": 80}') #>> '{body,error,field}', 'age',
          'an unknown field: 422 naming it');
SELECT is(careline_api_residents_save('token:1', NULL, :r - 'address') #>> '{body,error,field}', 'address',
          'registering without an address: 422 missing_field on address');
SELECT is(careline_api_residents_save('token:1', NULL, :r || '{"lat": 91}') #>> '{body,error,field}', 'lat',
          'a latitude past the pole: 422');
SELECT is(careline_api_residents_save('token:1', NULL, :r || '{"community": "North Gate"}') #>> '{body,error,code}',
          'community_not_found', 'an unknown community name: 422');
SELECT is(careline_api_residents_save('token:1', NULL, :r || jsonb_build_object('community_id',
              (SELECT id FROM communities WHERE name = 'West Gate'))) #>> '{body,error,code}',
          'community_mismatch', 'a community name and id that disagree: 422');
SELECT is(careline_api_residents_save('token:1', NULL, :r || '{"phone": "12-34"}') #>> '{body,error,field}', 'phone',
          'a phone the table refuses: 422 naming phone');
SELECT careline_api_residents_save('token:1', NULL, :r) #>> '{body,id}' AS rid \gset
SELECT is((SELECT community_id FROM residents WHERE id = :rid), (SELECT id FROM communities WHERE name = 'East Gate'),
          'a resident is registered in the community named');
SELECT is(careline_api_residents_save('token:1', :rid, '{"mobility": "wheelchair", "name": "Wang Fang"}') ->> 'status', '200',
          'an update');
SELECT results_eq($$SELECT before, after FROM audit_log WHERE action = 'resident.update'$$,
                  $$VALUES ('{"mobility": "walk"}'::jsonb, '{"mobility": "wheelchair"}'::jsonb)$$,
                  'is audited with only what changed');
SELECT careline_api_residents_save('token:1', :rid, '{"mobility": "wheelchair"}') \g /dev/null
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'resident.update'), 1::bigint,
          'an update that changes nothing is not audited');
SELECT is(careline_api_residents_save('token:1', -1, '{"name": "x"}') ->> 'status', '404', 'an unknown resident: 404');

-- Providers.
\set p '\'{"name": "Kitchen", "services": ["meal"], "lat": 27.88, "lon": 113.19, "travel_mode": "walk", "capacity": 3, "opening_hours": "Su 22:00-02:00"}\'::jsonb'
SELECT is(careline_api_providers_save('token:1', NULL, :p || '{"opening_hours": "Mo-Fr 8-18"}', NULL)
              #>> '{body,error}',
          '{"code": "invalid_opening_hours", "field": "opening_hours", "message": "opening_hours: expected a time like 08:30 at character 7 (example: Mo-Fr 08:00-18:00; Sa 09:00-12:00)"}',
          'opening hours the grammar refuses: 422 naming opening_hours, saying what is wrong and where');
SELECT is(careline_api_providers_save('token:1', NULL, :p || '{"opening_hours": "Mo-Fr 8-18"}', NULL) ->> 'status', '422',
          'with status 422');
SELECT is(careline_api_providers_save('token:1', NULL, :p || '{"services": ["laundry"]}', NULL)
              #>> '{body,error,field}', 'services', 'a service outside the list: 422 naming services');
SELECT is(careline_api_providers_save('token:1', NULL, :p || '{"capacity": 0}', NULL) #>> '{body,error,field}',
          'capacity', 'capacity 0: 422 naming capacity');
SELECT throws_ok($$SELECT careline_provider_save('t', NULL, '{"name": "K", "services": ["meal"], "lat": 27.88,
                     "lon": 113.19, "travel_mode": "walk", "capacity": 3, "opening_hours": "24/7",
                     "webhook_url": "http://k.test"}', NULL)$$,
                 '22023', NULL, 'a webhook_url without the secret the daemon made raises');
SELECT careline_api_providers_save('token:1', NULL, :p, NULL) #>> '{body,id}' AS pid \gset
SELECT is((SELECT array_agg(dow || ' ' || opens || '-' || closes ORDER BY dow DESC) FROM provider_hours
           WHERE provider_id = :pid), ARRAY['7 22:00:00-24:00:00', '1 00:00:00-02:00:00'],
          'the spans SQL parsed are stored, across midnight');
SELECT is((SELECT after -> 'hours' FROM audit_log WHERE action = 'provider.create'),
          '[{"dow": 1, "opens": "00:00", "closes": "02:00"}, {"dow": 7, "opens": "22:00", "closes": "24:00"}]'::jsonb,
          'the creation audit holds the spans');
SELECT is(careline_api_providers_save('token:1', :pid, '{"opening_hours": "Su 22:00-02:00; Mo 00:00-08:00"}', NULL)
              ->> 'status', '200', 'hours whose spans merge are saved (issue 10)');
SELECT is((SELECT array_agg(dow || ' ' || opens || '-' || closes ORDER BY dow DESC) FROM provider_hours
           WHERE provider_id = :pid), ARRAY['7 22:00:00-24:00:00', '1 00:00:00-08:00:00'],
          'as one Monday span');
SELECT careline_api_providers_save('token:1', :pid, '{"opening_hours": "Mo 08:00-09:00"}', NULL) \g /dev/null
SELECT is((SELECT count(*) FROM provider_hours WHERE provider_id = :pid), 1::bigint, 'new hours replace the old');
SELECT ok((SELECT bool_and(after ? 'hours') FROM audit_log WHERE action = 'provider.update'), 'and the change is audited');
SELECT is(careline_api_providers_save('token:1', :pid, '{"opening_hours": "whenever"}', NULL) #>> '{body,error,code}',
          'invalid_opening_hours', 'an update with unreadable hours is refused');
SELECT is((SELECT count(*) FROM provider_hours WHERE provider_id = :pid), 1::bigint, 'and keeps the hours it had');
SELECT is(careline_api_providers_save('token:1', NULL, :p || jsonb_build_object('services', to_jsonb(careline_services())),
                                  NULL) ->> 'status', '201',
          'a provider of every service careline_services() names passes the schema''s CHECK');
SELECT is(careline_services(), ARRAY['meal', 'housekeeping', 'daycare', 'companionship'],
          'the services, in the console''s order (the daemon''s list: test_config_api)');

-- Helpers.
SELECT ok(careline_in_district('SRID=4326;POINT(113.19 27.88)'), 'a point in the district');
SELECT ok(NOT careline_in_district('SRID=4326;POINT(116.40 39.90)'), 'Beijing is not');
SELECT ok(NOT coalesce(careline_in_district(NULL), false), 'nor is nowhere');
SELECT is(to_jsonb(careline_json_diff('{"a": 1, "b": 2, "updated_at": 1}', '{"a": 1, "b": 3, "c": 4, "updated_at": 2}')),
          '{"before": {"b": 2, "c": null}, "after": {"b": 3, "c": 4}}'::jsonb,
          'careline_json_diff keeps what changed, never updated_at');
SELECT is(careline_constraint_error('residents', 'residents_location_check', NULL, 'm') #>> '{body,error,field}', 'lat',
          'a location constraint is reported on lat');
SELECT is(careline_constraint_error('providers', 'providers_webhook_needs_secret', NULL, 'm') #>> '{body,error,field}',
          'webhook_url', 'a webhook without a secret is reported on webhook_url');

-- What both registers' saves check of a body first (careline_fields_check,
-- careline_fields_point).
SELECT throws_ok($$SELECT careline_fields_check('{"nmae": "x"}', ARRAY['name'], NULL, 'a thing')$$,
                 'KL422', 'Unknown field nmae.', 'a key outside the known ones: KL422 unknown_field');
SELECT throws_ok($$SELECT careline_fields_check('{"name": null}', ARRAY['name'], ARRAY['name'], 'a thing')$$,
                 'KL422', 'name is required to register a thing.', 'a creation without a required key: KL422');
SELECT lives_ok($$SELECT careline_fields_check('{}', ARRAY['name'], NULL, 'a thing')$$,
                'an update needs no key');
SELECT is(ST_AsText(careline_fields_point('{"lat": 27.9}', 'SRID=4326;POINT(113.2 27.8)')::geometry),
          'POINT(113.2 27.9)', 'a lat alone moves the point, the old lon kept');
SELECT throws_ok($$SELECT careline_fields_point('{"lat": 91, "lon": 113}', NULL)$$,
                 'KL422', 'lat must be between -90 and 90.', 'a lat out of range: KL422');

SELECT * FROM finish();
ROLLBACK;
