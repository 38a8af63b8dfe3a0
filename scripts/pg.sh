#!/usr/bin/env bash
# A private PostgreSQL 15 + PostGIS cluster in one directory, for `make run`
# (var/pg) and the test harness (a throwaway directory).
#
#   pg.sh init     DIR PORT  initdb if needed, start if needed, create the
#                            careline role/database/PostGIS; leaves it running
#   pg.sh start    DIR PORT  start if not running
#   pg.sh stop     DIR       fast shutdown if running
#   pg.sh status   DIR       exit 0 running, 3 stopped, 4 no cluster
#   pg.sh conninfo DIR PORT  print the application's libpq conninfo
#   pg.sh psql     DIR PORT [psql args...]  psql as superuser, dbname careline
#   pg.sh destroy  DIR       stop, then remove the cluster and DIR
#
# Layout: DIR/data (PGDATA), DIR/run (unix socket directory), DIR/log
# (server log). No TCP at all: PORT only names the socket file, so clusters
# in different directories never collide and nothing is reachable remotely.
#
# Environment: PG_FAST=1 starts the server with fsync, synchronous_commit and
# full_page_writes off (tests: a crash only loses a throwaway cluster).
#
# initdb and pg_ctl refuse to run as root, so as root the server side runs as
# the `postgres` user. psql always runs as the caller (auth is `trust` on a
# private socket), so `-f` paths relative to the caller's directory work.
set -euo pipefail

readonly PGBIN=/usr/lib/postgresql/15/bin
readonly FALLBACK_PREFIX=/var/tmp/careline-pg-

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	cat >&2 <<-'EOF'
		usage: pg.sh init|start|conninfo DIR PORT
		       pg.sh psql DIR PORT [psql args...]
		       pg.sh stop|status|destroy DIR
	EOF
	exit 2
}

# Commands the server side runs as the cluster's owner. From `/` because
# initdb and pg_ctl fail when they cannot read their working directory,
# which the postgres user often cannot (a repo under /root).
as_owner() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

check_port() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || (($1 < 1 || $1 > 65535)); then
		die "bad port '$1' (want 1-65535)"
	fi
}

check_tools() {
	[[ -x $PGBIN/initdb ]] ||
		die "$PGBIN/initdb not found; run scripts/deps.sh (postgresql-15)"
	if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
		die "running as root needs the 'postgres' user; run scripts/deps.sh"
	fi
}

# Sets ABS (DIR made absolute, symlinks kept) and REAL (DIR with symlinks
# resolved: the path the server itself uses, which the postgres user can
# reach even when ABS goes through a directory it cannot enter).
resolve_dir() {
	[[ -n $1 ]] || die "empty directory argument"
	ABS=$(realpath -s -m -- "$1")
	REAL=$(realpath -m -- "$1")
}

# The postgres user must be able to reach the cluster directory. When the
# repo lives where it cannot (e.g. under /root, mode 700), the cluster goes
# to /var/tmp/careline-pg-<hash of the absolute DIR> (owned by postgres,
# mode 700) and DIR becomes a symlink to it, so every later command,
# including conninfo, works on DIR unchanged. `pg.sh destroy DIR` removes
# both. /var/tmp survives reboots, but systemd-tmpfiles may clean a cluster
# left unused for 30 days: init then simply creates a fresh one.
prepare_dir() {
	resolve_dir "$1"
	mkdir -p -- "$(dirname -- "$ABS")"

	if ((EUID != 0)); then
		mkdir -p -- "$ABS"
	else
		local fallback
		fallback=$FALLBACK_PREFIX$(printf '%s' "$ABS" | sha256sum | cut -c1-16)
		if [[ -L $ABS && $(readlink -- "$ABS") == "$fallback" ]]; then
			# Our own symlink; its target may have been cleaned away.
			install -d -m 700 -o postgres -g postgres -- "$fallback"
		else
			mkdir -p -- "$ABS"
			chown postgres:postgres -- "$ABS"
			if ! runuser -u postgres -- test -w "$ABS" -a -x "$ABS"; then
				rmdir -- "$ABS" 2>/dev/null ||
					die "$ABS is not empty and the postgres user cannot reach it"
				install -d -m 700 -o postgres -g postgres -- "$fallback"
				ln -s -- "$fallback" "$ABS"
			fi
		fi
		resolve_dir "$ABS"
	fi

	local sub
	for sub in data run log; do
		as_owner mkdir -p -- "$REAL/$sub"
	done
	# initdb wants PGDATA private.
	as_owner chmod 700 -- "$REAL/data"
}

have_cluster() {
	[[ -f $REAL/data/PG_VERSION ]]
}

is_running() {
	as_owner "$PGBIN/pg_ctl" status -D "$REAL/data" >/dev/null 2>&1
}

# Line 4 of postmaster.pid is the port the running server uses.
running_port() {
	sed -n 4p "$REAL/data/postmaster.pid" 2>/dev/null || true
}

do_initdb() {
	local locale=C
	# C.UTF-8 sorts like C but classifies non-ASCII letters (Chinese names).
	if locale -a 2>/dev/null | grep -qix 'c\.utf-\{0,1\}8'; then
		locale=C.UTF-8
	fi
	# TZ=UTC: initdb would otherwise copy the host's zone into
	# postgresql.conf; the application sets its own time zone.
	if ! as_owner env TZ=UTC "$PGBIN/initdb" -D "$REAL/data" -A trust \
		-U postgres --no-sync -E UTF8 --locale="$locale" \
		>"$REAL/log/initdb.log" 2>&1; then
		cat "$REAL/log/initdb.log" >&2
		die "initdb failed (log: $REAL/log/initdb.log)"
	fi
	# Later settings win over initdb's defaults above them.
	as_owner tee -a "$REAL/data/postgresql.conf" >/dev/null <<-EOF

		# careline private cluster (scripts/pg.sh): unix socket only
		listen_addresses = ''
		unix_socket_directories = '$REAL/run'
		max_connections = 100
		logging_collector = off
	EOF
}

