#!/usr/bin/env bash
# make fuzz: build the libFuzzer targets of tests/fuzz/ with clang under
# build-fuzz/ (ASan + UBSan, leaks checked) and run each for FUZZ_SECONDS
# (default 30), one after the other. Prints one line per target
# ("fuzz_jsonv: 1234567 execs in 30 s, no crash") and exits 1 on a crash,
# naming the input libFuzzer kept in build-fuzz/fuzz-crashes/.
#
# Corpus: tests/fuzz/corpus/TARGET/ holds the committed seeds (seed-*);
# libFuzzer adds what it finds there under hash names, which .gitignore
# keeps out of git. An input worth keeping is renamed seed-something and
# committed.
#   FUZZ_SECONDS=10 scripts/fuzz.sh            every target
#   FUZZ_SECONDS=60 scripts/fuzz.sh fuzz_phone  only those named
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
build=build-fuzz

# The fuzz build's own packages (scripts/deps.sh has what everything
# else needs): clang, and the runtime with libFuzzer and the sanitizers.
packages=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	sudo=()
	if ((EUID != 0)); then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "fuzz.sh: not root and sudo not found; as root run:" >&2
			echo "  apt-get install --no-install-recommends" \
			    "${missing[*]}" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	echo "installing: ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>/dev/null
fi

make --no-print-directory FUZZ=1 BUILD="$build" OPTFLAGS="-O1 -g" \
	fuzz-targets >"$build.make.log" 2>&1 || {
	cat "$build.make.log"
	exit 1
}
rm -f "$build.make.log"

targets=("$@")
if ((${#targets[@]} == 0)); then
	for f in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

mkdir -p "$build/fuzz-crashes" "$build/fuzz-logs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
	corpus=tests/fuzz/corpus/$t
	log=$build/fuzz-logs/$t.log
	mkdir -p "$corpus"
	rc=0
	# -timeout: one input taking 10 s is a hang worth a report.
	"$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-crashes/$t-" \
		"$corpus" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	# What a target says about itself ("fuzz_jsonv: 9 field tables").
	grep "^$t: " "$log" | sort -u || true
	if ((rc == 0)); then
		echo "$t: ${execs:-0} execs in $seconds s, no crash"
		continue
	fi
	failed=1
	echo "$t: CRASH (exit $rc) after ${execs:-?} execs; log $log"
	# The sanitizer's verdict, or the property a target found broken.
	why='^(==[0-9]+==ERROR|SUMMARY|.*runtime error|tests/fuzz/[^:]*:[0-9]+: )'
	grep -E "$why" "$log" | head -n 20 | sed 's/^/   | /'
	grep -E '^artifact_prefix|Test unit written to' "$log" | sed 's/^/   /'
done
exit $failed
