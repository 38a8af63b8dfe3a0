/*
 * Offers over signed webhooks, end to end: the real daemon, the real
 * database, and the demo receiver as a real provider endpoint that can be
 * told to accept, decline, say nothing, fail or be absent.
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
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

/* The Standard Webhooks reference secret: every test provider uses it. */
#define TEST_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define BASE_LAT	27.8700
#define BASE_LON	113.1800

#define DAEMON_CONFIG \
	"offers:\n  timeout: 1s\n" \
	"webhooks:\n  allow_private_targets: true\n" \
	"  retry_schedule: [100ms, 100ms]\n  timeout: 2s\n" \
	"  connect_timeout: 500ms\n  poll_interval: 200ms\n  lease: 3s\n" \
	"  public_url: \"http://127.0.0.1:@PORT@\"\n"

static char		*db, *admin, *oper;
static struct th_daemon	 d;
static int		 phone_seq;

/*
 * A fresh little world: only these providers are active, one resident,
 * providers at 100 m steps north (so ranked in order), each pointed at
 * its own URL. Returns the resident's id.
 */
static long long
world(int n, const char *const *urls, long long *prov)
{
	char		*q;
	long long	 resident;
	int		 i;

	th_sql(db, "UPDATE providers SET active = false");
	q = xprintf("INSERT INTO residents (name, phone, address, location) "
	    "VALUES ('测试老人', '139%08d', '荷塘区测试路', ST_SetSRID("
	    "ST_MakePoint(%f, %f), 4326)::geography) RETURNING id",
	    ++phone_seq, BASE_LON, BASE_LAT);
	{
		char *v = th_pg_value(db, q);

		resident = atoll(v);
		free(v);
	}
	free(q);
	for (i = 0; i < n; i++) {
		char *v;

		q = xprintf("INSERT INTO providers (name, services, location, "
		    "travel_mode, capacity, opening_hours, webhook_url, "
		    "webhook_secret) VALUES ('供应商%d', '{meal}', ST_SetSRID("
		    "ST_MakePoint(%f, %f), 4326)::geography, 'walk', 5, "
		    "'24/7', 'http://x/', '%s') RETURNING id", i, BASE_LON,
		    BASE_LAT + 0.001 * (i + 1), TEST_SECRET);
		v = th_pg_value(db, q);
		prov[i] = atoll(v);
		free(v);
		free(q);
		q = xprintf("INSERT INTO provider_hours SELECT %lld, d, "
		    "'00:00', '24:00' FROM generate_series(1, 7) d; UPDATE "
		    "providers SET webhook_url = '%s/%lld' WHERE id = %lld",
		    prov[i], urls[i], prov[i], prov[i]);
		th_sql(db, q);
		free(q);
	}
	return (resident);
}

static long long
call_for(struct th_daemon *dm, long long resident)
{
	char		*body;
	long long	 id;

	body = xprintf("{\"caller_phone\": \"139%08d\", \"resident_id\": %lld, "
	    "\"service\": \"meal\"}", phone_seq, resident);
	id = th_api_create(dm->url, oper, "/v1/calls", body);
	free(body);
	return (id);
}

