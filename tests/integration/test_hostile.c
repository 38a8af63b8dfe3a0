/*
 * Clients that do not play fair, against a real carelined over real
 * sockets: descriptor exhaustion, heads and bodies that trickle in, HEAD
 * on a kept-alive connection, methods and lengths evhttp would answer in
 * HTML or not at all, query strings that lie, /metrics from afar, and
 * bodies sent to actions that take none. Framing is checked on raw
 * sockets, where a client library would hide it.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define METRICS_TOKEN	"metrics-test-token-5b1e"
#define HEAD_TIMEOUT_MS	1000
#define BODY_TIMEOUT_MS	2000
/* Far below http.timeout (60 s): a close before it is the deadline's. */
#define CUT_WITHIN_MS	15000
#define LOW_NOFILE	64
#define FLOOD		200

static char		*db;
static char		*admin, *oper;
static struct th_daemon	 d;		/* on 0.0.0.0, short deadlines */

/*
 * carelined on its own config, started here rather than by the harness
 * so it may listen on every address and run under a descriptor limit.
 */
static int
start_daemon_www(struct th_daemon *dd, const char *address, rlim_t nofile,
    const char *www, const char *extra)
{
	struct rlimit	 rl;
	FILE		*f;
	char		*u;
	int		 fd, rc;

	memset(dd, 0, sizeof *dd);
	dd->port = th_free_port();
	dd->config = xprintf("%s/carelined-hostile-%d-%d.yaml", th_tmp(),
	    (int)getpid(), dd->port);
	dd->log = xprintf("%s.log", dd->config);
	snprintf(dd->url, sizeof dd->url, "http://127.0.0.1:%d", dd->port);
	if ((f = fopen(dd->config, "w")) == NULL)
		return (-1);
	fprintf(f, "listen:\n  address: %s\n  port: %d\n"
	    "database:\n  url: \"%s\"\n  pool_size: 2\n"
	    "log:\n  level: info\n"
	    "paths:\n  sql_dir: %s/sql\n"
	    "static:\n  dir: %s\n%s",
	    address, dd->port, db, th_root(), www, extra);
	fclose(f);
	if ((dd->pid = fork()) == 0) {
		fd = open(dd->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
		/* Only what carelined opens itself counts against the limit. */
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (nofile > 0) {
			rl.rlim_cur = rl.rlim_max = nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		unsetenv("NOTIFY_SOCKET");
		execl(th_bin(), th_bin(), "-c", dd->config, (char *)NULL);
		_exit(127);
	}
	u = xprintf("%s/readyz", dd->url);
	rc = th_wait_status(u, 200, 15000);
	free(u);
	return (rc);
}

static int
start_daemon(struct th_daemon *dd, const char *address, rlim_t nofile,
    const char *extra)
{
	char	*www = xprintf("%s/client/www", th_root());
	int	 rc;

	rc = start_daemon_www(dd, address, nofile, www, extra);
	free(www);
	return (rc);
}

static int
group_setup(void **state)
{
	(void)state;
	th_init();
	db = th_db_create("t_hostile");
	if (th_migrate(db, NULL) != 0)
		return (-1);
	admin = th_token(db, "admin", "hostile-admin");
	oper = th_token(db, "operator", "hostile-operator");
	return (start_daemon(&d, "0.0.0.0", 0,
	    "http:\n  timeout: 60s\n  head_timeout: 1s\n  body_timeout: 2s\n"
	    "metrics:\n  token: \"" METRICS_TOKEN "\"\n"));
}

static int
group_teardown(void **state)
{
	(void)state;
	if (th_daemon_signal_wait(&d, SIGTERM, 10000) != 0)
		fprintf(stderr, "carelined did not exit 0 on SIGTERM\n");
	th_daemon_cleanup(&d);
	free(admin);
	free(oper);
	free(db);
	return (0);
}

/* A raw client connection, with what it has read and not yet used. */
struct raw {
	int	fd;
	char	buf[65536];
	size_t	len;
};

struct raw_resp {
	int	status;
	char	head[8192];	/* NUL-terminated */
	char	body[16384];	/* NUL-terminated */
	size_t	blen;
};

static void
raw_open_to(struct raw *c, const char *ip, int port)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 10, 0 };

	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof sin),
	    0);
	/* A reply that never comes fails the test instead of hanging it. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void
raw_open(struct raw *c)
{
	raw_open_to(c, "127.0.0.1", d.port);
}

static void
raw_close(struct raw *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int
raw_send(struct raw *c, const char *s)
{
	size_t	n = strlen(s);

	return (send(c->fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1);
}

/* Read more into c->buf: bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t
raw_fill(struct raw *c)
{
	ssize_t	n;

	if (c->len == sizeof c->buf - 1)
		return (-1);
	n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
	return (n);
}

/* The value of a header in a raw head, or NULL (static buffer). */
static const char *
raw_header(const char *head, const char *name)
{
	static char	 v[256];
	const char	*p = head;
	size_t		 n = strlen(name), i;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			for (i = 0; i < sizeof v - 1 && p[i] != '\r' &&
			    p[i] != '\0'; i++)
				v[i] = p[i];
			v[i] = '\0';
			return (v);
		}
	}
	return (NULL);
}

