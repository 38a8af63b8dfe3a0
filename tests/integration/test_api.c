/*
 * The /v1 API over real HTTP against the real database: every route,
 * tokens and roles, idempotency, pagination, and bad input that must be
 * refused with the field named and nothing changed.
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

static char		*db, *admin, *oper;
static struct th_daemon	 d;
static long long	 resident_a, resident_far, prov_near, prov_walk;

static long
api(const char *token, const char *method, const char *path,
    const char *body, json_t **out)
{
	return (th_api(d.url, token, method, path, body, out));
}

static long long
id_of(json_t *j)
{
	return ((long long)json_integer_value(json_object_get(j, "id")));
}

/* Row counts of everything a refused request must not touch. */
static char *
snapshot(void)
{
	return (th_pg_value(db, "SELECT concat_ws(',', "
	    "(SELECT count(*) FROM residents), (SELECT count(*) FROM "
	    "providers), (SELECT count(*) FROM provider_hours), (SELECT "
	    "count(*) FROM calls), (SELECT count(*) FROM offers), (SELECT "
	    "count(*) FROM audit_log), (SELECT count(*) FROM api_tokens), "
	    "(SELECT max(updated_at)::text FROM residents))"));
}

static long long
make_resident(const char *name, const char *phone, double lat, double lon,
    const char *extra)
{
	json_t	*j;
	char	*body;
	long	 st;
	long long id;

	body = xprintf("{\"name\": \"%s\", \"phone\": \"%s\", \"address\": "
	    "\"荷塘区测试路1号\", \"lat\": %.6f, \"lon\": %.6f%s}", name, phone,
	    lat, lon, extra != NULL ? extra : "");
	st = api(oper, "POST", "/v1/residents", body, &j);
	if (st != 201)
		fprintf(stderr, "make_resident: %ld %s\n", st,
		    j != NULL ? json_dumps(j, 0) : "?");
	assert_int_equal(st, 201);
	id = id_of(j);
	json_decref(j);
	free(body);
	return (id);
}

static long long
make_provider(const char *name, const char *services, const char *mode,
    double lat, double lon, const char *hours, json_t **out)
{
	json_t	*j;
	char	*body;
	long long id;

	body = xprintf("{\"name\": \"%s\", \"services\": %s, \"travel_mode\": "
	    "\"%s\", \"lat\": %.6f, \"lon\": %.6f, \"capacity\": 3, "
	    "\"opening_hours\": \"%s\", \"webhook_url\": "
	    "\"http://localhost:9/hooks\"}", name, services, mode, lat, lon,
	    hours);
	assert_int_equal(api(admin, "POST", "/v1/providers", body, &j), 201);
	id = id_of(j);
	if (out != NULL)
		*out = j;
	else
		json_decref(j);
	free(body);
	return (id);
}

static int
group_setup(void **state)
{
	(void)state;
	if (th_group_up("api", &db, &admin, &oper, &d) != 0)
		return (-1);
	if (th_daemon_start(&d, db, "auth:\n  token_cache_ttl: 0s\n", 2,
	    NULL) != 0)
		return (-1);
	resident_a = make_resident("王秀英", "+86 139-0000-0001", 27.8800,
	    113.1900, ", \"mobility\": \"walk\", \"lives_alone\": true");
	resident_far = make_resident("李远", "13900000002", 27.5000, 113.6000,
	    NULL);
	prov_near = make_provider("湘华社区食堂", "[\"meal\"]", "ebike",
	    27.8830, 113.1920, "24/7", NULL);
	prov_walk = make_provider("邻里家政", "[\"meal\", \"housekeeping\"]",
	    "walk", 27.8805, 113.1905, "Mo-Su 00:00-24:00", NULL);
	return (0);
}

static void
test_token_required(void **state)
{
	json_t		*j;
	const char	*bogus = "clt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	(void)state;
	assert_int_equal(api(NULL, "GET", "/v1/calls", NULL, &j), 401);
	assert_string_equal(th_err_code(j), "unauthorized");
	json_decref(j);
	assert_int_equal(api(bogus, "GET", "/v1/calls", NULL, &j), 401);
	json_decref(j);
	assert_int_equal(api("not-a-token", "GET", "/v1/residents/1", NULL,
	    &j), 401);
	json_decref(j);
}

