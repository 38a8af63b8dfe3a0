#!/usr/bin/env bash
# The webhook benchmarks behind `make bench` (called at the end of
# scripts/bench.sh, or on its own): carelined's outbox throughput against a
# bare libcurl loop (tests/bench/blast.c), the latency from POST /v1/calls to
# the provider's endpoint, and carelined's memory with a large backlog. On a
# throwaway cluster loaded with the bench district (sql/bench/dataset.sql),
# like bench.sh. Ends with one table of figures next to their references
# and targets, each marked "meets" or "misses by" how much. Part 1 also
# prints the statements that took the most PostgreSQL time per delivery
# (pg_stat_statements, track = all, as in bench.sh).
#
#   1. throughput: BENCH_WH_DELIVERIES (50,000) pending offer.cancelled
#      deliveries (~330-byte payloads) are put in the outbox by SQL, to the
#      1,955 active providers, whose endpoints are one demo-receiver; then
#      carelined starts (max_in_flight 256, pool_size 4) and the time until
#      all are 'delivered' (polled every 200 ms) gives deliveries/s. The
#      reference: build/bench-blast sending the same number of signed
#      requests of the same shape, 256 in flight, to the same receiver.
#   2. latency: BENCH_WH_CALLS (300) POST /v1/calls one after another; for
#      each call's offer.created, the receiver's --log time (unix ms) minus
#      the time the POST returned (curl's start + time_total).
#   3. memory: BENCH_WH_BACKLOG (100,000) pending deliveries whose endpoint
#      is a closed port, falling due over 20 s (so carelined keeps claiming,
#      failing and rescheduling them); VmRSS and VmHWM after ~20 s.
#
# In this throwaway cluster every provider is open all day (provider_hours
# replaced) so that calls find candidates whatever the time, and every
# endpoint uses the test secret below. Only 127.0.0.1 is used: receiver
# 18086 (parts 1, blast) and 18088 (part 2), carelined 18087, 18089 stays
# closed (part 3); PostgreSQL on its unix socket, "port" 55966. Bounded: a
# watchdog stops everything after 180 s.
#
# Environment (all optional): BUILD (default build), BENCH_WH_DELIVERIES,
# BENCH_WH_CALLS, BENCH_WH_BACKLOG, BENCH_WH_BACKLOG_SECONDS (default 20),
# BENCH_TOP (statements printed, default 8).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build}
bin=$root/$build/carelined
receiver_bin=$root/$build/demo-receiver
blast_bin=$root/$build/bench-blast

n_deliveries=${BENCH_WH_DELIVERIES:-50000}
n_calls=${BENCH_WH_CALLS:-300}
n_backlog=${BENCH_WH_BACKLOG:-100000}
backlog_secs=${BENCH_WH_BACKLOG_SECONDS:-20}
top_n=${BENCH_TOP:-8}
in_flight=256
pool_size=4
secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
pgport=55966
rport=18086 # receiver: throughput, blast
aport=18087 # carelined
lport=18088 # receiver with --log: latency
dport=18089 # nothing listens: the backlog's endpoint
deadline=180
drain_limit=60 # seconds part 1 may take at most

die() {
	echo "bench-webhooks.sh: $*" >&2
	exit 1
}

for tool in curl jq ss awk cc pkg-config; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run scripts/deps.sh"
done
[[ -x $bin && -x $receiver_bin ]] || die "$bin or $receiver_bin not found; run make all"
for p in $rport $aport $lport $dport; do
	[[ -z $(ss -Htln "sport = :$p") ]] || die "port $p is in use"
done

tmp=$(mktemp -d /tmp/careline-bench-wh.XXXXXX)
chmod 755 "$tmp" # the postgres user must reach the cluster below it
pgdir=$tmp/pg
daemon_pid=
receiver_pid=
watchdog_pid=

