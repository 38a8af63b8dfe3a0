/*
 * daemon/db_pool.c on its own, against the real cluster: a db_query callback
 * never runs before db_query has returned, even when the connection the
 * query is given died under it (the server ended its backend) or libpq
 * refused to send it. Callers
 * rely on this to set their "a query is out" state after the call.
 *
 * And daemon/db_listen.c: each channel's subscribers get its
 * notifications, and each distinct subscriber one catch-up call after
 * every (re)connect.
 *
 * The pool is driven by this test's own event loop; the backend is ended
 * with pg_terminate_backend from a second connection, and the test waits
 * until the server has let it go before querying.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config.h"
#include "db_listen.h"
#include "db_pool.h"
#include "harness.h"
#include "xmalloc.h"

static char	*db;

struct probe {
	int		 returned;	/* db_query has returned */
	int		 called;	/* the callback ran */
	int		 early;		/* ... before db_query returned */
	enum db_status	 status;
	char		 value[64];
};

struct pool_fixture {
	struct event_base	*base;
	struct config		*cfg;
	struct db_pool		*pool;
	struct event		*tick;
	int			 up;
};

static void
probe_cb(const struct db_result *r, void *arg)
{
	struct probe	*p = arg;

	p->called++;
	if (!p->returned)
		p->early = 1;
	p->status = r->status;
	if (r->status == DB_OK && PQntuples(r->res) > 0)
		snprintf(p->value, sizeof p->value, "%s",
		    PQgetvalue(r->res, 0, 0));
}

static void
fx_up(void *arg)
{
	struct pool_fixture	*fx = arg;

	fx->up++;
}

/* Keeps EVLOOP_ONCE from sleeping for ever when nothing else is due. */
static void
fx_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *flag is non-zero: 0, or -1 after timeout_ms. */
static int
fx_run_until(struct pool_fixture *fx, const int *flag, int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;

	while (*flag == 0) {
		if (th_now_ms() > deadline)
			return (-1);
		event_base_loop(fx->base, EVLOOP_ONCE);
	}
	return (0);
}

/* Run the loop until *count reaches n: 0, or -1 after timeout_ms. */
static int
fx_run_until_n(struct pool_fixture *fx, const int *count, int n,
    int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;

	while (*count < n) {
		if (th_now_ms() > deadline)
			return (-1);
		event_base_loop(fx->base, EVLOOP_ONCE);
	}
	return (0);
}

static int
setup(void **state)
{
	struct pool_fixture	*fx;
	struct timeval		 tv = { 0, 20000 };

	fx = xcalloc(1, sizeof *fx);
	fx->base = event_base_new();
	fx->cfg = config_defaults();
	free(fx->cfg->db_url);
	fx->cfg->db_url = xstrdup(db);
	/* One connection: the query cannot go to another one. */
	fx->pool = db_pool_new_sized(fx->base, fx->cfg, "test", 1, fx_up, fx);
	fx->tick = event_new(fx->base, -1, EV_PERSIST, fx_tick, NULL);
	event_add(fx->tick, &tv);
	db_pool_start(fx->pool);
	*state = fx;
	if (fx_run_until(fx, &fx->up, 10000) != 0)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	struct pool_fixture	*fx = *state;

	db_pool_free(fx->pool);
	event_free(fx->tick);
	event_base_free(fx->base);
	config_free(fx->cfg);
	free(fx);
	return (0);
}

static void
query(struct pool_fixture *fx, const char *sql, struct probe *p)
{
	memset(p, 0, sizeof *p);
	assert_int_equal(db_query(fx->pool, sql, 0, NULL, probe_cb, p), 0);
	p->returned = 1;
}

/* End the pool's backend and wait until the server has let it go. */
static void
terminate_backend(struct pool_fixture *fx)
{
	struct probe	 p;
	char		*sql;

	query(fx, "SELECT pg_backend_pid()", &p);
	assert_int_equal(fx_run_until(fx, &p.called, 10000), 0);
	assert_int_equal(p.status, DB_OK);
	xasprintf(&sql, "SELECT pg_terminate_backend(%s)", p.value);
	assert_int_equal(th_pg_exec(db, sql), 0);
	free(sql);
	xasprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
	    p.value);
	assert_int_equal(th_pg_wait(db, sql, "0", 10000), 0);
	free(sql);
}

/* The pool comes back: a new connection answers. */
static void
assert_recovers(struct pool_fixture *fx)
{
	struct probe	p;
	long		deadline = th_now_ms() + 10000;

	for (;;) {
		memset(&p, 0, sizeof p);
		if (db_query(fx->pool, "SELECT 1", 0, NULL, probe_cb,
		    &p) == 0) {
			p.returned = 1;
			assert_int_equal(fx_run_until(fx, &p.called, 10000), 0);
			assert_int_equal(p.early, 0);
			if (p.status == DB_OK)
				break;
		} else
			event_base_loop(fx->base, EVLOOP_ONCE);
		assert_true(th_now_ms() < deadline);
	}
	assert_string_equal(p.value, "1");
}

/*
 * The backend is gone; the loop has not run since, so the pool still
 * holds the connection as idle. The query given to it fails, and its
 * callback runs once, from the loop.
 */
