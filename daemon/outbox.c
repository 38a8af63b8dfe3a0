#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "crypto.h"
#include "db_listen.h"
#include "db_pool.h"
#include "log.h"
#include "outbox.h"
#include "webhook.h"
#include "webhook_send.h"
#include "xmalloc.h"

#define OUTBOX_CLAIM_MAX	256	/* rows per claim */
#define OUTBOX_RECORD_BATCH	128	/* results per record */
#define OUTBOX_FLUSH_MS		20	/* how long a small batch may wait */
#define OUTBOX_FLUSH_BUSY_MS	5	/* the same, while claims wait for slots */
#define OUTBOX_RETRY_MS		500	/* before recording again after a failure */
#define OUTBOX_CLAIM_GAP_MS	5	/* at least, between two claims */
#define OUTBOX_DUE_NOW_MS	200	/* look again, when rows wait for slots */

struct outbox {
	struct event_base	*base;
	const struct config	*cfg;
	struct db_pool		*db;		/* its own; not owned */
	struct db_listen	*listen;	/* not owned */
	struct webhook_sender	*sender;
	char			 owner[96];

	struct event		*due;		/* earliest due row */
	struct event		*poll;		/* backstop */
	struct event		*flush;		/* small result batches */
	struct event		*pace;		/* the next claim, held back */

	int			 claiming, claim_again;
	int			 claim_limit;	/* rows the last claim asked for */
	int			 claim_more;	/* it may have left due rows */
	struct timespec		 claim_sent;	/* when (monotonic) */
	int			 cycling, cycle_again;
	int			 recording;	/* results in the batch */
	json_t			*batch;		/* being recorded */
	int			 batch_moved_due;	/* it had retries or dead */
	int			 stopping;
	json_t			*results;	/* waiting to be recorded */

	uint64_t		 claimed, applied, stale, expired;
	long long		 pending;	/* last count, for metrics */
};

static void	outbox_claim(struct outbox *);
static void	outbox_cycle(struct outbox *);
static void	outbox_flush(struct outbox *);

