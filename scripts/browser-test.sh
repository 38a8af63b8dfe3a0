#!/usr/bin/env bash
# Browser tests of the operators' console (tests/browser/console.test.mjs):
# a real headless Chromium driven by playwright-core, against a carelined
# that is already running with the demo district and the demo receiver.
# playwright-core is installed with npm into a cache directory outside the
# repository on first use, pinned to one version; Chromium comes from
# Debian (/usr/bin/chromium), never from a download of Playwright's own.
# The version runs on Debian 12's own Node (18.20): playwright-core 1.61 is
# the last whose engines field allows Node 18 (1.62 wants Node 20), and it
# drives Debian's Chromium 156. Before moving it, check both:
# `npm view playwright-core@VER engines` and `/usr/bin/chromium --version`.
#
#   CARELINE_URL=http://127.0.0.1:8080    carelined's base URL
#   CARELINE_OPERATOR=demo                a console account (admin: the
#   CARELINE_PASSWORD=...                   providers test needs one)
#   CARELINE_ADMIN_TOKEN=clt_...          an admin API token (set-up, PBX)
#   scripts/browser-test.sh
#
# Optional: PLAYWRIGHT_DIR (install/use playwright-core there), CHROMIUM
# (the browser binary), CARELINE_SHOTS (screenshots; default tests/out).
# Prints TAP and exits non-zero on any failure.
set -euo pipefail

readonly PLAYWRIGHT_VERSION=1.61.1
PLAYWRIGHT_DIR=${PLAYWRIGHT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careline/playwright-core-$PLAYWRIGHT_VERSION}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

for v in CARELINE_URL CARELINE_OPERATOR CARELINE_PASSWORD CARELINE_ADMIN_TOKEN; do
	if [[ -z ${!v:-} ]]; then
		echo "browser-test.sh: $v is not set" >&2
		exit 2
	fi
done

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		return 1
	fi
}

apt_install() {
	echo "browser-test.sh: installing $* (apt-get)" >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
		{ as_root apt-get update -q >&2 &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

if [[ ! -x $CHROMIUM ]]; then
	if [[ $CHROMIUM == /usr/bin/chromium ]]; then
		apt_install chromium || true
	fi
	if [[ ! -x $CHROMIUM ]]; then
		echo "browser-test.sh: $CHROMIUM not found (Debian: apt-get install -y chromium)" >&2
		exit 1
	fi
fi
# Chinese glyphs for the screenshots; the tests pass without them.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
	apt_install fonts-noto-cjk || echo "browser-test.sh: no CJK font; screenshots will show boxes" >&2
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install npm || true
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "browser-test.sh: node or npm not found (Debian: apt-get install -y npm)" >&2
		exit 1
	fi
fi
pkg=$PLAYWRIGHT_DIR/node_modules/playwright-core
installed=$(node -p "require('$pkg/package.json').version" 2>/dev/null || true)
if [[ $installed != "$PLAYWRIGHT_VERSION" ]]; then
	echo "browser-test.sh: installing playwright-core@$PLAYWRIGHT_VERSION into $PLAYWRIGHT_DIR" >&2
	mkdir -p "$PLAYWRIGHT_DIR"
	# playwright-core downloads no browser on install; we use Debian's.
	# --engine-strict: a Node too old for it fails here, saying so, rather
	# than later at require(). On failure print npm's own words.
	if ! out=$(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$PLAYWRIGHT_DIR" \
	    --no-audit --no-fund --loglevel=error --engine-strict --no-save \
	    "playwright-core@$PLAYWRIGHT_VERSION" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "browser-test.sh: npm install failed (Node $(node --version), npm $(npm --version))" >&2
		exit 1
	fi
fi
export PLAYWRIGHT_CORE=$pkg
# No update checks or telemetry from the driver.
export PLAYWRIGHT_SKIP_BROWSER_GC=1

exec node tests/browser/console.test.mjs
