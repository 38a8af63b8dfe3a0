#!/usr/bin/env bash
# Lint openapi.yaml with Redocly CLI (the "recommended" ruleset, or what
# redocly.yaml at the repository root configures). Redocly and everything it
# pulls in are pinned by scripts/npm/redocly/package-lock.json, so every
# machine judges the contract the same way; `npm ci` installs them into a
# cache directory outside the repository on first use.
#
# The versions run on Debian 12's own Node (18.20; deps.sh installs it):
# @redocly/cli 1.34 (engines: node >= 18.17; 2.x wants Node 20.19), and
# jsep held at 1.4.0 (1.6 wants Node 20.16). Check a new version's
# `npm view PKG@VER engines` before changing the lock, and regenerate it with
#   cd scripts/npm/redocly && npm install --package-lock-only \
#       --omit-lockfile-registry-resolved
#
#   scripts/openapi-lint.sh            lint openapi.yaml
#   REDOCLY_DIR=/some/dir scripts/...  install/use Redocly there instead
set -euo pipefail

readonly SPEC=openapi.yaml
readonly LOCKDIR=scripts/npm/redocly

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "openapi-lint.sh: node or npm not found (scripts/deps.sh installs Debian's npm)" >&2
	exit 1
fi
# The oldest Node the pinned Redocly supports (its engines field).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)'; then
	echo "openapi-lint.sh: Node $(node --version) is too old: Redocly needs >= 18.17" >&2
	exit 1
fi

# One directory per lock: a changed lock installs afresh.
lockhash=$(sha256sum "$LOCKDIR/package-lock.json" | cut -c1-12)
REDOCLY_DIR=${REDOCLY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careline/redocly-$lockhash}
redocly=$REDOCLY_DIR/node_modules/.bin/redocly
if [[ ! -x $redocly ]] || ! cmp -s "$LOCKDIR/package-lock.json" "$REDOCLY_DIR/package-lock.json"; then
	echo "openapi-lint.sh: installing Redocly CLI (npm ci) into $REDOCLY_DIR" >&2
	mkdir -p "$REDOCLY_DIR"
	cp "$LOCKDIR/package.json" "$LOCKDIR/package-lock.json" "$REDOCLY_DIR/"
	# npm's own words on failure (a registry refusal, an engine clash),
	# never a silent "could not run".
	if ! out=$(cd "$REDOCLY_DIR" && npm ci --no-audit --no-fund --loglevel=error 2>&1); then
		printf '%s\n' "$out" >&2
		echo "openapi-lint.sh: npm ci failed (Node $(node --version), npm $(npm --version))" >&2
		rm -f "$REDOCLY_DIR/package-lock.json"
		exit 1
	fi
fi

# No telemetry from CI or developers' machines.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true

status=0
"$redocly" lint "$SPEC" --format=stylish || status=$?
exit "$status"
