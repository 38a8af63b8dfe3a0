/*
 * What the console stands on: its files served with a strict CSP and
 * nothing outside them, operators signing in (Argon2id, throttled,
 * idle sessions end), the live event stream and the caller-ID pop.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define PASSWORD	"correct horse battery"

static char		*db, *admin, *www;
static struct th_daemon	 d;

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path = xprintf("%s/%s", dir, name);
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static int
group_setup(void **state)
{
	char	*secret;

	(void)state;
	if ((db = th_db_ready("t_console")) == NULL)
		return (-1);
	admin = th_token(db, "admin", "console test admin");
	www = xprintf("%s/www-%d", th_tmp(), (int)getpid());
	mkdir(www, 0755);
	secret = xprintf("%s/secret.txt", th_tmp());
	write_file(th_tmp(), "secret.txt", "not for the web\n");
	free(secret);
	write_file(www, "index.html", "<!doctype html><title>careline"
	    "</title><script type=\"module\" src=\"app.js\"></script>\n");
	write_file(www, "app.js", "export const ok = 1;\n");
	write_file(www, "app.css", "body { margin: 0 }\n");
	if (th_operator(db, "lihua", "operator", PASSWORD) != 0)
		return (-1);
	{
		char *extra = xprintf("auth:\n  token_cache_ttl: 0s\n"
		    "  session_idle: 2s\nstatic:\n  dir: %s\n", www);
		int rc;

		/* The harness writes static.dir itself: override by section. */
		rc = th_daemon_start(&d, db, extra, 2, NULL);
		free(extra);
		return (rc);
	}
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_stop(&d);
	free(db);
	free(admin);
	free(www);
	return (0);
}

static void
test_static_files_and_csp(void **state)
{
	struct th_response	 r;
	char			*u;

	(void)state;
	u = xprintf("%s/", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "Content-Type: text/html"));
	assert_non_null(strcasestr(r.headers, "Content-Security-Policy: "
	    "default-src 'self'; script-src 'self'"));
	assert_non_null(strcasestr(r.headers,
	    "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(r.body, "<title>careline</title>"));
	th_response_free(&r);
	free(u);
	u = xprintf("%s/app.js", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers,
	    "Content-Type: text/javascript"));
	th_response_free(&r);
	free(u);
	u = xprintf("%s/app.css", d.url);
	assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
	assert_non_null(strcasestr(r.headers, "Content-Type: text/css"));
	th_response_free(&r);
	free(u);
}

static void
test_path_traversal_refused(void **state)
{
	static const char *const paths[] = {
		"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
		"/%2e%2e%2fsecret.txt", "//etc/passwd", "/./index.html/..",
		"/index.html/../../secret.txt", "/..\\secret.txt",
		"/%252e%252e/secret.txt", "/etc/passwd", "/.hidden",
		"/index.html%00.js", "/nope.html",
	};
	struct th_response	 r;
	char			*u;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof paths / sizeof *paths; i++) {
		u = xprintf("%s%s", d.url, paths[i]);
		assert_int_equal(th_http(&r, "GET", u, NULL, NULL), 0);
		if (r.status != 404 && r.status != 400)
			fprintf(stderr, "%s: %ld\n", paths[i], r.status);
		assert_true(r.status == 404 || r.status == 400);
		assert_null(strstr(r.body, "not for the web"));
		assert_null(strstr(r.body, "root:"));
		th_response_free(&r);
		free(u);
	}
}

static char *
sign_in(const char *name, const char *password, long want)
{
	json_t	*j;
	char	*body, *tok = NULL;

	body = xprintf("{\"name\": \"%s\", \"password\": \"%s\"}", name,
	    password);
	assert_int_equal(th_api(d.url, NULL, "POST", "/v1/session", body, &j),
	    want);
	if (want == 201) {
		tok = xstrdup(json_string_value(json_object_get(j, "token")));
		assert_int_equal(strncmp(tok, "cls_", 4), 0);
		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(j, "operator"), "role")), "operator");
	}
	json_decref(j);
	free(body);
	return (tok);
}

