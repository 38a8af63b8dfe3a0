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

/* The server ended it: a whole chunked body (curl says OK), no error. */
static void
stream_assert_ended(struct th_stream *s)
{
	assert_int_equal(th_stream_wait(s, NULL, WAIT_MS), 0);
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
	if (th_group_up("streams", &db, &admin, NULL, &d) != 0)
		return (-1);
	if (th_pg_exec(db, "INSERT INTO residents (name, phone, address, "
	    "location) VALUES ('周阿公', '13900007777', '荷塘区月塘街道', "
	    "ST_SetSRID(ST_MakePoint(113.19, 27.88), 4326)::geography)") != 0)
		return (-1);
	return (th_daemon_start(&d, db, "events:\n  recheck: 1s\n"
	    "  max_per_credential: 2\n  max_streams: 4\n"
	    "  replay_max: 20\n", 2, NULL));
}

static void
test_sign_out_ends_stream(void **state)
{
	struct th_stream	*s;
	char		*tok;

	(void)state;
	tok = make_operator_session("wangfang");
	s = th_stream_open(d.url, tok, NULL, WAIT_MS);
	assert_int_equal(th_api(d.url, tok, "DELETE", "/v1/session", NULL,
	    NULL), 204);
	/* Rung after the sign-out: never on that stream. */
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"13900007777\"}", NULL), 202);
	stream_assert_ended(s);
	assert_non_null(strstr(s->text, "event: ended\n"));
	assert_null(strstr(s->text, "call.ringing"));
	assert_null(strstr(s->text, "周阿公"));
	th_stream_close(s);
	free(tok);
}

static void
test_revoked_token_ends_stream(void **state)
{
	struct th_stream	*s;
	long long	 id;
	char		*tok;

	(void)state;
	tok = make_token("wallboard", &id);
	s = th_stream_open(d.url, tok, NULL, WAIT_MS);
	token_revoke(id);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"13900007777\"}", NULL), 202);
	stream_assert_ended(s);
	assert_null(strstr(s->text, "call.ringing"));
	th_stream_close(s);
	free(tok);
}

/* A request held by a lock the test holds: it keeps a pool connection. */
struct blocker {
	pthread_t	 thread;
	const char	*path;
};

static void *
blocker_run(void *arg)
{
	struct blocker	*b = arg;

	th_api(d.url, admin, "GET", b->path, NULL, NULL);
	return (NULL);
}


/*
 * A stream that connects while the hub's read of new rows waits for a
 * pool connection was not in that read's list of credentials to check:
 * its answer (taken after the stream's token was revoked and an event
 * committed) must not reach it. The pool is held full by requests that
 * wait for a lock, so the read is sure to run after both commits.
 */
