#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "crypto.h"
#include "db_pool.h"
#include "http_events.h"
#include "log.h"
#include "http_server.h"
#include "xmalloc.h"

#define EVENTS_CRED_LEN		(2 * CRYPTO_SHA256_LEN)	/* hex */

/*
 * Where a stream is: the last event sent, in commit order, which is the
 * order of (xid of its transaction, id); see careline_events_after in
 * 0015. xid is -1 while unknown (a console's Last-Event-ID names only an
 * id): it is behind every real position.
 */
struct events_pos {
	long long	xid;
	long long	id;
};

static int
events_pos_cmp(const struct events_pos *a, const struct events_pos *b)
{
	if (a->xid != b->xid)
		return (a->xid < b->xid ? -1 : 1);
	if (a->id != b->id)
		return (a->id < b->id ? -1 : 1);
	return (0);
}

/*
 * A console's stream. Live, it is on hub->clients and owns req (libevent
 * leaves a stream's request to us when the console hangs up). Ended, it
 * is on hub->ending until its connection closes: libevent owns req then,
 * and the connection's close callback frees the client.
 */
struct events_client {
	TAILQ_ENTRY(events_client)	 entry;
	struct events_hub		*hub;
	struct evhttp_request		*req;	/* NULL once ended */
	struct evhttp_connection	*evcon;
	struct events_pos		 pos;
	unsigned long long		 gen;	/* this hub's, never reused */
	int				 catching_up;
	int				 catchup_failed; /* retried on a timer */
	int				 unplaced;	/* waits for the hub's
						   position to start from */
	int				 ending;
	char				 cred[EVENTS_CRED_LEN + 1];
};
TAILQ_HEAD(events_clients, events_client);

struct events_hub {
	struct event_base	*base;
	struct config		*cfg;
	struct db_pool		*db;
	struct events_clients	 clients;
	struct events_clients	 ending;
	int			 nclients;
	int			 nending;
	struct events_pos	 pos;		/* last row fanned out */
	int			 known;		/* pos has been read */
	int			 learning;	/* asking for it */
	unsigned long long	 gen;		/* the last client's */
	unsigned long long	 fetch_gen;	/* the last one the running
						   fetch checks */
	long long		 notified;	/* NOTIFYs and reconnects */
	long long		 fetches;	/* careline_events_after runs */
	int			 fetching, fetch_again;
	int			 retry_ms;	/* back-off; 0: all is well */
	int			 failing;	/* said in the log, once */
	int			 held;		/* said in the log, once */
	struct event		*keepalive;
	struct event		*recheck;
	struct event		*retry;
};

static void	events_fetch(struct events_hub *);
static void	events_catch_up(struct events_client *);

/*
 * Ask again soon: a fetch or a catch-up failed (no NOTIFY may come for a
 * long time, and other consoles' boards would stay stale), or committed
 * events wait behind an older transaction (which sends no NOTIFY when it
 * ends if it wrote no event). Backs off while it goes on.
 */
static void
events_retry(struct events_hub *hub)
{
	struct timeval	tv;

	if (evtimer_pending(hub->retry, NULL))
		return;
	if (hub->retry_ms == 0)
		hub->retry_ms = EVENTS_RETRY_MIN_MS;
	else if ((hub->retry_ms *= 2) > EVENTS_RETRY_MAX_MS)
		hub->retry_ms = EVENTS_RETRY_MAX_MS;
	tv.tv_sec = hub->retry_ms / 1000;
	tv.tv_usec = (hub->retry_ms % 1000) * 1000;
	evtimer_add(hub->retry, &tv);
}

static void
events_retry_fire(evutil_socket_t fd, short what, void *arg)
{
	struct events_hub	*hub = arg;
	struct events_client	*c, *next;

	(void)fd;
	(void)what;
	events_hub_notify(hub);
	for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->catchup_failed) {
			c->catchup_failed = 0;
			events_catch_up(c);
		}
	}
}

