/*
 * carelined over real HTTP against a real PostgreSQL: the endpoints every
 * deployment relies on, the CLI, and --migrate.
 */
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

static char		*db;		/* migrated database for this group */
static struct th_daemon	 d;

static int
group_setup(void **state)
{
	(void)state;
	th_init();
	db = th_db_create("t_daemon");
	if (th_migrate(db, NULL) != 0)
		return (-1);
	return (th_daemon_start(&d, db, NULL, 2, NULL));
}

static int
group_teardown(void **state)
{
	(void)state;
	if (th_daemon_signal_wait(&d, SIGTERM, 10000) != 0)
		fprintf(stderr, "carelined did not exit 0 on SIGTERM\n");
	th_daemon_cleanup(&d);
	free(db);
	return (0);
}

static char *
url(const char *path)
{
	return (xprintf("%s%s", d.url, path));
}

/* GET path and expect status; returns the parsed JSON body. */
static json_t *
get_json(const char *method, const char *path, const char *body,
    long status)
{
	struct th_response	 r;
	json_error_t		 err;
	json_t			*j;
	char			*u = url(path);

	assert_int_equal(th_http(&r, method, u, body, NULL), 0);
	free(u);
	assert_int_equal(r.status, status);
	assert_non_null(strcasestr(r.headers,
	    "Content-Type: application/json"));
	j = json_loads(r.body, 0, &err);
	assert_non_null(j);
	th_response_free(&r);
	return (j);
}

static void
assert_error_code(json_t *j, const char *code)
{
	const char	*c = json_string_value(json_object_get(
			    json_object_get(j, "error"), "code"));
	const char	*m = json_string_value(json_object_get(
			    json_object_get(j, "error"), "message"));

	assert_non_null(c);
	assert_string_equal(c, code);
	assert_non_null(m);
	assert_true(strlen(m) > 0);
}

static void
test_healthz(void **state)
{
	json_t	*j;

	(void)state;
	j = get_json("GET", "/healthz", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "ok");
	json_decref(j);
}

static void
test_readyz_reports_schema(void **state)
{
	json_t	*j;
	char	*v;

	(void)state;
	j = get_json("GET", "/readyz", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "ready");
	v = th_pg_value(db, "SELECT max(version) FROM schema_migrations");
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "schema_version")), atoi(v));
	free(v);
	json_decref(j);
}

static void
test_unknown_route_is_json_404(void **state)
{
	json_t	*j;

	(void)state;
	j = get_json("GET", "/v1/nothing-here", NULL, 404);
	assert_error_code(j, "not_found");
	json_decref(j);
	j = get_json("GET", "/healthz/", NULL, 404);
	assert_error_code(j, "not_found");
	json_decref(j);
}

static void
test_wrong_method_is_405(void **state)
{
	json_t	*j;

	(void)state;
	j = get_json("DELETE", "/readyz", NULL, 405);
	assert_error_code(j, "method_not_allowed");
	json_decref(j);
}

static void
test_oversize_body_is_413(void **state)
{
	struct th_response	 r;
	json_t			*j;
	char			*big, *u;
	size_t			 n = 64 * 1024 + 1;

	(void)state;
	/* Just over http.max_body: our own JSON 413. */
	big = xmalloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	j = get_json("POST", "/healthz", big, 413);
	assert_error_code(j, "body_too_large");
	json_decref(j);
	free(big);

	/* Far over: evhttp refuses it before reading; still a 413. */
	n = 1024 * 1024;
	big = xmalloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	u = url("/healthz");
	assert_int_equal(th_http(&r, "POST", u, big, NULL), 0);
	assert_int_equal(r.status, 413);
	th_response_free(&r);
	free(u);
	free(big);
}

static void
test_security_headers(void **state)
{
	struct th_response	 r;
	char			*u = url("/healthz");

	(void)state;
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	assert_non_null(strcasestr(r.headers,
	    "X-Content-Type-Options: nosniff"));
	assert_non_null(strcasestr(r.headers, "Cache-Control: no-store"));
	th_response_free(&r);
	free(u);
}