static void
outbox_arm(struct event *ev, long ms)
{
	struct timeval	tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* Build and sign one attempt from a claimed row. */
static struct webhook_job *
outbox_job(PGresult *res, int row)
{
	struct webhook_job	*job;
	char			 sig[WEBHOOK_SIG_MAX], sig2[WEBHOOK_SIG_MAX];
	const char		*secret, *previous;
	struct timespec		 now;
	struct tm		 tm;
	int			 ok;

	job = xcalloc(1, sizeof *job);
	job->id = atoll(PQgetvalue(res, row, 0));
	job->event_id = xstrdup(PQgetvalue(res, row, 1));
	job->lease_token = atoll(PQgetvalue(res, row, 2));
	job->attempt = atoi(PQgetvalue(res, row, 3));
	job->event_type = xstrdup(PQgetvalue(res, row, 4));
	job->url = xstrdup(PQgetvalue(res, row, 5));
	job->payload = xstrdup(PQgetvalue(res, row, 8));
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(job->started_at, sizeof job->started_at,
	    "%Y-%m-%dT%H:%M:%SZ", &tm);
	job->timestamp = (long long)now.tv_sec;

	secret = PQgetvalue(res, row, 6);
	previous = PQgetisnull(res, row, 7) ? NULL : PQgetvalue(res, row, 7);
	ok = webhook_sign(secret, job->event_id, job->timestamp, job->payload,
	    strlen(job->payload), sig) == 0;
	/* While a secret is being rotated, sign with both. */
	if (ok && previous != NULL && webhook_sign(previous, job->event_id,
	    job->timestamp, job->payload, strlen(job->payload), sig2) == 0)
		xasprintf(&job->signature, "%s %s", sig, sig2);
	else if (ok)
		job->signature = xstrdup(sig);
	return (job);
}

static void
outbox_result(struct outbox *d, struct webhook_job *job)
{
	json_t	*r;

	r = json_pack("{s:I, s:I, s:s, s:s, s:I}",
	    "id", (json_int_t)job->id,
	    "lease_token", (json_int_t)job->lease_token,
	    "outcome", webhook_outcome_name(job->outcome),
	    "started_at", job->started_at,
	    "duration_ms", (json_int_t)job->duration_ms);
	json_object_set_new(r, "http_status", job->http_status > 0 ?
	    json_integer(job->http_status) : json_null());
	json_object_set_new(r, "error", job->error[0] != '\0' ?
	    json_string(job->error) : json_null());
	json_object_set_new(r, "retry_after_ms", job->retry_after_ms >= 0 ?
	    json_integer(job->retry_after_ms) : json_null());
	json_array_append_new(d->results, r);
	if (job->outcome == WEBHOOK_DELIVERED)
		log_debug("webhook %s (%s) delivery %lld attempt %d: %ld in "
		    "%ld ms", job->event_id, job->event_type, job->id,
		    job->attempt, job->http_status, job->duration_ms);
	else if (job->outcome == WEBHOOK_RETRY)
		log_info("webhook %s (%s) delivery %lld attempt %d: %s (%s)",
		    job->event_id, job->event_type, job->id, job->attempt,
		    webhook_outcome_name(job->outcome), job->error);
	else
		/* A dead letter: the provider will not get this event. */
		log_warn("webhook %s (%s) delivery %lld attempt %d: %s (%s)",
		    job->event_id, job->event_type, job->id, job->attempt,
		    webhook_outcome_name(job->outcome), job->error);
}

/*
 * A result waiting to be recorded holds its slot: while claims wait for
 * slots, record small batches soon; otherwise let them grow, a record
 * costing about the same for 3 results as for 10.
 */
static long
outbox_flush_ms(const struct outbox *d)
{
	return (d->claim_more ? OUTBOX_FLUSH_BUSY_MS : OUTBOX_FLUSH_MS);
}

static void
outbox_sent(struct webhook_job *job, void *arg)
{
	struct outbox	*d = arg;

	outbox_result(d, job);
	webhook_job_free(job);
	if (json_array_size(d->results) >= OUTBOX_RECORD_BATCH)
		outbox_flush(d);
	else if (!evtimer_pending(d->flush, NULL))
		outbox_arm(d->flush, outbox_flush_ms(d));
	/*
	 * A slot is free: claim if rows were left waiting for one. Otherwise
	 * the last claim took all that was due, and what falls due later
	 * comes with a NOTIFY or the due timer.
	 */
	if (!d->stopping && d->claim_more)
		outbox_claim(d);
}

static void
outbox_claimed(const struct db_result *res, void *arg)
{
	struct outbox	*d = arg;
	struct webhook_job	*job;
	int			 i, n;

	d->claiming = 0;
	if (res->status != DB_OK) {
		if (res->status != DB_ERR_SHUTDOWN)
			log_warn("outbox: claim failed: %s %s",
			    res->sqlstate, res->message);
		/* Whatever was due still is: the next occasion claims. */
		d->claim_more = 1;
		return;
	}
	n = PQntuples(res->res);
	/* As many as asked for: more may be due once slots are free. */
	d->claim_more = n >= d->claim_limit;
	/* Stopping: what was just claimed is left to its lease. */
	if (d->stopping) {
		if (n > 0)
			log_info("outbox: %d deliveries claimed while "
			    "stopping are left to their leases", n);
		return;
	}
	d->claimed += (uint64_t)n;
	for (i = 0; i < n; i++) {
		job = outbox_job(res->res, i);
		if (job->signature == NULL) {
			/* A secret we cannot use: no point in sending. */
			job->outcome = WEBHOOK_DEAD;
			job->retry_after_ms = -1;
			snprintf(job->error, sizeof job->error,
			    "the provider's webhook secret is malformed");
			outbox_result(d, job);
			webhook_job_free(job);
			continue;
		}
		webhook_send(d->sender, job);
	}
	if (n > 0 && !evtimer_pending(d->flush, NULL) &&
	    json_array_size(d->results) > 0)
		outbox_arm(d->flush, outbox_flush_ms(d));
	/* A full claim means more are due; so does a wake-up meanwhile. */
	if (n == OUTBOX_CLAIM_MAX || d->claim_again) {
		d->claim_again = 0;
		outbox_claim(d);
	}
}

/*
 * Claims at most every OUTBOX_CLAIM_GAP_MS: under a stream of calls, each
 * committing one offer.created with its NOTIFY, one claim (two statements
 * in its transaction, whatever the batch) takes several rows instead of
 * one each; when idle, the first row goes at once.
 */
static void
outbox_claim(struct outbox *d)
{
	char		 limit[16], lease[16];
	const char	*params[3];
	struct timespec	 now;
	long		 ms;
	int		 slots;

	if (d->stopping)
		return;
	if (d->claiming) {
		d->claim_again = 1;
		return;
	}
	if (evtimer_pending(d->pace, NULL))
		return;		/* a claim is on its way */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - d->claim_sent.tv_sec) * 1000 +
	    (now.tv_nsec - d->claim_sent.tv_nsec) / 1000000;
	if (ms >= 0 && ms < OUTBOX_CLAIM_GAP_MS) {
		outbox_arm(d->pace, OUTBOX_CLAIM_GAP_MS - ms);
		return;
	}
	/*
	 * Results not yet recorded count against the cap too: when recording
	 * lags, claiming waits, memory stays bounded and no backlog outlives
	 * its leases.
	 */
	slots = d->cfg->webhook_max_in_flight -
	    webhook_send_in_flight(d->sender) - (int)json_array_size(d->results);
	if (slots <= 0) {
		d->claim_more = 1;
		return;		/* outbox_sent claims as slots free up */
	}
	if (slots > OUTBOX_CLAIM_MAX)
		slots = OUTBOX_CLAIM_MAX;
	snprintf(limit, sizeof limit, "%d", slots);
	snprintf(lease, sizeof lease, "%d", d->cfg->webhook_lease_ms);
	params[0] = d->owner;
	params[1] = limit;
	params[2] = lease;
	if (db_query(d->db, "SELECT id, event_id, lease_token, attempt, "
	    "event_type, url, secret, secret_previous, payload FROM "
	    "careline_deliveries_claim($1, $2, $3)", 3, params,
	    outbox_claimed, d) == 0) {
		d->claiming = 1;
		d->claim_limit = slots;
		d->claim_sent = now;
	}
}

