#!/usr/bin/env bash
# The benchmarks behind `make bench`: POST /v1/calls through carelined
# against the very same SQL run by pgbench, the matching preview's latency,
# and carelined's peak memory, on a throwaway cluster loaded with the bench
# district (sql/bench/dataset.sql: 50,000 residents, 2,000 providers).
# Ends with one table of figures next to their targets, each marked
# "meets" or "misses by" how much.
#
# pg_stat_statements (track = all: statements inside PL/pgSQL functions
# count too) runs on the throwaway cluster; after each measured run the
# statements that took the most time are printed, with their calls per
# request, mean time and share of all the time PostgreSQL spent executing
# the run's statements (a nested statement's share is part of its
# caller's).
#
# Environment (all optional):
#   BUILD                 build directory holding carelined (default build)
#   BENCH_POOL_SIZE       database.pool_size for the main runs (default 4:
#                         on 2 CPUs, 2 and 4 were within noise with the
#                         call alone, 8 was slowest; with the dispatcher
#                         sharing the pool, 2 starved it: p99 up to 380 ms)
#   BENCH_FSYNC_POOL_SIZE database.pool_size for the fsync-on run (default
#                         8, one per connection: commits then wait on the
#                         disk, not the CPU, and share its flushes as
#                         pgbench's 8 clients do; with 4, half the
#                         requests wait for a connection behind them)
#   BENCH_POOL_SWEEP      e.g. "2 4 8": also run POST /v1/calls at both
#                         concurrencies with each of these pool sizes
#                         (about 25 s more per size)
#   BENCH_DURATION        seconds per measured run (default 10)
#   BENCH_TOP             statements printed per run (default 8; 0: none)
#   BENCH_WARMUP          seconds of warm-up before each run (default 2)
#   BENCH_WEBHOOKS        1 (default, when BUILD/demo-receiver exists): the
#                         providers' webhooks go to a demo-receiver on
#                         loopback that answers 200 and never accepts, so
#                         each call costs what it costs in production (its
#                         offer is delivered once); 0: providers have no
#                         endpoint (carelined then dead-letters every offer
#                         and cascades through all candidates at once)
#
# Everything runs on this machine: wrk and pgbench share its cores with
# carelined and PostgreSQL, which the output says. Only 127.0.0.1 and the
# cluster's unix socket are used. The cluster runs with PG_FAST=1 (fsync and
# synchronous_commit off), like the tests: figures are CPU-bound, not disk-
# bound; a last run of POST /v1/calls at 8 connections restarts it with
# fsync, synchronous_commit and full_page_writes on, for the latency target. The district comes with 200 days of history (so the planner sees
# tables as in service); between runs the rows the last run wrote are
# deleted again, so no run pays for the rows of the one before.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build}
bin=$root/$build/carelined
receiver_bin=$root/$build/demo-receiver

pool_size=${BENCH_POOL_SIZE:-4}
fsync_pool_size=${BENCH_FSYNC_POOL_SIZE:-8}
pool_sweep=${BENCH_POOL_SWEEP:-}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
top_n=${BENCH_TOP:-8}
residents=50000
webhooks=${BENCH_WEBHOOKS:-1}
[[ -x $receiver_bin ]] || webhooks=0
# The whole script must stay bounded whatever hangs.
deadline=$((280 + 30 * $(wc -w <<<"$pool_sweep") + 10 * duration))

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

for tool in wrk pgbench curl ss awk; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool not found; run scripts/deps.sh (wrk, postgresql-client-15)"
done
[[ -x $bin ]] || die "$bin not found; run make all"

tmp=$(mktemp -d /tmp/careline-bench.XXXXXX)
# The postgres user must reach the cluster below it.
chmod 755 "$tmp"
pgdir=$tmp/pg
pgport=$((20000 + RANDOM % 20000))
daemon_pid=
receiver_pid=
watchdog_pid=

