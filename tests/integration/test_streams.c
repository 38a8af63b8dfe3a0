/*
 * Event streams hold only while their credential does: a stream ends
 * (a clean end of the chunked body) after sign-out, token revocation or
 * an operator being disabled, and no event committed after that reaches
 * it; streams are capped per credential and an ended credential frees
 * its slots; stored call.ringing events carry ids, not a person, and a
 * replay from Last-Event-ID: 0 is bounded; SIGTERM ends streams cleanly.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define PASSWORD	"correct horse battery"
#define WAIT_MS		20000	/* for a condition, never a measure */
#define REPLAY_MAX	20

static char		*db, *admin;
static struct th_daemon	 d;

/* A stream read on its own thread until the server ends it. */
struct stream {
	char		*token;
	const char	*last_id;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	char		*text;
	size_t		 len;
	int		 done;
	int		 abort;
	CURLcode	 rc;
	long		 status;
};

static size_t
stream_collect(char *p, size_t size, size_t n, void *arg)
{
	struct stream	*s = arg;

	pthread_mutex_lock(&s->lock);
	s->text = xrealloc(s->text, s->len + size * n + 1);
	memcpy(s->text + s->len, p, size * n);
	s->len += size * n;
	s->text[s->len] = '\0';
	pthread_mutex_unlock(&s->lock);
	return (size * n);
}

static int
stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
    curl_off_t e)
{
	struct stream	*s = arg;
	int		 stop;

	(void)a;
	(void)b;
	(void)c;
	(void)e;
	pthread_mutex_lock(&s->lock);
	stop = s->abort;
	pthread_mutex_unlock(&s->lock);
	return (stop);
}

static void *
stream_run(void *arg)
{
	struct stream		*s = arg;
	struct curl_slist	*h = NULL;
	char			 line[256];
	CURL			*c = curl_easy_init();
	char			*u = xprintf("%s/v1/events", d.url);
	CURLcode		 rc;
	long			 status = 0;

	snprintf(line, sizeof line, "Authorization: Bearer %s", s->token);
	h = curl_slist_append(h, line);
	if (s->last_id != NULL) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", s->last_id);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	/* A safety net only: every test waits for a condition. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(u);
	pthread_mutex_lock(&s->lock);
	s->rc = rc;
	s->status = status;
	s->done = 1;
	pthread_mutex_unlock(&s->lock);
	return (NULL);
}

/* Has the stream got needle (or, with needle NULL, ended)? */
static int
stream_has(struct stream *s, const char *needle)
{
	int	yes;

	pthread_mutex_lock(&s->lock);
	yes = needle == NULL ? s->done : s->text != NULL &&
	    strstr(s->text, needle) != NULL;
	pthread_mutex_unlock(&s->lock);
	return (yes);
}

static int
stream_wait(struct stream *s, const char *needle)
{
	long	until = th_now_ms() + WAIT_MS;

	while (!stream_has(s, needle)) {
		if (th_now_ms() > until)
			return (-1);
		usleep(20000);
	}
	return (0);
}

/*
 * Open a stream and wait until the server has it (its first comment). On
 * the heap: a failed assertion leaves its thread running on it.
 */
static struct stream *
stream_open(const char *token, const char *last_id)
{
	struct stream	*s = xcalloc(1, sizeof *s);

	s->token = xstrdup(token);
	s->last_id = last_id;
	pthread_mutex_init(&s->lock, NULL);
	pthread_create(&s->thread, NULL, stream_run, s);
	assert_int_equal(stream_wait(s, ": connected\n"), 0);
	return (s);
}

static void
stream_close(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->abort = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s->text);
	free(s->token);
	free(s);
}

/* The server ended it: a whole chunked body (curl says OK), no error. */
static void
stream_assert_ended(struct stream *s)
{
	assert_int_equal(stream_wait(s, NULL), 0);
	assert_int_equal(s->rc, CURLE_OK);
	assert_int_equal(s->status, 200);
}

static char *
make_operator_session(const char *name)
{
	json_t	*j;
	char	*body, *tok;

	body = xprintf("{\"name\": \"%s\", \"password\": \"" PASSWORD "\"}",
	    name);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/operators", body,
	    NULL), 201);
	assert_int_equal(th_api(d.url, NULL, "POST", "/v1/session", body, &j),
	    201);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	json_decref(j);
	free(body);
	return (tok);
}

/* An operator API token made by an admin; *id gets its id. */
static char *
make_token(const char *name, long long *id)
{
	json_t	*j;
	char	*body, *tok;

	body = xprintf("{\"name\": \"%s\", \"role\": \"operator\"}", name);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/tokens", body, &j),
	    201);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	*id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	free(body);
	return (tok);
}

static void
token_revoke(long long id)
{
	char	*path = xprintf("/v1/tokens/%lld", id);

	assert_int_equal(th_api(d.url, admin, "DELETE", path, NULL, NULL),
	    200);
	free(path);
}