static int
group_setup(void **state)
{
	(void)state;
	if ((db = th_db_ready("t_webhooks")) == NULL)
		return (-1);
	admin = th_token(db, "admin", "webhook test admin");
	oper = th_token(db, "operator", "webhook test operator");
	return (th_daemon_start(&d, db, DAEMON_CONFIG, 2, NULL));
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

static void
test_offer_accepted_end_to_end(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[2];
	long long		 prov[2], resident, call;
	json_t			*j, *dl;
	char			*path, *needle;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --accept-after 100ms"), 0);
	urls[0] = urls[1] = rv.url;
	resident = world(2, urls, prov);
	call = call_for(&d, resident);
	assert_int_equal(th_wait_val(db,
	    "accepted", 5000, "SELECT status FROM calls "
	    "WHERE id = %lld", call), 0);

	/* The best candidate got a valid signed offer, then the details. */
	needle = xprintf("\"provider\":%lld", prov[0]);
	assert_int_equal(th_receiver_wait(&rv, "offer.confirmed", 1, 3000), 0);
	assert_true(th_receiver_count(&rv, needle) >= 2);
	assert_int_equal(th_receiver_count(&rv, "\"valid\":false"), 0);
	free(needle);

	path = xprintf("/v1/calls/%lld", call);
	assert_int_equal(th_api(d.url, oper, "GET", path, NULL, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	    "accepted");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
	    "accepted_provider"), "id")), prov[0]);
	dl = json_object_get(j, "deliveries");
	assert_true(json_array_size(dl) >= 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(dl, 0), "event_type")), "offer.created");
	json_decref(j);
	free(path);
	/* The accepted provider's read of the person is audited. */
	assert_int_equal(th_wait_val(db,
	    "1", 3000, "SELECT count(*) FROM audit_log "
	    "WHERE action = 'resident.read' AND entity_id = %lld", resident),
	    0);
	/* offer.created carried no name, phone or exact address. */
	{
		char *v = th_val(db,
		    "SELECT count(*) FROM deliveries d JOIN offers o "
		    "ON o.id = d.offer_id WHERE o.call_id = %lld AND "
		    "d.event_type = 'offer.created' AND (d.payload::text LIKE "
		    "'%%测试老人%%' OR d.payload::text LIKE '%%139%08d%%' OR "
		    "d.payload::text LIKE '%%测试路%%')", call, phone_seq);

		assert_string_equal(v, "0");
		free(v);
	}
	th_receiver_stop(&rv);
}

static void
test_decline_moves_to_next(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[2];
	long long		 prov[2], call;
	char			*v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --accept-after 50ms --decline-rate 1"), 0);
	urls[0] = urls[1] = rv.url;
	call = call_for(&d, world(2, urls, prov));
	/* Both say no: the second was asked after the first declined. */
	assert_int_equal(th_wait_val(db,
	    "unmatched", 6000, "SELECT status FROM "
	    "calls WHERE id = %lld", call), 0);
	v = th_val(db,
	    "SELECT string_agg(status || ':' || (offered_at IS NOT NULL)"
	    "::text, ',' ORDER BY rank) FROM offers WHERE call_id = %lld",
	    call);
	assert_string_equal(v, "declined:true,declined:true");
	free(v);
	v = th_val(db,
	    "SELECT (SELECT answered_at FROM offers WHERE call_id = %lld "
	    "AND rank = 1) <= (SELECT offered_at FROM offers WHERE call_id = "
	    "%lld AND rank = 2)", call, call);
	assert_string_equal(v, "t");
	free(v);
	v = th_val(db,
	    "SELECT count(*) FROM events WHERE type = 'call.unmatched' "
	    "AND call_id = %lld", call);
	assert_string_equal(v, "1");
	free(v);
	th_receiver_stop(&rv);
}

static void
test_no_answer_expires_to_next(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[2];
	long long		 prov[2], call;
	char			*v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	urls[0] = urls[1] = rv.url;
	call = call_for(&d, world(2, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "unmatched", 8000, "SELECT status FROM "
	    "calls WHERE id = %lld", call), 0);
	v = th_val(db,
	    "SELECT string_agg(status, ',' ORDER BY rank) FROM offers "
	    "WHERE call_id = %lld", call);
	assert_string_equal(v, "expired,expired");
	free(v);
	/* Each provider was told its offer lapsed. */
	assert_int_equal(th_receiver_wait(&rv, "offer.cancelled", 2, 3000), 0);
	th_receiver_stop(&rv);
}

static void
test_500_twice_then_200(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[1];
	long long		 prov[1], call;
	char			*event, *needle, *v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --fail-first 2 --accept-after 50ms"), 0);
	urls[0] = rv.url;
	call = call_for(&d, world(1, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "delivered", 5000, "SELECT d.status FROM "
	    "deliveries d JOIN offers o ON o.id = d.offer_id WHERE o.call_id "
	    "= %lld AND d.event_type = 'offer.created'", call), 0);
	event = th_val(db,
	    "SELECT d.event_id FROM deliveries d JOIN offers o ON "
	    "o.id = d.offer_id WHERE o.call_id = %lld AND d.event_type = "
	    "'offer.created'", call);
	needle = xprintf("\"webhook_id\":\"%s\"", event);
	/* Three attempts, one webhook-id. */
	assert_int_equal(th_receiver_count(&rv, needle), 3);
	v = th_val(db, "SELECT attempts || ':' || (SELECT count(*) FROM "
	    "delivery_attempts a WHERE a.delivery_id = d.id) FROM deliveries "
	    "d WHERE event_id = '%s'", event);
	assert_string_equal(v, "3:3");
	free(v);
	assert_int_equal(th_wait_val(db,
	    "accepted", 5000, "SELECT status FROM calls "
	    "WHERE id = %lld", call), 0);
	free(needle);
	free(event);
	th_receiver_stop(&rv);
}