/* Put a batch back in front of what waits, in order, to try again. */
static void
outbox_requeue(struct outbox *d, json_t *batch)
{
	size_t	i;

	for (i = json_array_size(batch); i > 0; i--)
		json_array_insert(d->results, 0, json_array_get(batch, i - 1));
	json_decref(batch);
	if (!evtimer_pending(d->flush, NULL))
		outbox_arm(d->flush, OUTBOX_RETRY_MS);
}

static void
outbox_recorded(const struct db_result *res, void *arg)
{
	struct outbox	*d = arg;
	json_t			*j, *batch = d->batch;

	d->recording = 0;
	d->batch = NULL;
	if (res->status == DB_OK && PQntuples(res->res) == 1) {
		j = json_loads(PQgetvalue(res->res, 0, 0), 0, NULL);
		d->applied += (uint64_t)json_integer_value(json_object_get(j,
		    "applied"));
		d->stale += (uint64_t)json_integer_value(json_object_get(j,
		    "stale"));
		json_decref(j);
		json_decref(batch);
	} else if (res->status == DB_ERR_SHUTDOWN)
		/* Past the grace: the leases lapse, the attempts are redone. */
		json_decref(batch);
	else {
		/*
		 * Keep the results and try again: an attempt not recorded
		 * is made again when its lease lapses. Claiming waits
		 * meanwhile, as they still count against the cap.
		 */
		log_warn("outbox: recording results failed: %s %s; "
		    "trying again", res->sqlstate, res->message);
		outbox_requeue(d, batch);
		return;
	}
	/* Retries and dead letters move the next due time; deliveries not. */
	if (d->batch_moved_due) {
		d->batch_moved_due = 0;
		outbox_cycle(d);
	}
	if (json_array_size(d->results) > 0)
		outbox_flush(d);
	/* Recorded results free slots too. */
	if (d->claim_more)
		outbox_claim(d);
}

