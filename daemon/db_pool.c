#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "config.h"
#include "db_pool.h"
#include "log.h"
#include "xmalloc.h"

/*
 * Distinct statements prepared per connection on first use: all of
 * carelined's SQL is fixed text, so this bounds a small set. Past it,
 * statements go unnamed (parsed every time), which is only slower.
 */
#define DB_MAX_STATEMENTS	96

/* How often queued queries are checked against database.queue_timeout. */
#define DB_SWEEP_MS	100

/* The first PostGIS call on a connection loads the extension: pay it here. */
#define DB_WARMUP_SQL \
	"SELECT ST_DWithin('POINT(113.2 27.9)'::geography, " \
	"'POINT(113.2 27.9)'::geography, 1.0)"

enum dbc_state {
	DBC_DOWN,		/* waiting for the reconnect timer */
	DBC_CONNECTING,
	DBC_WARMING,
	DBC_IDLE,
	DBC_BUSY,
};

enum db_internal {
	DB_USER,		/* a caller's query */
	DB_WARMUP,		/* the pool's own, after connecting */
	DB_LISTEN,		/* then LISTEN, on a listening pool */
};

struct db_query {
	TAILQ_ENTRY(db_query)	 entry;
	char			*sql;
	int			 nparams;
	char			**params;
	enum db_internal	 internal;
	int			 stmt;	/* index of its prepared name, or -1 */
	db_cb			 cb;
	void			*arg;
	struct timespec		 queued;
};
TAILQ_HEAD(db_queries, db_query);

struct db_conn {
	struct db_pool		*pool;
	int			 idx;
	enum dbc_state		 state;
	PGconn			*pg;
	struct event		*ev;		/* the socket, re-armed each wait */
	struct event		*timer;		/* reconnect or connect timeout */
	struct event		*kick;		/* sends q, given by db_query */
	int			 backoff_ms;
	int			 flushing;	/* PQflush still has output */
	struct db_query		*q;		/* running query */
	PGresult		*res;		/* its result so far */
	int			 pending_notify;
	int			 preparing;	/* q's Prepare is in flight */
	unsigned char		 prepared[DB_MAX_STATEMENTS];
};

struct db_pool {
	struct event_base	*base;
	char			*name;		/* "http", "dispatcher", ... */
	const struct config	*cfg;
	void			(*ready_cb)(void *);
	void			*ready_arg;
	struct db_conn		*conns;
	int			 nconns;
	struct db_queries	 queue;
	int			 nqueued;
	struct event		*sweep;
	struct db_stats		 stats;
	char			*options;	/* libpq "options" we add */
	char			*listen_sql;	/* "LISTEN a; LISTEN b" or NULL */
	int			 closing;	/* being freed: refuse queries */
	char			*stmts[DB_MAX_STATEMENTS];	/* their SQL */
	int			 nstmts;
	db_notify_cb		 notify_cb;	/* db_listen's */
	void			*notify_arg;
};

static void	dbc_connect(struct db_conn *);
static void	dbc_event(evutil_socket_t, short, void *);
static void	dbc_next(struct db_conn *);
static void	dbc_send(struct db_conn *, struct db_query *);