static void
test_metrics(void **state)
{
	struct th_response	 r;
	char			*u;
	int			 i;

	(void)state;
	/* Three known requests, then look for them by route and status. */
	for (i = 0; i < 3; i++)
		json_decref(get_json("GET", "/healthz", NULL, 200));
	json_decref(get_json("GET", "/nope", NULL, 404));
	u = url("/metrics");
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	free(u);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "Content-Type: text/plain"));
	assert_non_null(strstr(r.body, "# TYPE careline_http_requests_total "
	    "counter"));
	assert_non_null(strstr(r.body, "careline_http_requests_total{method="
	    "\"GET\",route=\"/healthz\",status=\"200\"}"));
	assert_non_null(strstr(r.body, "careline_http_requests_total{method="
	    "\"\",route=\"unmatched\",status=\"404\"}"));
	assert_non_null(strstr(r.body, "careline_http_request_duration_seconds"
	    "_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"}"));
	assert_non_null(strstr(r.body, "careline_db_pool_size 4\n"));
	assert_non_null(strstr(r.body, "careline_db_pool_connected 4\n"));
	assert_non_null(strstr(r.body, "careline_db_pool_waiting 0\n"));
	assert_non_null(strstr(r.body, "careline_db_reconnects_total "));
	th_response_free(&r);
}

static void
test_check_config_cli(void **state)
{
	const char	*argv[4];
	char		*out, *good, *bad;
	FILE		*f;

	(void)state;
	good = xprintf("%s/config/careline.yaml", th_root());
	argv[0] = th_bin();
	argv[1] = "--check-config";
	argv[2] = good;
	argv[3] = NULL;
	assert_int_equal(th_run(&out, argv, NULL), 0);
	assert_non_null(strstr(out, "OK"));
	free(out);

	bad = xprintf("%s/bad-%d.yaml", th_tmp(), (int)getpid());
	f = fopen(bad, "w");
	fputs("listen:\n  address: 127.0.0.1\n  port: 99999\n", f);
	fclose(f);
	argv[2] = bad;
	assert_int_equal(th_run(&out, argv, NULL), 1);
	assert_non_null(strstr(out, ":3: listen.port: must be 1..65535"));
	assert_non_null(strstr(out, bad));
	free(out);
	unlink(bad);
	free(bad);
	free(good);
}

static void
test_migrate_twice_is_noop(void **state)
{
	char	*fresh, *out, *n;

	(void)state;
	fresh = th_db_create("t_migrate");
	assert_int_equal(th_migrate(fresh, &out), 0);
	assert_non_null(strstr(out, "applied schema/0001_"));
	free(out);
	n = th_pg_value(fresh, "SELECT count(*) FROM schema_migrations");
	assert_non_null(n);

	assert_int_equal(th_migrate(fresh, &out), 0);
	assert_null(strstr(out, "applied"));
	assert_non_null(strstr(out, "nothing to apply"));
	free(out);
	{
		char *again = th_pg_value(fresh,
		    "SELECT count(*) FROM schema_migrations");

		assert_string_equal(again, n);
		free(again);
	}
	free(n);
	/* The schema is really there. */
	n = th_pg_value(fresh, "SELECT to_regclass('residents') IS NOT NULL");
	assert_string_equal(n, "t");
	free(n);
	free(fresh);
}

static void
test_unmigrated_database_refused(void **state)
{
	struct th_daemon	 u;
	char			*fresh;

	(void)state;
	fresh = th_db_create("t_unmigrated");
	assert_int_equal(th_daemon_start(&u, fresh, NULL, 0, NULL), 0);
	assert_int_equal(th_daemon_signal_wait(&u, 0, 10000), 1);
	assert_true(th_file_contains(u.log, "--migrate"));
	assert_true(th_file_contains(u.log, "schema is at version 0"));
	th_daemon_cleanup(&u);
	free(fresh);
}

static void
test_bad_config_refuses_to_start(void **state)
{
	struct th_daemon	 u;

	(void)state;
	assert_int_equal(th_daemon_start(&u, db, "offers:\n  strategy: "
	    "random\n", 0, NULL), 0);
	assert_int_equal(th_daemon_signal_wait(&u, 0, 10000), 1);
	assert_true(th_file_contains(u.log, "offers.strategy: must be one of: "
	    "cascade, broadcast"));
	th_daemon_cleanup(&u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_readyz_reports_schema),
		cmocka_unit_test(test_unknown_route_is_json_404),
		cmocka_unit_test(test_wrong_method_is_405),
		cmocka_unit_test(test_oversize_body_is_413),
		cmocka_unit_test(test_security_headers),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_check_config_cli),
		cmocka_unit_test(test_migrate_twice_is_noop),
		cmocka_unit_test(test_unmigrated_database_refused),
		cmocka_unit_test(test_bad_config_refuses_to_start),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