/* The console went away, or an ended stream's connection closed. */
static void
events_client_closed(struct evhttp_connection *evcon, void *arg)
{
	struct events_client	*c = arg;
	struct events_hub	*hub = c->hub;

	(void)evcon;
	if (c->ending) {
		TAILQ_REMOVE(&hub->ending, c, entry);
		hub->nending--;
		free(c);
		return;
	}
	/*
	 * A stream is never finished, so when its console hangs up libevent
	 * detaches the request and leaves it to us.
	 */
	if (evhttp_request_get_connection(c->req) == NULL)
		evhttp_request_free(c->req);
	TAILQ_REMOVE(&hub->clients, c, entry);
	hub->nclients--;
	free(c);
}

/*
 * End a stream properly: a last event saying why (a console reconnects at
 * once), the chunked body terminated, then the connection closed. c may be
 * freed before this returns.
 */
static void
events_client_end(struct events_client *c, const char *last)
{
	struct events_hub	*hub = c->hub;
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(
				    c->evcon);
	struct evhttp_request	*req = c->req;
	struct evbuffer		*buf;

	if (last != NULL && (bev == NULL || evbuffer_get_length(
	    bufferevent_get_output(bev)) <= EVENTS_MAX_BUFFERED)) {
		buf = evbuffer_new();
		evbuffer_add(buf, last, strlen(last));
		evhttp_send_reply_chunk(req, buf);
		evbuffer_free(buf);
	}
	/* Read by libevent when the reply is written: close, not keep. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	TAILQ_REMOVE(&hub->clients, c, entry);
	hub->nclients--;
	c->ending = 1;
	c->req = NULL;
	TAILQ_INSERT_TAIL(&hub->ending, c, entry);
	hub->nending++;
	evhttp_send_reply_end(req);
}

/*
 * Come back soon, not at once: a client that honours retry and doubles it
 * on failure must not spin on this instance's 503s while it drains.
 */
#define EVENTS_LAST_SHUTDOWN	"retry: 250\nevent: shutdown\ndata: " \
				"{\"type\":\"server.shutdown\"}\n\n"
#define EVENTS_LAST_ENDED	"event: ended\ndata: " \
				"{\"type\":\"credential.ended\"}\n\n"

/* One event on the wire; a console too far behind is cut off. */
static int
events_send(struct events_client *c, const struct events_pos *pos,
    const char *type, const char *json)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(
				    c->evcon);
	struct evbuffer		*buf;

	if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) >
	    EVENTS_MAX_BUFFERED) {
		log_warn("events: a console is too slow; closing its stream");
		events_client_end(c, NULL);
		return (-1);
	}
	buf = evbuffer_new();
	if (pos != NULL)
		evbuffer_add_printf(buf, "id: %lld\nevent: %s\ndata: %s\n\n",
		    pos->id, type, json);
	else
		evbuffer_add_printf(buf, ": %s\n\n", json);
	evhttp_send_reply_chunk(c->req, buf);
	evbuffer_free(buf);
	if (pos != NULL && events_pos_cmp(pos, &c->pos) > 0)
		c->pos = *pos;
	return (0);
}

/* A row of careline_events_after that is not an event. */
static int
events_row_is(PGresult *res, int i, const char *type)
{
	return (PQgetisnull(res, i, 0) && strcmp(PQgetvalue(res, i, 1),
	    type) == 0);
}

/* careline_events_position's one row: id, xid. */
static void
events_row_pos_at(PGresult *res, struct events_pos *pos)
{
	pos->id = atoll(PQgetvalue(res, 0, 0));
	pos->xid = atoll(PQgetvalue(res, 0, 1));
}

static void
events_row_pos(PGresult *res, int i, struct events_pos *pos)
{
	pos->id = atoll(PQgetvalue(res, i, 0));
	pos->xid = atoll(PQgetvalue(res, i, 3));
}

/*
 * Rows of careline_events_after of type credential.ended name a
 * credential (hex of its hash) that is no longer good: end its streams,
 * before any event of the same answer is sent.
 */