static void
test_receiver_down_dead_letter_then_next(void **state)
{
	struct th_receiver	 rv;
	char			*down;
	const char		*urls[2];
	long long		 prov[2], call;
	char			*v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --accept-after 50ms"), 0);
	down = xprintf("http://127.0.0.1:%d/hooks", th_free_port());
	urls[0] = down;
	urls[1] = rv.url;
	call = call_for(&d, world(2, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "accepted", 8000, "SELECT status FROM calls "
	    "WHERE id = %lld", call), 0);
	v = th_val(db,
	    "SELECT d.status || ':' || d.attempts FROM deliveries d JOIN "
	    "offers o ON o.id = d.offer_id WHERE o.call_id = %lld AND "
	    "o.provider_id = %lld AND d.event_type = 'offer.created'", call,
	    prov[0]);
	assert_string_equal(v, "dead:3");
	free(v);
	v = th_val(db,
	    "SELECT provider_id FROM offers WHERE call_id = %lld AND "
	    "status = 'accepted'", call);
	assert_int_equal(atoll(v), prov[1]);
	free(v);
	/* Operators see the dead letter and can send it again. */
	{
		json_t	*j;
		char	*path;
		long long id;

		assert_int_equal(th_api(d.url, oper, "GET",
		    "/v1/deliveries?status=dead", NULL, &j), 200);
		assert_true(json_array_size(json_object_get(j, "items")) >= 1);
		id = (long long)json_integer_value(json_object_get(
		    json_array_get(json_object_get(j, "items"), 0), "id"));
		json_decref(j);
		path = xprintf("/v1/deliveries/%lld/retry", id);
		assert_int_equal(th_api(d.url, oper, "POST", path, NULL, &j),
		    403);
		json_decref(j);
		assert_int_equal(th_api(d.url, admin, "POST", path, NULL, &j),
		    200);
		json_decref(j);
		free(path);
	}
	free(down);
	th_receiver_stop(&rv);
}

static void
test_all_fail_unmatched(void **state)
{
	const char	*urls[2];
	char		*down;
	long long	 prov[2], call;

	(void)state;
	down = xprintf("http://127.0.0.1:%d/hooks", th_free_port());
	urls[0] = urls[1] = down;
	call = call_for(&d, world(2, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "unmatched", 8000, "SELECT status FROM "
	    "calls WHERE id = %lld", call), 0);
	free(down);
}

struct racer {
	const char	*url;
	const char	*token;
	const char	*path;
	long		 status;
};

static void *
race(void *arg)
{
	struct racer	*r = arg;

	r->status = th_api(r->url, r->token, "POST", r->path, "{}", NULL);
	return (NULL);
}

