/*
 * GET /v1/config: the public part of the running configuration, for any
 * signed-in operator; it follows a reload (SIGHUP), never shows a secret,
 * and its service list is the database's (careline_services()).
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

static char	*db;

static int
group_setup(void **state)
{
	(void)state;
	db = th_db_ready("t_config");
	return (db != NULL ? 0 : -1);
}

static int
group_teardown(void **state)
{
	(void)state;
	free(db);
	return (0);
}

static void
replace_in_file(const char *path, const char *from, const char *to)
{
	FILE	*f;
	char	 buf[8192], *p;
	size_t	 n;

	assert_non_null(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_non_null(p = strstr(buf, from));
	assert_non_null(f = fopen(path, "w"));
	fwrite(buf, 1, (size_t)(p - buf), f);
	fputs(to, f);
	fputs(p + strlen(from), f);
	assert_int_equal(fclose(f), 0);
}

static double
num(json_t *j, const char *path)
{
	char	*copy = xstrdup(path), *key, *rest = copy;

	while ((key = strsep(&rest, ".")) != NULL)
		j = json_object_get(j, key);
	free(copy);
	assert_true(json_is_number(j));
	return (json_number_value(j));
}

static void
test_config_follows_reload(void **state)
{
	struct th_daemon	 d;
	json_t			*j = NULL;
	char			*oper, *admin, *text, *sql, *secret;
	long			 deadline;

	(void)state;
	secret = "metrics-secret-not-for-the-console";
	sql = xprintf("matching:\n  max_minutes: 15\n  detour_factor: 1.3\n"
	    "  speed_kmh:\n    walk: 4\n    car: 25\n"
	    "offers:\n  timeout: 90s\n"
	    "metrics:\n  token: %s\n", secret);
	assert_int_equal(th_daemon_start(&d, db, sql, 2, NULL), 0);
	free(sql);
	oper = th_token(db, "operator", "config operator");
	admin = th_token(db, "admin", "config admin");

	/* Signed in only. */
	assert_int_equal(th_api(d.url, NULL, "GET", "/v1/config", NULL, &j),
	    401);
	json_decref(j);

	assert_int_equal(th_api(d.url, oper, "GET", "/v1/config", NULL, &j),
	    200);
	assert_true(num(j, "matching.max_minutes") == 15);
	assert_true(num(j, "matching.detour_factor") == 1.3);
	assert_true(num(j, "matching.speed_kmh.walk") == 4);
	assert_true(num(j, "matching.speed_kmh.car") == 25);
	assert_true(num(j, "matching.speed_kmh.wheelchair") == 2.5);
	assert_true(num(j, "matching.max_candidates") == 5);
	assert_true(num(j, "offers.timeout_ms") == 90000);
	assert_true(num(j, "lists.max_limit") == 200);
	assert_true(num(j, "lists.default_limit") == 50);
	assert_string_equal(json_string_value(json_object_get(j, "timezone")),
	    "Asia/Shanghai");
	/* The services are the database's, in its order. */
	text = json_dumps(json_object_get(j, "services"), JSON_COMPACT);
	sql = th_val(db, "SELECT array_to_json(careline_services())::text");
	assert_string_equal(text, sql);
	free(sql);
	free(text);
	/* Nothing secret: no token, database or webhook settings. */
	text = json_dumps(j, JSON_COMPACT);
	assert_null(strstr(text, secret));
	assert_null(strstr(text, "host="));
	assert_null(strstr(text, "public_url"));
	assert_null(strstr(text, "database"));
	free(text);
	json_decref(j);

	/* The list limit it names is the one the lists enforce. */
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls?limit=200",
	    NULL, &j), 200);
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls?limit=201",
	    NULL, &j), 400);
	assert_string_equal(th_err_field(j), "limit");
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "GET", "/v1/providers?limit=201",
	    NULL, &j), 400);
	assert_string_equal(th_err_field(j), "limit");
	json_decref(j);

	/* A reload changes what it answers. */
	replace_in_file(d.config, "max_minutes: 15", "max_minutes: 20");
	replace_in_file(d.config, "walk: 4", "walk: 5");
	replace_in_file(d.config, "timeout: 90s", "timeout: 45s");
	kill(d.pid, SIGHUP);
	deadline = th_now_ms() + 5000;
	while (!th_file_contains(d.log, "offers.timeout reloaded") &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(th_file_contains(d.log, "matching.max_minutes reloaded"));
	assert_true(th_file_contains(d.log, "offers.timeout reloaded"));
	assert_int_equal(th_api(d.url, admin, "GET", "/v1/config", NULL, &j),
	    200);
	assert_true(num(j, "matching.max_minutes") == 20);
	assert_true(num(j, "matching.speed_kmh.walk") == 5);
	assert_true(num(j, "matching.speed_kmh.car") == 25);
	assert_true(num(j, "offers.timeout_ms") == 45000);
	json_decref(j);

	assert_int_equal(th_daemon_signal_wait(&d, SIGTERM, 10000), 0);
	th_daemon_cleanup(&d);
	free(oper);
	free(admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_follows_reload),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