/*
 * Read one response. head_only: the answer to a HEAD, whose length
 * describes a body that is not sent. 0, or -1 if it does not parse as a
 * response at this point of the stream.
 */
static int
raw_response(struct raw *c, int head_only, struct raw_resp *rr)
{
	const char	*cl;
	char		*end;
	size_t		 hlen, blen = 0;
	int		 to_eof = 0;

	memset(rr, 0, sizeof *rr);
	while ((end = strstr(c->buf, "\r\n\r\n")) == NULL) {
		if (raw_fill(c) <= 0)
			return (-1);
	}
	hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof rr->head)
		return (-1);
	memcpy(rr->head, c->buf, hlen);
	rr->head[hlen] = '\0';
	if (sscanf(rr->head, "HTTP/1.%*1d %3d ", &rr->status) != 1)
		return (-1);
	if ((cl = raw_header(rr->head, "Content-Length")) != NULL)
		blen = (size_t)strtoul(cl, NULL, 10);
	else
		to_eof = 1;
	if (head_only || rr->status == 204) {
		blen = 0;
		to_eof = 0;
	}
	while (to_eof ? raw_fill(c) > 0 : c->len < hlen + blen) {
		if (!to_eof && raw_fill(c) <= 0)
			return (-1);
	}
	if (to_eof)
		blen = c->len - hlen;
	if (blen >= sizeof rr->body)
		return (-1);
	memcpy(rr->body, c->buf + hlen, blen);
	rr->body[blen] = '\0';
	rr->blen = blen;
	memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
	c->len -= hlen + blen;
	c->buf[c->len] = '\0';
	return (0);
}

/* The error code of a JSON error body, or "". */
static const char *
raw_error_code(const struct raw_resp *rr)
{
	static char	 code[64];
	json_t		*j = json_loads(rr->body, 0, NULL);

	snprintf(code, sizeof code, "%s", th_err_code(j));
	json_decref(j);
	return (code);
}

/* Send a whole request, read its answer. */
static void
raw_exchange(const char *request, int head_only, struct raw_resp *rr)
{
	struct raw	c;

	raw_open(&c);
	assert_int_equal(raw_send(&c, request), 0);
	assert_int_equal(raw_response(&c, head_only, rr), 0);
	raw_close(&c);
}