stop_daemon() {
	local i
	[[ -n $daemon_pid ]] || return 0
	if kill -TERM "$daemon_pid" 2>/dev/null; then
		for ((i = 0; i < 50; i++)); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
}

cleanup() {
	trap - EXIT INT TERM
	stop_daemon
	if [[ -n $receiver_pid ]]; then
		kill "$receiver_pid" 2>/dev/null || true
		wait "$receiver_pid" 2>/dev/null || true
	fi
	if [[ -n $watchdog_pid ]]; then
		kill "$watchdog_pid" 2>/dev/null || true
		wait "$watchdog_pid" 2>/dev/null || true
	fi
	scripts/pg.sh destroy "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench.sh: interrupted" >&2; exit 130' INT
trap 'echo "bench.sh: stopped (time limit of ${deadline}s or TERM)" >&2; exit 124' TERM

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

# A free loopback TCP port for carelined.
free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 40000))
		if [[ -z $(ss -Htln "sport = :$p") ]]; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# CPU ticks (user + system) of one process, and of all of the cluster's.
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
# Busy ticks of the whole machine (all CPUs): what neither carelined nor
# PostgreSQL used went to wrk/pgbench or to anything else running here.
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
clk_tck=$(getconf CLK_TCK)

# The rows a run writes go between runs, by id above the loaded history
# (bench_watermark, filled once after the load); tables of later
# schema files that hang off calls are covered by their foreign keys or
# listed here. carelined's dispatcher may hold rows: a deadlock is retried.
watermark_tables="'events', 'deliveries', 'offers', 'calls', 'audit_log'"
set_watermarks() {
	psql_q >/dev/null <<-EOF
		CREATE TABLE bench_watermark (tbl text PRIMARY KEY, max_id bigint NOT NULL);
		DO \$\$
		DECLARE
		    t text;
		    m bigint;
		BEGIN
		    FOREACH t IN ARRAY ARRAY[$watermark_tables] LOOP
		        IF to_regclass(t) IS NOT NULL THEN
		            EXECUTE format('SELECT coalesce(max(id), 0) FROM %I', t) INTO m;
		            INSERT INTO bench_watermark VALUES (t, m);
		        END IF;
		    END LOOP;
		END
		\$\$;
	EOF
}
reset_tables() {
	local i
	for ((i = 0; i < 5; i++)); do
		psql_q >/dev/null 2>"$tmp/reset.err" <<-EOF && return 0
			SET client_min_messages = warning;
			DO \$\$
			DECLARE
			    w record;
			BEGIN
			    FOR w IN SELECT * FROM bench_watermark
			             ORDER BY array_position(ARRAY[$watermark_tables], tbl) LOOP
			        EXECUTE format('DELETE FROM %I WHERE id > %s', w.tbl, w.max_id);
			    END LOOP;
			END
			\$\$;
			VACUUM;
		EOF
		grep -q 'deadlock detected' "$tmp/reset.err" || break
		sleep 0.2
	done
	cat "$tmp/reset.err" >&2
	die "could not remove the rows of the last run"
}

# --------------------------------------------------------------------------
echo "== machine"
ncpu=$(nproc)
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "   $ncpu CPUs: ${cpu_model:-unknown}; $(awk '/MemTotal/ { printf "%d MiB RAM", $2 / 1024 }' /proc/meminfo)"
echo "   wrk and pgbench run here too: they share these $ncpu CPUs with carelined and PostgreSQL"
echo "   load average now $(cut -d' ' -f1-3 /proc/loadavg); \"rest\" below is CPU used by neither carelined nor"
echo "   PostgreSQL: wrk/pgbench, and anything else running on this machine (it skews the figures)"
echo "   $(pgbench --version); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"

echo "== throwaway cluster and the bench district"
if ! PG_FAST=1 scripts/pg.sh init "$pgdir" "$pgport" >"$tmp/pg-init.log" 2>&1; then
	cat "$tmp/pg-init.log" >&2
	die "could not start PostgreSQL"