static void
events_end_dead(struct events_hub *hub, PGresult *res)
{
	struct events_client	*c, *next;
	const char		*cred;
	int			 i, n = PQntuples(res), ended = 0;

	for (i = 0; i < n; i++) {
		if (!events_row_is(res, i, "credential.ended"))
			continue;
		cred = PQgetvalue(res, i, 2);
		for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (strcmp(c->cred, cred) == 0) {
				events_client_end(c, EVENTS_LAST_ENDED);
				ended++;
			}
		}
	}
	if (ended > 0)
		log_info("events: %d streams closed: their credential ended",
		    ended);
}

static void
events_fetched(const struct db_result *res, void *arg)
{
	struct events_hub	*hub = arg;
	struct events_client	*c, *next;
	struct events_pos	 pos;
	int			 i, n, nev = 0, held = 0;

	hub->fetching = 0;
	if (res->status == DB_ERR_SHUTDOWN)
		return;
	if (res->status != DB_OK) {
		/* The retry reads everything after pos: nothing is lost. */
		if (!hub->failing)
			log_warn("events: reading new events failed (%s); "
			    "retrying", res->message);
		hub->failing = 1;
		hub->fetch_again = 0;
		events_retry(hub);
		return;
	}
	if (hub->failing)
		log_info("events: reading new events again");
	hub->failing = 0;
	events_end_dead(hub, res->res);
	n = PQntuples(res->res);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res->res, i, 0)) {
			if (events_row_is(res->res, i, "events.held"))
				held = 1;
			continue;
		}
		nev++;
		events_row_pos(res->res, i, &pos);
		for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			/* Newer than the fetch: its credential was not checked. */
			if (!c->catching_up && c->gen <= hub->fetch_gen &&
			    events_pos_cmp(&c->pos, &pos) < 0)
				events_send(c, &pos, PQgetvalue(res->res, i,
				    1), PQgetvalue(res->res, i, 2));
		}
		hub->pos = pos;
	}
	/*
	 * Streams that came while the fetch ran get its rows from the table,
	 * in a query that checks their credential.
	 */
	for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->gen > hub->fetch_gen && !c->catching_up &&
		    events_pos_cmp(&c->pos, &hub->pos) < 0)
			events_catch_up(c);
	}
	/* Only a long wait is worth a line: each commit makes a short one. */
	if (held && !hub->held && hub->retry_ms == EVENTS_RETRY_MAX_MS) {
		log_warn("events: committed events wait for an older "
		    "transaction to end (is a session idle in transaction?)");
		hub->held = 1;
	} else if (!held && hub->held) {
		log_info("events: events no longer held");
		hub->held = 0;
	}
	if (nev == EVENTS_BATCH || hub->fetch_again || hub->nclients == 0) {
		/* (With no stream left, this forgets the position.) */
		hub->fetch_again = 0;
		events_fetch(hub);
	} else if (held)
		events_retry(hub);
	else
		hub->retry_ms = 0;
}

/* "{hex,hex}": each credential of the live streams once. */
static char *
events_creds(struct events_hub *hub, struct events_client *only)
{
	struct events_client	*c;
	char			*s, *p;

	p = s = xmalloc((size_t)(hub->nclients + 1) * (EVENTS_CRED_LEN + 1) +
	    2);
	*p++ = '{';
	*p = '\0';
	TAILQ_FOREACH(c, &hub->clients, entry) {
		if (only != NULL && c != only)
			continue;
		/* A match is a whole element: no element holds a comma. */
		if (strstr(s, c->cred) != NULL)
			continue;
		if (p[-1] != '{')
			*p++ = ',';
		memcpy(p, c->cred, EVENTS_CRED_LEN);
		p += EVENTS_CRED_LEN;
		*p = '\0';
	}
	*p++ = '}';
	*p = '\0';
	return (s);
}

/*
 * One statement checks the streams' credentials and reads new rows, so a
 * row committed after a sign-out is never sent on that session's stream.
 */