static int
group_setup(void **state)
{
	(void)state;
	th_init();
	db = th_db_create("t_streams");
	if (th_migrate(db, NULL) != 0)
		return (-1);
	admin = th_token(db, "admin", "streams test admin");
	if (th_pg_exec(db, "INSERT INTO residents (name, phone, address, "
	    "location) VALUES ('周阿公', '13900007777', '荷塘区月塘街道', "
	    "ST_SetSRID(ST_MakePoint(113.19, 27.88), 4326)::geography)") != 0)
		return (-1);
	return (th_daemon_start(&d, db, "events:\n  recheck: 1s\n"
	    "  max_per_credential: 2\n  max_streams: 4\n"
	    "  replay_max: 20\n", 2, NULL));
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_signal_wait(&d, SIGTERM, 10000);
	th_daemon_cleanup(&d);
	free(db);
	free(admin);
	return (0);
}

static void
test_sign_out_ends_stream(void **state)
{
	struct stream	*s;
	char		*tok;

	(void)state;
	tok = make_operator_session("wangfang");
	s = stream_open(tok, NULL);
	assert_int_equal(th_api(d.url, tok, "DELETE", "/v1/session", NULL,
	    NULL), 204);
	/* Rung after the sign-out: never on that stream. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"13900007777\"}", NULL), 202);
	stream_assert_ended(s);
	assert_non_null(strstr(s->text, "event: ended\n"));
	assert_null(strstr(s->text, "call.ringing"));
	assert_null(strstr(s->text, "周阿公"));
	stream_close(s);
	free(tok);
}

static void
test_revoked_token_ends_stream(void **state)
{
	struct stream	*s;
	long long	 id;
	char		*tok;

	(void)state;
	tok = make_token("wallboard", &id);
	s = stream_open(tok, NULL);
	token_revoke(id);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"13900007777\"}", NULL), 202);
	stream_assert_ended(s);
	assert_null(strstr(s->text, "call.ringing"));
	stream_close(s);
	free(tok);
}

static void
test_disabled_operator_stream_ends(void **state)
{
	struct stream	*s;
	char		*tok;

	(void)state;
	tok = make_operator_session("liuqiang");
	s = stream_open(tok, NULL);
	assert_int_equal(th_pg_exec(db, "UPDATE operators SET disabled_at = "
	    "now() WHERE name = 'liuqiang'"), 0);
	stream_assert_ended(s);
	stream_close(s);
	free(tok);
}

static void
test_streams_capped_and_freed(void **state)
{
	struct stream	*a1, *a2, *b1, *b2, *w;
	json_t		*j;
	long long	 ida, idb, idw;
	char		*ta, *tb, *tw;

	(void)state;
	ta = make_token("console a", &ida);
	tb = make_token("console b", &idb);
	tw = make_token("console w", &idw);
	a1 = stream_open(ta, NULL);
	a2 = stream_open(ta, NULL);
	/* The third on one credential: a clear 429. */
	assert_int_equal(th_api(d.url, ta, "GET", "/v1/events", NULL, &j),
	    429);
	assert_string_equal(th_err_code(j), "too_many_streams");
	json_decref(j);
	b1 = stream_open(tb, NULL);
	b2 = stream_open(tb, NULL);
	/* Four in all: the instance is full. */
	assert_int_equal(th_api(d.url, tw, "GET", "/v1/events", NULL, &j),
	    503);
	assert_string_equal(th_err_code(j), "too_many_streams");
	json_decref(j);
	/* Revoking a's token ends its streams and frees their slots. */
	token_revoke(ida);
	stream_assert_ended(a1);
	stream_assert_ended(a2);
	w = stream_open(tw, NULL);
	assert_false(stream_has(w, NULL));
	stream_close(w);
	stream_close(a1);
	stream_close(a2);
	stream_close(b1);
	stream_close(b2);
	free(ta);
	free(tb);
	free(tw);
}