fi
# pg_stat_statements must be preloaded: set, restart, then track nested
# statements too (the library knows its settings only once loaded).
psql_q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
scripts/pg.sh stop "$pgdir" >/dev/null
PG_FAST=1 scripts/pg.sh start "$pgdir" "$pgport" >>"$tmp/pg-init.log" 2>&1 ||
	die "could not restart PostgreSQL with pg_stat_statements"
psql_q -c 'CREATE EXTENSION pg_stat_statements' \
	-c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
conninfo=$(scripts/pg.sh conninfo "$pgdir" "$pgport")
pghost=$(sed -n 's/^host=\([^ ]*\) .*/\1/p' <<<"$conninfo")
echo "   PostgreSQL $(psql_q -At -c 'SHOW server_version' | cut -d' ' -f1)" \
	"(fsync, synchronous_commit, full_page_writes off), socket $pghost;" \
	"pg_stat_statements (track = all)"

write_config() { # pool_size port
	cat >"$tmp/careline.yaml" <<-EOF
		listen:
		  address: 127.0.0.1
		  port: $2
		database:
		  url: "$conninfo"
		  pool_size: $1
		log:
		  level: warn
		webhooks:
		  allow_private_targets: $( ((webhooks)) && echo true || echo false)
		paths:
		  sql_dir: $root/sql
	EOF
}
write_config "$pool_size" "$(free_port)"
"$bin" --check-config "$tmp/careline.yaml" >/dev/null
"$bin" -c "$tmp/careline.yaml" --migrate >"$tmp/migrate.log" 2>&1 || {
	cat "$tmp/migrate.log" >&2
	die "carelined --migrate failed"
}
receiver_url=
if ((webhooks)); then
	receiver_port=$(free_port)
	receiver_url=http://127.0.0.1:$receiver_port/hooks
fi
t0=$(date +%s.%N)
psql_q -v receiver_url="$receiver_url" -f sql/bench/dataset.sql >/dev/null
# Hint bits and the visibility map set now, not by the first measured run.
psql_q -c 'VACUUM (FREEZE, ANALYZE)' >/dev/null
t1=$(date +%s.%N)
token=$("$bin" -c "$tmp/careline.yaml" --create-token --role operator \
	--name bench 2>"$tmp/token.log") || {
	cat "$tmp/token.log" >&2
	die "carelined --create-token failed"
}
# tests/bench/call_create.sql acts as this token: id 1 ('token:1').
[[ $(psql_q -At -c 'SELECT id FROM api_tokens') == 1 ]] ||
	die "the bench token is not api_tokens.id 1"
set_watermarks
psql_q -At -F' ' -c "SELECT 'loaded: ' || (SELECT count(*) FROM residents) || ' residents, '
	|| (SELECT count(*) FROM providers) || ' providers ('
	|| (SELECT count(*) FROM providers WHERE 'meal' = ANY (services) AND active)
	|| ' active meal), ' || (SELECT count(*) FROM provider_hours) || ' opening spans, '
	|| (SELECT count(*) FROM calls) || ' past calls'" |
	sed 's/^/   /'
if ((webhooks)); then
	secret=$(psql_q -At -c 'SELECT DISTINCT webhook_secret FROM providers WHERE webhook_secret IS NOT NULL')
	"$receiver_bin" --port "$receiver_port" --secret "$secret" --accept-after 3600 \
		--quiet --seed 1 >"$tmp/receiver.log" 2>&1 &
	receiver_pid=$!
	echo "   webhooks: every active provider's endpoint is a demo-receiver on $receiver_url (answers 200, never accepts)"
else
	echo "   webhooks: providers have no endpoint (BENCH_WEBHOOKS=0 or no $receiver_bin)"
fi
printf '   in %.1f s; district time now %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
	"$(TZ=Asia/Shanghai date '+%a %H:%M') (opening hours decide how many providers match)"