static void
test_head_then_get_on_one_connection(void **state)
{
	static const char *const paths[] = { "/healthz", "/", "/nothing" };
	struct raw		 c;
	struct raw_resp		 h, g;
	char			*req;
	json_t			*j;
	size_t			 i;

	(void)state;
	raw_open(&c);
	for (i = 0; i < sizeof paths / sizeof *paths; i++) {
		req = xprintf("HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
		assert_int_equal(raw_send(&c, req), 0);
		free(req);
		assert_int_equal(raw_response(&c, 1, &h), 0);

		/* The GET's answer starts where the HEAD's headers end. */
		assert_int_equal(raw_send(&c, "GET /healthz HTTP/1.1\r\n"
		    "Host: t\r\n\r\n"), 0);
		assert_int_equal(raw_response(&c, 0, &g), 0);
		assert_int_equal(g.status, 200);
		j = json_loads(g.body, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j,
		    "status")), "ok");
		json_decref(j);
	}
	/* A HEAD's length is the GET's. */
	assert_int_equal(raw_send(&c, "HEAD /healthz HTTP/1.1\r\n"
	    "Host: t\r\n\r\n"), 0);
	assert_int_equal(raw_response(&c, 1, &h), 0);
	assert_int_equal(h.status, 200);
	assert_non_null(raw_header(h.head, "Content-Length"));
	assert_int_equal(atoi(raw_header(h.head, "Content-Length")),
	    (int)g.blen);
	/* Nothing more was sent after the HEAD's headers. */
	assert_int_equal(raw_send(&c, "GET /healthz HTTP/1.1\r\n"
	    "Host: t\r\n\r\n"), 0);
	assert_int_equal(raw_response(&c, 0, &g), 0);
	assert_int_equal(g.status, 200);
	raw_close(&c);
}

static void
test_pipelined_requests_answered_in_order(void **state)
{
	struct raw	c;
	struct raw_resp	rr;

	(void)state;
	raw_open(&c);
	assert_int_equal(raw_send(&c,
	    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 200);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 404);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 200);
	raw_close(&c);
}

static void
test_unknown_method_is_json_405_with_allow(void **state)
{
	struct raw_resp	rr;

	(void)state;
	raw_exchange("BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 0, &rr);
	assert_int_equal(rr.status, 405);
	assert_non_null(raw_header(rr.head, "Allow"));
	assert_string_equal(raw_header(rr.head, "Allow"), "GET, HEAD");
	assert_non_null(strstr(raw_header(rr.head, "Content-Type"),
	    "application/json"));
	assert_string_equal(raw_error_code(&rr), "method_not_allowed");

	raw_exchange("PUT /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &rr);
	assert_int_equal(rr.status, 405);
	assert_string_equal(raw_header(rr.head, "Allow"), "GET, HEAD, POST");
	assert_string_equal(raw_error_code(&rr), "method_not_allowed");

	raw_exchange("TRACE /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 0, &rr);
	assert_int_equal(rr.status, 405);
	assert_string_equal(raw_error_code(&rr), "method_not_allowed");

	/* The event stream never ends: it offers no HEAD. */
	raw_exchange("HEAD /v1/events HTTP/1.1\r\nHost: t\r\n\r\n", 1, &rr);
	assert_int_equal(rr.status, 405);
	assert_string_equal(raw_header(rr.head, "Allow"), "GET");
}

static void
test_bad_content_length_is_json_error(void **state)
{
	static const struct {
		const char	*value;
		int		 status;
		const char	*code;
	} cases[] = {
		{ "99999999999999999999999", 413, "body_too_large" },
		{ "1000000000000", 413, "body_too_large" },
		{ "12abc", 400, "bad_request" },
		{ "-5", 400, "bad_request" },
	};
	struct raw_resp	 rr;
	char		*req;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		req = xprintf("POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
		    "Content-Type: application/json\r\nContent-Length: %s\r\n"
		    "\r\n", cases[i].value);
		raw_exchange(req, 0, &rr);
		free(req);
		assert_int_equal(rr.status, cases[i].status);
		assert_string_equal(raw_error_code(&rr), cases[i].code);
	}
}

/*
 * A body far over the limit, sent whole: it is read and dropped, then a
 * JSON 413 (evhttp answered in HTML; closing at once reset the sender).
 */
static void
test_large_body_is_read_then_refused_in_json(void **state)
{
	struct raw	 c;
	struct raw_resp	 rr;
	size_t		 n = 1024 * 1024, sent = 0;
	ssize_t		 w;
	char		*body, *req;

	(void)state;
	body = xmalloc(n);
	memset(body, 'x', n);
	raw_open(&c);
	req = xprintf("POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    n);
	assert_int_equal(raw_send(&c, req), 0);
	free(req);
	while (sent < n) {
		w = send(c.fd, body + sent, n - sent, MSG_NOSIGNAL);
		assert_true(w > 0);
		sent += (size_t)w;
	}
	free(body);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 413);
	assert_string_equal(raw_error_code(&rr), "body_too_large");
	raw_close(&c);
}

/*
 * evhttp reads no body after HEAD, TRACE or an unknown method: one sent
 * would be read as the next request. It is refused instead.
 */
static void
test_body_where_none_is_read_is_refused(void **state)
{
	static const char *const heads[] = {
		"BREW /readyz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
		    "hello",
		"HEAD /readyz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
		    "hello",
		"HEAD /readyz HTTP/1.1\r\nHost: t\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	};
	struct raw	 c;
	struct raw_resp	 rr;
	char		*req;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof heads / sizeof *heads; i++) {
		raw_open(&c);
		req = xprintf("%sGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
		    heads[i]);
		assert_int_equal(raw_send(&c, req), 0);
		free(req);
		assert_int_equal(raw_response(&c, 0, &rr), 0);
		assert_int_equal(rr.status, 400);
		assert_string_equal(raw_error_code(&rr), "bad_request");
		/* And nothing after: the body was not taken for a request. */
		assert_int_equal(raw_fill(&c), 0);
		raw_close(&c);
	}
	/* With no body, the same methods are answered and the next too. */
	raw_open(&c);
	assert_int_equal(raw_send(&c, "HEAD /readyz HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"),
	    0);
	assert_int_equal(raw_response(&c, 1, &rr), 0);
	assert_int_equal(rr.status, 200);
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 200);
	assert_string_equal(rr.body, "{\"status\":\"ok\"}");
	raw_close(&c);
}

static void
test_query_nul_and_repeated_parameter_refused(void **state)
{
	json_t	*j;

	(void)state;
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls?limit=5",
	    NULL, &j), 200);
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls?limit=5%00x",
	    NULL, &j), 400);
	assert_string_equal(th_err_code(j), "bad_query");
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/calls?status=open&status=closed", NULL, &j), 400);
	assert_string_equal(th_err_code(j), "duplicate_parameter");
	assert_string_equal(th_err_field(j), "status");
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/calls?limit=5&limit=500", NULL, &j), 400);
	assert_string_equal(th_err_code(j), "duplicate_parameter");
	json_decref(j);
}

