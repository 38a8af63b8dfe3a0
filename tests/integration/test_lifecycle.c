/*
 * carelined's life with systemd and its database: readiness, drain on
 * SIGTERM, reload on SIGHUP, and riding out a database restart. Real
 * processes, real signals, a real cluster stopped and started.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
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
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define BURST	40	/* requests held in flight across SIGTERM */
#define LATE	10	/* requests sent during the drain */
#define DRAIN_FILE (12 * 1024 * 1024) /* past the kernel's socket buffers */

static char	*db;

static int
group_setup(void **state)
{
	(void)state;
	return (th_group_up("lifecycle", &db, NULL, NULL, NULL));
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

static void
test_ready_then_stopping_on_sigterm_burst(void **state)
{
	struct th_daemon	 d;
	struct th_response	 r;
	CURLM			*multi;
	CURL			*easy[BURST];
	CURLMsg			*msg;
	PGconn			*locker;
	PGresult		*res;
	char			*sock, *u, *note;
	long			 code, deadline;
	int			 fd, i, running, left, ok200 = 0;

	(void)state;
	fd = th_notify_open("lifecycle", &sock);
	assert_int_equal(th_daemon_start_notified(&d, db,
	    "http:\n  shutdown_grace: 20s\n", fd, sock), 0);

	/* Hold every /readyz query on a lock so the burst stays in flight. */
	locker = th_pg(db);
	res = PQexec(locker, "BEGIN; LOCK TABLE schema_migrations IN ACCESS "
	    "EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);

	multi = curl_multi_init();
	u = xprintf("%s/readyz", d.url);
	for (i = 0; i < BURST; i++) {
		easy[i] = curl_easy_init();
		curl_easy_setopt(easy[i], CURLOPT_URL, u);
		curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(easy[i], CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
		curl_multi_add_handle(multi, easy[i]);
	}
	/* Drive them until the daemon holds all of them (+1: /metrics). */
	deadline = th_now_ms() + 10000;
	do {
		curl_multi_perform(multi, &running);
		curl_multi_poll(multi, NULL, 0, 20, NULL);
	} while (th_metric(d.url, "careline_http_requests_in_flight") <
	    BURST + 1 && th_now_ms() < deadline);
	assert_int_equal(th_metric(d.url, "careline_http_requests_in_flight"),
	    BURST + 1);

	kill(d.pid, SIGTERM);
	assert_non_null(note = th_notify_expect(fd, "STOPPING=1", 5000));
	free(note);

	/* Draining: new requests get a 503 with a reason, not a reset. */
	for (i = 0; i < LATE; i++) {
		assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
		assert_int_equal(r.status, 503);
		assert_non_null(strstr(r.body, "shutting_down"));
		assert_non_null(strcasestr(r.headers, "Connection: close"));
		th_response_free(&r);
	}

	/* Let the held requests finish: every one must be answered 200. */
	res = PQexec(locker, "COMMIT");
	PQclear(res);
	PQfinish(locker);
	deadline = th_now_ms() + 15000;
	do {
		curl_multi_perform(multi, &running);
		curl_multi_poll(multi, NULL, 0, 20, NULL);
	} while (running > 0 && th_now_ms() < deadline);
	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		assert_int_equal(msg->data.result, CURLE_OK);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
		    &code);
		assert_int_equal(code, 200);
		ok200++;
	}
	assert_int_equal(ok200, BURST);
	for (i = 0; i < BURST; i++) {
		curl_multi_remove_handle(multi, easy[i]);
		curl_easy_cleanup(easy[i]);
	}
	curl_multi_cleanup(multi);

	assert_int_equal(th_daemon_signal_wait(&d, 0, 10000), 0);
	/* Gone: now the port refuses outright. */
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL),
	    CURLE_COULDNT_CONNECT);
	th_response_free(&r);
	free(u);
	th_daemon_cleanup(&d);
	close(fd);
	unlink(sock);
	free(sock);
}

/*
 * A reply queued before SIGTERM but not yet written is still owed: the
 * drain waits until it has gone out. The client reads nothing until the
 * drain has begun, through a small window, so most of the file is still
 * in the daemon's buffer then (more than the kernel's buffers can hold).
 */