# --------------------------------------------------------------------------
# Runs.

start_daemon() { # pool_size
	local port i
	port=$(free_port)
	write_config "$1" "$port"
	"$bin" -c "$tmp/careline.yaml" >>"$tmp/carelined.log" 2>&1 &
	daemon_pid=$!
	url=http://127.0.0.1:$port
	for ((i = 0; i < 100; i++)); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' "$url/readyz") == 200 ]]; then
			# Every pooled connection warmed (the first is enough for readyz).
			sleep 0.3
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$tmp/carelined.log" >&2
	die "carelined did not become ready"
}

# One API request, checked: the bench must not measure error answers.
check_api() {
	local code
	code=$(curl -s -o "$tmp/check.json" -w '%{http_code}' -X POST "$url/v1/calls" \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d '{"caller_phone": "13900000000", "resident_id": 1, "service": "meal", "duplicate_ok": true}')
	if [[ $code != 201 ]]; then
		echo "bench.sh: POST /v1/calls answered $code:" >&2
		cat "$tmp/check.json" >&2
		echo >&2
		die "the call API fails; not benchmarking errors"
	fi
	code=$(curl -s -o "$tmp/check.json" -w '%{http_code}' \
		-H "Authorization: Bearer $token" "$url/v1/matches?resident_id=1&service=meal")
	if [[ $code != 200 ]]; then
		echo "bench.sh: GET /v1/matches answered $code:" >&2
		cat "$tmp/check.json" >&2
		echo >&2
		die "the matching preview fails; not benchmarking errors"
	fi
}

# stmts_reset, stmts_print (pg_stat_statements per run), verdict.
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

# Statements carelined has run (its /metrics), whoever asked for them.
db_queries() {
	curl -s "$url/metrics" | awk '/^careline_db_queries_total / { n = $2 } END { print n + 0 }'
}

# wrk: sets W_RPS W_P50 W_P99 W_REQ W_ERR (ms for latencies), W_CD W_CPG
# (CPU used by carelined and PostgreSQL, % of one CPU), W_QPR (statements
# carelined ran per answered request, its dispatcher's included).
run_wrk() { # threads connections script
	local out a b c d q0 q1 e f
	timeout $((warmup + 15)) wrk -t"$1" -c"$2" -d"${warmup}s" -s "$3" "$url" \
		-- "$token" "$residents" >/dev/null 2>&1 || true
	[[ $3 == *post_call* ]] && reset_tables
	a=$(cpu_ticks "$daemon_pid")
	b=$(pg_ticks)
	e=$(busy_ticks)
	q0=$(db_queries)
	stmts_reset
	out=$(timeout $((duration + 15)) wrk -t"$1" -c"$2" -d"${duration}s" --timeout 5s \
		-s "$3" "$url" -- "$token" "$residents" 2>&1) || {
		echo "$out" >&2
		die "wrk failed"
	}
	c=$(cpu_ticks "$daemon_pid")
	d=$(pg_ticks)
	f=$(busy_ticks)
	q1=$(db_queries)
	W_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	read -r W_REQ W_ERR W_P50 W_P99 < <(awk '/^BENCH / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%d %d %.2f %.2f\n", v["requests"], v["errors"],
		    v["p50_us"] / 1000, v["p99_us"] / 1000 }' <<<"$out")
	W_QPR=$(awk -v q="$((q1 - q0))" -v n="$W_REQ" 'BEGIN { printf "%.2f", (n > 0 ? q / n : 0) }')
	W_CD=$(((c - a) * 100 / clk_tck / duration))
	W_CPG=$(((d - b) * 100 / clk_tck / duration))
	W_COTH=$((((f - e) - (c - a) - (d - b)) * 100 / clk_tck / duration))
	[[ -n $W_RPS && -n $W_REQ ]] || {
		echo "$out" >&2
		die "could not read wrk's output"
	}
}

