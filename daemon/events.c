#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "db.h"
#include "events.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

struct events_client {
	TAILQ_ENTRY(events_client)	 entry;
	struct events_hub		*hub;
	struct evhttp_request		*req;
	struct evhttp_connection	*evcon;
	long long			 last_id;
	int				 catching_up;
};
TAILQ_HEAD(events_clients, events_client);

struct events_hub {
	struct event_base	*base;
	struct db_pool		*db;
	struct events_clients	 clients;
	int			 nclients;
	long long		 last_id;	/* newest row fanned out */
	int			 known;		/* last_id has been read */
	int			 fetching, fetch_again;
	struct event		*keepalive;
};

static void	events_fetch(struct events_hub *);

static void
events_client_free(struct events_client *c)
{
	TAILQ_REMOVE(&c->hub->clients, c, entry);
	c->hub->nclients--;
	free(c);
}

/* The console went away: libevent frees the request itself. */
static void
events_client_closed(struct evhttp_connection *evcon, void *arg)
{
	struct events_client	*c = arg;

	(void)evcon;
	/*
	 * A stream is never finished, so when its console hangs up libevent
	 * detaches the request and leaves it to us.
	 */
	if (evhttp_request_get_connection(c->req) == NULL)
		evhttp_request_free(c->req);
	events_client_free(c);
}

static void
events_client_end(struct events_client *c)
{
	evhttp_connection_set_closecb(c->evcon, NULL, NULL);
	evhttp_send_reply_end(c->req);
	events_client_free(c);
}

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
		events_client_end(c);
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

static void
events_fetched(const struct db_result *res, void *arg)
{
	struct events_hub	*hub = arg;
	struct events_client	*c, *next;
	long long		 id;
	int			 i, n;

	hub->fetching = 0;
	if (res->status != DB_OK)
		return;
	n = PQntuples(res->res);
	for (i = 0; i < n; i++) {
		id = atoll(PQgetvalue(res->res, i, 0));
		for (c = TAILQ_FIRST(&hub->clients); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (!c->catching_up && c->last_id < id)
				events_send(c, id, PQgetvalue(res->res, i, 1),
				    PQgetvalue(res->res, i, 2));
		}
		hub->last_id = id;
	}
	if (n == EVENTS_BATCH || hub->fetch_again) {
		hub->fetch_again = 0;
		events_fetch(hub);
	}
}

static void
events_fetch(struct events_hub *hub)
{
	char		 after[24], limit[16];
	const char	*params[2] = { after, limit };

	if (!hub->known)
		return;
	if (hub->fetching) {
		hub->fetch_again = 1;
		return;
	}
	snprintf(after, sizeof after, "%lld", hub->last_id);
	snprintf(limit, sizeof limit, "%d", EVENTS_BATCH);
	hub->fetching = 1;
	if (db_query(hub->db, "SELECT id, type, json FROM "
	    "careline_events_since($1, $2)", 2, params, events_fetched,
	    hub) != 0)
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
};

static void	events_catch_up(struct events_client *);

/* A reconnecting console: replay what it missed from the table. */
static void
events_caught_up(const struct db_result *res, void *arg)
{
	struct events_catchup	*cu = arg;
	struct events_client	*c;
	int			 i, n;

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
		if (events_send(c, atoll(PQgetvalue(res->res, i, 0)),
		    PQgetvalue(res->res, i, 1), PQgetvalue(res->res, i, 2)) !=
		    0)
			return;
	}
	/* Rows fanned out meanwhile were skipped for it: go again. */
	if (c->last_id < c->hub->last_id)
		events_catch_up(c);
}

static void
events_catch_up(struct events_client *c)
{
	struct events_catchup	*cu;
	char			 after[24], limit[16];
	const char		*params[2] = { after, limit };

	c->catching_up = 1;
	cu = xcalloc(1, sizeof *cu);
	cu->hub = c->hub;
	cu->c = c;
	snprintf(after, sizeof after, "%lld", c->last_id);
	snprintf(limit, sizeof limit, "%d", EVENTS_BATCH);
	if (db_query(c->hub->db, "SELECT id, type, json FROM "
	    "careline_events_since($1, $2)", 2, params, events_caught_up,
	    cu) != 0) {
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
	char			*end;
	long long		 from = -1;

	if (hub->nclients >= EVENTS_MAX_CLIENTS) {
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
	TAILQ_INSERT_TAIL(&hub->clients, c, entry);
	hub->nclients++;
	request_stream_start(r);	/* r is gone; c->req lives on */
	evhttp_connection_set_closecb(c->evcon, events_client_closed, c);
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

struct events_hub *
events_hub_new(struct event_base *base, struct db_pool *db)
{
	struct events_hub	*hub;

	hub = xcalloc(1, sizeof *hub);
	hub->base = base;
	hub->db = db;
	TAILQ_INIT(&hub->clients);
	hub->keepalive = event_new(base, -1, EV_PERSIST, events_keepalive,
	    hub);
	return (hub);
}

void
events_hub_start(struct events_hub *hub)
{
	struct timeval	tv = { EVENTS_KEEPALIVE_SEC, 0 };

	event_add(hub->keepalive, &tv);
}

void
events_hub_close_all(struct events_hub *hub)
{
	struct events_client	*c;

	while ((c = TAILQ_FIRST(&hub->clients)) != NULL)
		events_client_end(c);
}

int
events_hub_clients(const struct events_hub *hub)
{
	return (hub->nclients);
}

void
events_hub_free(struct events_hub *hub)
{
	if (hub == NULL)
		return;
	events_hub_close_all(hub);
	event_free(hub->keepalive);
	free(hub);
}
