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

/* A stream read on its own thread until the test aborts it. */
struct stream {
	char		*token;
	const char	*last_id;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	char		*text;
	size_t		 len;
	int		 done;
	int		 abort;
};

static size_t
stream_collect(char *p, size_t size, size_t n, void *arg)
{
	struct stream	*s = arg;

	pthread_mutex_lock(&s->lock);
	s->text = xrealloc(s->text, s->len + size * n + 1);
	memcpy(s->text + s->len, p, size * n);
	s->len += size * n;
	s->text[s->len] = '\0';
	pthread_mutex_unlock(&s->lock);
	return (size * n);
}

static int
stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
    curl_off_t e)
{
	struct stream	*s = arg;
	int		 stop;

	(void)a;
	(void)b;
	(void)c;
	(void)e;
	pthread_mutex_lock(&s->lock);
	stop = s->abort;
	pthread_mutex_unlock(&s->lock);
	return (stop);
}

static void *
stream_run(void *arg)
{
	struct stream		*s = arg;
	struct curl_slist	*h = NULL;
	char			 line[256];
	CURL			*c = curl_easy_init();
	char			*u = xprintf("%s/v1/events", d.url);

	snprintf(line, sizeof line, "Authorization: Bearer %s", s->token);
	h = curl_slist_append(h, line);
	if (s->last_id != NULL) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", s->last_id);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	/* A safety net only: every test waits for a condition. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(u);
	pthread_mutex_lock(&s->lock);
	s->done = 1;
	pthread_mutex_unlock(&s->lock);
	return (NULL);
}

static int
stream_has(struct stream *s, const char *needle)
{
	int	yes;

	pthread_mutex_lock(&s->lock);
	yes = s->text != NULL && strstr(s->text, needle) != NULL;
	pthread_mutex_unlock(&s->lock);
	return (yes);
}

static int
stream_wait(struct stream *s, const char *needle, int timeout_ms)
{
	long	until = th_now_ms() + timeout_ms;

	while (!stream_has(s, needle)) {
		if (th_now_ms() > until)
			return (-1);
		usleep(20000);
	}
	return (0);
}

/* Open a stream and wait until the server has it (its first comment). */
static struct stream *
stream_open(const char *token, const char *last_id)
{
	struct stream	*s = xcalloc(1, sizeof *s);

	s->token = xstrdup(token);
	s->last_id = last_id;
	pthread_mutex_init(&s->lock, NULL);
	pthread_create(&s->thread, NULL, stream_run, s);
	assert_int_equal(stream_wait(s, ": connected\n", WAIT_MS), 0);
	return (s);
}

static void
stream_close(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->abort = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s->text);
	free(s->token);
	free(s);
}

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
	int	 fd, rc;

	memset(&d, 0, sizeof d);
	d.port = th_free_port();
	d.config = xprintf("%s/eventgap-%d.yaml", th_tmp(), (int)getpid());
	d.log = xprintf("%s.log", d.config);
	snprintf(d.url, sizeof d.url, "http://127.0.0.1:%d", d.port);
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
	if ((d.pid = fork()) == 0) {
		fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		close(fd);
		unsetenv("NOTIFY_SOCKET");
		execl(th_bin(), th_bin(), "-c", d.config, (char *)NULL);
		_exit(127);
	}
	if (d.pid < 0)
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
	th_init();
	db = th_db_create("t_eventgap");
	if (th_migrate(db, NULL) != 0)
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
	th_daemon_signal_wait(&d, SIGTERM, 10000);
	th_daemon_cleanup(&d);
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
	struct stream	*s;
	PGconn		*t1 = th_pg(db), *t2 = th_pg(db);
	char		*id1, *id2, *j1, *j2;

	(void)state;
	s = stream_open(admin, NULL);
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
	stream_wait(s, j2, HELD_MS);
	pg_do(t1, "COMMIT");
	assert_int_equal(stream_wait(s, j1, WAIT_MS), 0);
	assert_int_equal(stream_wait(s, j2, WAIT_MS), 0);
	stream_close(s);
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
	struct stream	*s;
	PGconn		*ta = th_pg(db), *tb = th_pg(db);
	char		*idm, *idn, *jm, *jn, *x;

	(void)state;
	s = stream_open(admin, NULL);
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
	assert_int_equal(stream_wait(s, jn, WAIT_MS), 0);
	assert_false(stream_has(s, jm));
	stream_close(s);

	pg_do(tb, "COMMIT");
	s = stream_open(admin, idn);
	assert_int_equal(stream_wait(s, jm, WAIT_MS), 0);
	stream_close(s);
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
	struct stream	*s;
	PGconn		*old = th_pg(db), *w = th_pg(db);
	char		*id, *j, *x;

	(void)state;
	s = stream_open(admin, NULL);
	pg_do(old, "BEGIN");
	x = pg_get(old, "SELECT pg_current_xact_id()");
	free(x);
	id = event_insert(w, "behind-older");
	j = probe_json("behind-older");
	pg_do(old, "COMMIT");
	assert_int_equal(stream_wait(s, j, WAIT_MS), 0);
	stream_close(s);
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
	struct stream	*s;
	PGconn		*lock = th_pg(superdb), *w = th_pg(db);
	char		*id, *j;

	(void)state;
	s = stream_open(admin, NULL);
	/* The read checks credentials: api_tokens is in every read. */
	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE");
	id = event_insert(w, "after-failure");
	wait_read_failed();
	pg_do(lock, "ROLLBACK");
	j = probe_json("after-failure");
	assert_int_equal(stream_wait(s, j, WAIT_MS), 0);
	stream_close(s);
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
	struct stream	*live, *s;
	PGconn		*lock = th_pg(superdb), *w = th_pg(db);
	char		*id, *missed, *j;

	(void)state;
	live = stream_open(admin, NULL);
	id = event_insert(w, "before-gap");
	missed = event_insert(w, "missed-in-gap");
	j = probe_json("missed-in-gap");
	/* The hub has read them: the only read left to block is the replay. */
	assert_int_equal(stream_wait(live, j, WAIT_MS), 0);
	stream_close(live);
	pg_do(lock, "BEGIN");
	pg_do(lock, "LOCK TABLE operators IN ACCESS EXCLUSIVE MODE");
	s = stream_open(admin, id);
	wait_read_failed();
	pg_do(lock, "ROLLBACK");
	assert_int_equal(stream_wait(s, j, WAIT_MS), 0);
	stream_close(s);
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
