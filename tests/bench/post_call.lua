-- tests/bench/post_call.lua — wrk: POST /v1/calls for a random resident.
--
--   wrk -t2 -c8 -d10s -s tests/bench/post_call.lua http://127.0.0.1:PORT -- TOKEN [RESIDENTS]
--
-- Each request logs a meal call for a resident drawn uniformly from
-- 1..RESIDENTS (default 50000). done() prints one machine-readable line:
--   BENCH requests=N errors=N p50_us=N p90_us=N p99_us=N max_us=N
-- errors counts socket errors, timeouts and non-2xx answers.

local token, residents
local headers = {}
local threads = {}

function setup(thread)
	thread:set("id", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	token = args[1] or error("usage: ... -- TOKEN [RESIDENTS]")
	residents = tonumber(args[2] or "50000")
	-- Different, reproducible draws per thread.
	math.randomseed(2099 + 7919 * id)
	headers["Authorization"] = "Bearer " .. token
	headers["Content-Type"] = "application/json"
end

function request()
	local body = string.format('{"caller_phone": "13900000000", "resident_id": %d, '
		.. '"service": "meal", "duplicate_ok": true}', math.random(1, residents))
	return wrk.format("POST", "/v1/calls", headers, body)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
		summary.requests, e.connect + e.read + e.write + e.timeout + e.status,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max))
end