cmd_start() {
	local port=$1 running
	have_cluster || die "no cluster in $ABS; run: pg.sh init $ABS $port"
	if is_running; then
		running=$(running_port)
		[[ $running == "$port" ]] ||
			die "cluster in $ABS is already running on port $running, not $port"
		return 0
	fi
	local opts="-p $port"
	if [[ ${PG_FAST:-0} == 1 ]]; then
		opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	fi
	# stderr of the server goes to the log file via -l.
	if ! as_owner "$PGBIN/pg_ctl" start -s -w -t 30 -D "$REAL/data" \
		-l "$REAL/log/postgresql.log" -o "$opts"; then
		echo "pg.sh: server in $ABS did not start; last lines of" \
			"$REAL/log/postgresql.log:" >&2
		tail -n 20 "$REAL/log/postgresql.log" >&2 || true
		exit 1
	fi
}

cmd_stop() {
	have_cluster || return 0
	is_running || return 0
	as_owner "$PGBIN/pg_ctl" stop -s -m fast -w -t 30 -D "$REAL/data" ||
		die "could not stop the server in $ABS (log: $REAL/log/postgresql.log)"
}

# psql as superuser. -X ignores ~/.psqlrc so output is predictable.
superuser_psql() {
	local port=$1 db=$2
	shift 2
	"$PGBIN/psql" -X -h "$REAL/run" -p "$port" -U postgres -d "$db" "$@"
}

# Idempotent: each object is created only when missing.
bootstrap_db() {
	local port=$1
	superuser_psql "$port" postgres -q -v ON_ERROR_STOP=1 <<-'EOF'
		SELECT 'CREATE ROLE careline LOGIN'
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'careline')
		\gexec
		SELECT 'CREATE DATABASE careline OWNER careline'
		WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'careline')
		\gexec
	EOF
	# PostGIS needs a superuser to install. Since PostgreSQL 15 ordinary
	# users may not create in schema public: the app owns it instead, so
	# its schema files can create tables there.
	superuser_psql "$port" careline -q -v ON_ERROR_STOP=1 <<-'EOF'
		SET client_min_messages = warning;
		CREATE EXTENSION IF NOT EXISTS postgis;
		ALTER SCHEMA public OWNER TO careline;
	EOF
}

cmd_init() {
	local port=$1
	prepare_dir "$2"
	have_cluster || do_initdb
	cmd_start "$port"
	bootstrap_db "$port" || die "creating role/database/PostGIS failed"
}

cmd_status() {
	if ! have_cluster; then
		echo "no cluster in $ABS"
		return 4
	fi
	if is_running; then
		echo "running in $ABS (pid $(sed -n 1p "$REAL/data/postmaster.pid")," \
			"port $(running_port))"
		return 0
	fi
	echo "stopped: $ABS"
	return 3
}

# A conninfo value needs quoting when it holds spaces, quotes or backslashes.
conninfo_value() {
	local v=$1
	if [[ $v =~ [[:space:]\'\\] ]]; then
		v=${v//\\/\\\\}
		v=${v//\'/\\\'}
		v="'$v'"
	fi
	printf '%s' "$v"
}

cmd_conninfo() {
	# The resolved path: the one the server listens on, reachable by any
	# user the socket's directories allow, not only by the caller.
	printf 'host=%s port=%s dbname=careline user=careline\n' \
		"$(conninfo_value "$REAL/run")" "$1"
}

cmd_destroy() {
	local entry
	if have_cluster; then
		cmd_stop
	fi
	# Refuse to remove anything that does not look like one of ours.
	if [[ -d $REAL ]]; then
		for entry in "$REAL"/* "$REAL"/.[!.]*; do
			[[ -e $entry ]] || continue
			case ${entry##*/} in
			data | run | log) ;;
			*) die "$REAL holds $entry; not removing it" ;;
			esac
		done
		rm -rf -- "$REAL"
	fi
	if [[ -L $ABS ]]; then
		rm -f -- "$ABS"
	fi
}

main() {
	(($# >= 2)) || usage
	local cmd=$1 dir=$2
	shift 2
	check_tools
	case $cmd in
	init | start | conninfo | psql)
		(($# >= 1)) || usage
		check_port "$1"
		;;
	stop | status | destroy) (($# == 0)) || usage ;;
	*) usage ;;
	esac

	case $cmd in
	init) cmd_init "$1" "$dir" ;;
	start)
		resolve_dir "$dir"
		cmd_start "$1"
		;;
	stop)
		resolve_dir "$dir"
		cmd_stop
		;;
	status)
		resolve_dir "$dir"
		cmd_status
		;;
	conninfo)
		resolve_dir "$dir"
		cmd_conninfo "$1"
		;;
	psql)
		resolve_dir "$dir"
		local port=$1
		shift
		superuser_psql "$port" careline "$@"
		;;
	destroy)
		resolve_dir "$dir"
		cmd_destroy
		;;
	esac
}

main "$@"
