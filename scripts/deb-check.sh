#!/usr/bin/env bash
# deb-check.sh: the README's "Debian package" section on a brand-new Debian 12
# root. Builds a minbase bookworm root with mmdebstrap (this host's apt
# sources), installs build/deb/careline_*.deb with `apt-get install ./…`
# (services are not started: policy-rc.d), and checks what the package
# promises: the careline user and group, /etc/careline 0750 and its
# careline.yaml 0640 root:careline, the unit enabled, no compiler pulled in,
# carelined --version and --check-config. Then, with the recommended
# PostgreSQL + PostGIS, it follows the README: database, --migrate, an
# operator, carelined answering /readyz on a free port, a clean stop; and
# last `apt-get purge`. As root, from the project's root, after `make deb`.
#   scripts/deb-check.sh [--quick] [DEB]   --quick: no Recommends, no database
set -u
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
deb=${1:-$(ls build/deb/careline_*.deb 2>/dev/null | tail -n 1)}
keep=0
fail() { keep=1; echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }
[ "$(id -u)" = 0 ] || fail "needs root"
[ -f "$deb" ] || fail "no package: run make deb first (or name one)"
command -v mmdebstrap >/dev/null || fail "mmdebstrap missing: apt-get install mmdebstrap"

root=$(mktemp -d /tmp/careline-deb-check.XXXXXX)
fs=$root/fs
mounted=()
cleanup() {
	# Anything still running inside the root (started here): end it by pid.
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$fs" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null; done
	if [ $keep = 1 ]; then
		for f in "$root"/*.log; do cp "$f" "/tmp/careline-deb-check-$(basename "$f")"; done 2>/dev/null
		echo "(logs kept as /tmp/careline-deb-check-*.log)"
	fi
	mount | grep -q " $root/" || rm -rf "$root"
}
trap cleanup EXIT

step "mmdebstrap: minbase bookworm"
srcs=()
while read -r uri suites; do for s in $suites; do srcs+=("deb $uri $s main"); done; done < <(
	awk '/^URIs:/{u=$2} /^Suites:/{$1=""; print u, $0}' /etc/apt/sources.list.d/debian.sources)
mmdebstrap --quiet --variant=minbase bookworm "$fs" "${srcs[@]}" >"$root/mmdebstrap.log" 2>&1 ||
	{ tail -n 3 "$root/mmdebstrap.log"; fail "mmdebstrap failed"; }
cp /etc/resolv.conf "$fs/etc/"
cp /etc/apt/sources.list.d/debian.sources "$fs/etc/apt/sources.list.d/"
rm -f "$fs/etc/apt/sources.list"
cp /etc/apt/apt.conf.d/99* "$fs/etc/apt/apt.conf.d/" 2>/dev/null
# A server's apt does not start services in a chroot anyway; be explicit.
printf '#!/bin/sh\nexit 101\n' >"$fs/usr/sbin/policy-rc.d"
chmod 755 "$fs/usr/sbin/policy-rc.d"
for m in proc sys dev dev/pts; do
	mkdir -p "$fs/$m"
	case $m in proc) mount -t proc proc "$fs/proc" ;; *) mount --bind "/$m" "$fs/$m" ;; esac &&
		mounted+=("$fs/$m")
done
cp "$deb" "$fs/root/"
in_root() {
	chroot "$fs" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive bash -c "cd /root && $1"
}
before=$(in_root 'dpkg-query -W | wc -l')

step "apt-get install ./$(basename "$deb")"
opts=""
[ $quick = 1 ] && opts=--no-install-recommends
in_root "apt-get update -qq && apt-get install -y -q $opts ./$(basename "$deb")" \
	>"$root/install.log" 2>&1 || { tail -n 15 "$root/install.log"; fail "apt-get install failed"; }
after=$(in_root 'dpkg-query -W | wc -l')
echo "   $((after - before)) packages added to a minbase root of $before"

step "what the package promises"
check() { # description, command in the root, expected output
	local got
	got=$(in_root "$2" 2>&1)
	[ "$got" = "$3" ] || fail "$1: got '$got', want '$3'"
	echo "   ok: $1: $3"
}
check "user careline" 'getent passwd careline | cut -d: -f1,6,7' \
	"careline:/var/lib/careline:/usr/sbin/nologin"
check "group careline" 'getent group careline | cut -d: -f1' careline
check "/etc/careline" 'stat -c "%a %U %G" /etc/careline' "750 root careline"
check "careline.yaml" 'stat -c "%a %U %G" /etc/careline/careline.yaml' "640 root careline"
check "a conffile" 'dpkg-query -W -f="\${Conffiles}" careline | awk "{print \$1}"' \
	/etc/careline/careline.yaml
check "unit enabled" 'systemctl is-enabled carelined.service' enabled
check "wants symlink" \
	'readlink /etc/systemd/system/multi-user.target.wants/carelined.service' \
	/lib/systemd/system/carelined.service
check "no compiler, pkg-config or npm" \
	'for p in gcc cc pkg-config npm make; do command -v $p; done | wc -l' 0
version=$(dpkg-deb -f "$deb" Version)
check "carelined --version" 'carelined --version | cut -d" " -f1,2' "carelined $version"
check "--check-config as careline" \
	'runuser -u careline -- carelined --check-config /etc/careline/careline.yaml' \
	"/etc/careline/careline.yaml: OK"
check "others cannot read the config" \
	'runuser -u nobody -- cat /etc/careline/careline.yaml >/dev/null 2>&1; echo $?' 1
check "the unit checks before it reloads" \
	'grep -c "^ExecReload=/usr/sbin/carelined --check-config /etc/careline/careline.yaml" /lib/systemd/system/carelined.service' 1

if [ $quick = 0 ]; then
	step "the README's database steps, then carelined"
	# The root shares this machine's network: a socket-only cluster, and a
	# free port (never 8080) for carelined.
	port=$((20000 + RANDOM % 20000))
	while ss -ltnH "sport = :$port" | grep -q .; do port=$((20000 + RANDOM % 20000)); done
	in_root "pg_conftool 15 main set listen_addresses '' &&
		pg_ctlcluster 15 main start &&
		runuser -u postgres -- createuser careline &&
		runuser -u postgres -- createdb -O careline careline &&
		runuser -u postgres -- psql -q -d careline -c 'CREATE EXTENSION postgis' \
			-c 'ALTER SCHEMA public OWNER TO careline' &&
		runuser -u careline -- carelined --migrate &&
		sed -i 's/^  port: 8080\$/  port: $port/' /etc/careline/careline.yaml &&
		echo 'a-long-enough-password' |
			runuser -u careline -- carelined --create-operator chen --role admin" \
		>"$root/db.log" 2>&1 || { tail -n 10 "$root/db.log"; fail "database steps"; }
	grep -q 'created admin account "chen"' "$root/db.log" || fail "no operator made"
	echo "   ok: database, schema and functions, an operator"
	in_root "exec runuser -u careline -- carelined" >"$root/carelined.log" 2>&1 &
	ok=0
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
		[ "$code" = 200 ] && { ok=1; break; }
		sleep 0.2
	done
	[ $ok = 1 ] || { tail -n 5 "$root/carelined.log"; fail "carelined never answered /readyz 200"; }
	echo "   ok: carelined answers /readyz on port $port"
	pid=$(for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$fs" ] &&
			[ "$(cat "$p/comm" 2>/dev/null)" = carelined ] && echo "${p#/proc/}"
	done)
	[ -n "$pid" ] || fail "no carelined process"
	kill -TERM "$pid"
	wait $! || fail "carelined did not exit 0 on SIGTERM"
	grep -q "carelined stopped" "$root/carelined.log" || fail "no clean stop"
	echo "   ok: SIGTERM, exit 0"
	in_root 'pg_ctlcluster 15 main stop' >/dev/null 2>&1
fi

step "an admin's edit survives a reinstall"
in_root "echo '# edited by the admin' >>/etc/careline/careline.yaml &&
	apt-get install -y -q --reinstall $opts ./$(basename "$deb")" >"$root/reinstall.log" 2>&1 ||
	{ tail -n 10 "$root/reinstall.log"; fail "reinstall failed"; }
check "edit kept" 'tail -n 1 /etc/careline/careline.yaml' "# edited by the admin"
check "modes kept" 'stat -c "%a %U %G" /etc/careline/careline.yaml' "640 root careline"

step "apt-get purge careline"
in_root 'apt-get purge -y -q careline' >"$root/purge.log" 2>&1 || fail "purge"
check "config gone" 'test -e /etc/careline/careline.yaml; echo $?' 1
check "unit link gone" 'test -e /etc/systemd/system/multi-user.target.wants/carelined.service; echo $?' 1
echo "deb-check: $(basename "$deb") installs on a fresh Debian 12 root$([ $quick = 1 ] &&
	echo ' (--quick)' || echo ', runs per the README') and purges"