static void
db_query_free(struct db_query *q)
{
	int	i;

	if (q == NULL)
		return;
	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

static void
db_query_finish(struct db_query *q, enum db_status status, PGresult *res,
    const char *message)
{
	struct db_result	r;

	memset(&r, 0, sizeof r);
	r.status = status;
	r.res = res;
	r.message = message != NULL ? message : "";
	if (res != NULL && status == DB_ERR_SQL) {
		r.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		r.message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (r.message == NULL)
			r.message = PQresultErrorMessage(res);
	}
	if (r.sqlstate == NULL)
		r.sqlstate = "";
	if (q->cb != NULL)
		q->cb(&r, q->arg);
	db_query_free(q);
}

/* The first line of libpq's message, for one-line logs. */
static const char *
db_first_line(const char *msg, char *buf, size_t len)
{
	size_t	n = strcspn(msg, "\n");

	snprintf(buf, len, "%.*s", (int)n, msg);
	return (buf);
}

int
db_pool_usable(const struct db_pool *pool)
{
	int	i, n = 0;

	for (i = 0; i < pool->nconns; i++) {
		if (pool->conns[i].state == DBC_IDLE ||
		    pool->conns[i].state == DBC_BUSY)
			n++;
	}
	return (n);
}

static void
dbc_arm(struct db_conn *c, short what)
{
	event_del(c->ev);
	event_assign(c->ev, c->pool->base, PQsocket(c->pg), what, dbc_event,
	    c);
	event_add(c->ev, NULL);
}

static void
dbc_schedule_reconnect(struct db_conn *c)
{
	const struct config	*cfg = c->pool->cfg;
	struct timeval		 tv;
	int			 ms;

	/* Exponential backoff with +-20% jitter so instances do not align. */
	if (c->backoff_ms == 0)
		c->backoff_ms = cfg->db_reconnect_min_ms;
	else if ((c->backoff_ms *= 2) > cfg->db_reconnect_max_ms)
		c->backoff_ms = cfg->db_reconnect_max_ms;
	ms = c->backoff_ms * (80 + random() % 41) / 100;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* A connection is gone: fail its query, and the queue if none is left. */
static void
dbc_fail(struct db_conn *c, const char *why)
{
	struct db_pool	*pool = c->pool;
	struct db_query	*q;
	char		 line[256];
	int		 was_up;

	was_up = c->state == DBC_IDLE || c->state == DBC_BUSY;
	db_first_line(why, line, sizeof line);
	if (was_up)
		log_warn("database: %s connection %d lost: %s",
		    pool->name, c->idx, line);
	else
		log_debug("database: %s connection %d failed: %s",
		    pool->name, c->idx, line);
	event_del(c->ev);
	evtimer_del(c->timer);
	event_del(c->kick);
	if (c->res != NULL) {
		PQclear(c->res);
		c->res = NULL;
	}
	q = c->q;
	c->q = NULL;
	PQfinish(c->pg);
	c->pg = NULL;
	c->state = DBC_DOWN;
	c->flushing = 0;
	c->preparing = 0;
	/* A new session knows no prepared statements. */
	memset(c->prepared, 0, sizeof c->prepared);
	if (was_up)
		pool->stats.reconnects++;
	dbc_schedule_reconnect(c);

	if (q != NULL) {
		pool->stats.failures++;
		db_query_finish(q, DB_ERR_CONN, NULL, "database connection lost");
	}
	if (db_pool_usable(pool) == 0) {
		while ((q = TAILQ_FIRST(&pool->queue)) != NULL) {
			TAILQ_REMOVE(&pool->queue, q, entry);
			pool->nqueued--;
			pool->stats.failures++;
			db_query_finish(q, DB_ERR_CONN, NULL,
			    "no database connection");
		}
	}
}

static void
dbc_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->state == DBC_DOWN)
		dbc_connect(c);
	else if (c->state == DBC_CONNECTING || c->state == DBC_WARMING)
		dbc_fail(c, "connect timed out");
}

static void
dbc_send(struct db_conn *c, struct db_query *q)
{
	char	name[32];
	int	ok;

	c->q = q;
	c->state = q->internal != DB_USER ? DBC_WARMING : DBC_BUSY;
	snprintf(name, sizeof name, "careline_%d", q->stmt);
	/* LISTEN may name several channels: the simple protocol takes that. */
	if (q->internal == DB_LISTEN)
		ok = PQsendQuery(c->pg, q->sql);
	else if (q->internal != DB_USER || q->stmt < 0)
		ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL,
		    (const char *const *)q->params, NULL, NULL, 0);
	else if (!c->prepared[q->stmt]) {
		/* Parse and plan once per connection; dbc_done executes. */
		c->preparing = 1;
		ok = PQsendPrepare(c->pg, name, q->sql, q->nparams, NULL);
	} else
		ok = PQsendQueryPrepared(c->pg, name, q->nparams,
		    (const char *const *)q->params, NULL, NULL, 0);
	if (!ok) {
		dbc_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (q->internal == DB_USER && !c->preparing)
		c->pool->stats.queries++;
	c->flushing = 1;
	dbc_event(PQsocket(c->pg), EV_WRITE, c);
}

/*
 * Server notices would go raw to stderr, breaking one-line logs; their
 * text may quote data, so only the fact is logged.
 */
static void
dbc_notice(void *arg, const char *message)
{
	struct db_conn	*c = arg;

	(void)message;
	log_debug("database: %s connection %d: a notice from the server",
	    c->pool->name, c->idx);
}

static void
dbc_connected(struct db_conn *c)
{
	struct db_query	*q;

	PQsetnonblocking(c->pg, 1);
	PQsetNoticeProcessor(c->pg, dbc_notice, c);
	c->backoff_ms = 0;
	/* The connect timer runs on: a warm-up that hangs is a failure too. */
	q = xcalloc(1, sizeof *q);
	q->sql = xstrdup(DB_WARMUP_SQL);
	q->internal = DB_WARMUP;
	dbc_send(c, q);
}