static int
events_query(struct events_hub *hub, const struct events_pos *after,
    int replay, struct events_client *only, db_cb cb, void *arg)
{
	char		 x[24], a[24], limit[16], idle[16], rmax[16], rage[16];
	char		*creds;
	const char	*params[7];
	int		 rc;

	creds = events_creds(hub, only);
	snprintf(x, sizeof x, "%lld", after->xid);
	snprintf(a, sizeof a, "%lld", after->id);
	snprintf(limit, sizeof limit, "%d", EVENTS_BATCH);
	snprintf(idle, sizeof idle, "%d", hub->cfg->auth_session_idle_ms /
	    1000);
	snprintf(rmax, sizeof rmax, "%d", hub->cfg->events_replay_max);
	snprintf(rage, sizeof rage, "%d", hub->cfg->events_replay_age_ms /
	    1000);
	params[0] = after->xid >= 0 ? x : NULL;
	params[1] = a;
	params[2] = limit;
	params[3] = creds;
	params[4] = idle;
	params[5] = replay ? rmax : NULL;
	params[6] = replay ? rage : NULL;
	rc = db_query(hub->db, "SELECT id, type, json, xid FROM "
	    "careline_events_after($1::xid8, $2, $3, $4::text[], $5, $6, $7)",
	    7, params, cb, arg);
	free(creds);
	return (rc);
}

static void
events_fetch(struct events_hub *hub)
{
	if (!hub->known)
		return;
	/*
	 * Nobody listens: read nothing. The position goes stale, so it is
	 * learnt again when a stream connects (events_subscribe).
	 */
	if (hub->nclients == 0) {
		if (!hub->fetching) {
			hub->known = 0;
			hub->fetch_again = 0;
		}
		return;
	}
	if (hub->fetching) {
		hub->fetch_again = 1;
		return;
	}
	hub->fetching = 1;
	hub->fetch_gen = hub->gen;
	hub->fetches++;
	if (events_query(hub, &hub->pos, 0, NULL, events_fetched, hub) != 0) {
		hub->fetching = 0;
		events_retry(hub);
	}
}

/*
 * The position is known: streams that waited for it start there, and
 * those it has passed by (they were live while the hub read nothing,
 * before this position was learnt) catch up to it from the table.
 */
static void
events_started(const struct db_result *res, void *arg)
{
	struct events_hub	*hub = arg;
	struct events_client	*c, *next;

	hub->learning = 0;
	if (res->status != DB_OK) {
		hub->known = 0;
		if (res->status != DB_ERR_SHUTDOWN)
			events_retry(hub);
		return;
	}
	hub->pos.xid = hub->pos.id = 0;
	if (PQntuples(res->res) == 1)
		events_row_pos_at(res->res, &hub->pos);
	hub->known = 1;
	for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->unplaced) {
			c->unplaced = 0;
			c->catching_up = 0;
			c->pos = hub->pos;
		} else if (!c->catching_up && events_pos_cmp(&c->pos,
		    &hub->pos) < 0)
			events_catch_up(c);
	}
	events_fetch(hub);
}

void
events_hub_notified(struct events_hub *hub)
{
	hub->notified++;
	events_hub_notify(hub);
}

void
events_hub_notify(struct events_hub *hub)
{
	/*
	 * The position is learnt when a stream is there to read for (and
	 * again after a time with none, when nothing was read).
	 */
	if (!hub->known) {
		if (hub->nclients == 0 || hub->learning)
			return;
		hub->learning = 1;
		if (db_query(hub->db, "SELECT id, xid FROM "
		    "careline_events_position()", 0, NULL, events_started,
		    hub) != 0) {
			hub->learning = 0;
			events_retry(hub);
		}
		return;
	}
	events_fetch(hub);
}

struct events_catchup {
	struct events_hub	*hub;
	unsigned long long	 gen;		/* the client's */
	struct events_pos	 hub_last;	/* fanned out when asked */
};

