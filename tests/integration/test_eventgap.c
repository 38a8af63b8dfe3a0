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
 *   is retried without any further NOTIFY, and so is a failed catch-up;
 * - with no stream open, a NOTIFY reads nothing, and a stream opened
 *   later still gets its replay, and nothing from before it otherwise;
 * - a catch-up answered after its console left goes to no other console,
 *   even one given the same memory;
 * - a request whose client hangs up while it waits is cancelled: no
 *   handler runs for it.
 *
 * Writers are libpq connections of the test calling careline_event, the
 * SQL function every action uses, so the test decides when each commits.
 * events.recheck is at its maximum (60 s), longer than any wait here: the
 * periodic credential re-check must not be what delivers a lost event.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

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


static int
metric_wait(const char *name, long long want)
{
	long	until = th_now_ms() + WAIT_MS;

	while (th_metric(d.url, name) != want) {
		if (th_now_ms() > until)
			return (-1);
		usleep(20000);
	}
	return (0);
}

static int
metric_wait_least(const char *name, long long want)
{
	long	until = th_now_ms() + WAIT_MS;

	while (th_metric(d.url, name) < want) {
		if (th_now_ms() > until)
			return (-1);
		usleep(20000);
	}
	return (0);
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

/*
 * Nobody listens: the daemon is told of new events and reads none. A
 * console that then comes back with Last-Event-ID gets what it missed;
 * one that comes without gets only what happens after it came.
 */
static void
test_no_stream_no_read(void **state)
{
	struct th_stream	*s, *fresh;
	PGconn		*w = th_pg(db);
	long long	 notified, fetches;
	char		*before, *id1, *id2, *j1, *j2, *jafter, *idafter;

	(void)state;
	assert_int_equal(metric_wait("careline_events_streams", 0), 0);
	notified = th_metric(d.url, "careline_events_notified_total");
	assert_true(notified >= 0);
	before = event_insert(w, "idle-before");
	assert_int_equal(metric_wait_least("careline_events_notified_total",
	    notified + 1), 0);
	fetches = th_metric(d.url, "careline_events_fetches_total");
	assert_true(fetches >= 0);
	id1 = event_insert(w, "idle-one");
	id2 = event_insert(w, "idle-two");
	/* Told of both, and read neither. */
	assert_int_equal(metric_wait_least("careline_events_notified_total",
	    notified + 3), 0);
	assert_int_equal(th_metric(d.url, "careline_events_fetches_total"), fetches);

	s = th_stream_open(d.url, admin, before, WAIT_MS);
	j1 = probe_json("idle-one");
	j2 = probe_json("idle-two");
	assert_int_equal(th_stream_wait(s, j1, WAIT_MS), 0);
	assert_int_equal(th_stream_wait(s, j2, WAIT_MS), 0);
	fresh = th_stream_open(d.url, admin, NULL, WAIT_MS);
	idafter = event_insert(w, "idle-after");
	jafter = probe_json("idle-after");
	assert_int_equal(th_stream_wait(fresh, jafter, WAIT_MS), 0);
	assert_int_equal(th_stream_wait(s, jafter, WAIT_MS), 0);
	/* Read while nobody listened, so not for the one that came after. */
	assert_false(th_stream_has(fresh, j1));
	assert_false(th_stream_has(fresh, j2));
	th_stream_close(fresh);
	th_stream_close(s);
	PQfinish(w);
	free(before);
	free(id1);
	free(id2);
	free(idafter);
	free(j1);
	free(j2);
	free(jafter);
}

/*
 * A console leaves while its replay is being read; the next console may
 * get the same memory. The replay, answered after, is not sent to it.
 * (The statement timeout is 1 s: should the steps take longer, the
 * catch-up fails instead and the test shows less, never a false error.)
 */
static void
test_replay_not_for_newcomer(void **state)
{
	struct th_stream	*live, *gone, *s;
	PGconn		*lock = th_pg(superdb), *w = th_pg(db);
	char		*from, *old, *after, *jold, *jafter;

	(void)state;
	live = th_stream_open(d.url, admin, NULL, WAIT_MS);
	from = event_insert(w, "gen-from");
	old = event_insert(w, "gen-old");
	jold = probe_json("gen-old");
	/* The hub has read it: a newcomer starts after it. */
	assert_int_equal(th_stream_wait(live, jold, WAIT_MS), 0);
	th_stream_close(live);
	assert_int_equal(metric_wait("careline_events_streams", 0), 0);

	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE operators IN ACCESS EXCLUSIVE MODE");
	gone = th_stream_open(d.url, admin, from, WAIT_MS);
	assert_int_equal(th_pg_wait(superdb, "SELECT count(*) > 0 FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock' AND query LIKE '%careline_events_%'",
	    "t", WAIT_MS), 0);
	th_stream_close(gone);
	assert_int_equal(metric_wait("careline_events_streams", 0), 0);
	s = th_stream_open(d.url, admin, NULL, WAIT_MS);
	pg_do(lock, "ROLLBACK");

	after = event_insert(w, "gen-after");
	jafter = probe_json("gen-after");
	assert_int_equal(th_stream_wait(s, jafter, WAIT_MS), 0);
	assert_false(th_stream_has(s, jold));
	th_stream_close(s);
	PQfinish(lock);
	PQfinish(w);
	free(from);
	free(old);
	free(after);
	free(jold);
	free(jafter);
}

/*
 * A client asks, then hangs up while its token is being checked (the
 * test holds a lock the check waits on): the daemon counts it cancelled
 * at once, and once the check is answered runs no handler for it.
 */
static void
test_hangup_cancels(void **state)
{
	struct sockaddr_in	 sin;
	PGconn			*lock = th_pg(superdb);
	char			*token, *req;
	const char		*line = "careline_http_requests_total{method="
				    "\"GET\",route=\"/v1/calls\",status=";
	char			*s499, *s200;
	long long		 cancelled;
	int			 fd;

	(void)state;
	/* A new token: its check cannot come from the cache. */
	token = th_token(db, "operator", "eventgap hangup");
	cancelled = th_metric(d.url, "careline_http_cancelled_total");
	assert_true(cancelled >= 0);
	s499 = xprintf("%s\"499\"}", line);
	s200 = xprintf("%s\"200\"}", line);
	assert_int_equal(th_metric(d.url, s200), -1);

	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)d.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	req = xprintf("GET /v1/calls HTTP/1.1\r\nHost: test\r\n"
	    "Authorization: Bearer %s\r\n\r\n", token);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(th_pg_wait(superdb, "SELECT count(*) > 0 FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock' AND query LIKE '%careline_token_auth%'",
	    "t", WAIT_MS), 0);
	close(fd);
	assert_int_equal(metric_wait("careline_http_cancelled_total",
	    cancelled + 1), 0);
	pg_do(lock, "ROLLBACK");
	/* Ended as 499 once the check is answered; never handled. */
	assert_int_equal(metric_wait(s499, 1), 0);
	assert_int_equal(th_metric(d.url, s200), -1);
	/* And the daemon carries on. */
	assert_int_equal(th_api(d.url, token, "GET", "/v1/calls", NULL, NULL),
	    200);
	PQfinish(lock);
	free(token);
	free(req);
	free(s499);
	free(s200);
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
		cmocka_unit_test(test_no_stream_no_read),
		cmocka_unit_test(test_replay_not_for_newcomer),
		cmocka_unit_test(test_hangup_cancels),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