static void
dbc_warmed(struct db_conn *c)
{
	struct db_pool	*pool = c->pool;

	evtimer_del(c->timer);
	if (pool->nconns == 1)
		log_info("database: %s connection ready", pool->name);
	else
		log_info("database: %s connection %d ready", pool->name,
		    c->idx);
	c->state = DBC_IDLE;
	if (pool->ready_cb != NULL)
		pool->ready_cb(pool->ready_arg);
	/* Notifications may have been missed while down. */
	if (pool->notify_cb != NULL)
		pool->notify_cb(NULL, NULL, pool->notify_arg);
	if (c->state == DBC_IDLE)
		dbc_next(c);
}

/* Hand every notification that arrived to the listener. */
static void
dbc_notifies(struct db_conn *c)
{
	struct db_pool	*pool = c->pool;
	PGnotify	*n;

	while (c->pg != NULL && (n = PQnotifies(c->pg)) != NULL) {
		if (pool->notify_cb != NULL)
			pool->notify_cb(n->relname, n->extra, pool->notify_arg);
		PQfreemem(n);
	}
}

/* A query's results are all in: hand them over, then take the next one. */
static void
dbc_done(struct db_conn *c)
{
	struct db_query	*q = c->q;
	PGresult	*res = c->res;
	ExecStatusType	 st;

	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (c->preparing) {
		c->preparing = 0;
		if (st == PGRES_COMMAND_OK) {
			/* Prepared: now run it, on the same connection. */
			c->prepared[q->stmt] = 1;
			PQclear(res);
			c->res = NULL;
			dbc_send(c, q);
			return;
		}
		/* A statement that does not parse: its error is the answer. */
	}
	c->q = NULL;
	c->res = NULL;
	if (q->internal != DB_USER) {
		enum db_internal	was = q->internal;

		db_query_free(q);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			dbc_fail(c, res != NULL ? PQresultErrorMessage(res) :
			    "warm-up query failed");
			PQclear(res);
			return;
		}
		PQclear(res);
		if (was == DB_WARMUP && c->pool->listen_sql != NULL) {
			q = xcalloc(1, sizeof *q);
			q->sql = xstrdup(c->pool->listen_sql);
			q->internal = DB_LISTEN;
			dbc_send(c, q);
			return;
		}
		dbc_warmed(c);
		return;
	}
	c->state = DBC_IDLE;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		db_query_finish(q, DB_OK, res, NULL);
	else {
		c->pool->stats.failures++;
		db_query_finish(q, DB_ERR_SQL, res, "query failed");
	}
	PQclear(res);
	if (c->pending_notify) {
		c->pending_notify = 0;
		dbc_notifies(c);
	}
	/* The callbacks may have queued work and taken this connection. */
	if (c->state == DBC_IDLE)
		dbc_next(c);
}

static void
dbc_event(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn		*c = arg;
	PostgresPollingStatusType st;
	PGresult		*res;
	int			 r;

	(void)fd;
	switch (c->state) {
	case DBC_DOWN:
		return;
	case DBC_CONNECTING:
		st = PQconnectPoll(c->pg);
		if (st == PGRES_POLLING_FAILED)
			dbc_fail(c, PQerrorMessage(c->pg));
		else if (st == PGRES_POLLING_READING)
			dbc_arm(c, EV_READ);
		else if (st == PGRES_POLLING_WRITING)
			dbc_arm(c, EV_WRITE);
		else if (st == PGRES_POLLING_OK)
			dbc_connected(c);
		return;
	case DBC_IDLE:
		/* Nothing is expected: the server closed, or sent a notice. */
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
			dbc_fail(c, PQerrorMessage(c->pg));
			return;
		}
		dbc_notifies(c);
		if (c->state == DBC_IDLE)
			dbc_arm(c, EV_READ);
		return;
	case DBC_WARMING:
	case DBC_BUSY:
		break;
	}

	if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
		dbc_fail(c, PQerrorMessage(c->pg));
		return;
	}
	/* Delivered after the query's result: the listener may query. */
	if (c->pool->notify_cb != NULL && what & EV_READ)
		c->pending_notify = 1;
	if (c->flushing) {
		/*
		 * Output still pending: wait for read or write, reading as
		 * we go, or a server that is itself blocked on sending to us
		 * would never drain our output.
		 */
		if ((r = PQflush(c->pg)) < 0) {
			dbc_fail(c, PQerrorMessage(c->pg));
			return;
		}
		if (r == 1) {
			dbc_arm(c, EV_READ | EV_WRITE);
			return;
		}
		c->flushing = 0;
	}
	while (!PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			dbc_done(c);
			return;
		}
		/* Keep the first error, or else the last result. */
		if (c->res != NULL && PQresultStatus(c->res) ==
		    PGRES_FATAL_ERROR)
			PQclear(res);
		else {
			PQclear(c->res);
			c->res = res;
		}
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		dbc_fail(c, PQerrorMessage(c->pg));
		return;
	}
	dbc_arm(c, EV_READ);
}

