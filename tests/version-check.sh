#!/usr/bin/env bash
# One version: VERSION is the source, debian/changelog's newest entry must
# agree (scripts/version.sh refuses a tree where it does not), and both
# programs print it. Run by tests/run.sh as one check.
#   tests/version-check.sh BUILD
set -euo pipefail

cd "$(dirname "$0")/.."
build=${1:-build}
fail() { echo "version-check: $*" >&2; exit 1; }

want=$(tr -d ' \t\n' < VERSION)
[[ -n $want ]] || fail "VERSION is empty"
got=$(scripts/version.sh) || fail "scripts/version.sh refused this tree"
[[ $got == "$want" ]] || fail "version.sh said '$got', VERSION '$want'"

# A copy whose changelog moved on without VERSION is refused, by name.
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir "$t/debian"
cp VERSION "$t/VERSION"
sed "1s/(\([^)]*\))/(\1.1)/" debian/changelog > "$t/debian/changelog"
if scripts/version.sh "$t" >"$t/out" 2>"$t/err"; then
	fail "a changelog saying $want.1 was accepted against VERSION $want"
fi
grep -q "VERSION says '$want'" "$t/err" && grep -q "'$want.1'" "$t/err" ||
    fail "the refusal does not name both: $(cat "$t/err")"
[[ ! -s $t/out ]] || fail "a refused tree still printed a version"
# A Debian revision is not a disagreement.
sed "1s/(\([^)]*\))/(\1-2)/" debian/changelog > "$t/debian/changelog"
[[ $(scripts/version.sh "$t") == "$want" ]] ||
    fail "a Debian revision ($want-2) was refused"

line=$("$build/carelined" --version)
[[ $line == "carelined $want "* ]] || fail "carelined --version: $line"
line=$("$build/carelinectl" --version)
[[ $line == "carelinectl $want" ]] || fail "carelinectl --version: $line"
echo "VERSION $want; debian/changelog, carelined and carelinectl agree"
