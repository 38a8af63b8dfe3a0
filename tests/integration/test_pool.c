/*
 * carelined's database connections under pressure, over real HTTP and a
 * real PostgreSQL: HTTP requests holding every connection of theirs do
 * not keep the dispatcher from delivering and recording webhooks; the
 * first request after a start is served, not refused; an outage costs a
 * bounded number of log lines; the shutdown log says what happened.
 *
 * Requests are held by locks the test takes from its own connection, so
 * the daemon's connections block exactly as long as the test says.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define TEST_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static char		*db;		/* as careline */
static char		*superdb;	/* the same database as postgres */
static int		 seq;

/* What a test holds, let go by teardown even when the test failed. */
static struct th_daemon	 d;
static struct th_receiver rv;
static PGconn		*held;		/* a connection holding a lock */
static int		 cluster_down;

static int
teardown(void **state)
{
	(void)state;
	if (held != NULL) {
		PQfinish(held);		/* rolls back: the lock goes */
		held = NULL;
	}
	if (cluster_down) {
		th_cluster_start();
		cluster_down = 0;
	}
	th_daemon_cleanup(&d);
	th_receiver_stop(&rv);
	return (0);
}

static int
group_setup(void **state)
{
	char	*p;

	(void)state;
	if ((db = th_db_ready("t_pool")) == NULL)
		return (-1);
	if ((p = strstr(db, "user=careline")) == NULL)
		return (-1);
	superdb = xprintf("%.*suser=postgres", (int)(p - db), db);
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	free(db);
	free(superdb);
	return (0);
}

/*
 * th_daemon_start writes its own database section; these tests size the
 * pools, so they write the whole file. The result is cleaned up by
 * th_daemon_cleanup like any other.
 */
static void
daemon_start(struct th_daemon *dm, const char *database_yaml,
    const char *extra_yaml)
{
	FILE	*f;
	int	 fd;

	memset(dm, 0, sizeof *dm);
	dm->port = th_free_port();
	dm->config = xprintf("%s/pool-%d-%d.yaml", th_tmp(), (int)getpid(),
	    ++seq);
	dm->log = xprintf("%s.log", dm->config);
	snprintf(dm->url, sizeof dm->url, "http://127.0.0.1:%d", dm->port);
	f = fopen(dm->config, "w");
	assert_non_null(f);
	fprintf(f, "listen:\n  address: 127.0.0.1\n  port: %d\n"
	    "database:\n  url: \"%s\"\n"
	    "  reconnect_min: 50ms\n  reconnect_max: 500ms\n%s"
	    "log:\n  level: info\n"
	    "paths:\n  sql_dir: %s/sql\n"
	    "static:\n  dir: %s/client/www\n%s",
	    dm->port, db, database_yaml, th_root(), th_root(),
	    extra_yaml != NULL ? extra_yaml : "");
	fclose(f);
	if ((dm->pid = fork()) == 0) {
		fd = open(dm->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		close(fd);
		unsetenv("NOTIFY_SOCKET");
		execl(th_bin(), th_bin(), "-c", dm->config, (char *)NULL);
		_exit(127);
	}
	assert_true(dm->pid > 0);
}

static int
daemon_wait_ready(struct th_daemon *dm)
{
	char	*u = xprintf("%s/readyz", dm->url);
	int	 rc;

	rc = th_wait_status(u, 200, 20000);
	free(u);
	return (rc);
}

/* The sum of N over lines holding needle and "(repeated N more time". */
static int
file_repeats(const char *path, const char *needle)
{
	FILE	*f;
	char	 line[4096], *p;
	int	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, needle) != NULL &&
		    (p = strstr(line, "(repeated ")) != NULL)
			n += atoi(p + strlen("(repeated "));
	}
	fclose(f);
	return (n);
}