stop_pid() { # pid
	local i
	[[ -n $1 ]] || return 0
	if kill -TERM "$1" 2>/dev/null; then
		for ((i = 0; i < 50; i++)); do
			kill -0 "$1" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
}
stop_daemon() {
	stop_pid "$daemon_pid"
	daemon_pid=
}
stop_receiver() {
	stop_pid "$receiver_pid"
	receiver_pid=
}
cleanup() {
	trap - EXIT INT TERM
	stop_daemon
	stop_receiver
	if [[ -n $watchdog_pid ]]; then
		kill "$watchdog_pid" 2>/dev/null || true
		wait "$watchdog_pid" 2>/dev/null || true
	fi
	scripts/pg.sh destroy "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench-webhooks.sh: interrupted" >&2; exit 130' INT
trap 'echo "bench-webhooks.sh: stopped (time limit of ${deadline}s or TERM)" >&2; exit 124' TERM

(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$deadline" &
	s=$!
	wait "$s" && kill -TERM $$ 2>/dev/null
) &
watchdog_pid=$!

psql_q() {
	scripts/pg.sh psql "$pgdir" "$pgport" -X -q -v ON_ERROR_STOP=1 "$@"
}
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
pg_ticks() {
	local postmaster sum=0 p t
	postmaster=$(sed -n 1p "$pgdir/data/postmaster.pid")
	for p in $postmaster $(pgrep -P "$postmaster"); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		sum=$((sum + t))
	done
	echo "$sum"
}
clk_tck=$(getconf CLK_TCK)
now() { # seconds, microsecond resolution
	echo "$EPOCHREALTIME"
}
pct() { # ticks seconds -> % of one CPU
	awk -v t="$1" -v s="$2" -v h="$clk_tck" 'BEGIN { printf "%.0f", (s > 0 ? 100 * t / h / s : 0) }'
}
mem_kb() { # pid field
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}
mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}
# stmts_reset, stmts_print (pg_stat_statements per run), verdict.
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

start_receiver() { # port [args...]
	local port=$1 i
	shift
	"$receiver_bin" --port "$port" --quiet --ignore-rate 1 --secret "$secret" "$@" \
		>>"$tmp/receiver.log" 2>&1 &
	receiver_pid=$!
	for ((i = 0; i < 50; i++)); do
		[[ -n $(ss -Htln "sport = :$port") ]] && return 0
		sleep 0.1
	done
	die "demo-receiver did not listen on $port"
}

start_daemon() {
	local i
	"$bin" -c "$tmp/careline.yaml" >>"$tmp/carelined.log" 2>&1 &
	daemon_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/readyz") == 200 ]] &&
			return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$tmp/carelined.log" >&2
	die "carelined did not become ready"
}

# --------------------------------------------------------------------------
echo "== webhooks: blast, throwaway cluster and the bench district"
cc -std=gnu11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror tests/bench/blast.c \
	$(pkg-config --cflags --libs libcurl) -o "$blast_bin"
if ! PG_FAST=1 scripts/pg.sh init "$pgdir" "$pgport" >"$tmp/pg-init.log" 2>&1; then
	cat "$tmp/pg-init.log" >&2
	die "could not start PostgreSQL"
fi
psql_q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
scripts/pg.sh stop "$pgdir" >/dev/null
PG_FAST=1 scripts/pg.sh start "$pgdir" "$pgport" >>"$tmp/pg-init.log" 2>&1 ||
	die "could not restart PostgreSQL with pg_stat_statements"
psql_q -c 'CREATE EXTENSION pg_stat_statements' \
	-c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
conninfo=$(scripts/pg.sh conninfo "$pgdir" "$pgport")
cat >"$tmp/careline.yaml" <<-EOF
	listen:
	  address: 127.0.0.1
	  port: $aport
	database:
	  url: "$conninfo"
	  pool_size: $pool_size
	log:
	  level: warn
	webhooks:
	  allow_private_targets: true
	  max_in_flight: $in_flight
	paths:
	  sql_dir: $root/sql
