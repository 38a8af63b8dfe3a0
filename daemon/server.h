/*
 * The HTTP side of carelined: evhttp on our own listener, one struct
 * request per request in flight, and the only way out of a request is a
 * reply helper below, which records metrics and frees it.
 */
#ifndef CARELINE_SERVER_H
#define CARELINE_SERVER_H

#include <stddef.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "routes.h"

struct config;
struct db_pool;
struct dispatcher;
struct events_hub;
struct metrics;
struct static_files;
struct route;

struct server {
	struct event_base		*base;
	struct config			*cfg;
	struct db_pool			*db;
	struct metrics			*metrics;
	struct auth_cache		*auth;
	struct throttle			*throttle;	/* sign-ins */
	struct dispatcher		*dispatcher;	/* for /metrics */
	struct events_hub		*events;
	struct static_files		*files;		/* the console */
	struct evhttp			*http;
	struct evconnlistener		*listener;
	struct event			*relisten;	/* after EMFILE */
	int				 inflight;
	int				 draining;
	char				*bound;		/* "addr:port" */
};

struct request {
	struct server			*srv;
	struct evhttp_request		*req;
	const struct route		*route;
	int				 route_idx;
	struct timespec			 start;
	long long			 ids[ROUTES_MAX_IDS];
	int				 nids;
	struct auth_identity		 who;
	char				*body;		/* NUL-terminated copy */
	size_t				 body_len;
};

struct server	*server_new(struct event_base *, struct config *,
		    struct db_pool *, struct metrics *);
int		 server_listen(struct server *, char **cause);
/* Answer new requests with 503 from now on; in-flight ones carry on. */
void		 server_drain(struct server *);
void		 server_free(struct server *);

/* Each of these ends the request: r is freed when they return. */
void		 request_reply_json(struct request *, int status, json_t *);
void		 request_reply_raw(struct request *, int status,
		    const char *ctype, const char *data, size_t len);
/*
 * Begin a streamed 200 (Server-Sent Events): metrics are recorded and r
 * is freed now; the evhttp request lives on with its new owner.
 */
void		 request_stream_start(struct request *);
void		 request_error(struct request *, int status, const char *code,
		    const char *field, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));

#endif