/* This machine's first IPv4 address that is not loopback, or NULL. */
static const char *
own_address(void)
{
	static char	 ip[INET_ADDRSTRLEN];
	struct ifaddrs	*ifs, *i;
	const char	*found = NULL;

	if (getifaddrs(&ifs) != 0)
		return (NULL);
	for (i = ifs; i != NULL && found == NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		found = inet_ntop(AF_INET, &((struct sockaddr_in *)
		    i->ifa_addr)->sin_addr, ip, sizeof ip);
	}
	freeifaddrs(ifs);
	return (found);
}

static long
metrics_from(const char *ip, int port, const char *auth, char **body)
{
	struct th_response	 r;
	const char		*h[2] = { auth, NULL };
	char			*u = xprintf("http://%s:%d/metrics", ip, port);
	long			 status;

	assert_int_equal(th_http(&r, "GET", u, NULL, auth != NULL ? h :
	    NULL), 0);
	free(u);
	status = r.status;
	if (body != NULL)
		*body = xstrdup(r.body);
	th_response_free(&r);
	return (status);
}

static void
test_metrics_loopback_or_token(void **state)
{
	const char	*ip = own_address();
	char		*body, *u;

	(void)state;
	assert_int_equal(metrics_from("127.0.0.1", d.port, NULL, &body), 200);
	assert_non_null(strstr(body, "careline_http_requests_total"));
	free(body);
	/* Not a skip: a machine that cannot test the rule says so. */
	if (ip == NULL)
		fail_msg("this machine has no address but loopback: the "
		    "/metrics rule for other clients cannot be tested");
	/* The peer is this address: the kernel picks it as the source. */
	assert_int_equal(metrics_from(ip, d.port, NULL, NULL), 401);
	assert_int_equal(metrics_from(ip, d.port, "Authorization: Bearer "
	    "not-the-token", NULL), 401);
	assert_int_equal(metrics_from(ip, d.port, "Authorization: Bearer "
	    METRICS_TOKEN "x", NULL), 401);
	assert_int_equal(metrics_from(ip, d.port, "Authorization: Bearer "
	    METRICS_TOKEN, &body), 200);
	assert_non_null(strstr(body, "careline_http_connections "));
	free(body);
	/* Other routes do not care where a client is. */
	u = xprintf("http://%s:%d/healthz", ip, d.port);
	assert_int_equal(th_wait_status(u, 200, 1000), 0);
	free(u);
}