static void
test_stream_newer_than_fetch_is_checked(void **state)
{
	struct blocker		 bl[4];
	struct th_stream	*a, *b;
	PGconn			*lock;
	PGresult		*res;
	long long		 ida, idb;
	long			 until;
	char			*ta, *tb, *path, *sql, *rid;
	size_t			 i;

	(void)state;
	ta = make_token("console early", &ida);
	tb = make_token("console late", &idb);
	a = th_stream_open(d.url, ta, NULL, WAIT_MS);
	/* b's token is in the daemon's cache: its stream needs no query. */
	assert_int_equal(th_api(d.url, tb, "GET", "/v1/config", NULL, NULL),
	    200);
	rid = th_pg_value(db, "SELECT min(id) FROM residents");
	assert_non_null(rid);
	path = xprintf("/v1/residents/%s", rid);
	lock = th_pg(db);
	res = PQexec(lock, "BEGIN; LOCK TABLE residents IN ACCESS EXCLUSIVE "
	    "MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (i = 0; i < sizeof bl / sizeof bl[0]; i++) {
		bl[i].path = path;
		assert_int_equal(pthread_create(&bl[i].thread, NULL,
		    blocker_run, &bl[i]), 0);
	}
	/* database.pool_size is 4: every connection waits for the lock. */
	assert_int_equal(th_pg_wait(db, "SELECT count(*) FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "wait_event_type = 'Lock'", "4", WAIT_MS), 0);
	/*
	 * The hub's next read (recheck: 1s) waits for a connection, with a
	 * only in its list: nothing else asks the pool now.
	 */
	until = th_now_ms() + WAIT_MS;
	while (th_metric(d.url, "careline_db_pool_waiting") != 1) {
		assert_true(th_now_ms() < until);
		usleep(20000);
	}
	b = th_stream_open(d.url, tb, NULL, WAIT_MS);
	sql = xprintf("UPDATE api_tokens SET revoked_at = now() WHERE id = "
	    "%lld", idb);
	assert_int_equal(th_pg_exec(db, sql), 0);
	assert_int_equal(th_pg_exec(db, "SELECT careline_event('call.ringing', "
	    "NULL, '{\"probe\": \"after-revoke\"}')"), 0);
	res = PQexec(lock, "COMMIT");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(lock);
	for (i = 0; i < sizeof bl / sizeof bl[0]; i++)
		pthread_join(bl[i].thread, NULL);

	/* a was checked: it has the event; b ends without it. */
	assert_int_equal(th_stream_wait(a, "after-revoke", WAIT_MS), 0);
	stream_assert_ended(b);
	assert_non_null(strstr(b->text, "event: ended\n"));
	assert_null(strstr(b->text, "after-revoke"));
	th_stream_close(a);
	th_stream_close(b);
	free(sql);
	free(path);
	free(rid);
	free(ta);
	free(tb);
}

static void
test_disabled_operator_stream_ends(void **state)
{
	struct th_stream	*s;
	char		*tok;

	(void)state;
	tok = make_operator_session("liuqiang");
	s = th_stream_open(d.url, tok, NULL, WAIT_MS);
	assert_int_equal(th_pg_exec(db, "UPDATE operators SET disabled_at = "
	    "now() WHERE name = 'liuqiang'"), 0);
	stream_assert_ended(s);
	th_stream_close(s);
	free(tok);
}

static void
test_streams_capped_and_freed(void **state)
{
	struct th_stream	*a1, *a2, *b1, *b2, *w;
	json_t		*j;
	long long	 ida, idb, idw;
	char		*ta, *tb, *tw;

	(void)state;
	ta = make_token("console a", &ida);
	tb = make_token("console b", &idb);
	tw = make_token("console w", &idw);
	a1 = th_stream_open(d.url, ta, NULL, WAIT_MS);
	a2 = th_stream_open(d.url, ta, NULL, WAIT_MS);
	/* The third on one credential: a clear 429. */
	assert_int_equal(th_api(d.url, ta, "GET", "/v1/events", NULL, &j),
	    429);
	assert_string_equal(th_err_code(j), "too_many_streams");
	json_decref(j);
	b1 = th_stream_open(d.url, tb, NULL, WAIT_MS);
	b2 = th_stream_open(d.url, tb, NULL, WAIT_MS);
	/* Four in all: the instance is full. */
	assert_int_equal(th_api(d.url, tw, "GET", "/v1/events", NULL, &j),
	    503);
	assert_string_equal(th_err_code(j), "too_many_streams");
	json_decref(j);
	/* Revoking a's token ends its streams and frees their slots. */
	token_revoke(ida);
	stream_assert_ended(a1);
	stream_assert_ended(a2);
	w = th_stream_open(d.url, tw, NULL, WAIT_MS);
	assert_false(th_stream_has(w, NULL));
	th_stream_close(w);
	th_stream_close(a1);
	th_stream_close(a2);
	th_stream_close(b1);
	th_stream_close(b2);
	free(ta);
	free(tb);
	free(tw);
}

static void
test_ringing_events_hold_ids(void **state)
{
	struct th_stream	*s;
	json_t		*j;
	long long	 rid;
	char		*tok, *v, *path, *want;

	(void)state;
	tok = make_operator_session("sunli");
	s = th_stream_open(d.url, tok, NULL, WAIT_MS);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/ringing",
	    "{\"phone\": \"139 0000 7777\"}", &j), 202);
	/* The PBX asked with its token: its answer still names them. */
	assert_int_equal(json_array_size(json_object_get(j, "residents")), 1);
	rid = json_integer_value(json_object_get(j, "ringing_id"));
	assert_true(rid > 0);
	json_decref(j);

	/* Stored: ids only, no name, phone or address anywhere. */
	th_expect_val(db, "0", "SELECT count(*) FROM events WHERE type = "
	    "'call.ringing' AND (data::text LIKE '%%周阿公%%' OR "
	    "data::text LIKE '%%7777%%' OR data::text LIKE '%%月塘%%' OR "
	    "data ? 'phone' OR data ? 'residents')");
	want = xprintf("{\"ringing_id\": %lld, \"resident_ids\": [%s]}", rid,
	    "1");
	v = th_pg_value(db, "SELECT data::text FROM events WHERE type = "
	    "'call.ringing' ORDER BY id DESC LIMIT 1");
	assert_string_equal(v, want);
	free(v);
	free(want);

	/* Sent: the same ids; the console asks for the rest. */
	want = xprintf("\"ringing_id\": %lld", rid);
	assert_int_equal(th_stream_wait(s, want, WAIT_MS), 0);
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
	th_stream_close(s);
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
	struct th_stream	*s;
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
	s = th_stream_open(d.url, tok, "0", WAIT_MS);
	assert_int_equal(th_stream_wait(s, newest, WAIT_MS), 0);
	n = count_ids(s->text, old_top);
	assert_int_equal(n, 3);
	th_stream_close(s);
	free(newest);

	/* Many missed: at most events.replay_max, the newest. */
	assert_int_equal(th_pg_exec(db, "SELECT careline_event('call.created',"
	    " NULL, '{}') FROM generate_series(1, 60)"), 0);
	newest = th_pg_value(db, "SELECT 'id: ' || max(id) || E'\\n' FROM "
	    "events");
	v = th_pg_value(db, "SELECT max(id) FROM events");
	s = th_stream_open(d.url, tok, "0", WAIT_MS);
	assert_int_equal(th_stream_wait(s, newest, WAIT_MS), 0);
	n = count_ids(s->text, atoll(v) - REPLAY_MAX);
	assert_true(n > 0 && n <= REPLAY_MAX);
	th_stream_close(s);
	free(newest);
	free(v);
	free(tok);
}

