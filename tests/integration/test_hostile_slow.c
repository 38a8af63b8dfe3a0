/*
 * Clients that are slow or too many, against a real carelined over raw
 * sockets: heads and bodies that trickle in past their deadlines, a
 * flood that exhausts the daemon's descriptors, and a pipelining client
 * that reads slowly. The fast-but-wrong ones: test_hostile.c.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness_raw.h"
#include "xmalloc.h"

/* Far below http.timeout (60 s): a close before it is the deadline's. */
#define CUT_WITHIN_MS	15000
#define LOW_NOFILE	64
#define FLOOD		200

static char		*db, *oper;
static struct th_daemon	 d;		/* on 0.0.0.0, short deadlines */

static int
group_setup(void **state)
{
	(void)state;
	if (th_group_up("hostile_slow", &db, NULL, &oper, &d) != 0)
		return (-1);
	return (hostile_start(&d, db, "0.0.0.0", 0, NULL, HOSTILE_YAML));
}

/*
 * Send one byte of filler every 100 ms, after prefix, until carelined
 * closes the connection; meanwhile a normal client is served. Returns how
 * long it took, and what carelined said last in rr.
 */
static long
trickle_until_closed(const char *prefix, struct raw_resp *rr)
{
	struct raw	 c;
	struct pollfd	 pfd;
	long		 start, now;
	int		 served = 0;
	ssize_t		 n;
	char		*u;

	raw_open_to(&c, "127.0.0.1", d.port);
	start = th_now_ms();
	assert_int_equal(raw_send(&c, prefix), 0);
	for (;;) {
		now = th_now_ms();
		if (now - start > CUT_WITHIN_MS)
			break;
		if (!served && now - start > HEAD_TIMEOUT_MS / 2) {
			/* The trickle holds nobody else up. */
			u = xprintf("%s/healthz", d.url);
			assert_int_equal(th_wait_status(u, 200, 2000), 0);
			free(u);
			served = 1;
		}
		if (raw_send(&c, "a") != 0)
			break;		/* reset: closed */
		pfd.fd = c.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) == 1) {
			while ((n = raw_fill(&c)) > 0)
				;
			if (n == 0 || errno == ECONNRESET)
				break;
		}
	}
	now = th_now_ms();
	memset(rr, 0, sizeof *rr);
	if (c.len > 0)
		(void)raw_response(&c, 0, rr);
	raw_close(&c);
	assert_true(served);
	return (now - start);
}

static void
test_trickled_head_is_cut_at_its_deadline(void **state)
{
	struct raw_resp	rr;
	long		ms;

	(void)state;
	ms = trickle_until_closed("GET /healthz HTTP/1.1\r\nHost: t\r\n"
	    "X-Slow: ", &rr);
	assert_true(ms < CUT_WITHIN_MS);
	/* Not before it either (the loop's clock may run a little early). */
	assert_true(ms >= HEAD_TIMEOUT_MS / 2);
	assert_int_equal(rr.status, 408);
	assert_string_equal(raw_error_code(&rr), "request_timeout");
}

static void
test_trickled_body_is_cut_at_its_deadline(void **state)
{
	struct raw_resp	rr;
	long		ms;

	(void)state;
	ms = trickle_until_closed("POST /v1/session HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n",
	    &rr);
	assert_true(ms < CUT_WITHIN_MS);
	assert_true(ms >= BODY_TIMEOUT_MS / 2);
	assert_int_equal(rr.status, 408);
}

/* Wait until path holds needle, or the daemon died: 0 when it did. */
static int
wait_log(struct th_daemon *dd, const char *needle, int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;

	while (th_now_ms() < deadline) {
		if (th_file_count(dd->log, needle) > 0)
			return (0);
		if (waitpid(dd->pid, NULL, WNOHANG) == dd->pid) {
			dd->pid = 0;
			return (-1);
		}
		usleep(20000);
	}
	return (-1);
}

static void
test_descriptor_exhaustion_pauses_accept(void **state)
{
	static const char	 paused[] = "not accepting until descriptors";
	struct th_daemon	 low;
	struct sockaddr_in	 sin;
	int			 fds[FLOOD], i, opened = 0;
	const char		*ip = own_address();
	char			*u, *body;

	(void)state;
	assert_int_equal(hostile_start(&low, db, "0.0.0.0", LOW_NOFILE,
	    NULL, ""), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(low.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fds[i] >= 0);
		if (connect(fds[i], (struct sockaddr *)&sin, sizeof sin) == 0 ||
		    errno == EINPROGRESS)
			opened++;
	}
	assert_true(opened > LOW_NOFILE);
	/* Before the fix carelined died here, in its listener's error cb. */
	assert_int_equal(wait_log(&low, paused, 10000), 0);
	for (i = 0; i < FLOOD; i++)
		close(fds[i]);

	/* It carries on once the flood has gone. */
	u = xprintf("%s/healthz", low.url);
	assert_int_equal(th_wait_status(u, 200, 15000), 0);
	free(u);
	assert_int_equal(wait_log(&low, "accepting again", 15000), 0);
	assert_int_equal(th_file_count(low.log, paused), 1);
	assert_int_equal(metrics_from("127.0.0.1", low.port, NULL, &body),
	    200);
	assert_non_null(strstr(body, "careline_http_accept_pauses_total 1\n"));
	free(body);
	/* Without metrics.token, /metrics is for loopback only. */
	if (ip != NULL)
		assert_int_equal(metrics_from(ip, low.port, "Authorization: "
		    "Bearer " METRICS_TOKEN, NULL), 403);
	assert_int_equal(th_daemon_signal_wait(&low, SIGTERM, 10000), 0);
	th_daemon_cleanup(&low);
}