static void
test_accept_race_one_winner(void **state)
{
	struct th_daemon	 b;
	struct th_receiver	 rv;
	struct racer		 rc[2];
	pthread_t		 t[2];
	const char		*urls[2];
	long long		 prov[2], call;
	char			*o1, *o2, *p1, *p2, *v;
	int			 i;

	(void)state;
	/* Broadcast: both are offered at once, both try to take it. */
	assert_int_equal(th_daemon_start(&b, db, "offers:\n  strategy: "
	    "broadcast\n  broadcast_k: 2\n  timeout: 30s\n"
	    "webhooks:\n  allow_private_targets: true\n"
	    "  public_url: \"http://127.0.0.1:@PORT@\"\n", 2, NULL), 0);
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	urls[0] = urls[1] = rv.url;
	for (i = 0; i < 5; i++) {
		call = call_for(&b, world(2, urls, prov));
		assert_int_equal(th_wait_val(db,
		    "2", 3000, "SELECT count(*) FROM "
		    "offers WHERE call_id = %lld AND status = 'offered'",
		    call), 0);
		o1 = th_val(db,
		    "SELECT id FROM offers WHERE call_id = %lld AND rank = "
		    "1", call);
		o2 = th_val(db,
		    "SELECT id FROM offers WHERE call_id = %lld AND rank = "
		    "2", call);
		p1 = xprintf("/v1/offers/%s/accept", o1);
		p2 = xprintf("/v1/offers/%s/accept", o2);
		rc[0] = (struct racer){ b.url, admin, p1, 0 };
		rc[1] = (struct racer){ b.url, admin, p2, 0 };
		pthread_create(&t[0], NULL, race, &rc[0]);
		pthread_create(&t[1], NULL, race, &rc[1]);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		/* Exactly one wins; the other hears it is too late. */
		assert_true((rc[0].status == 200 && rc[1].status == 409) ||
		    (rc[0].status == 409 && rc[1].status == 200));
		v = th_val(db,
		    "SELECT count(*) FROM offers WHERE call_id = %lld AND "
		    "status = 'accepted'", call);
		assert_string_equal(v, "1");
		free(v);
		/* And the same offer twice at once: one 200, one 409. */
		free(o1);
		free(o2);
		free(p1);
		free(p2);
	}
	th_receiver_stop(&rv);
	assert_int_equal(th_daemon_signal_wait(&b, SIGTERM, 10000), 0);
	th_daemon_cleanup(&b);
}

static void
test_provider_token_only_its_own(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[2];
	long long		 prov[2], call;
	json_t			*j;
	char			*body, *tok, *offer, *path;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	urls[0] = urls[1] = rv.url;
	call = call_for(&d, world(2, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "1", 3000, "SELECT count(*) FROM offers "
	    "WHERE call_id = %lld AND status = 'offered'", call), 0);
	offer = th_val(db,
	    "SELECT id FROM offers WHERE call_id = %lld AND status = "
	    "'offered'", call);
	body = xprintf("{\"name\": \"second provider\", \"role\": \"provider\", "
	    "\"provider_id\": %lld}", prov[1]);
	assert_int_equal(th_api(d.url, admin, "POST", "/v1/tokens", body, &j),
	    201);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	json_decref(j);
	path = xprintf("/v1/offers/%s/accept", offer);
	/* Provider 2 reaching for provider 1's offer. */
	assert_int_equal(th_api(d.url, tok, "POST", path, "{}", &j), 403);
	assert_string_equal(th_err_code(j), "not_your_offer");
	json_decref(j);
	/* Operators take calls; they do not answer offers. */
	assert_int_equal(th_api(d.url, oper, "POST", path, "{}", &j), 403);
	json_decref(j);
	free(body);
	free(tok);
	free(path);
	free(offer);
	th_receiver_stop(&rv);
}

static void
test_expired_link_refused(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[1];
	long long		 prov[1], call;
	json_t			*j;
	char			*link, *path;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	urls[0] = rv.url;
	call = call_for(&d, world(1, urls, prov));
	assert_int_equal(th_wait_val(db,
	    "1", 3000, "SELECT count(*) FROM deliveries "
	    "d JOIN offers o ON o.id = d.offer_id WHERE o.call_id = %lld",
	    call), 0);
	link = th_val(db,
	    "SELECT d.payload->'data'->>'accept_url' FROM deliveries d "
	    "JOIN offers o ON o.id = d.offer_id WHERE o.call_id = %lld AND "
	    "d.event_type = 'offer.created'", call);
	assert_non_null(link);
	path = strstr(link, "/v1/");
	assert_non_null(path);
	assert_int_equal(th_wait_val(db,
	    "expired", 5000, "SELECT status FROM offers "
	    "WHERE call_id = %lld", call), 0);
	assert_int_equal(th_api(d.url, NULL, "POST", path, "{}", &j), 410);
	assert_string_equal(th_err_code(j), "link_expired");
	json_decref(j);
	/* A forged link is refused outright. */
	{
		char *offer = th_val(db,
		    "SELECT id FROM offers WHERE call_id = %lld",
		    call);

		path = xprintf("/v1/offers/%s/accept?t=%064d", offer, 7);
		assert_int_equal(th_api(d.url, NULL, "POST", path, "{}", &j),
		    403);
		assert_string_equal(th_err_code(j), "invalid_link");
		json_decref(j);
		free(path);
		free(offer);
	}
	free(link);
	th_receiver_stop(&rv);
}

