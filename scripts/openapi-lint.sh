#!/usr/bin/env bash
# Lint openapi.yaml with Redocly CLI (the "recommended" ruleset, or what
# redocly.yaml at the repository root configures). Redocly is installed with
# npm into a cache directory outside the repository on first use, pinned to
# one version so every machine judges the contract the same way.
#
#   scripts/openapi-lint.sh            lint openapi.yaml
#   REDOCLY_DIR=/some/dir scripts/...  install/use Redocly there instead
set -euo pipefail

readonly REDOCLY_VERSION=2.77.0
readonly SPEC=openapi.yaml
REDOCLY_DIR=${REDOCLY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careline/redocly-$REDOCLY_VERSION}

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

if ! command -v npm >/dev/null 2>&1; then
	echo "npm not found (Debian: apt-get install -y npm)" >&2
	exit 1
fi

redocly=$REDOCLY_DIR/node_modules/.bin/redocly
installed=$(node -p "require('$REDOCLY_DIR/node_modules/@redocly/cli/package.json').version" \
    2>/dev/null || true)
if [ ! -x "$redocly" ] || [ "$installed" != "$REDOCLY_VERSION" ]; then
	echo "installing @redocly/cli@$REDOCLY_VERSION into $REDOCLY_DIR" >&2
	mkdir -p "$REDOCLY_DIR"
	npm install --prefix "$REDOCLY_DIR" --no-audit --no-fund --silent \
	    --no-save "@redocly/cli@$REDOCLY_VERSION"
fi

# No telemetry from CI or developers' machines.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true

status=0
"$redocly" lint "$SPEC" --format=stylish || status=$?
exit "$status"