EOF
"$bin" -c "$tmp/careline.yaml" --migrate >"$tmp/migrate.log" 2>&1 || {
	cat "$tmp/migrate.log" >&2
	die "carelined --migrate failed"
}
t0=$(now)
psql_q -v receiver_url="http://127.0.0.1:$rport/hooks" -f sql/bench/dataset.sql >/dev/null
# The test secret everywhere, and every provider open all day.
psql_q >/dev/null <<-EOF
	UPDATE providers SET webhook_secret = '$secret' WHERE webhook_url IS NOT NULL;
	DELETE FROM provider_hours;
	INSERT INTO provider_hours (provider_id, dow, opens, closes)
	SELECT p.id, d, '00:00', '24:00' FROM providers p, generate_series(1, 7) d;
	VACUUM (FREEZE, ANALYZE);
EOF
t1=$(now)
endpoints=$(psql_q -At -c 'SELECT count(*) FROM providers WHERE webhook_url IS NOT NULL')
printf '   %s deliveries and %s calls of history, %s endpoints on 127.0.0.1:%s; in %.1f s\n' \
	"$(psql_q -At -c 'SELECT count(*) FROM deliveries')" \
	"$(psql_q -At -c 'SELECT count(*) FROM calls')" "$endpoints" "$rport" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

declare -A R

# --------------------------------------------------------------------------
echo "== 1. throughput: $n_deliveries pending offer.cancelled deliveries, max_in_flight $in_flight"
start_receiver "$rport"
wm=$(psql_q -At -c 'SELECT coalesce(max(id), 0) FROM deliveries')
psql_q >/dev/null <<-EOF
	INSERT INTO deliveries (provider_id, event_type, payload)
	SELECT p.id, 'offer.cancelled',
	       jsonb_build_object('type', 'offer.cancelled', 'timestamp', now(),
	           'data', jsonb_build_object('offer_id', 1000000 + g, 'call_id', 900000 + g,
	               'reason', 'call_cancelled', 'service', 'meal', 'provider_id', p.id,
	               'resident_ref', 'r-' || lpad((g % 50000)::text, 6, '0'),
	               'cancelled_by', 'operator',
	               'note', 'The resident''s family will bring the meal today; no visit is needed.'))
	FROM generate_series(1, $n_deliveries) g
	JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
	      FROM providers WHERE webhook_url IS NOT NULL) p ON p.k = g % p.n;
	ANALYZE deliveries;
EOF
echo "   payload $(psql_q -At -c "SELECT round(avg(octet_length(payload::text))) FROM deliveries WHERE id > $wm") bytes on average"
delivered_count() {
	psql_q -At -c "SELECT count(*) FILTER (WHERE status = 'delivered') || ' ' ||
		count(*) FILTER (WHERE status = 'dead') FROM deliveries WHERE id > $wm"
}
stmts_reset
c_pg0=$(pg_ticks)
c_r0=$(cpu_ticks "$receiver_pid")
t0=$(now)
start_daemon
c_d0=0
done_n=0
dead_n=0
while :; do
	read -r done_n dead_n < <(delivered_count)
	t1=$(now)
	((done_n + dead_n < n_deliveries)) || break
	if awk -v a="$t0" -v b="$t1" -v l="$drain_limit" 'BEGIN { exit !(b - a > l) }'; then
		echo "   WARNING: only $done_n of $n_deliveries delivered after ${drain_limit} s; rate from those"
		break
	fi
	sleep 0.2
done
c_d1=$(cpu_ticks "$daemon_pid")
c_pg1=$(pg_ticks)
c_r1=$(cpu_ticks "$receiver_pid")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
R[d.rate]=$(awk -v n="$done_n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
R[d.cd]=$(pct $((c_d1 - c_d0)) "$secs")
R[d.cpg]=$(pct $((c_pg1 - c_pg0)) "$secs")
R[d.cr]=$(pct $((c_r1 - c_r0)) "$secs")
R[d.hwm]=$(mem_kb "$daemon_pid" VmHWM)
printf '   carelined: %s delivered (%s dead) in %s s from its start: %s deliveries/s\n' \
	"$done_n" "$dead_n" "$secs" "${R[d.rate]}"
printf '      CPU carelined %s%%, postgres %s%%, receiver %s%% (of %s%%)\n' \
	"${R[d.cd]}" "${R[d.cpg]}" "${R[d.cr]}" "$(($(nproc) * 100))"
stop_daemon
stmts_print "$done_n" delivery
psql_q -At -F' ' -c "SELECT count(*), count(*) FILTER (WHERE error IS NOT NULL),
	coalesce(mode() WITHIN GROUP (ORDER BY error), '-')
	FROM delivery_attempts WHERE delivery_id > $wm" | {
	read -r a e err
	if ((e > 0)); then
		echo "      $a attempts recorded, $e failed (most often: $err)"
	else
		echo "      $a attempts recorded, none failed"
	fi
}
# Whatever was not delivered must not load the runs below.
psql_q -c "UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL
	WHERE id > $wm AND status = 'pending'" >/dev/null

