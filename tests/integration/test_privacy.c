/*
 * Personal data under PIPL, and the input rules around it (issue 9): who
 * read which resident, the access log admins see, operator names and the
 * server log, text and time rules, webhook targets (at registration and
 * after a reload, with a receiver of our own that counts connections),
 * and an offer link that says nothing about which offers exist.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define TEST_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define BASE_LAT	27.8700
#define BASE_LON	113.1800

static char		*db, *admin, *oper;
static struct th_daemon	 d;
static long long	 res_a, res_b;

static long long
resident(const char *name, const char *phone, double lat)
{
	return (th_num(db,
	    "INSERT INTO residents (name, phone, address, location) "
	    "VALUES ('%s', '%s', '荷塘区隐私路1号', ST_SetSRID(ST_MakePoint("
	    "%f, %f), 4326)::geography) RETURNING id", name, phone, BASE_LON,
	    lat));
}

/* An RFC 3339 time offset seconds from now, in UTC. */
static void
rfc3339_in(long offset, char *buf, size_t len)
{
	time_t	t = time(NULL) + offset;

	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
}

static long long
call_for(const char *token, long long rid, const char *phone)
{
	char		*body;
	long long	 id;

	body = xprintf("{\"caller_phone\": \"%s\", \"resident_id\": %lld, "
	    "\"service\": \"meal\", \"duplicate_ok\": true}", phone, rid);
	id = th_api_create(d.url, token, "/v1/calls", body);
	free(body);
	return (id);
}

static int
group_setup(void **state)
{
	(void)state;
	if ((db = th_db_ready("t_privacy")) == NULL)
		return (-1);
	admin = th_token(db, "admin", "privacy admin");
	oper = th_token(db, "operator", "privacy desk");
	res_a = resident("隐私甲", "13900000101", BASE_LAT);
	res_b = resident("隐私乙", "13900000101", BASE_LAT + 0.001);
	/* Private targets off (the default): registration checks them. */
	return (th_daemon_start(&d, db, "auth:\n  token_cache_ttl: 0s\n", 2,
	    NULL));
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_stop(&d);
	free(db);
	free(admin);
	free(oper);
	return (0);
}

/* Rows recorded after mark for route, as "resident:count,..." by id. */
static char *
reads_since(long long mark, const char *route)
{
	char	*v;

	v = th_val(db,
	    "SELECT coalesce(string_agg(resident_id || ':' || n, ',' "
	    "ORDER BY resident_id), '') FROM (SELECT resident_id, count(*) n "
	    "FROM resident_reads WHERE id > %lld AND route = '%s' GROUP BY "
	    "resident_id) s", mark, route);
	assert_non_null(v);
	return (v);
}

static long long
mark(void)
{
	return (th_num(db, "SELECT coalesce(max(id), 0) FROM resident_reads"));
}

static void
expect_reads(long long m, const char *route, const char *want)
{
	char	*v = reads_since(m, route);

	if (strcmp(v, want) != 0)
		fprintf(stderr, "%s: want %s, have %s\n", route, want, v);
	assert_string_equal(v, want);
	free(v);
}

