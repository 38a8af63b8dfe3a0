/*
 * The district's programmes: the report's headline figures reproduced by
 * queries over the seeded tables (JSON and CSV), the time-bank ledger's
 * refusals, companionship calls matched to volunteers and credited on
 * completion, the nearest clinic point, and the resident's estate and
 * WeChat group for the card.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

static char		*db, *oper, *admin;
static struct th_daemon	 d;

static int
group_setup(void **state)
{
	(void)state;
	th_init();
	db = th_db_create("t_programmes");
	if (th_migrate(db, NULL) != 0 ||
	    th_psql_file(db, "sql/demo/seed.sql",
	    "-v receiver_url=http://127.0.0.1:9/hooks") != 0 ||
	    th_psql_file(db, "sql/demo/programmes.sql",
	    "-v receiver_url=http://127.0.0.1:9/hooks") != 0)
		return (-1);
	oper = th_token(db, "operator", "programmes test");
	admin = th_token(db, "admin", "programmes admin");
	return (th_daemon_start(&d, db, "webhooks:\n  allow_private_targets: "
	    "true\n", 2, NULL));
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_stop(&d);
	free(db);
	free(oper);
	free(admin);
	return (0);
}

static json_t *
report(const char *name)
{
	json_t	*j;
	char	*path = xprintf("/v1/reports/%s", name);

	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, &j), 200);
	free(path);
	assert_string_equal(json_string_value(json_object_get(j, "report")),
	    name);
	assert_true(json_is_array(json_object_get(j, "columns")));
	assert_true(json_is_array(json_object_get(j, "rows")));
	return (j);
}

static double
fig(json_t *j, const char *key)
{
	json_t	*v = json_object_get(json_object_get(j, "figures"), key);

	if (v == NULL)
		fprintf(stderr, "no figure %s\n", key);
	assert_non_null(v);
	return (json_number_value(v));
}

/* Each headline figure of the five sections, out of a query. */
static void
test_report_reproduces_the_figures(void **state)
{
	json_t	*j;

	(void)state;
	j = report("social-work");
	assert_int_equal(fig(j, "projects_2017"), 12);
	assert_int_equal(fig(j, "projects_2018"), 19);
	assert_int_equal(fig(j, "institutions"), 11);
	assert_true(fig(j, "funding_total") >= 11000000);
	assert_int_equal(fig(j, "subdistrict_coverage_pct"), 100);
	json_decref(j);

	j = report("elderly-services");
	assert_int_equal(fig(j, "centres"), 6);
	assert_true(fig(j, "daily_visits_avg") >= 500);
	assert_int_equal(fig(j, "policy_documents"), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    j, "figures"), "hotline")), "22222099");
	{
		char *s = json_dumps(json_object_get(json_object_get(j,
		    "figures"), "named_centres"), 0);

		assert_non_null(strstr(s, "湘华"));
		free(s);
	}
	json_decref(j);

	j = report("public-health");
	assert_int_equal(fig(j, "clinic_points"), 193);
	assert_int_equal(fig(j, "estate_coverage_pct"), 100);
	assert_int_equal(fig(j, "visits_2018"), 123500);
	assert_int_equal(fig(j, "visits_growth"), 45391);
	assert_true(fig(j, "growth_pct") > 58.105 &&
	    fig(j, "growth_pct") < 58.115);
	json_decref(j);

	j = report("estates");
	assert_int_equal(fig(j, "autonomy_2017"), 20);
	assert_int_equal(fig(j, "autonomy_2018"), 30);
	assert_int_equal(fig(j, "running_2018"), 16);
	assert_int_equal(fig(j, "upgrading"), 6);
	assert_int_equal(fig(j, "in_progress"), 5);
	assert_int_equal(fig(j, "postponed"), 3);
	json_decref(j);

	j = report("wechat");
	assert_int_equal(fig(j, "groups"), 2100);
	assert_int_equal(fig(j, "people"), 158000);
	assert_int_equal(fig(j, "levels"), 5);
	assert_true(fig(j, "population_share_pct") > 49.05 &&
	    fig(j, "population_share_pct") < 49.15);
	assert_true(fig(j, "followers") >= 24000);
	assert_int_equal(fig(j, "months_top"), 14);
	json_decref(j);

	j = report("timebank");
	json_decref(j);
	j = report("hotline");
	json_decref(j);
}

