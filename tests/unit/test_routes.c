/*
 * routes_match decides 200 vs 404 vs 405 for every request. Today's table
 * has no "{id}" pattern and routes_parse_id is static, so id parsing is
 * not reachable from here; it gets its tests with the first such route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_router.h"

/* Match, and check a hit fills one id per {id} of its pattern. */
static int
match(enum evhttp_cmd_type method, const char *path)
{
	long long	 ids[ROUTES_MAX_IDS];
	int		 nids = -1, idx, want = 0;
	const char	*p;

	idx = routes_match(method, path, ids, &nids);
	if (idx >= 0) {
		assert_true(idx < nroutes);
		for (p = routes[idx].pattern; (p = strstr(p, "{id}")) != NULL;
		    p += 4)
			want++;
		assert_int_equal(nids, want);
	}
	return (idx);
}

static void
test_healthz_get(void **state)
{
	int	idx;

	(void)state;
	idx = match(EVHTTP_REQ_GET, "/healthz");
	assert_true(idx >= 0);
	assert_string_equal(routes[idx].pattern, "/healthz");
	assert_int_equal(routes[idx].method, EVHTTP_REQ_GET);
	assert_ptr_equal(routes[idx].handler, health_healthz);
	assert_int_equal(routes[idx].auth, ROUTE_PUBLIC);
}

static void
test_head_is_get(void **state)
{
	int	idx;

	(void)state;
	idx = match(EVHTTP_REQ_HEAD, "/healthz");
	assert_true(idx >= 0);
	assert_int_equal(idx, match(EVHTTP_REQ_GET, "/healthz"));
	assert_string_equal(routes[idx].pattern, "/healthz");
}

static void
test_wrong_method(void **state)
{
	(void)state;
	assert_int_equal(match(EVHTTP_REQ_POST, "/healthz"), -2);
	assert_int_equal(match(EVHTTP_REQ_PUT, "/healthz"), -2);
	assert_int_equal(match(EVHTTP_REQ_DELETE, "/readyz"), -2);
	assert_int_equal(match(EVHTTP_REQ_OPTIONS, "/metrics"), -2);
}

static void
test_unknown_path(void **state)
{
	static const char *const paths[] = {
		"/nope", "/", "", "healthz", "/HEALTHZ", "/healthzz",
		"/health", "//healthz", "/healthz/x", "/v1/healthz",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof paths / sizeof *paths; i++) {
		if (match(EVHTTP_REQ_GET, paths[i]) != -1)
			fail_msg("\"%s\" matched", paths[i]);
	}
	/* No path, no 405: the method is only wrong for a known path. */
	assert_int_equal(match(EVHTTP_REQ_POST, "/nope"), -1);
}

static void
test_id_segments(void **state)
{
	long long	ids[ROUTES_MAX_IDS];
	int		nids = 0, idx;

	(void)state;
	idx = routes_match(EVHTTP_REQ_GET, "/v1/calls/12345", ids, &nids);
	assert_true(idx >= 0);
	assert_string_equal(routes[idx].pattern, "/v1/calls/{id}");
	assert_int_equal(nids, 1);
	assert_int_equal(ids[0], 12345);
	idx = routes_match(EVHTTP_REQ_POST, "/v1/calls/7/cancel", ids, &nids);
	assert_true(idx >= 0);
	assert_string_equal(routes[idx].pattern, "/v1/calls/{id}/cancel");
	assert_int_equal(ids[0], 7);
	/* Only positive decimal ids that fit. */
	assert_int_equal(match(EVHTTP_REQ_GET, "/v1/calls/0"), -1);
	assert_int_equal(match(EVHTTP_REQ_GET, "/v1/calls/042"), -1);
	assert_int_equal(match(EVHTTP_REQ_GET, "/v1/calls/-1"), -1);
	assert_int_equal(match(EVHTTP_REQ_GET, "/v1/calls/1x"), -1);
	assert_int_equal(match(EVHTTP_REQ_GET, "/v1/calls/"), -1);
	assert_int_equal(match(EVHTTP_REQ_GET,
	    "/v1/calls/9999999999999999999999"), -1);
	/* A known path with another method is a 405. */
	assert_int_equal(match(EVHTTP_REQ_DELETE, "/v1/calls/5"), -2);
}

static void
test_trailing_slash(void **state)
{
	(void)state;
	assert_int_equal(match(EVHTTP_REQ_GET, "/healthz/"), -1);
	assert_int_equal(match(EVHTTP_REQ_POST, "/healthz/"), -1);
}

static void
test_every_route_matches_itself(void **state)
{
	int	i, idx;

	(void)state;
	assert_true(nroutes >= 3);
	for (i = 0; i < nroutes; i++) {
		char	path[128], *p;

		/* A concrete path: every {id} becomes 42. */
		snprintf(path, sizeof path, "%s", routes[i].pattern);
		while ((p = strstr(path, "{id}")) != NULL)
			memmove(p, "42", 2), memmove(p + 2, p + 4,
			    strlen(p + 4) + 1);
		idx = match(routes[i].method, path);
		assert_int_equal(idx, i);
	}
	assert_string_equal(routes[match(EVHTTP_REQ_GET, "/readyz")].pattern,
	    "/readyz");
	assert_string_equal(routes[match(EVHTTP_REQ_GET, "/metrics")].pattern,
	    "/metrics");
}

static void
test_method_name(void **state)
{
	(void)state;
	assert_string_equal(http_method_name(EVHTTP_REQ_GET), "GET");
	assert_string_equal(http_method_name(EVHTTP_REQ_POST), "POST");
	assert_string_equal(http_method_name(EVHTTP_REQ_PUT), "PUT");
	assert_string_equal(http_method_name(EVHTTP_REQ_PATCH), "PATCH");
	assert_string_equal(http_method_name(EVHTTP_REQ_DELETE), "DELETE");
	assert_string_equal(http_method_name(EVHTTP_REQ_HEAD), "HEAD");
	assert_string_equal(http_method_name(EVHTTP_REQ_OPTIONS), "OPTIONS");
	assert_string_equal(http_method_name(EVHTTP_REQ_TRACE), "OTHER");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz_get),
		cmocka_unit_test(test_head_is_get),
		cmocka_unit_test(test_wrong_method),
		cmocka_unit_test(test_unknown_path),
		cmocka_unit_test(test_trailing_slash),
		cmocka_unit_test(test_id_segments),
		cmocka_unit_test(test_every_route_matches_itself),
		cmocka_unit_test(test_method_name),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
