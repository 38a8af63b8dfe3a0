-- tests/bench/call_create.sql — pgbench: the one statement carelined runs for
-- POST /v1/calls (daemon/api_calls.c) with the parameters it sends for
--   {"caller_phone": "13900000000", "resident_id": N, "service": "meal",
--    "duplicate_ok": true}
-- from the bench token (id 1, actor 'token:1'):
--   $3 the request as carelined re-serialises it (compact, keys sorted);
--   $4 the matching parameters for the default config, byte for byte:
--      dispatch_params, built by config/config.c (the matching keys of
--      api_match_params() plus the offer keys sql/functions/dispatch.sql
--      reads);
--   $5 NULL (no Idempotency-Key);
--   $6 a SHA-256 (stored only with a key, so one fixed value does).
-- pgbench replaces ":name" even inside quotes (with -M prepared a JSON
-- '"limit":5' would become '"limit"$2'), so every colon inside a literal is
-- written \x3a in an E'' string: the server sees exactly carelined's text.
-- scripts/bench.sh checks these against what a running carelined sends
-- (via the server log) and warns when they drift apart.
\set rid random(1, 50000)
SELECT (x->>'status')::int, (x->'body')::text FROM careline_api_calls_create('token' || E'\x3a1', 1, (E'{"caller_phone"\x3a"13900000000","duplicate_ok"\x3atrue,"resident_id"\x3a' || :rid::text || E',"service"\x3a"meal"}')::jsonb, E'{"max_minutes"\x3a15.0,"detour_factor"\x3a1.3,"speeds"\x3a{"walk"\x3a4.0,"ebike"\x3a15.0,"car"\x3a25.0,"shuttle"\x3a20.0,"wheelchair"\x3a2.5},"limit"\x3a5,"timezone"\x3a"Asia/Shanghai","strategy"\x3a"cascade","offer_timeout_ms"\x3a120000,"broadcast_k"\x3a3,"public_url"\x3a"http\x3a//127.0.0.1\x3a8080","retry_ms"\x3a[5000,30000,120000,600000,1800000]}'::jsonb, NULL, '\x82a155fb56c3fe10be74c8618ac8266b7522239466ae501dcc214552f7401bac'::bytea) x;
