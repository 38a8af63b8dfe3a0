#!/bin/sh
# careline's version: the top-level VERSION file, the one place it is
# written. debian/changelog's newest entry must say the same (its Debian
# revision, after a last '-', aside); when it does not, this says so on
# stderr and fails, and so does every build (the Makefile calls it) and
# scripts/deb.sh.
#   scripts/version.sh [DIR]   ->  the version on stdout
set -eu

dir=${1:-$(dirname -- "$0")/..}
if ! version=$(tr -d ' \t\n' < "$dir/VERSION" 2>/dev/null) ||
    [ -z "$version" ]; then
	echo "version.sh: $dir/VERSION is missing or empty" >&2
	exit 1
fi
entry=$(sed -n '1s/^careline (\([^)]*\)).*/\1/p' "$dir/debian/changelog" \
    2>/dev/null || true)
if [ "${entry%-*}" != "$version" ]; then
	echo "version.sh: VERSION says '$version' but the newest entry of" \
	    "debian/changelog says '${entry:-nothing}': make them agree" >&2
	exit 1
fi
echo "$version"