/* Last: the daemon stops. */
static void
test_sigterm_ends_streams_cleanly(void **state)
{
	struct th_stream	*s, *t;
	char		*tok;

	(void)state;
	tok = make_operator_session("hewei");
	s = th_stream_open(d.url, tok, NULL, WAIT_MS);
	t = th_stream_open(d.url, admin, NULL, WAIT_MS);
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	stream_assert_ended(s);
	stream_assert_ended(t);
	/* The last event tells the console to reconnect (elsewhere) now. */
	assert_non_null(strstr(s->text, "retry: 250\nevent: shutdown\n"));
	assert_non_null(strstr(t->text, "event: shutdown\n"));
	assert_int_equal(th_daemon_signal_wait(&d, 0, WAIT_MS), 0);
	th_stream_close(s);
	th_stream_close(t);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_out_ends_stream),
		cmocka_unit_test(test_revoked_token_ends_stream),
		cmocka_unit_test(test_stream_newer_than_fetch_is_checked),
		cmocka_unit_test(test_disabled_operator_stream_ends),
		cmocka_unit_test(test_streams_capped_and_freed),
		cmocka_unit_test(test_ringing_events_hold_ids),
		cmocka_unit_test(test_replay_bounded),
		cmocka_unit_test(test_sigterm_ends_streams_cleanly),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