c_r0=$(cpu_ticks "$receiver_pid")
"$blast_bin" --url "http://127.0.0.1:$rport/hooks/1" -n "$n_deliveries" -k "$in_flight" \
	--secret "$secret" >"$tmp/blast.out" 2>"$tmp/blast.err" || true
c_r1=$(cpu_ticks "$receiver_pid")
blast=$(grep '^BLAST ' "$tmp/blast.out" || true)
[[ -n $blast ]] || {
	cat "$tmp/blast.err" >&2
	die "bench-blast failed"
}
R[b.rate]=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$blast")
bsecs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$blast")
R[b.cr]=$(pct $((c_r1 - c_r0)) "$bsecs")
echo "   blast:     $blast"
echo "      CPU receiver ${R[b.cr]}%"
grep -q 'failed=0 ' <<<"$blast" || echo "   WARNING: blast had failures: $(head -n 3 "$tmp/blast.err")"
stop_receiver

# --------------------------------------------------------------------------
echo "== 2. latency: $n_calls POST /v1/calls one after another, offer.created to 127.0.0.1:$lport"
psql_q -c "UPDATE providers SET webhook_url = replace(webhook_url, ':$rport/', ':$lport/')
	WHERE webhook_url IS NOT NULL" >/dev/null
start_receiver "$lport" --log "$tmp/hooks.jsonl" --accept-after 3600
token=$("$bin" -c "$tmp/careline.yaml" --create-token --role operator --name bench-wh 2>"$tmp/token.log") || {
	cat "$tmp/token.log" >&2
	die "carelined --create-token failed"
}
start_daemon
sleep 0.3
RANDOM=2099
: >"$tmp/calls.txt"
for ((i = 0; i < n_calls; i++)); do
	rid=$(((RANDOM * 32768 + RANDOM) % 50000 + 1))
	t=$(now)
	out=$(curl -s -o "$tmp/call.json" -w '%{http_code} %{time_total}' -X POST \
		"http://127.0.0.1:$aport/v1/calls" \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d "{\"caller_phone\": \"13900000000\", \"resident_id\": $rid, \"service\": \"meal\", \"duplicate_ok\": true}")
	read -r code tt <<<"$out"
	[[ $code == 201 ]] || {
		cat "$tmp/call.json" >&2
		die "POST /v1/calls answered $code"
	}
	echo "$(jq -r .id "$tmp/call.json") $t $tt" >>"$tmp/calls.txt"
done
sleep 1
ids=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $1 }' "$tmp/calls.txt")
# Each call's first offer.created and its webhook-id.
psql_q -At -F' ' -c "SELECT DISTINCT ON (o.call_id) o.call_id, d.event_id
	FROM deliveries d JOIN offers o ON o.id = d.offer_id
	WHERE o.call_id IN ($ids) AND d.event_type = 'offer.created'
	ORDER BY o.call_id, d.id" >"$tmp/events.txt"
jq -r 'select(.type == "offer.created" and .valid) | "\(.webhook_id) \(.at)"' \
	"$tmp/hooks.jsonl" >"$tmp/seen.txt"