static void
test_roles(void **state)
{
	json_t	*j;

	(void)state;
	assert_int_equal(api(oper, "GET", "/v1/providers", NULL, &j), 403);
	assert_string_equal(th_err_code(j), "forbidden");
	json_decref(j);
	assert_int_equal(api(oper, "POST", "/v1/tokens", "{\"name\": \"x\", "
	    "\"role\": \"admin\"}", &j), 403);
	json_decref(j);
	assert_int_equal(api(admin, "GET", "/v1/providers", NULL, &j), 200);
	json_decref(j);
	/* Admins may do what operators do. */
	assert_int_equal(api(admin, "GET", "/v1/calls", NULL, &j), 200);
	json_decref(j);
}

static void
test_resident_crud_and_search(void **state)
{
	json_t	*j, *items;
	char	*path;
	long long id;

	(void)state;
	id = make_resident("张桂兰", "0731-2288 1234", 27.87, 113.18,
	    ", \"community\": null, \"mobility\": \"wheelchair\"");
	path = xprintf("/v1/residents/%lld", id);
	assert_int_equal(api(oper, "GET", path, NULL, &j), 200);
	/* 0731 + eight digits is stored as the eight digits. */
	assert_string_equal(json_string_value(json_object_get(j, "phone")),
	    "22881234");
	assert_string_equal(json_string_value(json_object_get(j,
	    "mobility")), "wheelchair");
	assert_true(json_number_value(json_object_get(j, "lat")) > 27.86);
	json_decref(j);

	assert_int_equal(api(oper, "PATCH", path, "{\"address\": "
	    "\"荷塘区新华路8号\", \"low_income\": true}", &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "address")),
	    "荷塘区新华路8号");
	assert_true(json_is_true(json_object_get(j, "low_income")));
	assert_string_equal(json_string_value(json_object_get(j, "name")),
	    "张桂兰");
	json_decref(j);

	/* Found by the number however it is written. */
	assert_int_equal(api(oper, "GET", "/v1/residents?phone=%2B86%20731"
	    "-22881234", NULL, &j), 422);
	json_decref(j);
	assert_int_equal(api(oper, "GET", "/v1/residents?phone=0731-2288-1234",
	    NULL, &j), 200);
	items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_int_equal(id_of(json_array_get(items, 0)), id);
	json_decref(j);
	assert_int_equal(api(oper, "GET", "/v1/residents?name=%E5%BC%A0",
	    NULL, &j), 200);	/* 张 */
	assert_true(json_array_size(json_object_get(j, "items")) >= 1);
	json_decref(j);

	assert_int_equal(api(oper, "GET", "/v1/residents/999999", NULL, &j),
	    404);
	json_decref(j);
	assert_int_equal(api(oper, "GET", "/v1/residents", NULL, &j), 400);
	json_decref(j);
	free(path);

	/* The change is in the audit log, by this token. */
	path = xprintf("SELECT count(*) FROM audit_log WHERE entity = "
	    "'resident' AND entity_id = %lld AND actor LIKE 'token:%%'", id);
	j = NULL;
	{
		char *n = th_pg_value(db, path);

		assert_true(atoi(n) >= 2);
		free(n);
	}
	free(path);
}

static void
test_provider_secret_once_and_deactivate(void **state)
{
	json_t		*j, *created;
	const char	*secret;
	char		*path;
	long long	 id;

	(void)state;
	id = make_provider("荷塘家政服务社", "[\"housekeeping\"]", "walk",
	    27.90, 113.20, "Mo-Fr 08:00-18:00; Sa 09:00-12:00", &created);
	secret = json_string_value(json_object_get(created,
	    "webhook_secret"));
	assert_non_null(secret);
	assert_int_equal(strncmp(secret, "whsec_", 6), 0);
	json_decref(created);

	path = xprintf("/v1/providers/%lld", id);
	assert_int_equal(api(admin, "GET", path, NULL, &j), 200);
	assert_null(json_object_get(j, "webhook_secret"));
	assert_string_equal(json_string_value(json_object_get(j,
	    "opening_hours")), "Mo-Fr 08:00-18:00; Sa 09:00-12:00");
	json_decref(j);
	free(path);
	path = xprintf("SELECT count(*) FROM provider_hours WHERE "
	    "provider_id = %lld", id);
	{
		char *n = th_pg_value(db, path);

		assert_string_equal(n, "6");	/* five weekdays, Saturday */
		free(n);
	}
	free(path);

	assert_int_equal(api(admin, "GET", "/v1/providers?service="
	    "housekeeping&active=true", NULL, &j), 200);
	assert_true(json_array_size(json_object_get(j, "items")) >= 2);
	json_decref(j);

	path = xprintf("/v1/providers/%lld/deactivate", id);
	assert_int_equal(api(admin, "POST", path, NULL, &j), 200);
	assert_true(json_is_false(json_object_get(j, "active")));
	json_decref(j);
	free(path);

	path = xprintf("/v1/providers/%lld", id);
	assert_int_equal(api(admin, "PATCH", path, "{\"capacity\": 7, "
	    "\"opening_hours\": \"Mo 09:00-10:00\"}", &j), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "capacity")),
	    7);
	json_decref(j);
	free(path);
}

