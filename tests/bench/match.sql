-- tests/bench/match.sql — pgbench: the statement carelined runs for
-- GET /v1/matches?resident_id=N&service=meal (daemon/api_calls.c,
-- api_matches) from the bench token (id 1, actor 'token:1'): the match and
-- its read recorded (resident_reads), with the matching parameters
-- carelined sends for the default config (cfg->dispatch_params, as in
-- call_create.sql) and no "at".
-- Colons inside literals are written \x3a (see call_create.sql).
\set rid random(1, 50000)
SELECT (x->>'status')::int, (x->'body')::text FROM careline_api_matches_list('token' || E'\x3a1', 'GET /v1/matches', :rid::bigint, 'meal', NULL::text, E'{"max_minutes"\x3a15.0,"detour_factor"\x3a1.3,"speeds"\x3a{"walk"\x3a4.0,"ebike"\x3a15.0,"car"\x3a25.0,"shuttle"\x3a20.0,"wheelchair"\x3a2.5},"limit"\x3a5,"timezone"\x3a"Asia/Shanghai","strategy"\x3a"cascade","offer_timeout_ms"\x3a120000,"broadcast_k"\x3a3,"public_url"\x3a"http\x3a//127.0.0.1\x3a8080","retry_ms"\x3a[5000,30000,120000,600000,1800000]}'::jsonb) x;