static void
test_ringing_events_hold_ids(void **state)
{
	struct stream	*s;
	json_t		*j;
	long long	 rid;
	char		*tok, *v, *path, *want;

	(void)state;
	tok = make_operator_session("sunli");
	s = stream_open(tok, NULL);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"139 0000 7777\"}", &j), 202);
	/* The PBX asked with its token: its answer still names them. */
	assert_int_equal(json_array_size(json_object_get(j, "residents")), 1);
	rid = json_integer_value(json_object_get(j, "ringing_id"));
	assert_true(rid > 0);
	json_decref(j);

	/* Stored: ids only, no name, phone or address anywhere. */
	v = th_pg_value(db, "SELECT count(*) FROM events WHERE type = "
	    "'call.ringing' AND (data::text LIKE '%周阿公%' OR data::text "
	    "LIKE '%7777%' OR data::text LIKE '%月塘%' OR data ? 'phone' OR "
	    "data ? 'residents')");
	assert_string_equal(v, "0");
	free(v);
	want = xprintf("{\"ringing_id\": %lld, \"resident_ids\": [%s]}", rid,
	    "1");
	v = th_pg_value(db, "SELECT data::text FROM events WHERE type = "
	    "'call.ringing' ORDER BY id DESC LIMIT 1");
	assert_string_equal(v, want);
	free(v);
	free(want);

	/* Sent: the same ids; the console asks for the rest. */
	want = xprintf("\"ringing_id\": %lld", rid);
	assert_int_equal(stream_wait(s, want), 0);
	free(want);
	assert_null(strstr(s->text, "周阿公"));
	assert_null(strstr(s->text, "7777"));
	path = xprintf("/v1/ringing/%lld", rid);
	assert_int_equal(th_api(d.url, tok, "GET", path, NULL, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "phone")),
	    "13900007777");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j,
	    "resident_ids"), 0)), 1);
	json_decref(j);
	free(path);
	/* A day later the number is gone. */
	assert_int_equal(th_pg_exec(db, "UPDATE ringings SET at = now() - "
	    "interval '25 hours'"), 0);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"13900006666\"}", NULL), 202);
	path = xprintf("/v1/ringing/%lld", rid);
	assert_int_equal(th_api(d.url, tok, "GET", path, NULL, &j), 404);
	free(path);
	assert_string_equal(th_err_code(j), "ringing_not_found");
	json_decref(j);
	assert_int_equal(th_api(d.url, tok, "GET", "/v1/ringing/999999", NULL,
	    &j), 404);
	assert_string_equal(th_err_code(j), "ringing_not_found");
	json_decref(j);
	stream_close(s);
	free(tok);
}

/* How many events ("id:" lines) a replay sent, and are old ids among them? */
static int
count_ids(const char *text, long long below)
{
	const char	*p = text;
	int		 n = 0;

	while ((p = strstr(p, "\nid: ")) != NULL) {
		p += 5;
		assert_true(atoll(p) > below);
		n++;
	}
	return (n);
}

static void
test_replay_bounded(void **state)
{
	struct stream	*s;
	char		*tok, *v, *newest;
	long long	 old_top;
	int		 n;

	(void)state;
	tok = make_operator_session("zhouyan");
	/* Events older than events.replay_age (15 min) are not replayed. */
	assert_int_equal(th_pg_exec(db, "SELECT careline_event('call.created',"
	    " NULL, '{}') FROM generate_series(1, 5)"), 0);
	assert_int_equal(th_pg_exec(db, "UPDATE events SET at = now() - "
	    "interval '1 hour'"), 0);
	v = th_pg_value(db, "SELECT max(id) FROM events");
	old_top = atoll(v);
	free(v);
	assert_int_equal(th_pg_exec(db, "SELECT careline_event('call.created',"
	    " NULL, '{}') FROM generate_series(1, 3)"), 0);
	newest = th_pg_value(db, "SELECT 'id: ' || max(id) || E'\\n' FROM "
	    "events");
	s = stream_open(tok, "0");
	assert_int_equal(stream_wait(s, newest), 0);
	n = count_ids(s->text, old_top);
	assert_int_equal(n, 3);
	stream_close(s);
	free(newest);

	/* Many missed: at most events.replay_max, the newest. */
	assert_int_equal(th_pg_exec(db, "SELECT careline_event('call.created',"
	    " NULL, '{}') FROM generate_series(1, 60)"), 0);
	newest = th_pg_value(db, "SELECT 'id: ' || max(id) || E'\\n' FROM "
	    "events");
	v = th_pg_value(db, "SELECT max(id) FROM events");
	s = stream_open(tok, "0");
	assert_int_equal(stream_wait(s, newest), 0);
	n = count_ids(s->text, atoll(v) - REPLAY_MAX);
	assert_true(n > 0 && n <= REPLAY_MAX);
	stream_close(s);
	free(newest);
	free(v);
	free(tok);
}

/* Last: the daemon stops. */
static void
test_sigterm_ends_streams_cleanly(void **state)
{
	struct stream	*s, *t;
	char		*tok;

	(void)state;
	tok = make_operator_session("hewei");
	s = stream_open(tok, NULL);
	t = stream_open(admin, NULL);
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	stream_assert_ended(s);
	stream_assert_ended(t);
	/* The last event tells the console to reconnect (elsewhere) now. */
	assert_non_null(strstr(s->text, "retry: 250\nevent: shutdown\n"));
	assert_non_null(strstr(t->text, "event: shutdown\n"));
	assert_int_equal(th_daemon_signal_wait(&d, 0, WAIT_MS), 0);
	stream_close(s);
	stream_close(t);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_out_ends_stream),
		cmocka_unit_test(test_revoked_token_ends_stream),
		cmocka_unit_test(test_disabled_operator_stream_ends),
		cmocka_unit_test(test_streams_capped_and_freed),
		cmocka_unit_test(test_ringing_events_hold_ids),
		cmocka_unit_test(test_replay_bounded),
		cmocka_unit_test(test_sigterm_ends_streams_cleanly),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