static void
test_each_resident_read_is_audited(void **state)
{
	long long	 m, c1, tok;
	char		*path, *want, *v;
	json_t		*j;

	(void)state;
	c1 = call_for(oper, res_a, "13900000101");
	(void)call_for(oper, res_a, "13900000101");
	(void)call_for(oper, res_b, "13900000101");

	m = mark();
	path = xprintf("/v1/residents/%lld", res_a);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, NULL), 200);
	free(path);
	want = xprintf("%lld:1", res_a);
	expect_reads(m, "GET /v1/residents/{id}", want);
	free(want);
	/* Who: the operator's token, by id. */
	v = th_val(db,
	    "SELECT actor || ',' || token_id || ',' || (operator_id IS "
	    "NULL) FROM resident_reads WHERE id > %lld", m);
	tok = th_num(db,
	    "SELECT id FROM api_tokens WHERE name = 'privacy desk'");
	want = xprintf("token:%lld,%lld,true", tok, tok);
	assert_string_equal(v, want);
	free(want);
	free(v);

	/* A search: every resident in the answer, once. */
	m = mark();
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/residents?phone=13900000101", NULL, NULL), 200);
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/residents?name=%E9%9A%90%E7%A7%81%E7%94%B2", NULL, NULL), 200);
	want = xprintf("%lld:2,%lld:1", res_a, res_b);
	expect_reads(m, "GET /v1/residents", want);
	free(want);

	m = mark();
	path = xprintf("/v1/residents/%lld/context", res_b);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, NULL), 200);
	free(path);
	want = xprintf("%lld:1", res_b);
	expect_reads(m, "GET /v1/residents/{id}/context", want);
	free(want);

	m = mark();
	path = xprintf("/v1/calls/%lld", c1);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, NULL), 200);
	free(path);
	want = xprintf("%lld:1", res_a);
	expect_reads(m, "GET /v1/calls/{id}", want);
	free(want);

	/* A list: one row per resident per request, not one per call. */
	m = mark();
	path = xprintf("/v1/calls?resident_id=%lld", res_a);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
	json_decref(j);
	free(path);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls?limit=100",
	    NULL, NULL), 200);
	want = xprintf("%lld:2,%lld:1", res_a, res_b);
	expect_reads(m, "GET /v1/calls", want);
	free(want);

	m = mark();
	path = xprintf("/v1/matches?resident_id=%lld&service=meal", res_a);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, NULL), 200);
	free(path);
	want = xprintf("%lld:1", res_a);
	expect_reads(m, "GET /v1/matches", want);
	free(want);

	/* The PBX's caller-ID lookup answers with both cards. */
	m = mark();
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/ringing",
	    "{\"phone\": \"13900000101\"}", NULL), 202);
	want = xprintf("%lld:1,%lld:1", res_a, res_b);
	expect_reads(m, "POST /v1/ringing", want);
	free(want);
	/* Its audit row keeps ids; the number is not kept for years. */
	v = th_val(db,
	    "SELECT count(*) FROM audit_log WHERE action = 'call.ringing' "
	    "AND after::text LIKE '%%13900000101%%'");
	assert_string_equal(v, "0");
	free(v);

	/* Nothing read, nothing recorded. */
	m = mark();
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/residents/999999",
	    NULL, NULL), 404);
	assert_int_equal(th_api(d.url, oper, "GET", "/v1/calls/999999", NULL,
	    NULL), 404);
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/residents?phone=13900009999", NULL, NULL), 200);
	assert_int_equal(mark(), m);
}