/* A connection to the daemon as soon as its port takes one. */
static int
port_connect(int port, int timeout_ms)
{
	struct sockaddr_in	sin;
	long			deadline = th_now_ms() + timeout_ms;
	int			fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd != -1);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
			return (fd);
		close(fd);
		if (th_now_ms() >= deadline)
			return (-1);
		usleep(2000);	/* nothing to wait on: the port is not there */
	}
}

static void
send_get(int fd, const char *path)
{
	char	*req;
	size_t	 len;

	req = xprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n", path);
	len = strlen(req);
	assert_int_equal(write(fd, req, len), (ssize_t)len);
	free(req);
}

/* Whether an answer has begun to arrive (without waiting). */
static int
answered(int fd)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };

	return (poll(&pfd, 1, 0) == 1);
}

/* The status line's code of the answer on fd; the daemon closes after. */
static int
read_status(int fd, int timeout_ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 buf[4096];
	size_t		 len = 0;
	ssize_t		 n;
	long		 deadline = th_now_ms() + timeout_ms;
	int		 code = -1;

	while (len < sizeof buf - 1 && th_now_ms() < deadline) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		if ((n = read(fd, buf + len, sizeof buf - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n") != NULL)
			break;
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		code = atoi(buf + 9);
	return (code);
}

/* A libpq connection that holds a lock until lock_release. */
static PGconn *
lock_take(const char *dburl, const char *sql)
{
	PGconn		*pg = th_pg(dburl);
	PGresult	*res;

	held = pg;
	res = PQexec(pg, "BEGIN");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return (pg);
}

static void
lock_release(PGconn *pg)
{
	PGresult	*res;

	res = PQexec(pg, "COMMIT");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(pg);
	held = NULL;
}

static char *
value(const char *fmt, ...)
{
	va_list	 ap;
	char	*q, *v;

	va_start(ap, fmt);
	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	va_end(ap);
	v = th_pg_value(db, q);
	free(q);
	assert_non_null(v);
	return (v);
}

/* A provider whose webhooks go to the receiver; returns its id. */
static long long
provider_new(const struct th_receiver *r)
{
	char		*v;
	long long	 id;

	v = value("INSERT INTO providers (name, services, location, "
	    "travel_mode, capacity, opening_hours, webhook_url, "
	    "webhook_secret) VALUES ('池测试%d', '{meal}', ST_SetSRID("
	    "ST_MakePoint(113.18, 27.87), 4326)::geography, 'walk', 5, "
	    "'24/7', 'http://x/', '%s') RETURNING id", ++seq, TEST_SECRET);
	id = atoll(v);
	free(v);
	v = xprintf("UPDATE providers SET webhook_url = '%s/%lld' WHERE id = "
	    "%lld", r->url, id, id);
	assert_int_equal(th_pg_exec(db, v), 0);
	free(v);
	return (id);
}

/* A pending delivery (its insert NOTIFYs); returns its event id. */
static char *
delivery_new(long long provider, long long *id)
{
	char	*v, *event;

	v = value("INSERT INTO deliveries (provider_id, event_type, payload) "
	    "VALUES (%lld, 'call.pool_test', '{\"type\": \"call.pool_test\", "
	    "\"data\": {}}') RETURNING id", provider);
	*id = atoll(v);
	free(v);
	event = value("SELECT event_id FROM deliveries WHERE id = %lld", *id);
	return (event);
}

/*
 * The HTTP pool's only connection waits on a lock for as long as the
 * test holds it. Meanwhile a delivery is woken by NOTIFY, sent, and
 * recorded, on the dispatcher's own connection; once recorded it is
 * never claimed again, so it is sent exactly once.
 */
static void
test_dispatcher_records_while_requests_hold_the_pool(void **state)
{
	struct th_response	 r;
	PGconn			*lock;
	long long		 prov, id;
	char			*event, *u, *v;
	int			 fd;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	/*
	 * A long statement_timeout keeps the request waiting; the slow poll
	 * leaves the wake-up to NOTIFY, on the LISTEN connection.
	 */
	daemon_start(&d, "  pool_size: 1\n  statement_timeout: 120s\n",
	    "webhooks:\n  allow_private_targets: true\n"
	    "  poll_interval: 60s\n  lease: 30s\n  timeout: 5s\n");
	assert_int_equal(daemon_wait_ready(&d), 0);
	prov = provider_new(&rv);

	lock = lock_take(superdb, "LOCK TABLE schema_migrations IN ACCESS "
	    "EXCLUSIVE MODE");
	fd = port_connect(d.port, 5000);
	assert_true(fd != -1);
	send_get(fd, "/readyz");
	/* The request now holds the HTTP pool's one connection. */
	assert_int_equal(th_pg_wait(db, "SELECT count(*) FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock'", "1", 20000), 0);

	event = delivery_new(prov, &id);
	assert_int_equal(th_receiver_wait(&rv, event, 1, 20000), 0);
	v = xprintf("SELECT status FROM deliveries WHERE id = %lld", id);
	assert_int_equal(th_pg_wait(db, v, "delivered", 20000), 0);
	free(v);

	/* All of it while the request still waited, the LISTEN up. */
	assert_false(answered(fd));
	u = xprintf("%s/metrics", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	free(u);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "careline_db_pool_busy 1\n"));
	assert_non_null(strstr(r.body, "careline_db_listen_connected 1\n"));
	assert_non_null(strstr(r.body,
	    "careline_db_dispatcher_pool_connected 2\n"));
	th_response_free(&r);

	lock_release(lock);
	assert_int_equal(read_status(fd, 20000), 200);
	close(fd);

	v = value("SELECT attempts FROM deliveries WHERE id = %lld", id);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(th_receiver_count(&rv, event), 1);
	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	assert_int_equal(th_file_count(d.log, "recording results failed"), 0);
	free(event);
	th_daemon_cleanup(&d);
	th_receiver_stop(&rv);
}

/*
 * A request sent the moment the port takes a connection is served, not
 * refused: the socket is bound at start but accepted from only once
 * every connection is up. The warm-up query on each new connection reads
 * spatial_ref_sys, so a lock on it holds the pools back from being
 * usable for as long as the test wants.
 */
static void
test_first_request_is_served(void **state)
{
	struct th_response	 r;
	PGconn			*lock;
	char			*u;
	int			 fd;

	(void)state;
	lock = lock_take(superdb, "LOCK TABLE spatial_ref_sys IN ACCESS "
	    "EXCLUSIVE MODE");
	daemon_start(&d, "  pool_size: 3\n  dispatcher_connections: 2\n"
	    "  connect_timeout: 60s\n", NULL);
	fd = port_connect(d.port, 20000);
	assert_true(fd != -1);
	send_get(fd, "/readyz");
	/* Warm-ups are stuck on the lock: nothing can be served yet. */
	assert_int_equal(th_pg_wait(superdb, "SELECT count(*) >= 1 FROM "
	    "pg_stat_activity WHERE application_name = 'carelined' AND "
	    "wait_event_type = 'Lock'", "t", 20000), 0);
	lock_release(lock);
	assert_int_equal(read_status(fd, 30000), 200);
	close(fd);

	/* Served at full width: every connection was up (test_metrics). */
	u = xprintf("%s/metrics", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	free(u);
	assert_non_null(strstr(r.body, "careline_db_pool_connected 3\n"));
	assert_non_null(strstr(r.body,
	    "careline_db_dispatcher_pool_connected 2\n"));
	assert_non_null(strstr(r.body, "careline_db_listen_connected 1\n"));
	th_response_free(&r);

	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	/* Each connection named by its pool; the LISTEN one by itself. */
	assert_int_equal(th_file_count(d.log, "database: listen connection "
	    "ready"), 1);
	assert_int_equal(th_file_count(d.log, "database: http connection "), 3);
	assert_int_equal(th_file_count(d.log, "database: dispatcher "
	    "connection "), 2);
	assert_int_equal(th_file_count(d.log, "database: connection "), 0);
	th_daemon_cleanup(&d);
}

/*
 * With the database gone, every request is refused with the same line:
 * 200 of them print a few lines, and summaries count the rest.
 */
static void
test_outage_logs_are_bounded(void **state)
{
	struct th_response	 r;
	char			*u;
	int			 i, shown, nheld;

	(void)state;
	daemon_start(&d, "", NULL);
	assert_int_equal(daemon_wait_ready(&d), 0);
	assert_int_equal(th_cluster_stop(), 0);
	cluster_down = 1;
	u = xprintf("%s/readyz", d.url);
	for (i = 0; i < 200; i++) {
		assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
		assert_int_equal(r.status, 503);
		th_response_free(&r);
	}
	free(u);
	cluster_down = 0;
	assert_int_equal(th_cluster_start(), 0);
	/* Held-back counts are written at exit at the latest. */
	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);

	shown = th_file_count(d.log, "GET /readyz: 503");
	nheld = file_repeats(d.log, "GET /readyz: 503");
	/* One line and one summary per 10 s window, whatever the count. */
	if (shown > 8 || shown + nheld < 200 || nheld == 0) {
		fprintf(stderr, "%d lines shown, %d held back\n", shown, nheld);
		fail();
	}
	th_daemon_cleanup(&d);
}

/*
 * An attempt whose result cannot be recorded (the table is locked and
 * the statement times out) is not "recorded" at shutdown: the drain
 * counts it from the start, and the last word says it was not recorded.
 */
static void
test_shutdown_says_what_was_not_recorded(void **state)
{
	PGconn			*lock;
	long long		 prov, id;
	char			*event;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --hang-rate 1"), 0);
	daemon_start(&d, "  statement_timeout: 500ms\n",
	    "http:\n  shutdown_grace: 3s\n"
	    "webhooks:\n  allow_private_targets: true\n"
	    "  timeout: 2s\n  lease: 30s\n");
	assert_int_equal(daemon_wait_ready(&d), 0);
	prov = provider_new(&rv);
	event = delivery_new(prov, &id);
	/* Sent, and held open by the receiver until it times out. */
	assert_int_equal(th_receiver_wait(&rv, event, 1, 20000), 0);
	lock = lock_take(db, "LOCK TABLE deliveries IN EXCLUSIVE MODE");
	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 20000), 0);
	lock_release(lock);

	assert_int_equal(th_file_count(d.log, "draining 0 requests and 1 "
	    "webhook attempts"), 1);
	assert_int_equal(th_file_count(d.log, "all webhook attempts recorded"),
	    0);
	assert_int_equal(th_file_count(d.log, "0 requests still open and 1 "
	    "webhook attempts not recorded"), 1);
	free(event);
	th_daemon_cleanup(&d);
	th_receiver_stop(&rv);
}

/* A dead letter is news for the sysadmin: a warning, not info. */
static void
test_dead_letter_is_a_warning(void **state)
{
	long long		 prov, id;
	char			*event, *v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --status 400"), 0);
	daemon_start(&d, "", "webhooks:\n  allow_private_targets: true\n");
	assert_int_equal(daemon_wait_ready(&d), 0);
	prov = provider_new(&rv);
	event = delivery_new(prov, &id);
	v = xprintf("SELECT status FROM deliveries WHERE id = %lld", id);
	assert_int_equal(th_pg_wait(db, v, "dead", 20000), 0);
	free(v);
	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	v = xprintf("warn  webhook %s (call.pool_test)", event);
	assert_int_equal(th_file_count(d.log, v), 1);
	free(v);
	free(event);
	th_daemon_cleanup(&d);
	th_receiver_stop(&rv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_dispatcher_records_while_requests_hold_the_pool, teardown),
		cmocka_unit_test_teardown(test_first_request_is_served,
		    teardown),
		cmocka_unit_test_teardown(test_outage_logs_are_bounded,
		    teardown),
		cmocka_unit_test_teardown(test_shutdown_says_what_was_not_recorded,
		    teardown),
		cmocka_unit_test_teardown(test_dead_letter_is_a_warning,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