static void
outbox_flush(struct outbox *d)
{
	const char	*params[2];
	char		*text;
	json_t		*batch, *r;

	if (d->recording || json_array_size(d->results) == 0)
		return;
	/* At most one batch per statement; the rest waits its turn. */
	batch = json_array();
	while (json_array_size(batch) < OUTBOX_RECORD_BATCH &&
	    json_array_size(d->results) > 0) {
		r = json_array_get(d->results, 0);
		if (strcmp(json_string_value(json_object_get(r, "outcome")),
		    "delivered") != 0)
			d->batch_moved_due = 1;
		json_array_append(batch, r);
		json_array_remove(d->results, 0);
	}
	text = json_dumps(batch, JSON_COMPACT);
	params[0] = text;
	params[1] = d->cfg->dispatch_params;
	if (db_query(d->db, "SELECT careline_deliveries_record($1::jsonb, "
	    "$2::jsonb)::text", 2, params, outbox_recorded, d) == 0) {
		d->recording = (int)json_array_size(batch);
		d->batch = batch;
	} else {
		log_warn("outbox: cannot record results now (no database "
		    "connection); trying again");
		outbox_requeue(d, batch);
	}
	free(text);
}

static void
outbox_flush_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	outbox_flush(arg);
}

static void
outbox_pace_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	outbox_claim(arg);
}

static void
outbox_cycled(const struct db_result *res, void *arg)
{
	struct outbox	*d = arg;
	json_t			*j;
	long			 expired;
	double			 due_in;

	d->cycling = 0;
	if (res->status != DB_OK) {
		if (res->status != DB_ERR_SHUTDOWN)
			log_warn("outbox: timers failed: %s %s",
			    res->sqlstate, res->message);
		return;
	}
	j = json_loads(PQgetvalue(res->res, 0, 0), 0, NULL);
	expired = (long)json_integer_value(json_object_get(j, "expired"));
	json_decref(j);
	d->expired += (uint64_t)expired;
	if (!PQgetisnull(res->res, 0, 1)) {
		/* Seconds until the earliest row is due; wake just after. */
		due_in = atof(PQgetvalue(res->res, 0, 1));
		/*
		 * Due already while claims wait for slots: they take those
		 * rows as slots free up, so look again only for what they
		 * may skip (rows another transaction held), not every few
		 * ms while a backlog drains.
		 */
		if (due_in > 0)
			outbox_arm(d->due, (long)(due_in * 1000) + 5);
		else if (d->claim_more)
			outbox_arm(d->due, OUTBOX_DUE_NOW_MS);
		else
			outbox_arm(d->due, 5);
	}
	if (expired > 0)
		outbox_claim(d);
	if (d->cycle_again) {
		d->cycle_again = 0;
		outbox_cycle(d);
	}
}

/* Fire due offer timers and find when the next row falls due. */
static void
outbox_cycle(struct outbox *d)
{
	const char	*params[1];

	if (d->stopping)
		return;
	if (d->cycling) {
		d->cycle_again = 1;
		return;
	}
	params[0] = d->cfg->dispatch_params;
	if (db_query(d->db, "SELECT careline_offers_expire($1::jsonb)::text, "
	    "extract(epoch FROM careline_next_due() - clock_timestamp())",
	    1, params, outbox_cycled, d) == 0)
		d->cycling = 1;
}