static void
test_access_log_for_admins(void **state)
{
	json_t		*j, *items, *it, *who;
	char		*path, *body, *session, *page2;
	const char	*cursor;
	long long	 first_id;

	(void)state;
	/* A console session reads too: it is named by its operator. */
	body = xstrdup("{\"name\": \"auditor\", \"password\": "
	    "\"correct horse battery\", \"role\": \"operator\"}");
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators", body,
	    NULL), 201);
	free(body);
	assert_int_equal(th_api(d.url, NULL, "POST", "/v1/session",
	    "{\"name\": \"auditor\", \"password\": \"correct horse battery\"}",
	    &j), 201);
	session = xstrdup(json_string_value(json_object_get(j, "token")));
	json_decref(j);
	path = xprintf("/v1/residents/%lld", res_b);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, NULL), 200);
	assert_int_equal(th_api(d.url, session, "GET", path, NULL, NULL), 200);
	free(path);

	path = xprintf("/v1/residents/%lld/access-log", res_b);
	/* Operators may read people, not who read them. */
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, &j), 403);
	json_decref(j);
	assert_int_equal(th_api(d.url, session, "GET", path, NULL, NULL), 403);
	assert_int_equal(th_api(d.url, admin, "GET", path, NULL, &j), 200);
	items = json_object_get(j, "items");
	assert_true(json_array_size(items) >= 2);
	/* Newest first: the session's read, then the token's. */
	it = json_array_get(items, 0);
	assert_string_equal(json_string_value(json_object_get(it, "route")),
	    "GET /v1/residents/{id}");
	assert_non_null(json_object_get(it, "at"));
	who = json_object_get(it, "who");
	assert_string_equal(json_string_value(json_object_get(who, "kind")),
	    "operator");
	assert_string_equal(json_string_value(json_object_get(who, "name")),
	    "auditor");
	who = json_object_get(json_array_get(items, 1), "who");
	assert_string_equal(json_string_value(json_object_get(who, "kind")),
	    "token");
	assert_string_equal(json_string_value(json_object_get(who, "name")),
	    "privacy desk");
	assert_true(json_integer_value(json_object_get(json_array_get(items,
	    0), "id")) > json_integer_value(json_object_get(json_array_get(
	    items, 1), "id")));
	json_decref(j);
	free(path);

	/* Paged: limit 1, then the cursor goes further back. */
	path = xprintf("/v1/residents/%lld/access-log?limit=1", res_b);
	assert_int_equal(th_api(d.url, admin, "GET", path, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	first_id = json_integer_value(json_object_get(json_array_get(
	    json_object_get(j, "items"), 0), "id"));
	cursor = json_string_value(json_object_get(j, "next_cursor"));
	assert_non_null(cursor);
	page2 = xprintf("%s&cursor=%s", path, cursor);
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "GET", page2, NULL, &j), 200);
	assert_true(json_integer_value(json_object_get(json_array_get(
	    json_object_get(j, "items"), 0), "id")) < first_id);
	json_decref(j);
	free(page2);
	free(path);
	/* Reading the log is not a read of the person. */
	assert_int_equal(th_num(db,
	    "SELECT count(*) FROM resident_reads WHERE route "
	    "LIKE '%%access-log%%'"), 0);
	assert_int_equal(th_api(d.url, admin, "GET",
	    "/v1/residents/999999/access-log", NULL, NULL), 404);
	free(session);
}

static long
file_size(const char *path)
{
	struct stat	st;

	assert_int_equal(stat(path, &st), 0);
	return ((long)st.st_size);
}

/* Does the file hold needle after offset? */
static int
file_has_after(const char *path, long offset, const char *needle)
{
	FILE	*f;
	char	*buf;
	long	 n;
	int	 found;

	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f) - offset;
	buf = xcalloc(1, (size_t)(n > 0 ? n : 0) + 1);
	fseek(f, offset, SEEK_SET);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	found = memmem(buf, (size_t)(n > 0 ? n : 0), needle,
	    strlen(needle)) != NULL;
	free(buf);
	return (found);
}

static void
test_operator_names_fold(void **state)
{
	json_t	*j;

	(void)state;
	/* Full-width ＡＬＩＣＥ is alice. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"\xef\xbc\xa1\xef\xbc\xac\xef\xbc\xa9\xef\xbc\xa3"
	    "\xef\xbc\xa5\", \"password\": \"correct horse battery\"}", &j),
	    201);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
	    "alice");
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"Alice\", \"password\": \"correct horse battery\"}",
	    &j), 409);
	assert_string_equal(th_err_code(j), "operator_exists");
	json_decref(j);
	assert_int_equal(th_api(d.url, NULL, "POST", "/v1/session",
	    "{\"name\": \"alice\", \"password\": \"correct horse battery\"}",
	    NULL), 201);
	/* The name typed at sign-in is folded the same way. */
	assert_int_equal(th_api(d.url, NULL, "POST", "/v1/session",
	    "{\"name\": \"\xef\xbc\xa1\xef\xbc\xac\xef\xbc\xa9\xef\xbc\xa3"
	    "\xef\xbc\xa5\", \"password\": \"correct horse battery\"}", NULL),
	    201);

	/* No spaces, controls or invisible characters, of any script. */
	{
		static const char *const bad[] = {
			"bob smith", "bob\\u00a0smith", "bob\\u3000",
			"bo\\u200bb", "bob\\u202e", "bob\\t", "\\u200b",
			"bob\\u2066x", "b/ob",
		};
		size_t	i;
		char	*body;

		for (i = 0; i < sizeof bad / sizeof *bad; i++) {
			body = xprintf("{\"name\": \"%s\", \"password\": "
			    "\"correct horse battery\"}", bad[i]);
			assert_int_equal(th_api(d.url, admin, "POST",
			    "/v1/operators", body, &j), 422);
			assert_string_equal(th_err_field(j), "name");
			json_decref(j);
			free(body);
		}
	}
	assert_int_equal(th_num(db,
	    "SELECT count(*) FROM operators WHERE name LIKE "
	    "'bob%%' OR name = ''"), 0);
}

