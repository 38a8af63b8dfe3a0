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
#include "db.h"
#include "events.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define EVENTS_CRED_LEN		(2 * CRYPTO_SHA256_LEN)	/* hex */

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
	long long			 last_id;
	int				 catching_up;
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
	long long		 last_id;	/* newest row fanned out */
	int			 known;		/* last_id has been read */
	int			 fetching, fetch_again;
	struct event		*keepalive;
	struct event		*recheck;
};

static void	events_fetch(struct events_hub *);

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
events_send(struct events_client *c, long long id, const char *type,
    const char *json)
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
	if (id > 0)
		evbuffer_add_printf(buf, "id: %lld\nevent: %s\ndata: %s\n\n",
		    id, type, json);
	else
		evbuffer_add_printf(buf, ": %s\n\n", json);
	evhttp_send_reply_chunk(c->req, buf);
	evbuffer_free(buf);
	if (id > c->last_id)
		c->last_id = id;
	return (0);
}

/*
 * Rows of careline_events_checked with a NULL id name a credential (hex of
 * its hash) that is no longer good: end its streams, before any event of
 * the same answer is sent.
 */
static void
events_end_dead(struct events_hub *hub, PGresult *res)
{
	struct events_client	*c, *next;
	const char		*cred;
	int			 i, n = PQntuples(res), ended = 0;

	for (i = 0; i < n; i++) {
		if (!PQgetisnull(res, i, 0))
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
	long long		 id;
	int			 i, n, nev = 0;

	hub->fetching = 0;
	if (res->status != DB_OK)
		return;
	events_end_dead(hub, res->res);
	n = PQntuples(res->res);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res->res, i, 0))
			continue;
		nev++;
		id = atoll(PQgetvalue(res->res, i, 0));
		for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (!c->catching_up && c->last_id < id)
				events_send(c, id, PQgetvalue(res->res, i, 1),
				    PQgetvalue(res->res, i, 2));
		}
		hub->last_id = id;
	}
	if (nev == EVENTS_BATCH || hub->fetch_again) {
		hub->fetch_again = 0;
		events_fetch(hub);
	}
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
events_query(struct events_hub *hub, long long after, int replay,
    struct events_client *only, db_cb cb, void *arg)
{
	char		 a[24], limit[16], idle[16], rmax[16], rage[16];
	char		*creds;
	const char	*params[6];
	int		 rc;

	creds = events_creds(hub, only);
	snprintf(a, sizeof a, "%lld", after);
	snprintf(limit, sizeof limit, "%d", EVENTS_BATCH);
	snprintf(idle, sizeof idle, "%d", hub->cfg->auth_session_idle_ms /
	    1000);
	snprintf(rmax, sizeof rmax, "%d", hub->cfg->events_replay_max);
	snprintf(rage, sizeof rage, "%d", hub->cfg->events_replay_age_ms /
	    1000);
	params[0] = a;
	params[1] = limit;
	params[2] = creds;
	params[3] = idle;
	params[4] = replay ? rmax : NULL;
	params[5] = replay ? rage : NULL;
	rc = db_query(hub->db, "SELECT id, type, json FROM "
	    "careline_events_checked($1, $2, $3::text[], $4, $5, $6)", 6,
	    params, cb, arg);
	free(creds);
	return (rc);
}

static void
events_fetch(struct events_hub *hub)
{
	if (!hub->known)
		return;
	if (hub->fetching) {
		hub->fetch_again = 1;
		return;
	}
	hub->fetching = 1;
	if (events_query(hub, hub->last_id, 0, NULL, events_fetched, hub) != 0)
		hub->fetching = 0;
}

static void
events_started(const struct db_result *res, void *arg)
{
	struct events_hub	*hub = arg;

	if (res->status != DB_OK) {
		hub->known = 0;
		return;
	}
	hub->last_id = atoll(PQgetvalue(res->res, 0, 0));
	hub->known = 1;
	events_fetch(hub);
}

void
events_hub_notify(struct events_hub *hub)
{
	/* The newest id is learnt once, on the first connection. */
	if (!hub->known) {
		db_query(hub->db, "SELECT coalesce(max(id), 0) FROM events", 0,
		    NULL, events_started, hub);
		return;
	}
	events_fetch(hub);
}

struct events_catchup {
	struct events_hub	*hub;
	struct events_client	*c;
	long long		 hub_last;	/* fanned out when asked */
};

static void	events_catch_up(struct events_client *);

/* A reconnecting console: replay what it missed from the table. */
static void
events_caught_up(const struct db_result *res, void *arg)
{
	struct events_catchup	*cu = arg;
	struct events_client	*c;
	long long		 hub_last = cu->hub_last;
	int			 i, n, nev = 0;

	/* It may have gone while we asked. */
	TAILQ_FOREACH(c, &cu->hub->clients, entry) {
		if (c == cu->c)
			break;
	}
	free(cu);
	if (c == NULL)
		return;
	c->catching_up = 0;
	if (res->status != DB_OK)
		return;
	n = PQntuples(res->res);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res->res, i, 0)) {
			/* Its credential ended: none of the rows is for it. */
			events_client_end(c, EVENTS_LAST_ENDED);
			return;
		}
	}
	for (i = 0; i < n; i++) {
		nev++;
		if (events_send(c, atoll(PQgetvalue(res->res, i, 0)),
		    PQgetvalue(res->res, i, 1), PQgetvalue(res->res, i, 2)) !=
		    0)
			return;
	}
	/*
	 * A short answer means nothing up to what the hub had sent when we
	 * asked is left for it (older rows are beyond the replay bounds).
	 */
	if (nev < EVENTS_BATCH && c->last_id < hub_last)
		c->last_id = hub_last;
	/* Rows fanned out meanwhile were skipped for it: go again. */
	if (c->last_id < c->hub->last_id)
		events_catch_up(c);
}

static void
events_catch_up(struct events_client *c)
{
	struct events_catchup	*cu;

	c->catching_up = 1;
	cu = xcalloc(1, sizeof *cu);
	cu->hub = c->hub;
	cu->c = c;
	cu->hub_last = c->hub->last_id;
	if (events_query(c->hub, c->last_id, 1, c, events_caught_up, cu) !=
	    0) {
		c->catching_up = 0;
		free(cu);
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
	c->req = r->req;
	c->evcon = evhttp_request_get_connection(r->req);
	c->last_id = from >= 0 ? from : hub->last_id;
	memcpy(c->cred, cred, sizeof c->cred);
	TAILQ_INSERT_TAIL(&hub->clients, c, entry);
	hub->nclients++;
	/* r is gone; c->req lives on */
	request_stream_start(r, events_client_closed, c);
	events_send(c, 0, "connected", "connected");
	if (from >= 0 && from < hub->last_id)
		events_catch_up(c);
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
		events_send(c, 0, "keepalive", "keepalive");
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
	free(hub);
}