static void
test_bodyless_actions_refuse_a_body(void **state)
{
	static const char *const paths[] = {
		"/v1/providers/999999/deactivate",
		"/v1/providers/999999/rotate-secret",
		"/v1/deliveries/999999/retry",
	};
	json_t	*j;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof paths / sizeof *paths; i++) {
		assert_int_equal(th_api(d.url, admin, "POST", paths[i], "{}",
		    &j), 400);
		assert_string_equal(th_err_code(j), "body_not_allowed");
		json_decref(j);
		assert_int_equal(th_api(d.url, admin, "POST", paths[i],
		    "{\"id\": 1}", &j), 400);
		json_decref(j);
		/* Without a body the action runs (and finds no such row). */
		assert_int_equal(th_api(d.url, admin, "POST", paths[i], NULL,
		    &j), 404);
		json_decref(j);
	}
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

	raw_open(&c);
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

/* Lines of a file holding needle. */
static int
count_lines(const char *path, const char *needle)
{
	FILE	*f;
	char	 line[4096];
	int	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return (n);
}

/* Wait until path holds needle, or the daemon died: 0 when it did. */
static int
wait_log(struct th_daemon *dd, const char *needle, int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;

	while (th_now_ms() < deadline) {
		if (count_lines(dd->log, needle) > 0)
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
	assert_int_equal(start_daemon(&low, "0.0.0.0", LOW_NOFILE, ""), 0);
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
	assert_int_equal(count_lines(low.log, paused), 1);
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


/*
 * A chunked body over http.max_body: evhttp refused it, in HTML, only
 * past twice the limit (its own); now the sizes announced are summed as
 * they come, and the JSON 413 comes at the limit, whether the chunks are
 * sent whole first or one announces too much at once. A chunk size that
 * is not a number is a JSON 400.
 */
static void
test_chunked_body_over_limit_is_json_413(void **state)
{
	struct raw	 c;
	struct raw_resp	 rr;
	char		 chunk[16 * 1024 + 16];
	size_t		 i;
	int		 n;

	(void)state;
	/* 13 chunks of 16 KiB (208 KiB, past 2 × 64 KiB), then read. */
	raw_open(&c);
	assert_int_equal(raw_send(&c, "POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 0);
	n = snprintf(chunk, sizeof chunk, "4000\r\n");
	memset(chunk + n, 'x', 16 * 1024);
	memcpy(chunk + n + 16 * 1024, "\r\n", 3);
	for (i = 0; i < 13; i++)
		if (raw_send(&c, chunk) != 0)
			break;		/* refused already: fine */
	(void)raw_send(&c, "0\r\n\r\n");
	assert_int_equal(raw_response(&c, 0, &rr), 0);
	assert_int_equal(rr.status, 413);
	assert_string_equal(raw_error_code(&rr), "body_too_large");
	raw_close(&c);

	/* One chunk announcing 192 KiB. */
	raw_exchange("POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n30000\r\nxxxx", 0, &rr);
	assert_int_equal(rr.status, 413);
	assert_string_equal(raw_error_code(&rr), "body_too_large");

	raw_exchange("POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nzz\r\nxxxx\r\n0\r\n\r\n", 0,
	    &rr);
	assert_int_equal(rr.status, 400);
	assert_string_equal(raw_error_code(&rr), "bad_request");

	/* Within the limit, chunked is read as before. */
	raw_exchange("POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, &rr);
	assert_int_equal(rr.status, 401);	/* no token: it was read */
}

/*
 * Heads evhttp refused in HTML: folded header lines (obs-fold, which
 * RFC 9112 lets a server refuse), a header line without a colon,
 * malformed request lines (400), and a head past http.max_headers (431).
 */
static void
test_bad_heads_are_json_errors(void **state)
{
	static const char *const bad[] = {
		/* A Content-Length continued on the next line. */
		"POST /v1/calls HTTP/1.1\r\nHost: t\r\n"
		    "Content-Type: application/json\r\nContent-Length: 5\r\n"
		    " 0\r\n\r\nhello",
		"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\tc\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n",
		"GET /healthz\r\nHost: t\r\n\r\n",
		"GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n",
		"GET /healthz HTTP/1.1 extra\r\nHost: t\r\n\r\n",
		"\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	struct raw_resp	 rr;
	char		*big, *req;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		raw_exchange(bad[i], 0, &rr);
		if (rr.status != 400 || strcmp(raw_error_code(&rr),
		    "bad_request") != 0)
			fail_msg("case %zu: %d %s", i, rr.status, rr.body);
	}
	/* 20 KiB of header (http.max_headers is 16 KiB), then the line. */
	big = xmalloc(20 * 1024 + 1);
	memset(big, 'a', 20 * 1024);
	big[20 * 1024] = '\0';
	req = xprintf("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n",
	    big);
	raw_exchange(req, 0, &rr);
	free(req);
	assert_int_equal(rr.status, 431);
	assert_string_equal(raw_error_code(&rr), "headers_too_large");
	req = xprintf("GET /healthz?q=%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
	raw_exchange(req, 0, &rr);
	free(req);
	free(big);
	assert_int_equal(rr.status, 431);
	assert_string_equal(raw_error_code(&rr), "headers_too_large");
}

static void
test_static_paths_answer_405_to_other_methods(void **state)
{
	static const char *const reqs[] = {
		"POST /app.js HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
		"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n",
		"PUT /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
	};
	struct raw_resp	rr;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof reqs / sizeof *reqs; i++) {
		raw_exchange(reqs[i], 0, &rr);
		assert_int_equal(rr.status, 405);
		assert_non_null(raw_header(rr.head, "Allow"));
		assert_string_equal(raw_header(rr.head, "Allow"), "GET, HEAD");
		assert_string_equal(raw_error_code(&rr), "method_not_allowed");
	}
	/* What is not a file stays 404. */
	raw_exchange("POST /nothing.js HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &rr);
	assert_int_equal(rr.status, 404);
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
	assert_int_equal(start_daemon_www(&dd, "127.0.0.1", 0, www,
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
		cmocka_unit_test(test_head_then_get_on_one_connection),
		cmocka_unit_test(test_pipelined_requests_answered_in_order),
		cmocka_unit_test(test_unknown_method_is_json_405_with_allow),
		cmocka_unit_test(test_bad_content_length_is_json_error),
		cmocka_unit_test(test_large_body_is_read_then_refused_in_json),
		cmocka_unit_test(test_body_where_none_is_read_is_refused),
		cmocka_unit_test(test_query_nul_and_repeated_parameter_refused),
		cmocka_unit_test(test_metrics_loopback_or_token),
		cmocka_unit_test(test_bodyless_actions_refuse_a_body),
		cmocka_unit_test(test_trickled_head_is_cut_at_its_deadline),
		cmocka_unit_test(test_trickled_body_is_cut_at_its_deadline),
		cmocka_unit_test(test_descriptor_exhaustion_pauses_accept),
		cmocka_unit_test(test_chunked_body_over_limit_is_json_413),
		cmocka_unit_test(test_bad_heads_are_json_errors),
		cmocka_unit_test(test_static_paths_answer_405_to_other_methods),
		cmocka_unit_test(test_slow_reader_gets_whole_reply_then_408),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
