/*
 * The operators' event stream loses nothing to the order in which
 * transactions commit, nor to a failed read:
 * - an event whose transaction commits after one with a higher id is
 *   still sent (two writers: ids are taken at insert, commits come in
 *   another order);
 * - a console reconnecting with Last-Event-ID N gets an event with a
 *   lower id that was committed after N was sent;
 * - an event held back behind an older open transaction (the stream
 *   follows commit order) arrives when that one ends, NOTIFY or not;
 * - a fetch that fails (its statement times out on a lock the test holds)
 *   is retried without any further NOTIFY, and so is a failed catch-up.
 *
 * Writers are libpq connections of the test calling careline_event, the
 * SQL function every action uses, so the test decides when each commits.
 * events.recheck is at its maximum (60 s), longer than any wait here: the
 * periodic credential re-check must not be what delivers a lost event.
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define WAIT_MS		15000	/* for a condition, never a measure */
#define HELD_MS		2000	/* how long an event may wait for an older one */

static char		*db;		/* as careline */
static char		*superdb;	/* the same database as postgres */
static char		*admin;
static struct th_daemon	 d;

/* A statement on a connection of the test; aborts if it fails. */
static void
pg_do(PGconn *pg, const char *sql)
{
	PGresult	*res = PQexec(pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/* First value of a statement on a connection of the test (caller frees). */
static char *
pg_get(PGconn *pg, const char *sql)
{
	PGresult	*res = PQexec(pg, sql);
	char		*v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (v);
}

/* An event as every action writes one; its id (caller frees). */
static char *
event_insert(PGconn *pg, const char *probe)
{
	char	*sql, *id;

	sql = xprintf("SELECT careline_event('call.created', NULL, "
	    "jsonb_build_object('probe', '%s'))", probe);
	id = pg_get(pg, sql);
	free(sql);
	return (id);
}

/* How the probe's event reads on the stream. */
static char *
probe_json(const char *probe)
{
	return (xprintf("\"data\": {\"probe\": \"%s\"}", probe));
}

/*
 * th_daemon_start writes its own database section; these tests want a
 * short statement_timeout, so they write the whole file.
 */
static int
daemon_start(void)
{
	FILE	*f;
	char	*u;
	int	 rc;

	th_daemon_prepare(&d, "eventgap");
	if ((f = fopen(d.config, "w")) == NULL)
		return (-1);
	fprintf(f, "listen:\n  address: 127.0.0.1\n  port: %d\n"
	    "database:\n  url: \"%s\"\n  statement_timeout: 1s\n"
	    "  reconnect_min: 50ms\n  reconnect_max: 500ms\n"
	    "log:\n  level: info\n"
	    "paths:\n  sql_dir: %s/sql\n"
	    "static:\n  dir: %s/client/www\n"
	    "events:\n  recheck: 60s\n",
	    d.port, db, th_root(), th_root());
	fclose(f);
	if (th_daemon_exec(&d) != 0)
		return (-1);
	u = xprintf("%s/readyz", d.url);
	rc = th_wait_status(u, 200, 20000);
	free(u);
	return (rc);
}

static int
group_setup(void **state)
{
	char	*p;

	(void)state;
	if ((db = th_db_ready("t_eventgap")) == NULL)
		return (-1);
	if ((p = strstr(db, "user=careline")) == NULL)
		return (-1);
	superdb = xprintf("%.*suser=postgres", (int)(p - db), db);
	admin = th_token(db, "admin", "eventgap test admin");
	return (daemon_start());
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_stop(&d);
	free(db);
	free(superdb);
	free(admin);
	return (0);
}

/*
 * T1 takes the lower id, T2 the higher one and commits first; T1 commits
 * last. Both reach the console.
 */
static void
test_late_commit_delivered(void **state)
{
	struct th_stream	*s;
	PGconn		*t1 = th_pg(db), *t2 = th_pg(db);
	char		*id1, *id2, *j1, *j2;

	(void)state;
	s = th_stream_open(d.url, admin, NULL, WAIT_MS);
	pg_do(t1, "BEGIN");
	id1 = event_insert(t1, "gap-first");
	id2 = event_insert(t2, "gap-second");	/* commits at once */
	assert_true(atoll(id1) < atoll(id2));
	j1 = probe_json("gap-first");
	j2 = probe_json("gap-second");
	/*
	 * Let the hub read after T2's commit (its NOTIFY). Sending T2's
	 * event now or only after T1 ends are both right; the wait only
	 * makes sure the hub has had its chance to move past id1.
	 */
	th_stream_wait(s, j2, HELD_MS);
	pg_do(t1, "COMMIT");
	assert_int_equal(th_stream_wait(s, j1, WAIT_MS), 0);
	assert_int_equal(th_stream_wait(s, j2, WAIT_MS), 0);
	th_stream_close(s);
	PQfinish(t1);
	PQfinish(t2);
	free(id1);
	free(id2);
	free(j1);
	free(j2);
}

/*
 * A console got event N and went away; an event with a lower id, whose
 * transaction started after N's, commits meanwhile. Reconnecting with
 * Last-Event-ID: N, the console gets it.
 */
static void
test_reconnect_gets_late_lower_id(void **state)
{
	struct th_stream	*s;
	PGconn		*ta = th_pg(db), *tb = th_pg(db);
	char		*idm, *idn, *jm, *jn, *x;

	(void)state;
	s = th_stream_open(d.url, admin, NULL, WAIT_MS);
	/* A's transaction is older than B's ... */
	pg_do(ta, "BEGIN");
	x = pg_get(ta, "SELECT pg_current_xact_id()");
	free(x);
	pg_do(tb, "BEGIN");
	x = pg_get(tb, "SELECT pg_current_xact_id()");
	free(x);
	/* ... but B takes the lower id; A commits first. */
	idm = event_insert(tb, "late-lower");
	idn = event_insert(ta, "early-higher");
	assert_true(atoll(idm) < atoll(idn));
	pg_do(ta, "COMMIT");
	jm = probe_json("late-lower");
	jn = probe_json("early-higher");
	assert_int_equal(th_stream_wait(s, jn, WAIT_MS), 0);
	assert_false(th_stream_has(s, jm));
	th_stream_close(s);

	pg_do(tb, "COMMIT");
	s = th_stream_open(d.url, admin, idn, WAIT_MS);
	assert_int_equal(th_stream_wait(s, jm, WAIT_MS), 0);
	th_stream_close(s);
	PQfinish(ta);
	PQfinish(tb);
	free(idm);
	free(idn);
	free(jm);
	free(jn);
}

/*
 * An event committed while an older transaction that writes no event is
 * open arrives once that one ends, though its end sends no NOTIFY.
 */
static void
test_held_event_released_without_notify(void **state)
{
	struct th_stream	*s;
	PGconn		*old = th_pg(db), *w = th_pg(db);
	char		*id, *j, *x;

	(void)state;
	s = th_stream_open(d.url, admin, NULL, WAIT_MS);
	pg_do(old, "BEGIN");
	x = pg_get(old, "SELECT pg_current_xact_id()");
	free(x);
	id = event_insert(w, "behind-older");
	j = probe_json("behind-older");
	pg_do(old, "COMMIT");
	assert_int_equal(th_stream_wait(s, j, WAIT_MS), 0);
	th_stream_close(s);
	PQfinish(old);
	PQfinish(w);
	free(id);
	free(j);
}

/*
 * Wait until the daemon's read of events waits on a lock and then stops
 * waiting on that try: with the lock still held, that read failed (its
 * statement timed out).
 */
static void
wait_read_failed(void)
{
	char	*sql, *who;

	assert_int_equal(th_pg_wait(superdb, "SELECT count(*) > 0 FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock' AND query LIKE '%careline_events_%'",
	    "t", WAIT_MS), 0);
	who = th_pg_value(superdb, "SELECT pid || ' ' || query_start FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock' AND query LIKE '%careline_events_%' "
	    "LIMIT 1");
	assert_non_null(who);
	sql = xprintf("SELECT count(*) = 0 FROM pg_stat_activity WHERE "
	    "pid || ' ' || query_start = '%s' AND wait_event_type = 'Lock'",
	    who);
	assert_int_equal(th_pg_wait(superdb, sql, "t", WAIT_MS), 0);
	free(sql);
	free(who);
}

/*
 * The read after a NOTIFY fails; once the lock goes, the event arrives
 * with no other NOTIFY (and long before the 60 s re-check).
 */
static void
test_failed_fetch_retried(void **state)
{
	struct th_stream	*s;
	PGconn		*lock = th_pg(superdb), *w = th_pg(db);
	char		*id, *j;

	(void)state;
	s = th_stream_open(d.url, admin, NULL, WAIT_MS);
	/* The read checks credentials: api_tokens is in every read. */
	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE");
	id = event_insert(w, "after-failure");
	wait_read_failed();
	pg_do(lock, "ROLLBACK");
	j = probe_json("after-failure");
	assert_int_equal(th_stream_wait(s, j, WAIT_MS), 0);
	th_stream_close(s);
	PQfinish(lock);
	PQfinish(w);
	free(id);
	free(j);
}

/*
 * A console reconnects with Last-Event-ID while its catch-up cannot be
 * read; once it can, the console gets what it missed, with no NOTIFY.
 * operators is in every read but not in a token's authentication, so the
 * stream opens.
 */
static void
test_failed_catch_up_retried(void **state)
{
	struct th_stream	*live, *s;
	PGconn		*lock = th_pg(superdb), *w = th_pg(db);
	char		*id, *missed, *j;

	(void)state;
	live = th_stream_open(d.url, admin, NULL, WAIT_MS);
	id = event_insert(w, "before-gap");
	missed = event_insert(w, "missed-in-gap");
	j = probe_json("missed-in-gap");
	/* The hub has read them: the only read left to block is the replay. */
	assert_int_equal(th_stream_wait(live, j, WAIT_MS), 0);
	th_stream_close(live);
	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE operators IN ACCESS EXCLUSIVE MODE");
	s = th_stream_open(d.url, admin, id, WAIT_MS);
	wait_read_failed();
	pg_do(lock, "ROLLBACK");
	assert_int_equal(th_stream_wait(s, j, WAIT_MS), 0);
	th_stream_close(s);
	PQfinish(lock);
	PQfinish(w);
	free(id);
	free(missed);
	free(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_commit_delivered),
		cmocka_unit_test(test_reconnect_gets_late_lower_id),
		cmocka_unit_test(test_held_event_released_without_notify),
		cmocka_unit_test(test_failed_fetch_retried),
		cmocka_unit_test(test_failed_catch_up_retried),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