awk 'FILENAME == ARGV[1] { ret[$1] = ($2 + $3) * 1000; post[$1] = $3 * 1000; next }
     FILENAME == ARGV[2] { ev[$1] = $2; next }
     { at[$1] = $2 }
     END {
         for (c in ret) {
             if (!(c in ev)) { unmatched++; continue }
             if (!(ev[c] in at)) { missing++; continue }
             printf "L %.3f\n", at[ev[c]] - ret[c]
         }
         for (c in post) printf "P %.3f\n", post[c]
         printf "U %d\nM %d\n", unmatched, missing
     }' "$tmp/calls.txt" "$tmp/events.txt" "$tmp/seen.txt" >"$tmp/lat.txt"
pctl() { # kind percentile
	awk -v k="$1" '$1 == k { print $2 }' "$tmp/lat.txt" | sort -g |
		awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
			i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", v[i] }'
}
R[l.n]=$(awk '$1 == "L"' "$tmp/lat.txt" | wc -l)
R[l.p50]=$(pctl L 50) R[l.p99]=$(pctl L 99) R[l.max]=$(pctl L 100)
R[p.p50]=$(pctl P 50) R[p.p99]=$(pctl P 99)
unmatched=$(awk '$1 == "U" { print $2 }' "$tmp/lat.txt")
missing=$(awk '$1 == "M" { print $2 }' "$tmp/lat.txt")
printf '   %s calls with an offer.created seen: return -> receiver p50 %s ms, p99 %s ms, max %s ms\n' \
	"${R[l.n]}" "${R[l.p50]}" "${R[l.p99]}" "${R[l.max]}"
printf '      POST /v1/calls itself: p50 %s ms, p99 %s ms; %s calls unmatched, %s offers not seen by the receiver\n' \
	"${R[p.p50]}" "${R[p.p99]}" "$unmatched" "$missing"
stop_daemon
stop_receiver

# --------------------------------------------------------------------------
psql_q -c "UPDATE providers SET webhook_url = replace(webhook_url, ':$lport/', ':$dport/')
	WHERE webhook_url IS NOT NULL" >/dev/null

backlog_run() { # tag spread_seconds
	local tag=$1 spread=$2 wm att0 t0 t1 secs c_d0 c_pg0 pend att hwm peak_leased=0 l i
	[[ -z $(ss -Htln "sport = :$dport") ]] || die "port $dport is in use"
	wm=$(psql_q -At -c 'SELECT coalesce(max(id), 0) FROM deliveries')
	att0=$(psql_q -At -c 'SELECT count(*) FROM delivery_attempts')
	psql_q >/dev/null <<-EOF
		INSERT INTO deliveries (provider_id, event_type, payload, next_attempt_at)
		SELECT p.id, 'offer.cancelled',
		       jsonb_build_object('type', 'offer.cancelled', 'timestamp', now(),
		           'data', jsonb_build_object('offer_id', 2000000 + g, 'call_id', 1900000 + g,
		               'reason', 'call_cancelled', 'service', 'meal', 'provider_id', p.id,
		               'resident_ref', 'r-' || lpad((g % 50000)::text, 6, '0'),
		               'cancelled_by', 'operator',
		               'note', 'The resident''s family will bring the meal today; no visit is needed.')),
		       now() + make_interval(secs => $spread * g::float8 / $n_backlog)
		FROM generate_series(1, $n_backlog) g
		JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
		      FROM providers WHERE webhook_url IS NOT NULL) p ON p.k = g % p.n;
		ANALYZE deliveries;
	EOF
	start_daemon
	R[$tag.rss0]=$(mem_kb "$daemon_pid" VmRSS)
	c_d0=$(cpu_ticks "$daemon_pid")
	c_pg0=$(pg_ticks)
	t0=$(now)
	# Leased rows: in flight, or attempted and waiting to be recorded.
	for ((i = 0; i < backlog_secs; i += 2)); do
		sleep 2
		l=$(psql_q -At -c "SELECT count(*) FROM deliveries
			WHERE id > $wm AND status = 'pending' AND lease_owner IS NOT NULL")
		((l <= peak_leased)) || peak_leased=$l
	done
	t1=$(now)
	R[$tag.rss]=$(mem_kb "$daemon_pid" VmRSS)
	R[$tag.hwm]=$(mem_kb "$daemon_pid" VmHWM)
	R[$tag.leased]=$peak_leased
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	R[$tag.cd]=$(pct $(($(cpu_ticks "$daemon_pid") - c_d0)) "$secs")
	R[$tag.cpg]=$(pct $(($(pg_ticks) - c_pg0)) "$secs")
	read -r pend att < <(psql_q -At -F' ' -c "SELECT (SELECT count(*) FROM deliveries
		WHERE id > $wm AND status = 'pending'), (SELECT count(*) FROM delivery_attempts) - $att0")
	printf '   after %s s: VmRSS %s MiB, VmHWM %s MiB (%s MiB when ready); %s attempts recorded, %s still pending\n' \
		"$secs" "$(mib "${R[$tag.rss]}")" "$(mib "${R[$tag.hwm]}")" "$(mib "${R[$tag.rss0]}")" "$att" "$pend"
	printf '      CPU carelined %s%%, postgres %s%%; at most %s rows leased (attempted or in flight, not yet recorded)\n' \
		"${R[$tag.cd]}" "${R[$tag.cpg]}" "$peak_leased"
	stop_daemon
	psql_q -c "UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL
		WHERE id > $wm AND status = 'pending'" >/dev/null
}
echo "== 3. memory: $n_backlog pending deliveries to a closed port (127.0.0.1:$dport), due over ${backlog_secs} s; RSS after ${backlog_secs} s"
backlog_run m "$backlog_secs"
echo "   the same, all due at once"
backlog_run mb 0
# (Without an installed console, each start warns that it is not served.)
grep -v 'the console is not served' "$tmp/carelined.log" >"$tmp/warn.log" || true
if grep -q . "$tmp/warn.log"; then
	echo "   carelined logged $(grep -c . "$tmp/warn.log") lines at warn or above; the first:"
	head -n 3 "$tmp/warn.log" | cut -c1-160 | sed 's/^/   | /'