static void
test_failed_operator_insert_keeps_hash_out_of_pg_log(void **state)
{
	char	*log, *v;
	long	 off;
	json_t	*j;

	(void)state;
	log = xprintf("%s/log/postgresql.log", getenv("CARELINE_TEST_PGDIR"));
	off = file_size(log);
	/* Through the API: a duplicate and names the table refuses. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"dup\", \"password\": \"correct horse battery\"}",
	    NULL), 201);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"DUP\", \"password\": \"correct horse battery\"}",
	    &j), 409);
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"two words\", \"password\": \"correct horse "
	    "battery\"}", &j), 422);
	json_decref(j);
	/* The log is the one errors go to: a known error shows up in it. */
	assert_int_not_equal(th_pg_exec(db, "SELECT 1 / 0"), 0);
	assert_true(file_has_after(log, off, "division by zero"));
	assert_false(file_has_after(log, off, "$argon2id$"));

	/* And the route's SQL function, should anything reach it unchecked. */
	v = th_val(db, "SELECT careline_api_operators_create('test', "
	    "'two words', "
	    "'$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', "
	    "'operator')->>'status'");
	assert_non_null(v);
	assert_string_equal(v, "422");
	free(v);
	v = th_val(db, "SELECT careline_api_operators_create('test', "
	    "'Dup', "
	    "'$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', "
	    "'operator')->>'status'");
	assert_non_null(v);
	assert_string_equal(v, "409");
	free(v);
	assert_false(file_has_after(log, off, "$argon2id$"));
	free(log);
}