/* A reconnecting console: replay what it missed from the table. */
static void
events_caught_up(const struct db_result *res, void *arg)
{
	struct events_catchup	*cu = arg;
	struct events_client	*c;
	struct events_pos	 hub_last = cu->hub_last, pos;
	int			 i, n, nev = 0;

	/*
	 * It may have gone while we asked, and another stream have been
	 * given its memory: find it by its generation, not its address.
	 */
	TAILQ_FOREACH(c, &cu->hub->clients, entry) {
		if (c->gen == cu->gen)
			break;
	}
	free(cu);
	if (c == NULL || res->status == DB_ERR_SHUTDOWN)
		return;
	if (res->status != DB_OK) {
		/*
		 * Still catching up, so the hub sends it nothing: live rows
		 * would move it past the ones it missed.
		 */
		c->catchup_failed = 1;
		events_retry(c->hub);
		return;
	}
	c->catching_up = 0;
	n = PQntuples(res->res);
	for (i = 0; i < n; i++) {
		if (events_row_is(res->res, i, "credential.ended")) {
			/* Its credential ended: none of the rows is for it. */
			events_client_end(c, EVENTS_LAST_ENDED);
			return;
		}
	}
	for (i = 0; i < n; i++) {
		/* Held rows: the hub polls, and fans them out when final. */
		if (PQgetisnull(res->res, i, 0))
			continue;
		nev++;
		events_row_pos(res->res, i, &pos);
		if (events_send(c, &pos, PQgetvalue(res->res, i, 1),
		    PQgetvalue(res->res, i, 2)) != 0)
			return;
	}
	/*
	 * A short answer means nothing up to what the hub had sent when we
	 * asked is left for it (older rows are beyond the replay bounds):
	 * every row the hub had read was final when we asked.
	 */
	if (nev < EVENTS_BATCH && events_pos_cmp(&c->pos, &hub_last) < 0)
		c->pos = hub_last;
	/* Rows fanned out meanwhile were skipped for it: go again. */
	if (events_pos_cmp(&c->pos, &c->hub->pos) < 0)
		events_catch_up(c);
}

static void
events_catch_up(struct events_client *c)
{
	struct events_catchup	*cu;

	c->catching_up = 1;
	cu = xcalloc(1, sizeof *cu);
	cu->hub = c->hub;
	cu->gen = c->gen;
	cu->hub_last = c->hub->pos;
	if (events_query(c->hub, &c->pos, 1, c, events_caught_up, cu) != 0) {
		free(cu);
		c->catchup_failed = 1;
		events_retry(c->hub);
	}
}

void
events_subscribe(struct request *r, struct events_hub *hub)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(r->req);
	struct evkeyvalq	*out = evhttp_request_get_output_headers(r->req);
	struct events_client	*c;
	const char		*last;
	char			*end, cred[EVENTS_CRED_LEN + 1];
	long long		 from = -1;
	int			 mine = 0;

	if (request_cancelled(r))
		return;
	crypto_hex(r->who.token_hash, CRYPTO_SHA256_LEN, cred);
	TAILQ_FOREACH(c, &hub->clients, entry) {
		if (strcmp(c->cred, cred) == 0)
			mine++;
	}
	if (mine >= hub->cfg->events_max_per_credential) {
		evhttp_add_header(out, "Retry-After", "5");
		request_error(r, 429, "too_many_streams", NULL,
		    "this credential has %d event streams open already; "
		    "close one first", mine);
		return;
	}
	if (hub->nclients >= hub->cfg->events_max_streams) {
		request_error(r, 503, "too_many_streams", NULL,
		    "too many consoles connected");
		return;
	}
	if ((last = evhttp_find_header(in, "Last-Event-ID")) != NULL) {
		from = strtoll(last, &end, 10);
		if (*last == '\0' || *end != '\0' || from < 0)
			from = -1;
	}
	evhttp_add_header(out, "Content-Type", "text/event-stream");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");

	c = xcalloc(1, sizeof *c);
	c->hub = hub;
	c->gen = ++hub->gen;
	c->req = r->req;
	c->evcon = evhttp_request_get_connection(r->req);
	if (from >= 0) {
		c->pos.xid = -1;	/* the catch-up looks it up */
		c->pos.id = from;
	} else if (hub->known)
		c->pos = hub->pos;
	else {
		/* The hub read nothing while nobody listened: ask first. */
		c->unplaced = 1;
		c->catching_up = 1;
	}
	memcpy(c->cred, cred, sizeof c->cred);
	TAILQ_INSERT_TAIL(&hub->clients, c, entry);
	hub->nclients++;
	/* r is gone; c->req lives on */
	request_stream_start(r, events_client_closed, c);
	events_send(c, NULL, "connected", "connected");
	/*
	 * Even with the hub's newest id: an event with a lower id may have
	 * been committed (and fanned out) after it, while it was away.
	 */
	if (from >= 0)
		events_catch_up(c);
	if (!hub->known)
		events_hub_notify(hub);
}