static void
test_sign_in_use_sign_out(void **state)
{
	json_t	*j;
	char	*tok, *n;

	(void)state;
	assert_null(sign_in("lihua", "wrong password", 401));
	assert_null(sign_in("nobody", PASSWORD, 401));
	tok = sign_in("LiHua", PASSWORD, 201);
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/session", NULL, &j),
	    200);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    j, "operator"), "name")), "lihua");
	json_decref(j);
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	/* A session logs calls like a token, Idempotency-Key and all. */
	assert_int_equal(th_pg_exec(db, "INSERT INTO residents (name, phone, "
	    "address, location) VALUES ('周老伯', '13900006666', '荷塘区', "
	    "ST_SetSRID(ST_MakePoint(113.18, 27.87), 4326)::geography)"), 0);
	{
		struct th_response	 r1, r2;
		char			*auth = xprintf("Authorization: Bearer %s",
					    tok);
		char			*u = xprintf("%s/v1/calls", d.url);
		const char		*h[] = { auth, "Content-Type: "
					    "application/json",
					    "Idempotency-Key: console-1", NULL };
		const char		*body = "{\"caller_phone\": "
					    "\"13900006666\", \"service\": "
					    "\"meal\"}";

		assert_int_equal(th_http(&r1, "POST", u, body, h), 0);
		assert_int_equal(r1.status, 201);
		assert_int_equal(th_http(&r2, "POST", u, body, h), 0);
		assert_int_equal(r2.status, 201);
		assert_string_equal(r1.body, r2.body);
		th_response_free(&r1);
		th_response_free(&r2);
		free(auth);
		free(u);
	}
	n = th_pg_value(db, "SELECT count(*) FROM audit_log WHERE action = "
	    "'call.create' AND actor LIKE 'operator:%'");
	assert_string_equal(n, "1");
	free(n);
	/* Operators are not admins. */
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/providers", NULL,
	    NULL), 403);
	assert_int_equal(th_api(d.url, tok, "DELETE", "/v1/session", NULL,
	    NULL), 204);
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 401);
	/* Stored as an Argon2id hash; sign-ins and sign-outs audited. */
	n = th_pg_value(db, "SELECT password_hash LIKE '$argon2id$%' FROM "
	    "operators WHERE name = 'lihua'");
	assert_string_equal(n, "t");
	free(n);
	n = th_pg_value(db, "SELECT count(*) FROM audit_log WHERE action IN "
	    "('session.start', 'session.end', 'session.failed')");
	assert_true(atoi(n) >= 3);
	free(n);
	free(tok);
}

static void
test_idle_session_ends(void **state)
{
	char	*tok;

	(void)state;
	tok = sign_in("lihua", PASSWORD, 201);
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/session", NULL, NULL),
	    200);
	sleep(3);	/* auth.session_idle is 2 s here */
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/session", NULL, NULL),
	    401);
	free(tok);
}

static void
test_repeated_failures_slowed(void **state)
{
	struct th_response	 r;
	const char		*h[] = { "Content-Type: application/json", NULL };
	char			*u;
	int			 i;

	(void)state;
	assert_int_equal(th_operator(db, "wangfang", "operator", PASSWORD), 0);
	u = xprintf("%s/v1/session", d.url);
	for (i = 0; i < 3; i++) {
		assert_int_equal(th_http(&r, "POST", u, "{\"name\": \"wangfang\","
		    " \"password\": \"guess-guess\"}", h), 0);
		assert_int_equal(r.status, 401);
		th_response_free(&r);
	}
	/* Even the right password must now wait. */
	assert_int_equal(th_http(&r, "POST", u, "{\"name\": \"wangfang\", "
	    "\"password\": \"" PASSWORD "\"}", h), 0);
	assert_int_equal(r.status, 429);
	assert_non_null(strcasestr(r.headers, "Retry-After: "));
	assert_non_null(strstr(r.body, "too_many_attempts"));
	th_response_free(&r);
	free(u);
}

