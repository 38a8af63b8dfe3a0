# shellcheck shell=bash
# scripts/bench-common.sh — sourced by bench.sh and bench-webhooks.sh.
#
# The statements of one measured run, from pg_stat_statements (loaded and set
# to track = all by the caller, so statements inside PL/pgSQL functions
# count too). The caller defines psql_q (psql as the superuser on the
# bench's cluster) and top_n (how many statements to print).
#
# stmts_reset just before a run forgets the statements before it;
# stmts_print after it prints the top_n that took the most time, with their
# calls per unit (request, delivery...), mean time and share of the time
# all the run's top-level statements took (a nested statement's share is
# part of its caller's). Only the careline role's statements (carelined,
# pgbench): the benches' own psql runs as the superuser.
stmts_reset() {
	psql_q -c 'SELECT pg_stat_statements_reset()' >/dev/null
}
stmts_print() { # units unit-name (request, transaction, delivery)
	local units=$1 unit=$2
	((top_n > 0 && units > 0)) || return 0
	psql_q -At -F$'\t' -v units="$units" -v top="$top_n" <<-'EOF' |
		WITH s AS (
		    SELECT toplevel, calls, mean_exec_time, total_exec_time,
		           regexp_replace(query, '\s+', ' ', 'g') AS q
		    FROM pg_stat_statements
		    WHERE userid = 'careline'::regrole
		      AND dbid = (SELECT oid FROM pg_database WHERE datname = 'careline')),
		t AS (SELECT sum(total_exec_time) FILTER (WHERE toplevel) AS ms,
		             sum(calls) AS n, sum(calls) FILTER (WHERE toplevel) AS ntop FROM s)
		SELECT 'S', round(t.n / :units, 2), round(t.ntop / :units, 2),
		       round((t.ms / :units)::numeric, 3), '' FROM t
		UNION ALL
		(SELECT CASE WHEN s.toplevel THEN 'T' ELSE 'N' END, round(s.calls::numeric / :units, 2),
		        round(s.mean_exec_time::numeric, 3),
		        round((100 * s.total_exec_time / nullif(t.ms, 0))::numeric, 1), left(s.q, 96)
		 FROM s, t ORDER BY s.total_exec_time DESC LIMIT :top);
	EOF
		awk -F'\t' -v unit="$unit" '
		$1 == "S" {
			printf "      %s statements per %s (%s top-level), %s ms of statement time per %s; the most costly\n",
			    $2, unit, $3, $4, unit
			printf "      (nested ones, marked +, count within their caller'"'"'s share):\n"
			printf "        %11s %9s %6s  %s\n", "per " unit, "mean ms", "share", "statement"
			next
		}
		{ printf "        %11s %9s %5s%%  %s%s\n", $2, $3, $4, ($1 == "N" ? "+ " : ""), $5 }'
}


# "meets", or "misses by" how much (in the measure's unit and in % of the
# target).
verdict() { # value op(>= or <) target [unit]
	awk -v x="$1" -v op="$2" -v t="$3" -v u="${4:-}" 'BEGIN {
		if (x == "" || x == "n/a") { print "n/a"; exit }
		x += 0
		if (op == ">=") { ok = x >= t; d = t - x } else { ok = x < t; d = x - t }
		if (ok) { print "meets"; exit }
		printf "misses by %.3g%s (%.0f%%)\n", d, u, (t != 0 ? 100 * d / t : 0)
	}'
}