static void
test_text_with_controls_refused(void **state)
{
	static const struct {
		const char	*path;
		const char	*body;
		const char	*field;
	} cases[] = {
		{ "/v1/residents", "{\"name\": \"\\u202e\xe7\x8e\x8b\", "
		  "\"phone\": \"13900000102\", \"address\": \"x\", \"lat\": 27.87,"
		  " \"lon\": 113.18}", "name" },
		{ "/v1/residents", "{\"name\": \"\xe7\x8e\x8b\", \"phone\": "
		  "\"13900000102\", \"address\": \"\\u200b\\u200d\", \"lat\": "
		  "27.87, \"lon\": 113.18}", "address" },
		{ "/v1/residents", "{\"name\": \"\xe7\x8e\x8b\\u0007\", "
		  "\"phone\": \"13900000102\", \"address\": \"x\", \"lat\": 27.87,"
		  " \"lon\": 113.18}", "name" },
		{ "/v1/residents", "{\"name\": \"\\u3164\", \"phone\": "
		  "\"13900000102\", \"address\": \"x\", \"lat\": 27.87, \"lon\": "
		  "113.18}", "name" },
		{ "/v1/calls", "{\"caller_phone\": \"13900000101\", "
		  "\"service\": \"meal\", \"resident_id\": @A@, \"notes\": "
		  "\"\\u001b[31m\"}", "notes" },
		{ "/v1/calls", "{\"caller_phone\": \"13900000101\", "
		  "\"service\": \"meal\", \"resident_id\": @A@, \"notes\": "
		  "\"\\u2067x\"}", "notes" },
		{ "/v1/calls", "{\"caller_phone\": \"13900000101\", "
		  "\"service\": \"meal\", \"resident_id\": @A@, \"notes\": "
		  "\"\\ufeff\"}", "notes" },
	};
	json_t	*j;
	char	*body, *p, ids[24];
	size_t	 i;

	(void)state;
	snprintf(ids, sizeof ids, "%lld", res_a);
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		body = xstrdup(cases[i].body);
		if ((p = strstr(body, "@A@")) != NULL) {
			char *b2 = xprintf("%.*s%s%s", (int)(p - body), body,
			    ids, p + 3);

			free(body);
			body = b2;
		}
		assert_int_equal(th_api(d.url, admin, "POST", cases[i].path,
		    body, &j), 422);
		if (strcmp(th_err_field(j), cases[i].field) != 0)
			fprintf(stderr, "case %zu: %s\n", i, body);
		assert_string_equal(th_err_field(j), cases[i].field);
		json_decref(j);
		free(body);
	}
	/* A provider's name too; and lines in notes are fine. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/providers",
	    "{\"name\": \"\xe9\xa3\x9f\xe5\xa0\x82\\u202d\", \"services\": "
	    "[\"meal\"], \"lat\": 27.87, \"lon\": 113.18, \"travel_mode\": "
	    "\"walk\", \"capacity\": 2, \"opening_hours\": \"24/7\"}", &j),
	    422);
	assert_string_equal(th_err_field(j), "name");
	json_decref(j);
	body = xprintf("{\"caller_phone\": \"13900000101\", \"service\": "
	    "\"meal\", \"resident_id\": %lld, \"duplicate_ok\": true, "
	    "\"notes\": \"\xe5\xb0\x91\xe6\x94\xbe\xe8\xbe\xa3\\n\xe9\x97\xa8"
	    "\xe9\x93\x83\xe5\x9d\x8f\xe4\xba\x86\"}", res_a);
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/calls", body, NULL),
	    201);
	free(body);
	/* A search by a name made of an override is refused as well. */
	assert_int_equal(th_api(d.url, oper, "GET",
	    "/v1/residents?name=%E2%80%AE", NULL, &j), 400);
	assert_string_equal(th_err_field(j), "name");
	json_decref(j);
}

static long
post_call_at(long offset, json_t **j)
{
	char	 when[40], *body;
	long	 st;

	rfc3339_in(offset, when, sizeof when);
	body = xprintf("{\"caller_phone\": \"13900000101\", \"service\": "
	    "\"meal\", \"resident_id\": %lld, \"duplicate_ok\": true, "
	    "\"wanted_at\": \"%s\"}", res_a, when);
	st = th_api(d.url, oper, "POST", "/v1/calls", body, j);
	free(body);
	return (st);
}

static void
test_wanted_at_range(void **state)
{
	json_t	*j;

	(void)state;
	assert_int_equal(post_call_at(-2 * 3600, &j), 422);
	assert_string_equal(th_err_field(j), "wanted_at");
	json_decref(j);
	assert_int_equal(post_call_at(61L * 86400, &j), 422);
	assert_string_equal(th_err_field(j), "wanted_at");
	json_decref(j);
	assert_int_equal(post_call_at(-30 * 60, NULL), 201);
	assert_int_equal(post_call_at(86400, NULL), 201);
	assert_int_equal(post_call_at(59L * 86400, NULL), 201);
	/* An impossible date is not a time at all. */
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/calls",
	    "{\"caller_phone\": \"13900000101\", \"service\": \"meal\", "
	    "\"duplicate_ok\": true, \"wanted_at\": \"2027-02-30T10:00:00Z\"}",
	    &j), 422);
	assert_string_equal(th_err_field(j), "wanted_at");
	json_decref(j);
}

static long
provider_with_url(const char *url, json_t **j)
{
	char	*body;
	long	 st;

	body = xprintf("{\"name\": \"hooks\", \"services\": [\"meal\"], "
	    "\"lat\": 27.87, \"lon\": 113.18, \"travel_mode\": \"walk\", "
	    "\"capacity\": 2, \"opening_hours\": \"24/7\", \"webhook_url\": "
	    "\"%s\"}", url);
	st = th_api(d.url, admin, "POST", "/v1/providers", body, j);
	free(body);
	return (st);
}