static void
events_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct events_hub	*hub = arg;
	struct events_client	*c, *next;

	(void)fd;
	(void)what;
	/* Proxies drop silent streams; a dead console shows up on write. */
	for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		events_send(c, NULL, "keepalive", "keepalive");
	}
}

static void
events_recheck_arm(struct events_hub *hub)
{
	struct timeval	tv;

	tv.tv_sec = hub->cfg->events_recheck_ms / 1000;
	tv.tv_usec = (hub->cfg->events_recheck_ms % 1000) * 1000;
	event_add(hub->recheck, &tv);
}

/* Sign-outs, revocations and disabled operators reach open streams. */
static void
events_recheck(evutil_socket_t fd, short what, void *arg)
{
	struct events_hub	*hub = arg;

	(void)fd;
	(void)what;
	if (hub->nclients > 0)
		events_hub_notify(hub);
	/* Re-armed each time: a reload may have changed the period. */
	events_recheck_arm(hub);
}

struct events_hub *
events_hub_new(struct event_base *base, struct config *cfg,
    struct db_pool *db)
{
	struct events_hub	*hub;

	hub = xcalloc(1, sizeof *hub);
	hub->base = base;
	hub->cfg = cfg;
	hub->db = db;
	TAILQ_INIT(&hub->clients);
	TAILQ_INIT(&hub->ending);
	hub->keepalive = event_new(base, -1, EV_PERSIST, events_keepalive,
	    hub);
	hub->recheck = event_new(base, -1, 0, events_recheck, hub);
	hub->retry = evtimer_new(base, events_retry_fire, hub);
	return (hub);
}

void
events_hub_start(struct events_hub *hub)
{
	struct timeval	tv = { EVENTS_KEEPALIVE_SEC, 0 };

	event_add(hub->keepalive, &tv);
	events_recheck_arm(hub);
}

void
events_hub_close_all(struct events_hub *hub)
{
	struct events_client	*c;

	while ((c = TAILQ_FIRST(&hub->clients)) != NULL)
		events_client_end(c, EVENTS_LAST_SHUTDOWN);
}

int
events_hub_ending(const struct events_hub *hub)
{
	return (hub->nending);
}

int
events_hub_clients(const struct events_hub *hub)
{
	return (hub->nclients);
}

void
events_hub_metrics(const struct events_hub *hub, struct evbuffer *buf)
{
	evbuffer_add_printf(buf,
	    "# HELP careline_events_streams Event streams open.\n"
	    "# TYPE careline_events_streams gauge\n"
	    "careline_events_streams %d\n"
	    "# HELP careline_events_notified_total Notifications that new "
	    "events may be there.\n"
	    "# TYPE careline_events_notified_total counter\n"
	    "careline_events_notified_total %lld\n"
	    "# HELP careline_events_fetches_total Reads of new events for "
	    "the open streams (none while there is none).\n"
	    "# TYPE careline_events_fetches_total counter\n"
	    "careline_events_fetches_total %lld\n", hub->nclients,
	    hub->notified, hub->fetches);
}

void
events_hub_free(struct events_hub *hub)
{
	struct events_client	*c;

	if (hub == NULL)
		return;
	events_hub_close_all(hub);
	/* Connections freed without a close callback left these behind. */
	while ((c = TAILQ_FIRST(&hub->ending)) != NULL) {
		TAILQ_REMOVE(&hub->ending, c, entry);
		free(c);
	}
	event_free(hub->keepalive);
	event_free(hub->recheck);
	event_free(hub->retry);
	free(hub);
}