static void
test_secret_rotation_signs_with_both(void **state)
{
	struct th_receiver	 old_rv, new_rv;
	const char		*urls[1];
	long long		 prov[1], resident, call;
	json_t			*j;
	char			*path, *args, *q, *body;

	(void)state;
	assert_int_equal(th_receiver_start(&old_rv, "--secret " TEST_SECRET
	    " --ignore-rate 1"), 0);
	urls[0] = old_rv.url;
	resident = world(1, urls, prov);
	path = xprintf("/v1/providers/%lld/rotate-secret", prov[0]);
	assert_int_equal(th_api(d.url, admin, "POST", path, NULL, &j), 200);
	args = xprintf("--secret %s --ignore-rate 1", json_string_value(
	    json_object_get(j, "webhook_secret")));
	json_decref(j);
	free(path);
	/* A receiver still on the old secret accepts the new signatures. */
	call = call_for(&d, resident);
	assert_int_equal(th_receiver_wait(&old_rv, "offer.created", 1, 3000),
	    0);
	assert_int_equal(th_receiver_count(&old_rv, "\"valid\":true"), 1);
	/* So does one that already has the new secret. */
	assert_int_equal(th_receiver_start(&new_rv, args), 0);
	q = xprintf("UPDATE providers SET webhook_url = '%s/%lld' WHERE id = "
	    "%lld", new_rv.url, prov[0], prov[0]);
	th_sql(db, q);
	free(q);
	body = xprintf("{\"caller_phone\": \"139%08d\", \"resident_id\": "
	    "%lld, \"service\": \"meal\", \"duplicate_ok\": true}",
	    phone_seq, resident);
	assert_int_equal(th_api(d.url, oper, "POST", "/v1/calls", body, NULL),
	    201);
	assert_int_equal(th_receiver_wait(&new_rv, "offer.created", 1, 3000),
	    0);
	assert_int_equal(th_receiver_count(&new_rv, "\"valid\":true"), 1);
	(void)call;
	free(body);
	free(args);
	th_receiver_stop(&old_rv);
	th_receiver_stop(&new_rv);
}

static void
test_gone_retires_the_endpoint(void **state)
{
	struct th_receiver	 rv;
	const char		*urls[1];
	long long		 prov[1], call;
	char			*v;

	(void)state;
	assert_int_equal(th_receiver_start(&rv, "--secret " TEST_SECRET
	    " --status 410"), 0);
	urls[0] = rv.url;
	call = call_for(&d, world(1, urls, prov));
	assert_int_equal(th_wait_val(db, "dead", 5000, "SELECT d.status FROM "
	    "deliveries d JOIN offers o ON o.id = d.offer_id WHERE o.call_id "
	    "= %lld AND d.event_type = 'offer.created'", call), 0);
	/* One attempt: 410 is final, and the endpoint is retired. */
	v = th_val(db,
	    "SELECT attempts FROM deliveries d JOIN offers o ON o.id = "
	    "d.offer_id WHERE o.call_id = %lld", call);
	assert_string_equal(v, "1");
	free(v);
	v = th_val(db,
	    "SELECT (endpoint_disabled_at IS NOT NULL)::text || ':' || "
	    "(SELECT count(*) FROM events WHERE type = "
	    "'provider.endpoint_disabled') FROM providers WHERE id = %lld",
	    prov[0]);
	assert_string_equal(v, "true:1");
	free(v);
	assert_int_equal(th_wait_val(db,
	    "unmatched", 5000, "SELECT status FROM "
	    "calls WHERE id = %lld", call), 0);
	th_receiver_stop(&rv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer_accepted_end_to_end),
		cmocka_unit_test(test_decline_moves_to_next),
		cmocka_unit_test(test_no_answer_expires_to_next),
		cmocka_unit_test(test_500_twice_then_200),
		cmocka_unit_test(test_receiver_down_dead_letter_then_next),
		cmocka_unit_test(test_all_fail_unmatched),
		cmocka_unit_test(test_accept_race_one_winner),
		cmocka_unit_test(test_provider_token_only_its_own),
		cmocka_unit_test(test_expired_link_refused),
		cmocka_unit_test(test_secret_rotation_signs_with_both),
		cmocka_unit_test(test_gone_retires_the_endpoint),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