#define BIG_FILE	(12 * 1024 * 1024)

/* careline_http_connections, asked on a kept-alive connection. */
static int
connections_now(struct raw *m)
{
	struct raw_resp	 rr;
	const char	*p;

	assert_int_equal(raw_send(m, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"),
	    0);
	assert_int_equal(raw_response(m, 0, &rr), 0);
	assert_int_equal(rr.status, 200);
	p = strstr(rr.body, "\ncareline_http_connections ");
	assert_non_null(p);
	return (atoi(p + strlen("\ncareline_http_connections ")));
}

static int
wait_connections(struct raw *m, int want)
{
	long	deadline = th_now_ms() + 10000;
	int	n;

	while ((n = connections_now(m)) != want && th_now_ms() < deadline)
		usleep(20000);
	return (n);
}

/*
 * A pipelining client that reads slowly: the next head's deadline starts
 * once the previous reply has been written, and its 408 follows that
 * reply whole. Before, the deadline ran while a 12 MiB file was still
 * queued, and the 408 was written past it and the connection closed.
 * (12 MiB: more than the socket buffers of both ends hold unread.)
 * The same daemon counts an open event stream as a connection.
 */
static void
test_slow_reader_gets_whole_reply_then_408(void **state)
{
	struct th_daemon	 dd;
	struct raw		 c, m, s;
	struct raw_resp		 rr;
	const char		*cl;
	char			*www, *path, *hdr, *end, *req;
	size_t			 hlen, got = 0, i, bad = 0;
	FILE			*f;
	int			 base;

	(void)state;
	www = xprintf("%s/www-big-%d", th_tmp(), (int)getpid());
	assert_int_equal(mkdir(www, 0755), 0);
	path = xprintf("%s/big.js", www);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < BIG_FILE; i++)
		fputc('x', f);
	fclose(f);
	free(path);
	assert_int_equal(hostile_start(&dd, db, "127.0.0.1", 0, www,
	    "http:\n  timeout: 60s\n  head_timeout: 1s\n"), 0);
	free(www);

	raw_open_to(&c, "127.0.0.1", dd.port);
	assert_int_equal(raw_send(&c, "GET /big.js HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: "), 0);
	/* Not reading, past the head's deadline. */
	usleep(2 * HEAD_TIMEOUT_MS * 1000 + 500000);
	while ((end = strstr(c.buf, "\r\n\r\n")) == NULL)
		assert_true(raw_fill(&c) > 0);
	hlen = (size_t)(end - c.buf) + 4;
	hdr = xmalloc(hlen + 1);
	memcpy(hdr, c.buf, hlen);
	hdr[hlen] = '\0';
	assert_int_equal(strncmp(hdr, "HTTP/1.1 200", 12), 0);
	assert_non_null(cl = raw_header(hdr, "Content-Length"));
	assert_int_equal(atol(cl), BIG_FILE);
	free(hdr);
	memmove(c.buf, c.buf + hlen, c.len - hlen);
	c.len -= hlen;
	for (;;) {
		for (i = 0; i < c.len && got < BIG_FILE; i++, got++)
			bad += c.buf[i] != 'x';
		memmove(c.buf, c.buf + i, c.len - i);
		c.len -= i;
		c.buf[c.len] = '\0';
		if (got == BIG_FILE)
			break;
		if (raw_fill(&c) <= 0)
			break;
	}
	assert_int_equal(got, BIG_FILE);
	assert_int_equal(bad, 0);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 408);
	assert_string_equal(raw_error_code(&rr), "request_timeout");
	raw_close(&c);

	/* An event stream is a connection until it closes. */
	raw_open_to(&m, "127.0.0.1", dd.port);
	base = wait_connections(&m, 1);
	assert_int_equal(base, 1);
	raw_open_to(&s, "127.0.0.1", dd.port);
	req = xprintf("GET /v1/events HTTP/1.1\r\nHost: t\r\n"
	    "Authorization: Bearer %s\r\n\r\n", oper);
	assert_int_equal(raw_send(&s, req), 0);
	free(req);
	while (strstr(s.buf, "\r\n\r\n") == NULL)
		assert_true(raw_fill(&s) > 0);
	assert_int_equal(strncmp(s.buf, "HTTP/1.1 200", 12), 0);
	assert_int_equal(wait_connections(&m, 2), 2);
	raw_close(&s);
	assert_int_equal(wait_connections(&m, 1), 1);
	raw_close(&m);
	assert_int_equal(th_daemon_signal_wait(&dd, SIGTERM, 10000), 0);
	th_daemon_cleanup(&dd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trickled_head_is_cut_at_its_deadline),
		cmocka_unit_test(test_trickled_body_is_cut_at_its_deadline),
		cmocka_unit_test(test_descriptor_exhaustion_pauses_accept),
		cmocka_unit_test(test_slow_reader_gets_whole_reply_then_408),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