fi

# --------------------------------------------------------------------------
row() {
	printf '%-40s %-20s %-30s %-14s %s\n' "$@"
}
ratio=$(awk -v a="${R[d.rate]}" -v b="${R[b.rate]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
echo
echo "== webhook results: $(nproc) CPUs, receiver and blast on the same CPUs, PostgreSQL with fsync off"
row "measure" "carelined" "reference" "target" "verdict"
row "-------" "---------" "---------" "------" "-------"
row "deliveries/s, $in_flight in flight (outbox)" "${R[d.rate]}/s" "blast ${R[b.rate]}/s (issue: ~35000)" "" ""
row "carelined / blast" "$ratio" "" ">= 0.25" "$(verdict "$ratio" '>=' 0.25)"
row "POST return -> receiver p50 / p99" "${R[l.p50]} / ${R[l.p99]} ms" "POST itself ${R[p.p50]} / ${R[p.p99]} ms" \
	"p99 < 100 ms" "$(verdict "${R[l.p99]}" '<' 100 ' ms')"
row "RSS, $n_backlog pending (VmRSS / VmHWM)" "$(mib "${R[m.rss]}") / $(mib "${R[m.hwm]}") MiB" \
	"$(mib "${R[m.rss0]}") MiB when ready" "< 64 MiB" "$(verdict "$(mib "${R[m.hwm]}")" '<' 64 ' MiB')"
row "  the same, all due at once" "$(mib "${R[mb.rss]}") / $(mib "${R[mb.hwm]}") MiB" \
	"${R[mb.leased]} rows unrecorded at peak" "< 64 MiB" "$(verdict "$(mib "${R[mb.hwm]}")" '<' 64 ' MiB')"
echo "CPU, part 1: carelined ${R[d.cd]}%, postgres ${R[d.cpg]}%, receiver ${R[d.cr]}% (blast run: receiver ${R[b.cr]}%);" \
	"part 3: carelined ${R[m.cd]}% / ${R[mb.cd]}%, postgres ${R[m.cpg]}% / ${R[mb.cpg]}% of one CPU"
