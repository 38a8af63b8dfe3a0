/*
 * Nothing acknowledged is lost: carelined killed with -9 while webhooks
 * are in flight, and two carelined instances sharing one database under
 * load. Real processes, real signals.
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

#define TEST_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NCALLS_CRASH	20
#define NCALLS_LOAD	60

static char	*db, *oper;

/* n residents, each with its own provider 100 m away at url/<id>. */
static void
world(int n, const char *url, long long *residents)
{
	char	*q, *v;
	int	 i;

	th_sql(db, "UPDATE providers SET active = false");
	for (i = 0; i < n; i++) {
		double lat = 27.85 + 0.02 * (i / 5), lon = 113.15 + 0.02 *
		    (i % 5);

		q = xprintf("INSERT INTO residents (name, phone, address, "
		    "location) VALUES ('测试', '1390000%04d', '荷塘区', "
		    "ST_SetSRID(ST_MakePoint(%f, %f), 4326)::geography) "
		    "RETURNING id", i, lon, lat);
		v = th_pg_value(db, q);
		residents[i] = atoll(v);
		free(v);
		free(q);
		q = xprintf("WITH p AS (INSERT INTO providers (name, services, "
		    "location, travel_mode, capacity, opening_hours, "
		    "webhook_url, webhook_secret) VALUES ('p', '{meal}', "
		    "ST_SetSRID(ST_MakePoint(%f, %f), 4326)::geography, "
		    "'walk', 100, '24/7', 'http://x/', '%s') RETURNING id) "
		    "INSERT INTO provider_hours SELECT p.id, d, '00:00', "
		    "'24:00' FROM p, generate_series(1, 7) d RETURNING "
		    "provider_id", lon, lat + 0.0009, TEST_SECRET);
		v = th_pg_value(db, q);
		free(q);
		/* A statement cannot update rows its own CTE inserted. */
		q = xprintf("UPDATE providers SET webhook_url = '%s/' || id "
		    "WHERE id = %s", url, v);
		free(v);
		th_sql(db, q);
		free(q);
	}
}

static void
post_call(struct th_daemon *dm, long long resident, int i)
{
	char	*body;

	body = xprintf("{\"caller_phone\": \"1390000%04d\", \"resident_id\": "
	    "%lld, \"service\": \"meal\", \"duplicate_ok\": true}", i,
	    resident);
	assert_int_equal(th_api(dm->url, oper, "POST", "/v1/calls", body,
	    NULL), 201);
	free(body);
}

/* Every offer.created event id is in the receiver's log. */
static int
all_events_seen(const struct th_receiver *rv, const char *type)
{
	PGconn		*pg = th_pg(db);
	PGresult	*res;
	char		*q, needle[128];
	int		 i, ok = 1;

	q = xprintf("SELECT event_id FROM deliveries WHERE event_type = '%s'",
	    type);
	res = PQexec(pg, q);
	free(q);
	for (i = 0; i < PQntuples(res); i++) {
		snprintf(needle, sizeof needle, "\"webhook_id\":\"%s\"",
		    PQgetvalue(res, i, 0));
		if (th_receiver_count(rv, needle) == 0) {
			fprintf(stderr, "never delivered: %s\n", needle);
			ok = 0;
		}
	}
	PQclear(res);
	PQfinish(pg);
	return (ok);
}

static int
group_setup(void **state)
{
	(void)state;
	if ((db = th_db_ready("t_durability")) == NULL)
		return (-1);
	oper = th_token(db, "operator", "durability test");
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	free(db);
	free(oper);
	return (0);
}

