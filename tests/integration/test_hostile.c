/*
 * Clients that do not play fair, against a real carelined over real
 * sockets: HEAD on a kept-alive connection, methods and lengths evhttp
 * would answer in HTML or not at all, query strings that lie, /metrics
 * from afar, and bodies sent to actions that take none. Framing is
 * checked on raw sockets, where a client library would hide it. Clients
 * that are slow or too many: test_hostile_slow.c.
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

#include "harness_raw.h"
#include "xmalloc.h"

static char		*db;
static char		*admin, *oper;
static struct th_daemon	 d;		/* on 0.0.0.0, short deadlines */

static int
group_setup(void **state)
{
	(void)state;
	if (th_group_up("hostile", &db, &admin, &oper, &d) != 0)
		return (-1);
	return (hostile_start(&d, db, "0.0.0.0", 0, NULL, HOSTILE_YAML));
}

static void
raw_open(struct raw *c)
{
	raw_open_to(c, "127.0.0.1", d.port);
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
		cmocka_unit_test(test_chunked_body_over_limit_is_json_413),
		cmocka_unit_test(test_bad_heads_are_json_errors),
		cmocka_unit_test(test_static_paths_answer_405_to_other_methods),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