static void
outbox_wake(struct outbox *d)
{
	outbox_cycle(d);
	outbox_claim(d);
}

static void
outbox_due_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	outbox_wake(arg);
}

static void
outbox_counted(const struct db_result *res, void *arg)
{
	struct outbox	*d = arg;

	if (res->status == DB_OK && PQntuples(res->res) == 1)
		d->pending = atoll(PQgetvalue(res->res, 0, 0));
}

static void
outbox_poll_event(evutil_socket_t fd, short what, void *arg)
{
	struct outbox	*d = arg;

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	outbox_wake(d);
	db_query(d->db, "SELECT count(*) FROM deliveries WHERE status = "
	    "'pending'", 0, NULL, outbox_counted, d);
}

static void
outbox_notified(const char *channel, const char *payload, void *arg)
{
	struct outbox	*d = arg;

	(void)payload;
	/* NULL: reconnected, something may have been missed. */
	if (channel == NULL)
		outbox_wake(d);
	else if (strcmp(channel, "careline_deliveries") == 0)
		outbox_claim(d);
	else if (strcmp(channel, "careline_offers") == 0)
		outbox_cycle(d);
}

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
    struct db_pool *db, struct db_listen *listen)
{
	struct outbox	*d;
	unsigned char		 rnd[4];
	char			 host[64];