static void
test_report_as_csv_and_bad_input(void **state)
{
	struct th_response	 r;
	const char		*h[2] = { NULL, NULL };
	char			*auth, *u;
	json_t			*j, *cols;

	(void)state;
	auth = xprintf("Authorization: Bearer %s", oper);
	h[0] = auth;
	u = xprintf("%s/v1/reports/wechat?format=csv", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, h), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "Content-Type: text/csv"));
	/* The header row is the JSON's columns, in order. */
	j = report("wechat");
	cols = json_object_get(j, "columns");
	{
		char	 head[256] = "";
		size_t	 i;
		json_t	*c;

		json_array_foreach(cols, i, c)
			snprintf(head + strlen(head), sizeof head - strlen(head),
			    "%s%s", i > 0 ? "," : "", json_string_value(c));
		assert_int_equal(strncmp(r.body, head, strlen(head)), 0);
	}
	/* One CSV line per row, after the header. */
	{
		size_t	 lines = 0;
		char	*p;

		for (p = r.body; (p = strstr(p, "\r\n")) != NULL; p += 2)
			lines++;
		assert_int_equal(lines, json_array_size(json_object_get(j,
		    "rows")) + 1);
	}
	json_decref(j);
	th_response_free(&r);
	free(u);
	free(auth);

	assert_int_equal(th_api(d.url, oper, "GET", "/v1/reports/nothing",
	    NULL, NULL), 404);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/reports/wechat?"
	    "format=xml", NULL, &j), 400);
	assert_string_equal(th_err_field(j), "format");
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/reports/hotline?"
	    "from=yesterday", NULL, &j), 400);
	assert_string_equal(th_err_field(j), "from");
	json_decref(j);
	assert_int_equal(th_api(d.url, NULL, "GET", "/v1/reports/wechat",
	    NULL, NULL), 401);
}