# pgbench: sets P_TPS P_P50 P_P99 P_FAIL, P_BUSY (CPU the whole machine
# used, % of one CPU; pgbench's backends exit before they can be counted
# apart).
run_pgbench() { # clients mode script
	local out jobs=2 logp e f
	((jobs > $1)) && jobs=$1
	timeout $((warmup + 15)) pgbench -n -h "$pghost" -p "$pgport" -U careline \
		-c "$1" -j "$jobs" -T "$warmup" -M "$2" -f "$3" careline >/dev/null 2>&1 || true
	[[ $3 == *call_create* ]] && reset_tables
	logp=$tmp/pgb-$1-$2
	e=$(busy_ticks)
	stmts_reset
	out=$(timeout $((duration + 20)) pgbench -n -h "$pghost" -p "$pgport" -U careline \
		-c "$1" -j "$jobs" -T "$duration" -M "$2" -f "$3" \
		-l --log-prefix="$logp" careline 2>&1) || {
		echo "$out" >&2
		die "pgbench failed ($2, $1 clients)"
	}
	f=$(busy_ticks)
	P_BUSY=$(((f - e) * 100 / clk_tck / duration))
	P_TPS=$(awk '/^tps = / { printf "%.0f", $3 }' <<<"$out")
	P_FAIL=$(awk '/^number of failed transactions:/ { print $5 }' <<<"$out")
	P_N=$(awk '/^number of transactions actually processed:/ { split($6, a, "/"); print a[1] }' <<<"$out")
	read -r P_P50 P_P99 < <(cat "$logp".* | awk '{ print $3 }' | sort -n |
		awk '{ v[NR] = $1 } END {
			i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
			printf "%.2f %.2f\n", v[i50] / 1000, v[i99] / 1000 }')
	rm -f "$logp".*
	[[ -n $P_TPS ]] || {
		echo "$out" >&2
		die "could not read pgbench's output"
	}
}

# Calls and candidates the last measured wrk run left in the database,
# and its webhooks delivered.
db_calls() {
	psql_q -At -F' ' -c "SELECT count(*), coalesce(sum((status = 'unmatched')::int), 0),
		coalesce(round((SELECT count(*) FROM offers o WHERE o.call_id = ANY (array_agg(c.id)))::numeric
		               / nullif(count(*), 0), 2), 0),
		(SELECT count(*) FROM deliveries d
		 WHERE d.id > (SELECT max_id FROM bench_watermark WHERE tbl = 'deliveries')
		   AND d.status = 'delivered')
		FROM calls c WHERE c.id > (SELECT max_id FROM bench_watermark WHERE tbl = 'calls')"
}