static void
test_drain_writes_queued_reply(void **state)
{
	struct th_daemon	 d;
	struct sockaddr_in	 sin;
	char			*www, *path, *extra, *sock, *note, *req;
	char			 buf[65536], *big, *p;
	long long		 got = 0, want = -1;
	size_t			 headlen = 0;
	ssize_t			 n;
	int			 fd, s, rcv = 4096;
	FILE			*f;

	(void)state;
	www = xprintf("%s/www-drain-%d", th_tmp(), (int)getpid());
	mkdir(www, 0755);
	path = xprintf("%s/big.txt", www);
	big = xmalloc(DRAIN_FILE);
	memset(big, 'x', DRAIN_FILE);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(big, 1, DRAIN_FILE, f), DRAIN_FILE);
	fclose(f);
	free(big);
	extra = xprintf("http:\n  shutdown_grace: 20s\nstatic:\n  dir: %s\n",
	    www);
	fd = th_notify_open("lifecycle", &sock);
	assert_int_equal(th_daemon_start_notified(&d, db, extra, fd, sock), 0);

	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv,
	    sizeof rcv), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)d.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof sin), 0);
	req = xprintf("GET /big.txt HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(write(s, req, strlen(req)), (ssize_t)strlen(req));
	free(req);
	/* The head has come: the whole reply is queued. */
	n = recv(s, buf, 1, 0);
	assert_int_equal(n, 1);

	kill(d.pid, SIGTERM);
	assert_non_null(note = th_notify_expect(fd, "STOPPING=1", 5000));
	free(note);

	/* Now read it all: the head, then every byte it announces. */
	while (want == -1 || got < want) {
		n = recv(s, buf + headlen, sizeof buf - 1 - headlen, 0);
		if (n <= 0)
			break;
		if (want != -1) {
			got += n;
			continue;
		}
		headlen += (size_t)n;
		buf[headlen] = '\0';
		if ((p = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		got = (long long)headlen - (p + 4 - buf);
		assert_non_null(p = strcasestr(buf, "\r\nContent-Length: "));
		want = atoll(p + 18);
		headlen = 0;
	}
	assert_int_equal(want, DRAIN_FILE);
	assert_int_equal(got, DRAIN_FILE);
	close(s);

	assert_int_equal(th_daemon_signal_wait(&d, 0, 10000), 0);
	th_daemon_cleanup(&d);
	unlink(path);
	rmdir(www);
	free(path);
	free(www);
	free(extra);
	close(fd);
	unlink(sock);
	free(sock);
}

static void
test_sigint_exits_zero(void **state)
{
	struct th_daemon	d;

	(void)state;
	assert_int_equal(th_daemon_start(&d, db, NULL, 2, NULL), 0);
	assert_int_equal(th_daemon_signal_wait(&d, SIGINT, 10000), 0);
	assert_true(th_file_contains(d.log, "carelined stopped"));
	th_daemon_cleanup(&d);
}

static void
rewrite_log_level(const char *path, const char *from, const char *to)
{
	FILE	*f;
	char	 buf[8192], *p;
	size_t	 n;

	f = fopen(path, "r");
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, from);
	assert_non_null(p);
	f = fopen(path, "w");
	fwrite(buf, 1, (size_t)(p - buf), f);
	fputs(to, f);
	fputs(p + strlen(from), f);
	fclose(f);
}

static void
test_sighup_reload_and_refusal(void **state)
{
	struct th_daemon	 d;
	char			*u;
	long			 deadline;
	int			 fd;
	char			*sock, *note;

	(void)state;
	fd = th_notify_open("lifecycle", &sock);
	assert_int_equal(th_daemon_start_notified(&d, db, NULL, fd, sock), 0);
	u = xprintf("%s/healthz", d.url);

	/* A valid change takes effect. */
	rewrite_log_level(d.config, "level: info", "level: debug");
	kill(d.pid, SIGHUP);
	assert_non_null(note = th_notify_expect(fd, "RELOADING=1", 5000));
	free(note);
	assert_non_null(note = th_notify_expect(fd, "READY=1", 5000));
	free(note);
	deadline = th_now_ms() + 5000;
	while (!th_file_contains(d.log, "log.level reloaded") &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(th_file_contains(d.log, "log.level reloaded"));

	/* An invalid file is refused and the daemon carries on. */
	rewrite_log_level(d.config, "level: debug", "level: shouty");
	kill(d.pid, SIGHUP);
	assert_non_null(note = th_notify_expect(fd, "READY=1", 5000));
	free(note);
	deadline = th_now_ms() + 5000;
	while (!th_file_contains(d.log, "reload refused") &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(th_file_contains(d.log, "reload refused"));
	assert_true(th_file_contains(d.log, "log.level: must be one of"));
	assert_int_equal(th_wait_status(u, 200, 2000), 0);

	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	th_daemon_cleanup(&d);
	free(u);
	close(fd);
	unlink(sock);
	free(sock);
}

/*
 * The database goes away and comes back: /readyz follows it within
 * seconds, /healthz never wavers, and the same process carries on.
 */
static void
test_readyz_follows_database_restart(void **state)
{
	struct th_daemon	 d;
	char			*ready, *health;
	long			 t0;
	pid_t			 pid;

	(void)state;
	assert_int_equal(th_daemon_start(&d, db, NULL, 2, NULL), 0);
	pid = d.pid;
	ready = xprintf("%s/readyz", d.url);
	health = xprintf("%s/healthz", d.url);

	assert_int_equal(th_cluster_stop(), 0);
	t0 = th_now_ms();
	assert_int_equal(th_wait_status(ready, 503, 2000), 0);
	print_message("readyz 503 after %ld ms\n", th_now_ms() - t0);
	assert_int_equal(th_wait_status(health, 200, 1000), 0);

	assert_int_equal(th_cluster_start(), 0);
	t0 = th_now_ms();
	assert_int_equal(th_wait_status(ready, 200, 5000), 0);
	print_message("readyz 200 after %ld ms\n", th_now_ms() - t0);
	assert_int_equal(d.pid, pid);
	assert_int_equal(kill(pid, 0), 0);
	assert_true(th_metric(d.url, "careline_db_reconnects_total") >= 1);

	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	th_daemon_cleanup(&d);
	free(ready);
	free(health);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_then_stopping_on_sigterm_burst),
		cmocka_unit_test(test_drain_writes_queued_reply),
		cmocka_unit_test(test_sigint_exits_zero),
		cmocka_unit_test(test_sighup_reload_and_refusal),
		cmocka_unit_test(test_readyz_follows_database_restart),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