static void
test_webhook_url_parsed_and_private_targets_refused(void **state)
{
	static const char *const refused[] = {
		"http://127.0.0.1:8089/hooks",
		"http://10.1.2.3/hooks",
		"http://[::1]/hooks",
		"http://[::ffff:0:7f00:1]/hooks",	/* IPv4-translated */
		"http://[::ffff:0:808:808]/hooks",
		"http://[64:ff9b:1::808:808]/hooks",	/* local NAT64 */
		"http://192.0.2.10/hooks",		/* documentation */
		"http://198.51.100.10/hooks",
		"http://203.0.113.10/hooks",
		"http://[2001:db8::10]/hooks",
		"http://[3fff::10]/hooks",
		"http://2130706433/hooks",		/* 127.0.0.1 */
	};
	json_t	*j;
	size_t	 i;

	(void)state;
	/* It must parse whole, as libcurl will read it. */
	assert_int_equal(provider_with_url("http://[::1", &j), 422);
	assert_string_equal(th_err_field(j), "webhook_url");
	json_decref(j);
	assert_int_equal(provider_with_url("http://[::1]:99999/", &j), 422);
	assert_string_equal(th_err_field(j), "webhook_url");
	json_decref(j);
	for (i = 0; i < sizeof refused / sizeof *refused; i++) {
		assert_int_equal(provider_with_url(refused[i], &j), 422);
		if (strcmp(th_err_code(j), "private_target") != 0)
			fprintf(stderr, "%s: %s\n", refused[i], th_err_code(j));
		assert_string_equal(th_err_code(j), "private_target");
		assert_string_equal(th_err_field(j), "webhook_url");
		json_decref(j);
	}
	/* A name is checked where it resolves, at each connect. */
	assert_int_equal(provider_with_url("http://localhost:9/hooks", NULL),
	    201);
	assert_int_equal(provider_with_url("https://hooks.example.com/x",
	    NULL), 201);
	/* Not to be offered jobs by the tests after this one. */
	th_sql(db, "UPDATE providers SET active = false WHERE name = 'hooks'");
}