static void
test_dead_backend_calls_back_later(void **state)
{
	struct pool_fixture	*fx = *state;
	struct probe		 p;

	terminate_backend(fx);
	query(fx, "SELECT 1", &p);
	assert_int_equal(p.early, 0);
	assert_int_equal(fx_run_until(fx, &p.called, 10000), 0);
	assert_int_equal(p.early, 0);
	assert_int_equal(p.called, 1);
	assert_int_not_equal(p.status, DB_OK);
	assert_recovers(fx);
}

/*
 * A send libpq refuses outright (more parameters than the protocol can
 * carry): with libpq 15 this is how a send fails at once, since a write
 * to a closed socket is only reported by the next read. The connection
 * is dropped and made again; the callback still runs from the loop.
 */
static void
test_refused_send_calls_back_later(void **state)
{
	struct pool_fixture	*fx = *state;
	struct probe		 p;
	const char		**params;
	int			 i, n = 65536;

	params = xcalloc(n, sizeof *params);
	for (i = 0; i < n; i++)
		params[i] = "1";
	memset(&p, 0, sizeof p);
	assert_int_equal(db_query(fx->pool, "SELECT $1::int", n, params,
	    probe_cb, &p), 0);
	p.returned = 1;
	free(params);
	assert_int_equal(p.early, 0);
	assert_int_equal(fx_run_until(fx, &p.called, 10000), 0);
	assert_int_equal(p.early, 0);
	assert_int_equal(p.called, 1);
	assert_int_not_equal(p.status, DB_OK);
	assert_recovers(fx);
}

/* A query queued behind a busy connection is not called back early. */
static void
test_queued_query_calls_back_later(void **state)
{
	struct pool_fixture	*fx = *state;
	struct probe		 a, b;

	query(fx, "SELECT pg_sleep(0.05)::text", &a);
	query(fx, "SELECT 2", &b);
	assert_int_equal(a.called + b.called, 0);
	assert_int_equal(fx_run_until(fx, &b.called, 10000), 0);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.early + b.early, 0);
	assert_int_equal(b.status, DB_OK);
	assert_string_equal(b.value, "2");
}

/* What one db_listen subscriber was told. */
struct heard {
	int	catch_ups;	/* NULL channel: (re)connected */
	int	a, b;		/* notifications on t_a, t_b */
	char	payload[64];	/* the last one's */
};

static void
heard_cb(const char *channel, const char *payload, void *arg)
{
	struct heard	*h = arg;

	if (channel == NULL) {
		assert_null(payload);
		h->catch_ups++;
		return;
	}
	if (strcmp(channel, "t_a") == 0)
		h->a++;
	else if (strcmp(channel, "t_b") == 0)
		h->b++;
	else
		fail_msg("notified on %s, never subscribed", channel);
	snprintf(h->payload, sizeof h->payload, "%s", payload);
}

/*
 * one listens on t_a and t_b, two on t_a only. A NOTIFY reaches every
 * subscriber of its channel and no other; after the LISTEN backend is
 * ended, each subscriber is told once to catch up, and hears again.
 */
static void
test_listen_fans_out(void **state)
{
	struct pool_fixture	*fx = *state;
	struct db_listen	*dl;
	struct heard		 one, two;
	int			 up;

	memset(&one, 0, sizeof one);
	memset(&two, 0, sizeof two);
	dl = db_listen_new(fx->base, fx->cfg, fx_up, fx);
	db_listen_subscribe(dl, "t_a", heard_cb, &one);
	db_listen_subscribe(dl, "t_a", heard_cb, &two);
	db_listen_subscribe(dl, "t_b", heard_cb, &one);
	up = fx->up;
	db_listen_start(dl);
	assert_int_equal(fx_run_until(fx, &two.catch_ups, 10000), 0);
	assert_true(fx->up > up);
	assert_int_equal(db_listen_up(dl), 1);
	assert_int_equal(one.catch_ups, 1);
	assert_int_equal(two.catch_ups, 1);

	assert_int_equal(th_pg_exec(db, "NOTIFY t_a, 'first'"), 0);
	assert_int_equal(fx_run_until(fx, &one.a, 10000), 0);
	assert_int_equal(fx_run_until(fx, &two.a, 10000), 0);
	assert_string_equal(one.payload, "first");
	assert_string_equal(two.payload, "first");

	assert_int_equal(th_pg_exec(db, "NOTIFY t_b, 'second'"), 0);
	assert_int_equal(fx_run_until(fx, &one.b, 10000), 0);
	assert_string_equal(one.payload, "second");
	assert_int_equal(two.b, 0);
	assert_int_equal(one.a + two.a, 2);

	/* Its connection ends: both catch up once more, then hear again. */
	assert_int_equal(th_pg_exec(db, "SELECT pg_terminate_backend(pid) "
	    "FROM pg_stat_activity WHERE query = 'LISTEN t_a;LISTEN t_b;'"), 0);
	assert_int_equal(fx_run_until_n(fx, &two.catch_ups, 2, 10000), 0);
	assert_int_equal(one.catch_ups, 2);
	assert_int_equal(th_pg_exec(db, "NOTIFY t_a, 'third'"), 0);
	assert_int_equal(fx_run_until_n(fx, &two.a, 2, 10000), 0);
	assert_int_equal(fx_run_until_n(fx, &one.a, 2, 10000), 0);
	assert_string_equal(two.payload, "third");
	db_listen_free(dl);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_dead_backend_calls_back_later, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused_send_calls_back_later, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_query_calls_back_later, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_listen_fans_out, setup, teardown),
	};

	th_init();
	db = th_db_create("t_db");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