static void
test_call_matched_with_ranked_candidates(void **state)
{
	json_t		*j, *cands, *c0, *c1;
	char		*body, *path;
	long long	 id;

	(void)state;
	body = xprintf("{\"caller_phone\": \"139 0000 0001\", \"service\": "
	    "\"meal\", \"notes\": \"少盐\", \"urgency\": \"normal\"}");
	assert_int_equal(api(oper, "POST", "/v1/calls", body, &j), 201);
	id = id_of(j);
	/* Found by the caller's number, matched, ranked by minutes. */
	assert_int_equal(json_integer_value(json_object_get(j,
	    "resident_id")), resident_a);
	/* Stored, matched and already offered to the best candidate. */
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "offered");
	cands = json_object_get(j, "candidates");
	assert_int_equal(json_array_size(cands), 2);
	c0 = json_array_get(cands, 0);
	c1 = json_array_get(cands, 1);
	assert_int_equal(json_integer_value(json_object_get(c0, "rank")), 1);
	assert_true(json_number_value(json_object_get(c0, "travel_minutes")) <=
	    json_number_value(json_object_get(c1, "travel_minutes")));
	assert_true(json_number_value(json_object_get(c1, "travel_minutes")) <=
	    15.0);
	json_decref(j);

	path = xprintf("/v1/calls/%lld", id);
	assert_int_equal(api(oper, "GET", path, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "candidates")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "notes")),
	    "少盐");
	json_decref(j);

	/* A second call about the same need: 409 with the open call. */
	assert_int_equal(api(oper, "POST", "/v1/calls", body, &j), 409);
	assert_string_equal(th_err_code(j), "duplicate_call");
	assert_int_equal(id_of(json_object_get(j, "open_call")), id);
	json_decref(j);
	free(body);

	/* Unless the operator says so. */
	assert_int_equal(api(oper, "POST", "/v1/calls", "{\"caller_phone\": "
	    "\"13900000001\", \"service\": \"meal\", \"duplicate_ok\": true}",
	    &j), 201);
	assert_true(id_of(j) != id);
	json_decref(j);

	/* Cancel, then cancelling again is a conflict. */
	free(path);
	path = xprintf("/v1/calls/%lld/cancel", id);
	assert_int_equal(api(oper, "POST", path, "{\"reason\": \"家属已送餐\"}",
	    &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "cancelled");
	json_decref(j);
	assert_int_equal(api(oper, "POST", path, NULL, &j), 409);
	assert_string_equal(th_err_code(j), "invalid_transition");
	json_decref(j);
	free(path);
	path = xprintf("SELECT count(*) FROM audit_log WHERE entity = 'call' "
	    "AND entity_id = %lld", id);
	{
		char *n = th_pg_value(db, path);

		assert_true(atoi(n) >= 2);	/* create, cancel */
		free(n);
	}
	free(path);
}

static void
test_call_unmatched_is_logged(void **state)
{
	json_t	*j;
	char	*body;

	(void)state;
	body = xprintf("{\"caller_phone\": \"13900000002\", \"resident_id\": "
	    "%lld, \"service\": \"housekeeping\"}", resident_far);
	assert_int_equal(api(oper, "POST", "/v1/calls", body, &j), 201);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "unmatched");
	assert_int_equal(json_array_size(json_object_get(j, "candidates")), 0);
	json_decref(j);
	free(body);
}