static void
dbc_next(struct db_conn *c)
{
	struct db_pool	*pool = c->pool;
	struct db_query	*q;

	if ((q = TAILQ_FIRST(&pool->queue)) == NULL) {
		dbc_arm(c, EV_READ);
		return;
	}
	TAILQ_REMOVE(&pool->queue, q, entry);
	pool->nqueued--;
	dbc_send(c, q);
}

static void
dbc_connect(struct db_conn *c)
{
	struct db_pool	*pool = c->pool;
	const char	*keys[] = { "dbname", "application_name", "options",
			    NULL };
	const char	*vals[] = { pool->cfg->db_url, "carelined",
			    pool->options, NULL };
	struct timeval	 tv;

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL) {
		log_error("database: out of memory starting a connection");
		c->state = DBC_DOWN;
		dbc_schedule_reconnect(c);
		return;
	}
	c->state = DBC_CONNECTING;
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		dbc_fail(c, PQerrorMessage(c->pg));
		return;
	}
	/* PQconnectPoll does not honour connect_timeout: time it ourselves. */
	tv.tv_sec = pool->cfg->db_connect_timeout_ms / 1000;
	tv.tv_usec = (pool->cfg->db_connect_timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	dbc_arm(c, EV_WRITE);
}

static long
db_ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* Queued too long: better a quick 503 than an operator left waiting. */
static void
db_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool	*pool = arg;
	struct db_query	*q;

	(void)fd;
	(void)what;
	while ((q = TAILQ_FIRST(&pool->queue)) != NULL &&
	    db_ms_since(&q->queued) >= pool->cfg->db_queue_timeout_ms) {
		TAILQ_REMOVE(&pool->queue, q, entry);
		pool->nqueued--;
		pool->stats.failures++;
		db_query_finish(q, DB_ERR_TIMEOUT, NULL,
		    "timed out waiting for a database connection");
	}
}

/*
 * A query db_query gave this connection: send it now, from the loop, so
 * that a send that fails calls back after db_query has returned.
 */
static void
dbc_kick(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn	*c = arg;
	struct db_query	*q = c->q;

	(void)fd;
	(void)what;
	if (c->state != DBC_BUSY || q == NULL || c->flushing || c->res != NULL)
		return;
	dbc_send(c, q);
}

struct db_pool *
db_pool_new(struct event_base *base, const struct config *cfg,
    void (*ready_cb)(void *), void *ready_arg)
{
	return (db_pool_new_sized(base, cfg, "http", cfg->db_pool_size,
	    ready_cb, ready_arg));
}

struct db_pool *
db_pool_new_sized(struct event_base *base, const struct config *cfg,
    const char *name, int size, void (*ready_cb)(void *), void *ready_arg)
{
	struct db_pool	*pool;
	struct db_conn	*c;
	int		 i;

	pool = xcalloc(1, sizeof *pool);
	pool->name = xstrdup(name);
	pool->base = base;
	pool->cfg = cfg;
	pool->ready_cb = ready_cb;
	pool->ready_arg = ready_arg;
	TAILQ_INIT(&pool->queue);
	pool->nconns = size;
	pool->conns = xcalloc(pool->nconns, sizeof *pool->conns);
	xasprintf(&pool->options, "-c statement_timeout=%d -c TimeZone=%s",
	    cfg->db_statement_timeout_ms, cfg->district_timezone);
	for (i = 0; i < pool->nconns; i++) {
		c = &pool->conns[i];
		c->pool = pool;
		c->idx = i;
		c->state = DBC_DOWN;
		c->ev = event_new(base, -1, 0, dbc_event, c);
		c->timer = evtimer_new(base, dbc_timer, c);
		c->kick = event_new(base, -1, 0, dbc_kick, c);
	}
	pool->sweep = event_new(base, -1, EV_PERSIST, db_sweep, pool);
	return (pool);
}