static void
test_offer_link_same_for_unknown_and_known(void **state)
{
	json_t		*known, *unknown;
	long long	 prov, call, offer;
	char		*path, *a, *b;
	long		 s1, s2;

	(void)state;
	prov = th_num(db, "INSERT INTO providers (name, services, location, "
	    "travel_mode, capacity, opening_hours) VALUES ('链接测试', "
	    "'{meal}', ST_SetSRID(ST_MakePoint(%f, %f), 4326)::geography, "
	    "'walk', 5, '24/7') RETURNING id", BASE_LON, BASE_LAT);
	call = th_num(db,
	    "INSERT INTO calls (resident_id, caller_phone, service, "
	    "wanted_at, status) VALUES (%lld, '13900000101', 'meal', now(), "
	    "'offered') RETURNING id", res_a);
	offer = th_num(db, "INSERT INTO offers (call_id, provider_id, rank, "
	    "travel_minutes, status, respond_by, offered_at, link_hash) "
	    "VALUES (%lld, %lld, 1, 1, 'offered', now() + interval '1 hour', "
	    "now(), sha256('right-link'::bytea)) RETURNING id", call, prov);

	path = xprintf("/v1/offers/%lld/accept?t=%s", offer, "deadbeef");
	s1 = th_api(d.url, NULL, "POST", path, NULL, &known);
	free(path);
	path = xprintf("/v1/offers/%lld/accept?t=%s", offer + 1000000,
	    "deadbeef");
	s2 = th_api(d.url, NULL, "POST", path, NULL, &unknown);
	free(path);
	assert_int_equal(s1, 403);
	assert_int_equal(s2, s1);
	a = json_dumps(known, JSON_SORT_KEYS);
	b = json_dumps(unknown, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(known);
	json_decref(unknown);
	/* The same for decline; the offer is untouched. */
	path = xprintf("/v1/offers/%lld/decline?t=%s", offer + 1000000, "00");
	assert_int_equal(th_api(d.url, NULL, "POST", path, NULL, NULL), 403);
	free(path);
	a = th_val(db, "SELECT status FROM offers WHERE id = %lld", offer);
	assert_string_equal(a, "offered");
	free(a);
}

/*
 * A webhook receiver of our own on 127.0.0.1: HTTP/1.1 keep-alive, 200 to
 * every request, counting connections accepted and requests answered.
 */
struct counter {
	int		 lfd;
	int		 port;
	int		 stop;
	int		 conns;
	int		 requests;
	pthread_mutex_t	 mu;
	pthread_t	 thread;
};

#define COUNTER_MAXFD	16

static int
counter_request_end(const char *buf, size_t len)
{
	const char	*end, *cl;
	size_t		 head, body = 0;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return (-1);
	head = (size_t)(end - buf) + 4;
	for (cl = buf; cl < end; cl++) {
		if (strncasecmp(cl, "\r\nContent-Length:", 17) == 0) {
			body = strtoul(cl + 17, NULL, 10);
			break;
		}
	}
	return (len >= head + body ? (int)(head + body) : -1);
}

static void *
counter_main(void *arg)
{
	struct counter	*c = arg;
	struct pollfd	 pfd[COUNTER_MAXFD];
	char		 bufs[COUNTER_MAXFD][8192];
	size_t		 lens[COUNTER_MAXFD];
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n";
	int		 n = 1, i, fd, used;
	ssize_t		 got;

	pfd[0].fd = c->lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu);
		if (poll(pfd, n, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < COUNTER_MAXFD &&
		    (fd = accept(c->lfd, NULL, NULL)) >= 0) {
			pfd[n].fd = fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			lens[n] = 0;
			n++;
			pthread_mutex_lock(&c->mu);
			c->conns++;
			pthread_mutex_unlock(&c->mu);
		}
		for (i = 1; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(pfd[i].fd, bufs[i] + lens[i],
			    sizeof bufs[i] - lens[i]);
			if (got <= 0) {
				close(pfd[i].fd);
				pfd[i] = pfd[n - 1];
				memcpy(bufs[i], bufs[n - 1], lens[n - 1]);
				lens[i] = lens[n - 1];
				n--;
				i--;
				continue;
			}
			lens[i] += (size_t)got;
			while ((used = counter_request_end(bufs[i], lens[i])) >
			    0) {
				if (write(pfd[i].fd, ok, sizeof ok - 1) < 0)
					break;
				memmove(bufs[i], bufs[i] + used,
				    lens[i] - (size_t)used);
				lens[i] -= (size_t)used;
				pthread_mutex_lock(&c->mu);
				c->requests++;
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
	for (i = 1; i < n; i++)
		close(pfd[i].fd);
	return (NULL);
}

static void
counter_start(struct counter *c)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			one = 1;

	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	assert_true((c->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(c->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(c->lfd, 16), 0);
	getsockname(c->lfd, (struct sockaddr *)&sin, &len);
	c->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, counter_main, c), 0);
}

static void
counter_get(struct counter *c, int *conns, int *requests)
{
	pthread_mutex_lock(&c->mu);
	*conns = c->conns;
	*requests = c->requests;
	pthread_mutex_unlock(&c->mu);
}

static void
counter_stop(struct counter *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	close(c->lfd);
	pthread_mutex_destroy(&c->mu);
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
	fprintf(f, "%.*s%s%s", (int)(p - buf), buf, to, p + strlen(from));
	fclose(f);
}

static void
test_reload_forbidding_private_drops_kept_alive(void **state)
{
	struct th_daemon	 d2;
	struct counter		 c;
	long long		 prov, rid, c1, c2;
	char			*q, *body, *v;
	int			 conns, requests;
	long			 deadline;
	json_t			*j;

	(void)state;
	/* One daemon only, or the other (private targets off) may claim. */
	th_daemon_signal_wait(&d, SIGTERM, 10000);
	counter_start(&c);
	th_sql(db, "UPDATE providers SET active = false");
	rid = resident("重载测试", "13900000103", BASE_LAT + 0.01);
	prov = th_num(db, "INSERT INTO providers (name, services, location, "
	    "travel_mode, capacity, opening_hours, webhook_url, "
	    "webhook_secret) VALUES ('本机接收', '{meal}', ST_SetSRID("
	    "ST_MakePoint(%f, %f), 4326)::geography, 'walk', 50, '24/7', "
	    "'http://127.0.0.1:%d/hooks', '%s') RETURNING id", BASE_LON,
	    BASE_LAT + 0.0101, c.port, TEST_SECRET);
	q = xprintf("INSERT INTO provider_hours SELECT %lld, d, '00:00', "
	    "'24:00' FROM generate_series(1, 7) d", prov);
	th_sql(db, q);
	free(q);
	assert_int_equal(th_daemon_start(&d2, db, "offers:\n  timeout: 1h\n"
	    "webhooks:\n  allow_private_targets: true\n"
	    "  retry_schedule: [100ms]\n  poll_interval: 200ms\n", 2, NULL), 0);

	/* Allowed: delivered, and the connection stays open in curl's pool. */
	body = xprintf("{\"caller_phone\": \"13900000103\", \"resident_id\": "
	    "%lld, \"service\": \"meal\", \"duplicate_ok\": true}", rid);
	assert_int_equal(th_api(d2.url, oper, "POST", "/v1/calls", body, &j),
	    201);
	c1 = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	assert_int_equal(th_pg_wait(db, (q = xprintf("SELECT d.status FROM "
	    "deliveries d JOIN offers o ON o.id = d.offer_id WHERE o.call_id "
	    "= %lld", c1)), "delivered", 10000), 0);
	free(q);
	counter_get(&c, &conns, &requests);
	assert_int_equal(conns, 1);
	assert_int_equal(requests, 1);

	/* Forbidden by a reload: the pooled connection must not be used. */
	replace_in_file(d2.config, "allow_private_targets: true",
	    "allow_private_targets: false");
	kill(d2.pid, SIGHUP);
	deadline = th_now_ms() + 5000;
	while (!th_file_contains(d2.log,
	    "webhooks.allow_private_targets reloaded") &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(th_file_contains(d2.log,
	    "webhooks.allow_private_targets reloaded"));
	assert_int_equal(th_api(d2.url, oper, "POST", "/v1/calls", body, &j),
	    201);
	c2 = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	assert_int_equal(th_pg_wait(db, (q = xprintf("SELECT d.status FROM "
	    "deliveries d JOIN offers o ON o.id = d.offer_id WHERE o.call_id "
	    "= %lld", c2)), "dead", 10000), 0);
	free(q);
	v = th_val(db,
	    "SELECT d.last_error FROM deliveries d JOIN offers o ON o.id "
	    "= d.offer_id WHERE o.call_id = %lld", c2);
	assert_non_null(strstr(v, "not allowed"));
	free(v);
	counter_get(&c, &conns, &requests);
	assert_int_equal(requests, 1);
	free(body);
	th_daemon_stop(&d2);
	counter_stop(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_resident_read_is_audited),
		cmocka_unit_test(test_access_log_for_admins),
		cmocka_unit_test(test_operator_names_fold),
		cmocka_unit_test(test_failed_operator_insert_keeps_hash_out_of_pg_log),
		cmocka_unit_test(test_text_with_controls_refused),
		cmocka_unit_test(test_wanted_at_range),
		cmocka_unit_test(test_webhook_url_parsed_and_private_targets_refused),
		cmocka_unit_test(test_offer_link_same_for_unknown_and_known),
		cmocka_unit_test(test_reload_forbidding_private_drops_kept_alive),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