static void
test_call_complete(void **state)
{
	json_t	*j;
	char	*path;
	long long id;

	(void)state;
	assert_int_equal(api(oper, "POST", "/v1/calls", "{\"caller_phone\": "
	    "\"13900000001\", \"service\": \"housekeeping\"}", &j), 201);
	id = id_of(j);
	json_decref(j);
	path = xprintf("/v1/calls/%lld/complete", id);
	assert_int_equal(api(oper, "POST", path, "{}", &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "completed");
	assert_false(json_is_null(json_object_get(j, "closed_at")));
	json_decref(j);
	assert_int_equal(api(oper, "POST", path, "{}", &j), 409);
	json_decref(j);
	free(path);
	assert_int_equal(api(oper, "POST", "/v1/calls/987654/complete", "{}",
	    &j), 404);
	json_decref(j);
}

static void
test_idempotency_key(void **state)
{
	struct th_response	 r1, r2, r3;
	const char		*h[] = {
		NULL, "Content-Type: application/json",
		"Idempotency-Key: call-7f3a", NULL
	};
	char			*auth, *url, *n0, *n1;
	const char		*body = "{\"caller_phone\": \"13900000002\", "
				    "\"service\": \"daycare\", "
				    "\"duplicate_ok\": true}";

	(void)state;
	auth = xprintf("Authorization: Bearer %s", oper);
	h[0] = auth;
	url = xprintf("%s/v1/calls", d.url);
	n0 = th_pg_value(db, "SELECT count(*) FROM calls");
	assert_int_equal(th_http(&r1, "POST", url, body, h), 0);
	assert_int_equal(r1.status, 201);
	assert_int_equal(th_http(&r2, "POST", url, body, h), 0);
	assert_int_equal(r2.status, 201);
	/* The same answer, and one call only. */
	assert_string_equal(r1.body, r2.body);
	n1 = th_pg_value(db, "SELECT count(*) FROM calls");
	assert_int_equal(atoi(n1), atoi(n0) + 1);
	free(n1);
	/* The same key with another body is refused. */
	assert_int_equal(th_http(&r3, "POST", url, "{\"caller_phone\": "
	    "\"13900000002\", \"service\": \"meal\", \"duplicate_ok\": true}",
	    h), 0);
	assert_int_equal(r3.status, 422);
	assert_non_null(strstr(r3.body, "idempotency_key_reused"));
	n1 = th_pg_value(db, "SELECT count(*) FROM calls");
	assert_int_equal(atoi(n1), atoi(n0) + 1);
	th_response_free(&r1);
	th_response_free(&r2);
	th_response_free(&r3);
	free(n0);
	free(n1);
	free(url);
	free(auth);
}

static void
test_calls_list_pagination_and_filters(void **state)
{
	json_t		*j, *items;
	const char	*cursor;
	char		*path;
	long long	 last = 0, first_page_last;
	int		 i;

	(void)state;
	for (i = 0; i < 3; i++)
		json_decref((api(oper, "POST", "/v1/calls", "{\"caller_phone\": "
		    "\"13900000002\", \"service\": \"meal\", \"duplicate_ok\": "
		    "true}", &j), j));
	assert_int_equal(api(oper, "GET", "/v1/calls?limit=2", NULL, &j), 200);
	items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_true(id_of(json_array_get(items, 0)) >
	    id_of(json_array_get(items, 1)));
	first_page_last = id_of(json_array_get(items, 1));
	cursor = json_string_value(json_object_get(j, "next_cursor"));
	assert_non_null(cursor);
	path = xprintf("/v1/calls?limit=2&cursor=%s", cursor);
	json_decref(j);
	assert_int_equal(api(oper, "GET", path, NULL, &j), 200);
	items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_true(id_of(json_array_get(items, 0)) < first_page_last);
	json_decref(j);
	free(path);

	/* Filters: every item matches. */
	assert_int_equal(api(oper, "GET", "/v1/calls?status=unmatched&"
	    "service=meal&limit=100", NULL, &j), 200);
	items = json_object_get(j, "items");
	assert_true(json_array_size(items) >= 3);
	for (i = 0; i < (int)json_array_size(items); i++) {
		json_t *c = json_array_get(items, i);

		assert_string_equal(json_string_value(json_object_get(c,
		    "status")), "unmatched");
		assert_string_equal(json_string_value(json_object_get(c,
		    "service")), "meal");
		last = id_of(c);
	}
	assert_true(last > 0);
	json_decref(j);
	path = xprintf("/v1/calls?resident_id=%lld&since=2020-01-01T00:00:00"
	    "%%2B08:00", resident_far);
	assert_int_equal(api(oper, "GET", path, NULL, &j), 200);
	items = json_object_get(j, "items");
	for (i = 0; i < (int)json_array_size(items); i++)
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(items, i), "resident_id")), resident_far);
	json_decref(j);
	free(path);

	assert_int_equal(api(oper, "GET", "/v1/calls?status=lost", NULL, &j),
	    400);
	assert_string_equal(th_err_field(j), "status");
	json_decref(j);
	assert_int_equal(api(oper, "GET", "/v1/calls?colour=red", NULL, &j),
	    400);
	assert_string_equal(th_err_field(j), "colour");
	json_decref(j);
}

