#!/usr/bin/env bash
# Fail when the unit's hardening regresses: systemd's own exposure score for
# systemd/carelined.service must stay at or below LIMIT (0 best, 10 worst).
# --offline=yes scores the file itself, without loading it into systemd.
set -euo pipefail

readonly LIMIT=2.0
readonly UNIT=systemd/carelined.service

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not found (package systemd; run scripts/deps.sh)" >&2
	exit 1
fi

# systemd-analyze exits non-zero above its own threshold (default 100, i.e.
# never) and on errors; we judge the figure ourselves, so keep the output.
table=$(systemd-analyze security --offline=yes --no-pager "$UNIT" 2>&1) || true

# "→ Overall exposure level for carelined.service: 1.1 OK 🙂"
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' \
	<<<"$table")
if [[ -z $exposure ]]; then
	printf '%s\n' "$table" >&2
	echo "security-check: no exposure figure in systemd-analyze output" >&2
	exit 1
fi

echo "systemd exposure: $exposure (limit $LIMIT)"
if awk -v e="$exposure" -v l="$LIMIT" 'BEGIN { exit !(e <= l) }'; then
	exit 0
fi
printf '%s\n' "$table"
exit 1