void
db_pool_start(struct db_pool *pool)
{
	struct timeval	tv = { 0, DB_SWEEP_MS * 1000 };
	int		i;

	evtimer_add(pool->sweep, &tv);
	for (i = 0; i < pool->nconns; i++)
		dbc_connect(&pool->conns[i]);
}

void
db_pool_free(struct db_pool *pool)
{
	struct db_query	*q;
	struct db_conn	*c;
	int		 i;

	if (pool == NULL)
		return;
	/*
	 * Callbacks below may try to query again: nothing may reach a
	 * connection from here on.
	 */
	pool->closing = 1;
	for (i = 0; i < pool->nconns; i++) {
		c = &pool->conns[i];
		event_del(c->ev);
		evtimer_del(c->timer);
		if (c->state != DBC_BUSY)
			c->state = DBC_DOWN;
	}
	while ((q = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, q, entry);
		db_query_finish(q, DB_ERR_SHUTDOWN, NULL, "shutting down");
	}
	for (i = 0; i < pool->nconns; i++) {
		c = &pool->conns[i];
		c->state = DBC_DOWN;
		if (c->q != NULL) {
			struct db_query	*running = c->q;

			c->q = NULL;
			db_query_finish(running, DB_ERR_SHUTDOWN, NULL,
			    "shutting down");
		}
		PQclear(c->res);
		if (c->pg != NULL)
			PQfinish(c->pg);
		event_free(c->ev);
		event_free(c->timer);
		event_free(c->kick);
	}
	event_free(pool->sweep);
	free(pool->conns);
	free(pool->options);
	free(pool->listen_sql);
	for (i = 0; i < pool->nstmts; i++)
		free(pool->stmts[i]);
	free(pool->name);
	free(pool);
}

/* The prepared-statement slot for this SQL text, or -1 when all are used. */
static int
db_statement(struct db_pool *pool, const char *sql)
{
	int	i;

	for (i = 0; i < pool->nstmts; i++) {
		if (strcmp(pool->stmts[i], sql) == 0)
			return (i);
	}
	if (pool->nstmts == DB_MAX_STATEMENTS)
		return (-1);
	pool->stmts[pool->nstmts] = xstrdup(sql);
	return (pool->nstmts++);
}

void
db_pool_listen(struct db_pool *pool, const char *listen_sql, db_notify_cb cb,
    void *arg)
{
	free(pool->listen_sql);
	pool->listen_sql = xstrdup(listen_sql);
	pool->notify_cb = cb;
	pool->notify_arg = arg;
}

int
db_query(struct db_pool *pool, const char *sql, int nparams,
    const char *const *params, db_cb cb, void *arg)
{
	struct db_query	*q;
	struct db_conn	*c;
	int		 i;

	if (pool->closing || db_pool_usable(pool) == 0 ||
	    pool->nqueued >= pool->cfg->db_queue_max)
		return (-1);
	q = xcalloc(1, sizeof *q);
	q->sql = xstrdup(sql);
	q->nparams = nparams;
	q->params = xcalloc(nparams, sizeof *q->params);
	for (i = 0; i < nparams; i++)
		q->params[i] = params[i] != NULL ? xstrdup(params[i]) : NULL;
	q->cb = cb;
	q->arg = arg;
	q->stmt = db_statement(pool, sql);
	clock_gettime(CLOCK_MONOTONIC, &q->queued);

	/*
	 * Never send from here: a send that fails would call back before
	 * db_query returns, and callers would have to guard against it. An
	 * idle connection is taken now (so it counts as busy and nothing
	 * else takes it) and sends from the loop, in this same turn.
	 */
	for (i = 0; i < pool->nconns; i++) {
		c = &pool->conns[i];
		if (c->state == DBC_IDLE) {
			event_del(c->ev);
			c->q = q;
			c->state = DBC_BUSY;
			event_active(c->kick, 0, 0);
			return (0);
		}
	}
	TAILQ_INSERT_TAIL(&pool->queue, q, entry);
	pool->nqueued++;
	return (0);
}

int
db_pool_full(const struct db_pool *pool)
{
	return (db_pool_usable(pool) == pool->nconns);
}

void
db_pool_stats(const struct db_pool *pool, struct db_stats *st)
{
	int	i;

	*st = pool->stats;
	st->size = pool->nconns;
	st->connected = db_pool_usable(pool);
	st->busy = 0;
	for (i = 0; i < pool->nconns; i++) {
		if (pool->conns[i].state == DBC_BUSY)
			st->busy++;
	}
	st->waiting = pool->nqueued;
}