static void
test_matches_preview_stores_nothing(void **state)
{
	json_t	*j;
	char	*path, *before, *after;

	(void)state;
	before = snapshot();
	path = xprintf("/v1/matches?resident_id=%lld&service=meal", resident_a);
	assert_int_equal(api(oper, "GET", path, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "candidates")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_object_get(j, "candidates"), 0), "rank")), 1);
	json_decref(j);
	free(path);
	after = snapshot();
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(api(oper, "GET", "/v1/matches?resident_id=1", NULL,
	    &j), 400);
	json_decref(j);
	assert_int_equal(api(oper, "GET", "/v1/matches?resident_id=424242&"
	    "service=meal", NULL, &j), 404);
	json_decref(j);
}

static void
test_tokens_api(void **state)
{
	json_t		*j;
	char		*tok, *path;
	long long	 id;

	(void)state;
	assert_int_equal(api(admin, "POST", "/v1/tokens", "{\"name\": \"PBX\", "
	    "\"role\": \"operator\"}", &j), 201);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	id = id_of(j);
	json_decref(j);
	assert_int_equal(strncmp(tok, "clt_", 4), 0);
	assert_int_equal(api(tok, "GET", "/v1/calls?limit=1", NULL, &j), 200);
	json_decref(j);
	/* Listed without the token or its hash. */
	assert_int_equal(api(admin, "GET", "/v1/tokens", NULL, &j), 200);
	{
		char *s = json_dumps(j, 0);

		assert_null(strstr(s, tok));
		assert_null(strstr(s, "hash"));
		free(s);
	}
	json_decref(j);
	path = xprintf("/v1/tokens/%lld", id);
	assert_int_equal(api(admin, "DELETE", path, NULL, &j), 200);
	json_decref(j);
	assert_int_equal(api(tok, "GET", "/v1/calls?limit=1", NULL, &j), 401);
	json_decref(j);
	free(path);
	free(tok);
	assert_int_equal(api(admin, "POST", "/v1/tokens", "{\"name\": \"p\", "
	    "\"role\": \"provider\"}", &j), 422);
	assert_string_equal(th_err_field(j), "provider_id");
	json_decref(j);
}

struct bad_case {
	const char	*what;
	const char	*path;
	const char	*ctype;		/* NULL: application/json */
	const char	*body;
	long		 status;
	const char	*field;		/* NULL: none expected */
};

static void
run_bad(const struct bad_case *bc)
{
	struct th_response	 r;
	const char		*h[3];
	char			*auth, *url, *before, *after, *ct;
	json_t			*j;

	auth = xprintf("Authorization: Bearer %s", admin);
	ct = xprintf("Content-Type: %s", bc->ctype != NULL ? bc->ctype :
	    "application/json");
	h[0] = auth;
	h[1] = ct;
	h[2] = NULL;
	url = xprintf("%s%s", d.url, bc->path);
	before = snapshot();
	assert_int_equal(th_http(&r, "POST", url, bc->body, h), 0);
	if (r.status != bc->status)
		fprintf(stderr, "case '%s': got %ld %s\n", bc->what, r.status,
		    r.body);
	assert_int_equal(r.status, bc->status);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	assert_true(strlen(th_err_code(j)) > 0);
	if (bc->field != NULL) {
		if (strcmp(th_err_field(j), bc->field) != 0)
			fprintf(stderr, "case '%s': field %s\n", bc->what,
			    r.body);
		assert_string_equal(th_err_field(j), bc->field);
	}
	json_decref(j);
	after = snapshot();
	assert_string_equal(before, after);
	th_response_free(&r);
	free(before);
	free(after);
	free(url);
	free(auth);
	free(ct);
}