	d = xcalloc(1, sizeof *d);
	d->base = base;
	d->cfg = cfg;
	d->db = db;
	d->listen = listen;
	d->results = json_array();
	/* Unique per process: leases name their owner. */
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown");
	host[sizeof host - 1] = '\0';
	crypto_random(rnd, sizeof rnd);
	snprintf(d->owner, sizeof d->owner, "%s:%d:%02x%02x%02x%02x", host,
	    (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	db_listen_subscribe(listen, "careline_deliveries", outbox_notified,
	    d);
	db_listen_subscribe(listen, "careline_offers", outbox_notified, d);
	d->sender = webhook_send_new(base, cfg, outbox_sent, d);
	d->due = evtimer_new(base, outbox_due_event, d);
	d->poll = event_new(base, -1, EV_PERSIST, outbox_poll_event, d);
	d->flush = evtimer_new(base, outbox_flush_event, d);
	d->pace = evtimer_new(base, outbox_pace_event, d);
	return (d);
}

void
outbox_start(struct outbox *d)
{
	struct timeval	tv;

	tv.tv_sec = d->cfg->webhook_poll_ms / 1000;
	tv.tv_usec = (d->cfg->webhook_poll_ms % 1000) * 1000;
	event_add(d->poll, &tv);
	log_info("outbox: started as %s", d->owner);
}

void
outbox_stop(struct outbox *d)
{
	d->stopping = 1;
	evtimer_del(d->due);
	evtimer_del(d->pace);
	event_del(d->poll);
	outbox_flush(d);
}

int
outbox_idle(const struct outbox *d)
{
	return (webhook_send_in_flight(d->sender) == 0 && !d->recording &&
	    !d->claiming && !d->cycling && json_array_size(d->results) == 0);
}

int
outbox_unrecorded(const struct outbox *d)
{
	return (webhook_send_in_flight(d->sender) + d->recording +
	    (int)json_array_size(d->results));
}

void
outbox_free(struct outbox *d)
{
	if (d == NULL)
		return;
	webhook_send_free(d->sender);
	json_decref(d->batch);
	event_free(d->due);
	event_free(d->poll);
	event_free(d->flush);
	event_free(d->pace);
	json_decref(d->results);
	free(d);
}

void
outbox_metrics(const struct outbox *d, struct evbuffer *out)
{
	const struct webhook_send_stats	*st = webhook_send_stats(d->sender);
	struct db_stats			 ds, ls;
	int				 i;

	db_pool_stats(d->db, &ds);
	db_listen_stats(d->listen, &ls);
	evbuffer_add_printf(out,
	    "# HELP careline_db_dispatcher_pool_size The dispatcher's own "
	    "database connections.\n"
	    "# TYPE careline_db_dispatcher_pool_size gauge\n"
	    "careline_db_dispatcher_pool_size %d\n"
	    "# HELP careline_db_dispatcher_pool_connected Of those, up and "
	    "usable.\n"
	    "# TYPE careline_db_dispatcher_pool_connected gauge\n"
	    "careline_db_dispatcher_pool_connected %d\n"
	    "# HELP careline_db_dispatcher_pool_waiting Dispatcher queries "
	    "waiting for a connection.\n"
	    "# TYPE careline_db_dispatcher_pool_waiting gauge\n"
	    "careline_db_dispatcher_pool_waiting %d\n"
	    "# HELP careline_db_listen_connected The LISTEN connection is up.\n"
	    "# TYPE careline_db_listen_connected gauge\n"
	    "careline_db_listen_connected %d\n"
	    "# HELP careline_db_listen_reconnects_total Times the LISTEN "
	    "connection was lost.\n"
	    "# TYPE careline_db_listen_reconnects_total counter\n"
	    "careline_db_listen_reconnects_total %llu\n",
	    ds.size, ds.connected, ds.waiting, ls.connected,
	    (unsigned long long)ls.reconnects);

	evbuffer_add_printf(out,
	    "# HELP careline_webhook_attempts_total Webhook attempts made.\n"
	    "# TYPE careline_webhook_attempts_total counter\n"
	    "careline_webhook_attempts_total %llu\n"
	    "# HELP careline_webhook_delivered_total Attempts answered 2xx.\n"
	    "# TYPE careline_webhook_delivered_total counter\n"
	    "careline_webhook_delivered_total %llu\n"
	    "# HELP careline_webhook_failed_total Attempts that failed.\n"
	    "# TYPE careline_webhook_failed_total counter\n"
	    "careline_webhook_failed_total %llu\n"
	    "# HELP careline_webhook_in_flight Attempts under way.\n"
	    "# TYPE careline_webhook_in_flight gauge\n"
	    "careline_webhook_in_flight %d\n"
	    "# HELP careline_deliveries_pending Deliveries waiting in the "
	    "outbox (last poll).\n"
	    "# TYPE careline_deliveries_pending gauge\n"
	    "careline_deliveries_pending %lld\n"
	    "# HELP careline_deliveries_stale_total Results ignored because "
	    "another claim had taken the delivery.\n"
	    "# TYPE careline_deliveries_stale_total counter\n"
	    "careline_deliveries_stale_total %llu\n"
	    "# HELP careline_offers_expired_total Offers whose time ran out.\n"
	    "# TYPE careline_offers_expired_total counter\n"
	    "careline_offers_expired_total %llu\n"
	    "# HELP careline_webhook_duration_seconds Attempt latency.\n"
	    "# TYPE careline_webhook_duration_seconds histogram\n",
	    (unsigned long long)st->attempts,
	    (unsigned long long)st->delivered,
	    (unsigned long long)st->failed, webhook_send_in_flight(d->sender),
	    d->pending, (unsigned long long)d->stale,
	    (unsigned long long)d->expired);
	for (i = 0; i < 8; i++)
		evbuffer_add_printf(out, "careline_webhook_duration_seconds_"
		    "bucket{le=\"%g\"} %llu\n", webhook_send_latency_bounds[i],
		    (unsigned long long)st->latency_bucket[i]);
	evbuffer_add_printf(out,
	    "careline_webhook_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "careline_webhook_duration_seconds_sum %.6f\n"
	    "careline_webhook_duration_seconds_count %llu\n",
	    (unsigned long long)st->attempts, st->latency_us_sum / 1e6,
	    (unsigned long long)st->attempts);
}
