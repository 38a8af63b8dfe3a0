#!/usr/bin/env bash
# The whole suite against a throwaway PostgreSQL+PostGIS cluster: unit tests
# (cmocka), integration tests (real carelined over HTTP on loopback, real
# database), and the systemd hardening check. Ends with "N passed, N failed"
# and exits non-zero on any failure. Called by `make test` / `make test-asan`.
# `tests/run.sh --unit` (make check): the unit tests alone, no cluster.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build}

unit_only=0
if [[ ${1:-} == --unit ]]; then
	unit_only=1
	shift
fi

tmp=$(mktemp -d /tmp/careline-test.XXXXXX)
chmod 755 "$tmp"
pgdir="$tmp/pg"
# The port only names the socket file; pick one unlikely to collide.
pgport=$((20000 + RANDOM % 20000))

cleanup() {
	if [ -n "${KEEP:-}" ]; then
		pkill -KILL -f -- "$tmp/(carelined|receiver)-" 2>/dev/null || true
		echo "kept $tmp (cluster $pgdir still running)"
		return
	fi
	# Daemons a crashed test left behind: anything running from our tmp.
	pkill -KILL -f -- "$tmp/(carelined|receiver)-" 2>/dev/null || true
	scripts/pg.sh destroy "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export CARELINE_TEST_ROOT="$root"
export CMOCKA_MESSAGE_OUTPUT=TAP
if [ "${SAN:-0}" = 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

if ((!unit_only)); then
	echo "== starting a throwaway PostgreSQL cluster"
	if ! PG_FAST=1 scripts/pg.sh init "$pgdir" "$pgport" \
	    >"$tmp/pg-init.log" 2>&1; then
		cat "$tmp/pg-init.log"
		echo "0 passed, 1 failed"
		exit 1
	fi
	conninfo=$(scripts/pg.sh conninfo "$pgdir" "$pgport")
	pghost=$(sed -n 's/^host=\([^ ]*\) .*/\1/p' <<<"$conninfo")
	export CARELINE_TEST_BIN="$root/$build/carelined"
	export CARELINE_TEST_TMP="$tmp"
	export CARELINE_TEST_PGDIR="$pgdir"
	export CARELINE_TEST_PGHOST="$pghost"
	export CARELINE_TEST_PGPORT="$pgport"
fi

passed=0
failed=0
failures=()

# tests/run.sh NAME...: only those test binaries (no checks), for quick
# turns while working on one part.
only=" $* "
wanted() {
	[[ $only == "  " || $only == *" $(basename "$1") "* ]]
}

# One test binary: count its TAP lines; a crash or a sanitizer report
# counts as a failure even when every line said ok.
run_binary() {
	local bin=$1 name log ok notok rc
	name=$(basename "$bin")
	log="$tmp/$name.log"
	echo "== $name"
	"$bin" >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	grep -E '^(ok|not ok) |^# ' "$log" | sed 's/^/   /'
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		failures+=("$name")
	fi
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" ||
	    { [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; }; then
		echo "   $name exited $rc or reported a sanitizer error:"
		tail -n 40 "$log" | sed 's/^/   | /'
		failed=$((failed + 1))
		failures+=("$name (exit $rc)")
	elif [ "$notok" -gt 0 ]; then
		grep -vE '^(ok|not ok) ' "$log" | tail -n 40 | sed 's/^/   | /'
	fi
}

# A check that is a script: one test, pass or fail on its exit code.
run_check() {
	local name=$1
	shift
	echo "== $name"
	if "$@" >"$tmp/$name.log" 2>&1; then
		sed 's/^/   /' "$tmp/$name.log"
		echo "   ok - $name"
		passed=$((passed + 1))
	else
		sed 's/^/   | /' "$tmp/$name.log"
		echo "   not ok - $name"
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

shopt -s nullglob
# The binaries of the sources there are: one left in the build directory
# by a test since removed (test_hours, test_target) is not run.
for src in tests/unit/test_*.c; do
	t=$build/${src%.c}
	wanted "$t" && run_binary "$t"
done
if ((unit_only)); then
	[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi
for src in tests/integration/test_*.c; do
	t=$build/${src%.c}
	wanted "$t" && run_binary "$t"
done
# A loopback port nobody listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# Wait until something listens on port $1 while process $2 lives: 0, or 1
# once it has exited or 10 s have passed.
listening() {
	local _
	for _ in $(seq 100); do
		# bash's /dev/tcp: a fresh Debian has no ss (iproute2).
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# The console in real headless Chromium, against the demo district: the
# cluster's own careline database, the demo receiver, a real carelined.
run_browser() {
	local name=browser log=$tmp/browser.log port rport conf bpid=0 rpid=0
	local admin ok notok rc=0 try
	echo "== $name"
	conf=$tmp/carelined-browser.yaml
	# Another suite on this machine may take a port between free_port and
	# the bind: start the receiver first (its address goes into the seed)
	# and try other ports until it listens.
	for try in 1 2 3 4 5; do
		rport=$(free_port)
		"$build/demo-receiver" --port "$rport" --accept-after 1s --quiet \
		    >>"$log" 2>&1 &
		rpid=$!
		listening "$rport" "$rpid" && break
		kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; rpid=0
	done
	((rpid != 0)) || { echo "   the demo receiver did not listen" >>"$log"; rc=1; }
	for try in 1 2 3 4 5; do
		((rc == 0)) || break
		port=$(free_port)
		cat >"$conf" <<-YAML
			listen:
			  port: $port
			database:
			  url: "$conninfo"
			paths:
			  sql_dir: $root/sql
			static:
			  dir: $root/client/www
			offers:
			  timeout: 60s
			webhooks:
			  allow_private_targets: true
			  public_url: "http://127.0.0.1:$port"
		YAML
		if ((try == 1)); then
			{
				"$build/carelined" -c "$conf" --migrate &&
				psql "$conninfo" -q -v ON_ERROR_STOP=1 \
				    -v receiver_url="http://127.0.0.1:$rport/hooks" \
				    -f sql/demo/seed.sql &&
				psql "$conninfo" -q -v ON_ERROR_STOP=1 \
				    -v receiver_url="http://127.0.0.1:$rport/hooks" \
				    -f sql/demo/programmes.sql &&
				CARELINE_PASSWORD=browser-test-pw "$build/carelined" \
				    -c "$conf" --create-operator browser --role admin
			} >>"$log" 2>&1 || { rc=1; break; }
			admin=$("$build/carelined" -c "$conf" --create-token \
			    --role admin --name browser 2>>"$log") || { rc=1; break; }
		fi
		"$build/carelined" -c "$conf" >>"$log" 2>&1 &
		bpid=$!
		for _ in $(seq 100); do
			curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
			kill -0 "$bpid" 2>/dev/null || break
			sleep 0.1
		done
		curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
		kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; bpid=0
	done
	((rc != 0 || bpid != 0)) || { echo "   carelined did not get ready" >>"$log"; rc=1; }
	if ((rc == 0)); then
		CARELINE_URL="http://127.0.0.1:$port" CARELINE_OPERATOR=browser \
		    CARELINE_PASSWORD=browser-test-pw CARELINE_ADMIN_TOKEN=$admin \
		    CARELINE_SHOTS="$root/tests/out" \
		    scripts/browser-test.sh >"$tmp/browser-tap.log" 2>&1 || rc=$?
	fi
	((bpid == 0)) || { kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; }
	((rpid == 0)) || { kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; }
	ok=$(grep -c '^ok ' "$tmp/browser-tap.log" 2>/dev/null || true)
	notok=$(grep -c '^not ok ' "$tmp/browser-tap.log" 2>/dev/null || true)
	grep -E '^(ok|not ok) ' "$tmp/browser-tap.log" 2>/dev/null | sed 's/^/   /'
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${notok:-0}))
	if ((rc != 0)) && [[ ${notok:-0} -eq 0 ]]; then
		echo "   the browser tests could not run (exit $rc):"
		tail -n 30 "$log" "$tmp/browser-tap.log" 2>/dev/null | sed 's/^/   | /'
		failed=$((failed + 1))
		failures+=("$name")
	elif [[ ${notok:-0} -gt 0 ]]; then
		grep -vE '^(ok|not ok) ' "$tmp/browser-tap.log" | tail -n 30 | sed 's/^/   | /'
		failures+=("$name")
	fi
}

# The SQL functions' own tests (pgTAP, sql/tests/*.sql) against a database
# of their own migrated by the built carelined. Each file runs in one
# transaction that it rolls back; every assertion counts as one test, and a
# file that dies or breaks its plan counts as one more failure.
run_pgtap() {
	local name=pgtap log=$tmp/pgtap.log tap=$tmp/pgtap-tap.log conf db admin
	local ok notok broken rc=0
	echo "== $name"
	db="host=$pghost port=$pgport dbname=careline_pgtap user=careline"
	admin="host=$pghost port=$pgport user=postgres"
	conf=$tmp/carelined-pgtap.yaml
	cat >"$conf" <<-YAML
		database:
		  url: "$db"
		paths:
		  sql_dir: $root/sql
	YAML
	{
		psql "$admin dbname=postgres" -q -v ON_ERROR_STOP=1 \
		    -c "CREATE DATABASE careline_pgtap OWNER careline" &&
		psql "$admin dbname=careline_pgtap" -q -v ON_ERROR_STOP=1 \
		    -c "CREATE EXTENSION postgis" -c "CREATE EXTENSION pgtap" \
		    -c "ALTER SCHEMA public OWNER TO careline" &&
		"$build/carelined" -c "$conf" --migrate
	} >"$log" 2>&1 || rc=1
	if ((rc == 0)); then
		pg_prove --verbose --dbname careline_pgtap --host "$pghost" \
		    --port "$pgport" --username careline \
		    sql/tests/*.sql >"$tap" 2>&1 || rc=$?
	fi
	ok=$(grep -cE '^ok [0-9]' "$tap" 2>/dev/null || true)
	notok=$(grep -cE '^not ok [0-9]' "$tap" 2>/dev/null || true)
	# A file that died part-way (psql stopped on an error) or ran other
	# than its plan: one more failure each.
	broken=$(grep -cE '^Dubious|^# Looks like you planned' "$tap" \
	    2>/dev/null || true)
	grep -E '^sql/tests/.*\.\.|^(ok|not ok) [0-9]' "$tap" 2>/dev/null |
	    sed 's/^/   /'
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${notok:-0} + ${broken:-0}))
	if ((rc != 0)) && ((${notok:-0} + ${broken:-0} == 0)); then
		echo "   pgTAP could not run (exit $rc):"
		tail -n 30 "$log" "$tap" 2>/dev/null | sed 's/^/   | /'
		failed=$((failed + 1))
		failures+=("$name")
	elif ((${notok:-0} + ${broken:-0} > 0)); then
		grep -E '^#|ERROR|^Dubious|Parse errors|Wstat' "$tap" |
		    tail -n 40 | sed 's/^/   | /'
		failures+=("$name")
	fi
}

if [[ $only == "  " || $only == *" pgtap "* ]]; then
	run_pgtap
fi
if [[ $only == "  " || $only == *" browser "* ]]; then
	run_browser
fi
if [[ $only == "  " ]]; then
	run_check systemd-exposure scripts/security-check.sh
	run_check openapi-lint scripts/openapi-lint.sh
	run_check version tests/version-check.sh "$build"
	run_check layout scripts/layout-check.sh
fi

# Sanitizer reports from daemons the tests started land in their logs.
if [ "${SAN:-0}" = 1 ] && grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
    "$tmp"/*.yaml.log >/dev/null 2>&1; then
	for f in $(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"/*.yaml.log); do
		echo "== sanitizer report from carelined ($f)"
		head -n 40 "$f" | sed 's/^/   | /'
		failed=$((failed + 1))
		failures+=("carelined sanitizer: $(basename "$f")")
	done
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