#define CALL_OK_TAIL	", \"service\": \"meal\", \"duplicate_ok\": true}"
#define RES_BASE \
	"{\"name\": \"赵一\", \"phone\": \"13900009999\", \"address\": \"x\""

static void
test_bad_input_changes_nothing(void **state)
{
	static char		 deep[256], bigbody[80 * 1024];
	const struct bad_case	 cases[] = {
		{ "not JSON", "/v1/calls", NULL, "{\"caller_phone\": ", 400,
		  NULL },
		{ "array", "/v1/calls", NULL, "[1, 2]", 400, NULL },
		{ "empty", "/v1/calls", NULL, "", 400, NULL },
		{ "text/plain", "/v1/calls", "text/plain", "{}", 415, NULL },
		{ "form", "/v1/residents", "application/x-www-form-urlencoded",
		  "name=x", 415, NULL },
		{ "deep", "/v1/calls", NULL, deep, 400, NULL },
		{ "bad UTF-8", "/v1/residents", NULL, RES_BASE ", \"lat\": 27.9, "
		  "\"lon\": 113.2, \"community\": \"\xff\xfe\"}", 400, NULL },
		{ "duplicate key", "/v1/calls", NULL, "{\"service\": \"meal\", "
		  "\"service\": \"meal\"}", 400, NULL },
		{ "too big", "/v1/calls", NULL, bigbody, 413, NULL },
		{ "unknown field", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"colour\": \"red\"" CALL_OK_TAIL, 422,
		  "colour" },
		{ "missing service", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\"}", 422, "service" },
		{ "missing phone", "/v1/calls", NULL, "{\"service\": \"meal\"}",
		  422, "caller_phone" },
		{ "unknown service", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"service\": \"laundry\"}", 422, "service" },
		{ "malformed phone", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"139-abc\"" CALL_OK_TAIL, 422, "caller_phone" },
		{ "short phone", "/v1/calls", NULL, "{\"caller_phone\": \"123\""
		  CALL_OK_TAIL, 422, "caller_phone" },
		{ "phone as number", "/v1/calls", NULL, "{\"caller_phone\": "
		  "13900000001" CALL_OK_TAIL, 422, "caller_phone" },
		{ "resident_id string", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"resident_id\": \"1\"" CALL_OK_TAIL, 422,
		  "resident_id" },
		{ "bad wanted_at", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"wanted_at\": \"tomorrow\"" CALL_OK_TAIL,
		  422, "wanted_at" },
		{ "wanted_at without offset", "/v1/calls", NULL,
		  "{\"caller_phone\": \"13900000001\", \"wanted_at\": "
		  "\"2026-12-01T12:00:00\"" CALL_OK_TAIL, 422, "wanted_at" },
		{ "bad urgency", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"urgency\": \"now!\"" CALL_OK_TAIL, 422,
		  "urgency" },
		{ "duplicate_ok not bool", "/v1/calls", NULL,
		  "{\"caller_phone\": \"13900000001\", \"service\": \"meal\", "
		  "\"duplicate_ok\": 1}", 422, "duplicate_ok" },
		{ "unknown resident", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13900000001\", \"resident_id\": 999999" CALL_OK_TAIL, 404,
		  "resident_id" },
		{ "unregistered caller", "/v1/calls", NULL, "{\"caller_phone\": "
		  "\"13911112222\"" CALL_OK_TAIL, 422, "caller_phone" },
		{ "lat too big", "/v1/residents", NULL, RES_BASE ", \"lat\": 91, "
		  "\"lon\": 113.2}", 422, "lat" },
		{ "lon too small", "/v1/residents", NULL, RES_BASE ", \"lat\": "
		  "27.9, \"lon\": -180.5}", 422, "lon" },
		{ "lat not finite", "/v1/residents", NULL, RES_BASE ", \"lat\": "
		  "1e999, \"lon\": 113.2}", 400, NULL },
		{ "lat as string", "/v1/residents", NULL, RES_BASE ", \"lat\": "
		  "\"27.9\", \"lon\": 113.2}", 422, "lat" },
		{ "missing lon", "/v1/residents", NULL, RES_BASE ", \"lat\": "
		  "27.9}", 422, "lon" },
		{ "blank name", "/v1/residents", NULL, "{\"name\": \"  \", "
		  "\"phone\": \"13900009999\", \"address\": \"x\", \"lat\": 27.9, "
		  "\"lon\": 113.2}", 422, "name" },
		{ "bad mobility", "/v1/residents", NULL, RES_BASE ", \"lat\": "
		  "27.9, \"lon\": 113.2, \"mobility\": \"flying\"}", 422,
		  "mobility" },
		{ "null name", "/v1/residents", NULL, "{\"name\": null, "
		  "\"phone\": \"13900009999\", \"address\": \"x\", \"lat\": 27.9, "
		  "\"lon\": 113.2}", 422, "name" },
		{ "unknown community", "/v1/residents", NULL, RES_BASE
		  ", \"lat\": 27.9, \"lon\": 113.2, \"community\": \"火星\"}",
		  422, "community" },
		{ "bad hours", "/v1/providers", NULL, "{\"name\": \"x\", "
		  "\"services\": [\"meal\"], \"travel_mode\": \"walk\", \"lat\": "
		  "27.9, \"lon\": 113.2, \"capacity\": 2, \"opening_hours\": "
		  "\"Mo-Fr 8-18\"}", 422, "opening_hours" },
		{ "bad service list", "/v1/providers", NULL, "{\"name\": \"x\", "
		  "\"services\": [\"meal\", \"meal\"], \"travel_mode\": \"walk\", "
		  "\"lat\": 27.9, \"lon\": 113.2, \"capacity\": 2, "
		  "\"opening_hours\": \"24/7\"}", 422, "services" },
		{ "capacity zero", "/v1/providers", NULL, "{\"name\": \"x\", "
		  "\"services\": [\"meal\"], \"travel_mode\": \"walk\", \"lat\": "
		  "27.9, \"lon\": 113.2, \"capacity\": 0, \"opening_hours\": "
		  "\"24/7\"}", 422, "capacity" },
		{ "bad webhook url", "/v1/providers", NULL, "{\"name\": \"x\", "
		  "\"services\": [\"meal\"], \"travel_mode\": \"walk\", \"lat\": "
		  "27.9, \"lon\": 113.2, \"capacity\": 2, \"opening_hours\": "
		  "\"24/7\", \"webhook_url\": \"ftp://x/\"}", 422,
		  "webhook_url" },
		{ "bad travel mode", "/v1/providers", NULL, "{\"name\": \"x\", "
		  "\"services\": [\"meal\"], \"travel_mode\": \"horse\", \"lat\": "
		  "27.9, \"lon\": 113.2, \"capacity\": 2, \"opening_hours\": "
		  "\"24/7\"}", 422, "travel_mode" },
		{ "bad token role", "/v1/tokens", NULL, "{\"name\": \"x\", "
		  "\"role\": \"root\"}", 422, "role" },
	};
	size_t	i;
	int	k;

	(void)state;
	for (k = 0; k < 40; k++)
		deep[k] = '[';
	deep[40] = '\0';
	memset(bigbody, ' ', sizeof bigbody - 1);
	bigbody[0] = '{';
	bigbody[sizeof bigbody - 2] = '}';
	for (i = 0; i < sizeof cases / sizeof *cases; i++)
		run_bad(&cases[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_required),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_resident_crud_and_search),
		cmocka_unit_test(test_provider_secret_once_and_deactivate),
		cmocka_unit_test(test_call_matched_with_ranked_candidates),
		cmocka_unit_test(test_call_unmatched_is_logged),
		cmocka_unit_test(test_call_complete),
		cmocka_unit_test(test_idempotency_key),
		cmocka_unit_test(test_calls_list_pagination_and_filters),
		cmocka_unit_test(test_matches_preview_stores_nothing),
		cmocka_unit_test(test_tokens_api),
		cmocka_unit_test(test_bad_input_changes_nothing),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