static void
test_ledger_refusals_change_nothing(void **state)
{
	char	*before, *after, *v, *q;

	(void)state;
	before = th_pg_value(db, "SELECT count(*) || ':' || coalesce(sum("
	    "amount_minutes), 0) FROM timebank_entries");
	/* An entry with no service record behind it. */
	th_expect_val(db, "422", "SELECT careline_timebank_post('test', "
	    "NULL, 'earn', 60)->>'status'");
	th_expect_val(db, "422", "SELECT careline_timebank_post('test', "
	    "999999, 'earn', 60)->>'status'");
	/* A spend past the balance: a service for a resident who has not
	 * banked that many minutes. */
	v = th_pg_value(db, "INSERT INTO volunteer_services (volunteer_id, "
	    "resident_id, kind, minutes, at) SELECT (SELECT id FROM volunteers "
	    "ORDER BY id LIMIT 1), r.id, 'companionship', 60, now() FROM "
	    "residents r WHERE NOT EXISTS (SELECT 1 FROM timebank_accounts a "
	    "WHERE a.resident_id = r.id AND a.balance_minutes >= 60) ORDER BY "
	    "r.id LIMIT 1 RETURNING id");
	assert_non_null(v);
	q = xprintf("SELECT careline_timebank_post('test', %s, 'spend')->"
	    "'body'->'error'->>'code'", v);
	free(v);
	free(before);
	before = th_pg_value(db, "SELECT count(*) || ':' || coalesce(sum("
	    "amount_minutes), 0) FROM timebank_entries");
	v = th_pg_value(db, q);
	assert_non_null(v);
	assert_string_equal(v, "insufficient_balance");
	free(v);
	free(q);
	/* Writing the ledger by hand is refused too. */
	assert_int_not_equal(th_pg_exec(db, "INSERT INTO timebank_entries "
	    "(txn_id, kind, account_id, amount_minutes, actor) SELECT 1, "
	    "'earn', id, 10, 'test' FROM timebank_accounts LIMIT 1"), 0);
	after = th_pg_value(db, "SELECT count(*) || ':' || coalesce(sum("
	    "amount_minutes), 0) FROM timebank_entries");
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_companionship_matched_to_volunteer_and_credited(void **state)
{
	json_t		*j, *c0;
	char		*q, *v, *path, *before, sat[40];
	long long	 call, resident, offer, provider;
	time_t		 local;
	struct tm	 tm;

	(void)state;
	/* A resident with a volunteer in reach. */
	v = th_pg_value(db, "SELECT r.id FROM residents r WHERE EXISTS ("
	    "SELECT 1 FROM providers p WHERE p.volunteer_id IS NOT NULL AND "
	    "p.active AND ST_DWithin(p.location, r.location, 500)) ORDER BY "
	    "r.id LIMIT 1");
	assert_non_null(v);
	resident = atoll(v);
	free(v);
	/* Next Saturday, 10:00 in the district: wanted_at must be near. */
	local = time(NULL) + 8 * 3600;
	tm = *gmtime(&local);
	local += (time_t)((6 - tm.tm_wday + 7) % 7 == 0 ? 7 :
	    (6 - tm.tm_wday + 7) % 7) * 86400;
	strftime(sat, sizeof sat, "%Y-%m-%dT10:00:00+08:00", gmtime(&local));
	q = xprintf("{\"caller_phone\": \"13900000001\", \"resident_id\": %lld,"
	    " \"service\": \"companionship\", \"wanted_at\": "
	    "\"%s\", \"duplicate_ok\": true}", resident, sat);
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/calls", q, &j), 201);
	free(q);
	call = (long long)json_integer_value(json_object_get(j, "id"));
	c0 = json_array_get(json_object_get(j, "candidates"), 0);
	assert_non_null(c0);
	provider = (long long)json_integer_value(json_object_get(c0,
	    "provider_id"));
	offer = (long long)json_integer_value(json_object_get(c0, "offer_id"));
	json_decref(j);
	q = xprintf("SELECT volunteer_id IS NOT NULL FROM providers WHERE id = "
	    "%lld", provider);
	v = th_pg_value(db, q);
	assert_string_equal(v, "t");
	free(v);
	free(q);

	q = xprintf("SELECT coalesce(sum(e.amount_minutes), 0) FROM timebank_entries e "
	    "JOIN timebank_accounts a ON a.id = e.account_id JOIN providers p "
	    "ON p.volunteer_id = a.volunteer_id WHERE p.id = %lld", provider);
	before = th_pg_value(db, q);
	path = xprintf("/v1/offers/%lld/accept", offer);
	assert_int_equal(th_api(d.url, admin, "POST", path, "{}", NULL), 200);
	free(path);
	path = xprintf("/v1/calls/%lld/complete", call);
	assert_int_equal(th_api(d.url, oper, "POST", path, "{}", NULL), 200);
	free(path);
	/* Completing it earned the volunteer minutes, with a record. */
	v = th_pg_value(db, q);
	assert_true(atoll(v) > atoll(before));
	free(v);
	free(before);
	free(q);
	q = xprintf("SELECT count(*) FROM volunteer_services WHERE call_id = "
	    "%lld", call);
	v = th_pg_value(db, q);
	assert_string_equal(v, "1");
	free(v);
	free(q);
}

static void
test_nearest_clinic_and_resident_context(void **state)
{
	json_t	*j;
	char	*path;

	(void)state;
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/clinics/nearest?"
	    "resident_id=1&at=2026-12-01T09:00:00%2B08:00", NULL, &j), 200);
	assert_non_null(json_object_get(j, "clinic"));
	assert_true(json_is_string(json_object_get(j, "next_visit")));
	assert_true(json_number_value(json_object_get(json_object_get(j,
	    "clinic"), "distance_m")) >= 0);
	json_decref(j);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/clinics/nearest",
	    NULL, NULL), 400);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/clinics/nearest?"
	    "resident_id=999999", NULL, NULL), 404);

	path = xstrdup("/v1/residents/1/context");
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, &j), 200);
	assert_non_null(json_object_get(j, "estate"));
	assert_non_null(json_object_get(j, "wechat_group"));
	json_decref(j);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_reproduces_the_figures),
		cmocka_unit_test(test_report_as_csv_and_bad_input),
		cmocka_unit_test(test_ledger_refusals_change_nothing),
		cmocka_unit_test(
		    test_companionship_matched_to_volunteer_and_credited),
		cmocka_unit_test(test_nearest_clinic_and_resident_context),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
