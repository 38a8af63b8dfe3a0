-- tests/bench/get_match.lua — wrk: the matching preview,
-- GET /v1/matches?resident_id=N&service=meal for a random resident.
--
--   wrk -t1 -c1 -d10s -s tests/bench/get_match.lua http://127.0.0.1:PORT -- TOKEN [RESIDENTS]
--
-- done() prints the same BENCH line as post_call.lua.

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
	math.randomseed(4099 + 7919 * id)
	headers["Authorization"] = "Bearer " .. token
end

function request()
	return wrk.format("GET", string.format("/v1/matches?resident_id=%d&service=meal",
		math.random(1, residents)), headers)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
		summary.requests, e.connect + e.read + e.write + e.timeout + e.status,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max))
end