# Does pgbench run what carelined runs? carelined's statements are logged
# once (log_statement for its role, during check_api only), then the
# arguments of the logged call and preview are compared, as jsonb, with
# those the files spell (resident 1; the request hash and "at" aside).
check_same_sql() {
	local stmt file_args match_args f
	perl -ne '
		if (/ LOG:  execute [^:]*: (.*)$/) { $s = $1; next }
		if (defined $s && /DETAIL:  parameters: (.*)$/) {
			my $p = $1;
			my $k = $s =~ /careline_api_calls_create\(/ ? "c" :
			    $s =~ /careline_api_matches_list\(/ ? "m" : "";
			if ($k ne "" && !$seen{$k}++) {
				open(my $f, ">", "$ENV{BENCH_TMP}/sql.$k") or die; print $f "$s\n"; close $f;
				while ($p =~ /\$(\d+) = (NULL|\x27((?:[^\x27]|\x27\x27)*)\x27)/g) {
					my ($n, $v) = ($1, $3);
					next if $2 eq "NULL";
					$v =~ s/\x27\x27/\x27/g;
					open(my $g, ">", "$ENV{BENCH_TMP}/param.$k$n") or die; print $g $v; close $g;
				}
			}
		}
		undef $s unless /^\s/ || / LOG:  execute /;
	' "$pgdir/log/postgresql.log"
	SAME_SQL=no
	if [[ ! -f $tmp/sql.c || ! -f $tmp/sql.m ]]; then
		echo "   WARNING: carelined's statements were not found in the server log"
		return 0
	fi
	stmt=$(<"$tmp/sql.c")
	# shellcheck disable=SC2016 # ($1... are the statement's placeholders)
	if [[ $stmt != *'careline_api_calls_create($1, $2, $3::jsonb, $4::jsonb, $5, $6::bytea) x'* ]]; then
		echo "   WARNING: carelined now runs: $stmt"
	fi
	file_args=$(sed -n 's/^SELECT .* FROM careline_api_calls_create(\(.*\)) x;$/\1/p' tests/bench/call_create.sql)
	match_args=$(sed -n 's/^SELECT .* FROM careline_api_matches_list(\(.*\)) x;$/\1/p' tests/bench/match.sql)
	if psql_q -At -v rid=1 -v c1="$(<"$tmp/param.c1")" -v c2="$(<"$tmp/param.c2")" \
		-v c3="$(<"$tmp/param.c3")" -v c4="$(<"$tmp/param.c4")" \
		-v m1="$(<"$tmp/param.m1")" -v m2="$(<"$tmp/param.m2")" -v m3="$(<"$tmp/param.m3")" \
		-v m4="$(<"$tmp/param.m4")" -v m6="$(<"$tmp/param.m6")" \
		>"$tmp/same.txt" 2>&1 <<-EOF
			SELECT (jsonb_build_array($file_args) - 5)
			       = jsonb_build_array(:'c1', :'c2'::bigint, :'c3'::jsonb, :'c4'::jsonb, NULL)
			   AND (jsonb_build_array($match_args) - 4)
			       = jsonb_build_array(:'m1', :'m2', :'m3'::bigint, :'m4', :'m6'::jsonb);
		EOF
	then
		[[ $(<"$tmp/same.txt") == t ]] && SAME_SQL=yes
	fi
	if [[ $SAME_SQL == yes ]]; then
		echo "   pgbench's files run carelined's statements with carelined's parameters (checked in the server log)"
	else
		echo "   WARNING: tests/bench/*.sql differ from what carelined sends; carelined sent:"
		for f in "$tmp"/param.c3 "$tmp"/param.c4; do
			[[ -f $f ]] && echo "     $(<"$f")"
		done
		sed 's/^/     /' "$tmp/same.txt"
	fi
}

declare -A R # results by key

bench_calls_daemon() { # connections tag
	local n unmatched cands delivered
	run_wrk 2 "$1" tests/bench/post_call.lua
	# The dispatcher records what it sent within a few ms.
	sleep 0.5
	read -r n unmatched cands delivered < <(db_calls)
	R[$2.rps]=$W_RPS R[$2.p50]=$W_P50 R[$2.p99]=$W_P99 R[$2.err]=$W_ERR
	R[$2.cd]=$W_CD R[$2.cpg]=$W_CPG R[$2.coth]=$W_COTH R[$2.qpr]=$W_QPR
	printf '   carelined c=%-3s %6s req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s\n' \
		"$1" "$W_RPS" "$W_P50" "$W_P99" "$W_ERR"
	printf '      CPU carelined %s%%, postgres %s%%, rest %s%%; %s statements/request; %s calls (%s unmatched), %s candidates/call\n' \
		"$W_CD" "$W_CPG" "$W_COTH" "$W_QPR" "$n" "$unmatched" "$cands"
	if ((webhooks)); then
		echo "      $delivered webhooks delivered (each call's first offer.created; the run's last may follow)"
	fi
	stmts_print "$W_REQ" request
	((W_ERR == 0)) || echo "   WARNING: $W_ERR requests failed (non-2xx, timeouts or socket errors)"
	((n >= W_REQ)) || echo "   WARNING: wrk counted $W_REQ answers but only $n calls were stored"
}

bench_calls_pgbench() { # clients tag
	local mode best=0 bestm=
	for mode in prepared simple extended; do
		run_pgbench "$1" "$mode" tests/bench/call_create.sql
		R[$2.pg.$mode]=$P_TPS
		printf '   pgbench   c=%-3s %6s tps    p50 %6.2f ms  p99 %6.2f ms  failed %s  (-M %s; CPU busy %s%%)\n' \
			"$1" "$P_TPS" "$P_P50" "$P_P99" "$P_FAIL" "$mode" "$P_BUSY"
		[[ $mode == prepared && $1 == 8 ]] && stmts_print "$P_N" transaction
		# The comparison is against the better of prepared and simple;
		# extended (unnamed statements, as carelined's libpq calls) is
		# shown for reference.
		if [[ $mode != extended ]] && ((P_TPS > best)); then
			best=$P_TPS
			bestm=$mode
		fi
	done
	R[$2.pg]=$best R[$2.pgm]=$bestm
}

echo "== checks"
export BENCH_TMP=$tmp
psql_q -c "ALTER ROLE careline SET log_statement = 'all'" >/dev/null
start_daemon "$pool_size"
check_api
stop_daemon
psql_q -c 'ALTER ROLE careline RESET log_statement' >/dev/null
echo "   POST /v1/calls answers 201 and GET /v1/matches 200"
check_same_sql

echo "== carelined (pool_size $pool_size): wrk -t2, ${warmup} s warm-up then ${duration} s per run"
echo "   (each run starts from the loaded history; carelined is stopped while pgbench runs)"
start_daemon "$pool_size"
for c in 8 32; do
	reset_tables
	bench_calls_daemon "$c" "c$c"
done
echo "   GET /v1/matches?resident_id=N&service=meal, 1 connection:"
run_wrk 1 1 tests/bench/get_match.lua
R[m.rps]=$W_RPS R[m.p50]=$W_P50 R[m.p99]=$W_P99 R[m.err]=$W_ERR
printf '   carelined c=1   %6s req/s  median %5.2f ms  p99 %5.2f ms  errors %s\n' \
	"$W_RPS" "$W_P50" "$W_P99" "$W_ERR"
stmts_print "$W_REQ" request
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")
printf '   carelined memory: peak RSS (VmHWM) %.1f MiB, RSS now %.1f MiB\n' \
	"$(awk -v k="$hwm_kb" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')"
stop_daemon
if grep -q . "$tmp/carelined.log"; then
	echo "   carelined logged $(grep -c . "$tmp/carelined.log") lines at warn or above; the first:"
	head -n 3 "$tmp/carelined.log" | cut -c1-160 | sed 's/^/   | /'
fi

echo "== pgbench, the same SQL (tests/bench/call_create.sql, match.sql): -j2, ${warmup} s warm-up then ${duration} s"
for c in 8 32; do
	bench_calls_pgbench "$c" "c$c"
done
run_pgbench 1 prepared tests/bench/match.sql
R[m.pg.p50]=$P_P50 R[m.pg.p99]=$P_P99 R[m.pg.tps]=$P_TPS
printf '   pgbench   c=1   %6s tps    median %5.2f ms  p99 %5.2f ms  (match.sql, -M prepared)\n' \
	"$P_TPS" "$P_P50" "$P_P99"

if [[ -n $pool_sweep ]]; then
	echo "== pool_size sweep: POST /v1/calls through carelined"
	for p in $pool_sweep; do
		start_daemon "$p"
		for c in 8 32; do
			reset_tables
			echo "   pool_size $p:"
			bench_calls_daemon "$c" "pool$p.c$c"
		done
		stop_daemon
	done
fi

# Last, as it leaves PostgreSQL durable (and slower) for good.
echo "== fsync on: POST /v1/calls at 8 connections (pool_size $fsync_pool_size), then pgbench on the same SQL"
scripts/pg.sh stop "$pgdir" >/dev/null
scripts/pg.sh start "$pgdir" "$pgport" >>"$tmp/pg-init.log" 2>&1 ||
	die "could not restart PostgreSQL with fsync on"
echo "   PostgreSQL restarted with fsync $(psql_q -At -c 'SHOW fsync'), synchronous_commit" \
	"$(psql_q -At -c 'SHOW synchronous_commit'), full_page_writes $(psql_q -At -c 'SHOW full_page_writes')"
reset_tables
start_daemon "$fsync_pool_size"
bench_calls_daemon 8 f8
stop_daemon
run_pgbench 8 prepared tests/bench/call_create.sql
R[f8.pg]=$P_TPS R[f8.pg.p99]=$P_P99
printf '   pgbench   c=8   %6s tps    p50 %6.2f ms  p99 %6.2f ms  failed %s  (-M prepared)\n' \
	"$P_TPS" "$P_P50" "$P_P99" "$P_FAIL"

# --------------------------------------------------------------------------
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}
row() {
	printf '%-40s %-20s %-26s %-14s %s\n' "$@"
}

echo
echo "== results: $ncpu × ${cpu_model:-CPU}, wrk/pgbench on the same CPUs, PostgreSQL with fsync off but where said"
row "measure" "carelined" "pgbench (same SQL)" "target" "verdict"
row "-------" "---------" "------------------" "------" "-------"
for c in 8 32; do
	# The issue's target is at 8 connections; 0.8 at 32 is the older one.
	want=0.9
	((c == 8)) || want=0.8
	r=$(ratio "${R[c$c.rps]}" "${R[c$c.pg]}")
	row "POST /v1/calls c=$c throughput" "${R[c$c.rps]} req/s" \
		"${R[c$c.pg]} tps (-M ${R[c$c.pgm]})" "" ""
	row "POST /v1/calls c=$c carelined/pgbench" "$r" \
		"(-M extended: ${R[c$c.pg.extended]})" ">= $want" "$(verdict "$r" '>=' "$want")"
	row "POST /v1/calls c=$c p50 / p99" "${R[c$c.p50]} / ${R[c$c.p99]} ms" "" "" ""
done
row "POST /v1/calls c=8 p99, fsync on" "${R[f8.p99]} ms" "${R[f8.pg.p99]} ms" \
	"< 25 ms" "$(verdict "${R[f8.p99]}" '<' 25 ' ms')"
row "POST /v1/calls c=8, fsync on (pool $fsync_pool_size)" "${R[f8.rps]} req/s" "${R[f8.pg]} tps (-M prepared)" "" ""
row "GET /v1/matches c=1 median / p99" "${R[m.p50]} / ${R[m.p99]} ms" \
	"${R[m.pg.p50]} / ${R[m.pg.p99]} ms" "median < 2 ms" "$(verdict "${R[m.p50]}" '<' 2 ' ms')"
hwm_mib=$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')
row "carelined peak RSS (VmHWM)" "$hwm_mib MiB" "" "< 40 MiB" "$(verdict "$hwm_mib" '<' 40 ' MiB')"
if [[ -n $pool_sweep ]]; then
	for p in $pool_sweep; do
		row "pool_size $p: c=8 / c=32" "${R[pool$p.c8.rps]} / ${R[pool$p.c32.rps]} req/s" \
			"" "" ""
	done
fi
echo "pool_size $pool_size; statements per POST ${R[c8.qpr]} / ${R[c32.qpr]} (c=8 / c=32; 1 = the call alone);" \
	"pgbench SQL same as carelined's: $SAME_SQL"
echo "CPU during the carelined runs: carelined ${R[c8.cd]}% / ${R[c32.cd]}%," \
	"PostgreSQL ${R[c8.cpg]}% / ${R[c32.cpg]}%, rest ${R[c8.coth]}% / ${R[c32.coth]}% of one CPU (of $((ncpu * 100))%)"
scripts/bench-webhooks.sh