static void
test_admin_creates_operators(void **state)
{
	json_t	*j;
	char	*tok;

	(void)state;
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"zhaomin\", \"password\": \"" PASSWORD "\"}", &j),
	    201);
	assert_string_equal(json_string_value(json_object_get(j, "role")),
	    "operator");
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"zhaomin\", \"password\": \"" PASSWORD "\"}", &j),
	    409);
	json_decref(j);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators",
	    "{\"name\": \"short\", \"password\": \"1234\"}", &j), 422);
	assert_string_equal(th_err_field(j), "password");
	json_decref(j);
	tok = sign_in("zhaomin", PASSWORD, 201);
	assert_int_equal(th_api(d.url, tok, "POST", "/v1/operators",
	    "{\"name\": \"x\", \"password\": \"" PASSWORD "\"}", NULL), 403);
	free(tok);
}

struct stream {
	const char	*url;
	const char	*token;
	const char	*last_id;
	long		 ms;
	struct th_buf	 got;
};

/* Read /v1/events for a while. */
static void *
stream_read(void *arg)
{
	struct stream		*s = arg;
	struct curl_slist	*h = NULL;
	char			 line[256];
	CURL			*c = curl_easy_init();
	char			*u = xprintf("%s/v1/events", s->url);

	snprintf(line, sizeof line, "Authorization: Bearer %s", s->token);
	h = curl_slist_append(h, line);
	if (s->last_id != NULL) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", s->last_id);
		h = curl_slist_append(h, line);
	}
	s->got.data = xstrdup("");
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->got);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(u);
	return (NULL);
}

static void
test_events_stream_and_screen_pop(void **state)
{
	struct stream	 s = { NULL, NULL, NULL, 1500, { NULL, 0 } };
	struct stream	 again = { NULL, NULL, "0", 1000, { NULL, 0 } };
	pthread_t	 t;
	json_t		*j;
	char		*tok;

	(void)state;
	assert_int_equal(th_pg_exec(db, "INSERT INTO residents (name, phone, "
	    "address, location) VALUES ('陈阿婆', '13900005555', '荷塘区', "
	    "ST_SetSRID(ST_MakePoint(113.19, 27.88), 4326)::geography)"), 0);
	tok = sign_in("zhaomin", PASSWORD, 201);
	s.url = again.url = d.url;
	s.token = again.token = tok;
	pthread_create(&t, NULL, stream_read, &s);
	usleep(500000);
	/* The PBX: a number rings; the console is told who it may be. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"139-0000-5555\"}", &j), 202);
	assert_int_equal(json_array_size(json_object_get(j, "residents")), 1);
	json_decref(j);
	pthread_join(t, NULL);
	assert_non_null(strstr(s.got.data, "event: call.ringing\n"));
	/* Ids only: the console fetches the number and the card. */
	assert_non_null(strstr(s.got.data, "\"ringing_id\": "));
	assert_null(strstr(s.got.data, "陈阿婆"));
	assert_non_null(strstr(s.got.data, "\nid: "));

	/* A console that reconnects with Last-Event-ID catches up. */
	stream_read(&again);
	assert_non_null(strstr(again.got.data, "event: call.ringing\n"));
	free(s.got.data);
	free(again.got.data);
	/* Bad input: a malformed number. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"abc\"}", &j), 422);
	assert_string_equal(th_err_field(j), "phone");
	json_decref(j);
	/* No token, no stream. */
	assert_int_equal(th_api(d.url, NULL, "GET", "/v1/events", NULL, NULL),
	    401);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_files_and_csp),
		cmocka_unit_test(test_path_traversal_refused),
		cmocka_unit_test(test_sign_in_use_sign_out),
		cmocka_unit_test(test_idle_session_ends),
		cmocka_unit_test(test_repeated_failures_slowed),
		cmocka_unit_test(test_admin_creates_operators),
		cmocka_unit_test(test_events_stream_and_screen_pop),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
