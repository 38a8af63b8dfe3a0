#!/usr/bin/env bash
# The tree keeps its shape (issue 10): no daemon file includes the file
# that includes it, and no tracked C file anywhere (daemon, common,
# config, client, tests) is over 900 lines, and sql/functions/ defines
# each SQL function and view once. A module is a name
# with its .c and .h (http_server.c and http_server.h are one); an include
# of another module's header is an edge, and tsort finds any loop among
# them, however long. Run by `make test`.
set -euo pipefail

cd "$(dirname "$0")/.."
max=900
rc=0

edges=$(
	for f in daemon/*.c daemon/*.h; do
		from=$(basename "${f%.*}")
		sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' \
		    "$f" | while read -r to; do
			# Only the daemon's own modules; common/ and config/
			# include none of them.
			if [ -e "daemon/$to.h" ] && [ "$to" != "$from" ]; then
				echo "$from $to"
			fi
		done
	done | sort -u
)
if ! out=$(tsort <<<"$edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "daemon/: an include cycle:"
	echo "$out" | sed 's/^/  /'
	rc=1
fi
# Every C file git tracks (and new ones it does not ignore); outside a
# checkout, every one below here.
if files=$(git ls-files --cached --others --exclude-standard \
    -- '*.c' 2>/dev/null) && [ -n "$files" ]; then
	:
else
	files=$(find . -name '*.c' -not -path './build*' | sed 's|^\./||')
fi
nfiles=0
while read -r f; do
	[ -f "$f" ] || continue
	nfiles=$((nfiles + 1))
	n=$(wc -l <"$f")
	if [ "$n" -gt "$max" ]; then
		echo "$f: $n lines (at most $max)"
		rc=1
	fi
done <<<"$files"
# sql/functions/ defines each function and view once (a file that
# is re-applied by checksum must not fight another over an object), and
# sql/schema/ defines none of them (issue 10).
twice=$(grep -ohiE '^CREATE (OR REPLACE )?(FUNCTION|VIEW) +[a-z_0-9.]+' \
    sql/functions/*.sql | awk '{ print tolower($NF) }' | sort | uniq -d)
if [ -n "$twice" ]; then
	echo "sql/functions/: defined more than once: $twice"
	rc=1
fi
if grep -liE '^CREATE (OR REPLACE )?(FUNCTION|VIEW|TRIGGER|CONSTRAINT TRIGGER) ' \
    sql/schema/*.sql; then
	echo "sql/schema/: functions, views and triggers belong in sql/functions/"
	rc=1
fi
if [ "$rc" -eq 0 ]; then
	echo "sql/functions/: each function and view defined once;" \
	    "sql/schema/: none"
	echo "daemon/: $(wc -l <<<"$edges") include edges between modules," \
	    "no cycle; none of $nfiles C files over $max lines"
fi
exit "$rc"
