#!/usr/bin/env bash
# Install the Debian 12 packages careline needs to build, test and run.
# Quiet and idempotent: prints nothing when everything is already there.
#   deps.sh          install what is missing
#   deps.sh --check  list what is missing, exit 1 if anything is
#
# Note: installing postgresql-15 makes Debian create (and maybe start) its
# 'main' cluster on port 5432. careline never uses it (scripts/pg.sh runs
# private clusters on a unix socket), so we leave it alone.
set -euo pipefail

packages=(
	build-essential pkg-config
	libevent-dev libpq-dev libyaml-dev libcurl4-openssl-dev libjansson-dev
	libssl-dev libsodium-dev libsystemd-dev libcmocka-dev
	libunistring-dev # NFKC and Unicode categories; no pkg-config file
	postgresql-15 postgresql-15-postgis-3 postgresql-15-pgtap
	postgresql-client-15
	libtap-parser-sourcehandler-pgtap-perl # pg_prove, for sql/tests
	curl wrk
	systemd # systemd-analyze, for scripts/security-check.sh
)

check_only=0
case "${1:-}" in
"") ;;
--check) check_only=1 ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

missing=()
for p in "${packages[@]}"; do
	# dpkg-query fails for unknown packages and reports e.g. "deinstall ok
	# config-files" for removed ones: only "install ok installed" counts.
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ $status != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

# The browser tests and the OpenAPI lint run on Node.js. Debian's npm
# brings Debian's nodejs (18.20), which the pinned playwright-core and
# Redocly support; a Node already installed from elsewhere is used as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi

((${#missing[@]} == 0)) && exit 0

if ((check_only)); then
	echo "missing packages: ${missing[*]}"
	exit 1
fi

sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: not root and sudo not found; as root run:" >&2
		echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "installing: ${missing[*]}"
# apt-get -qq still prints warnings and errors, which is what we want to see.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
