#!/usr/bin/env bash
# The daemon's files keep their shape (issue 10): no file includes the file
# that includes it, and no C file is over 900 lines. A module is a name
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
for f in daemon/*.c; do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$max" ]; then
		echo "$f: $n lines (at most $max)"
		rc=1
	fi
done
if [ "$rc" -eq 0 ]; then
	echo "daemon/: $(wc -l <<<"$edges") include edges between modules," \
	    "no cycle; no C file over $max lines"
fi
exit "$rc"