static void
test_kill9_with_deliveries_in_flight(void **state)
{
	struct th_daemon	 a, b;
	struct th_receiver	 hang, good;
	long long		 res[NCALLS_CRASH];
	char			*v, *q;
	int			 i;

	(void)state;
	th_sql(db, "TRUNCATE deliveries, offers, calls CASCADE");
	/* A receiver that takes the requests and never answers. */
	assert_int_equal(th_receiver_start(&hang, "--secret " TEST_SECRET
	    " --hang-rate 1"), 0);
	world(NCALLS_CRASH, hang.url, res);
	assert_int_equal(th_daemon_start(&a, db, "offers:\n  timeout: 60s\n"
	    "webhooks:\n  allow_private_targets: true\n  timeout: 8s\n"
	    "  connect_timeout: 500ms\n  lease: 9s\n"
	    "  public_url: \"http://127.0.0.1:@PORT@\"\n", 2, NULL), 0);
	for (i = 0; i < NCALLS_CRASH; i++)
		post_call(&a, res[i], i);
	/* All of them on the wire, none answered. */
	assert_int_equal(th_receiver_wait(&hang, "offer.created",
	    NCALLS_CRASH, 10000), 0);
	assert_int_equal(th_daemon_signal_wait(&a, SIGKILL, 5000),
	    128 + SIGKILL);
	th_daemon_cleanup(&a);
	th_receiver_stop(&hang);
	v = th_val(db,
	    "SELECT count(*) FROM deliveries WHERE status = 'pending'");
	assert_int_equal(atoi(v), NCALLS_CRASH);
	free(v);

	/* The provider's endpoint comes back; so does carelined. */
	assert_int_equal(th_receiver_start(&good, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	q = xprintf("UPDATE providers SET webhook_url = '%s/' || id WHERE "
	    "active", good.url);
	th_sql(db, q);
	free(q);
	assert_int_equal(th_daemon_start(&b, db, "offers:\n  timeout: 60s\n"
	    "webhooks:\n  allow_private_targets: true\n  timeout: 1s\n"
	    "  connect_timeout: 500ms\n  lease: 2s\n  poll_interval: 200ms\n"
	    "  public_url: \"http://127.0.0.1:@PORT@\"\n", 2, NULL), 0);
	assert_int_equal(th_pg_wait(db, "SELECT count(*) FROM deliveries "
	    "WHERE status = 'delivered' AND event_type = 'offer.created'",
	    "20", 30000), 0);
	assert_true(all_events_seen(&good, "offer.created"));
	assert_int_equal(th_daemon_signal_wait(&b, SIGTERM, 10000), 0);
	th_daemon_cleanup(&b);
	th_receiver_stop(&good);
}

static void
test_two_instances_share_the_outbox(void **state)
{
	struct th_daemon	 a, b;
	struct th_receiver	 rv;
	long long		 res[NCALLS_LOAD];
	char			*v;
	const char		*cfg = "webhooks:\n  allow_private_targets: "
				    "true\n  poll_interval: 200ms\n"
				    "  public_url: \"http://127.0.0.1:@PORT@\"\n";
	int			 i;

	(void)state;
	th_sql(db, "TRUNCATE deliveries, offers, calls CASCADE");
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --accept-after 10ms"), 0);
	world(NCALLS_LOAD, rv.url, res);
	assert_int_equal(th_daemon_start(&a, db, cfg, 2, NULL), 0);
	assert_int_equal(th_daemon_start(&b, db, cfg, 2, NULL), 0);
	for (i = 0; i < NCALLS_LOAD; i++)
		post_call(i % 2 == 0 ? &a : &b, res[i], i);
	/* Offer, then confirmation: two events a call, all delivered. */
	assert_int_equal(th_pg_wait(db, "SELECT count(*) FROM calls WHERE "
	    "status = 'accepted'", "60", 20000), 0);
	assert_int_equal(th_pg_wait(db, "SELECT count(*) FROM deliveries "
	    "WHERE status = 'delivered'", "120", 10000), 0);
	/* One attempt each: no delivery was claimed by both. */
	v = th_val(db,
	    "SELECT count(*) || ':' || count(DISTINCT delivery_id) FROM "
	    "delivery_attempts");
	assert_string_equal(v, "120:120");
	free(v);
	v = th_val(db, "SELECT count(*) FROM deliveries WHERE attempts <> 1");
	assert_string_equal(v, "0");
	free(v);
	assert_true(all_events_seen(&rv, "offer.created"));
	assert_true(all_events_seen(&rv, "offer.confirmed"));
	/* And the receiver saw each webhook-id once. */
	assert_int_equal(th_receiver_count(&rv, "\"attempt_seen\":2"), 0);
	assert_int_equal(th_daemon_signal_wait(&a, SIGTERM, 10000), 0);
	assert_int_equal(th_daemon_signal_wait(&b, SIGTERM, 10000), 0);
	th_daemon_cleanup(&a);
	th_daemon_cleanup(&b);
	th_receiver_stop(&rv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_with_deliveries_in_flight),
		cmocka_unit_test(test_two_instances_share_the_outbox),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
