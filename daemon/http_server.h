/*
 * The HTTP listener and the request: evhttp on our own listener, one
 * struct request per request in flight, and the only way out of a request
 * is a reply helper below, which records metrics and frees it. What a
 * request is for is the router's to decide (server_new's route): this
 * file knows no route, credential or handler.
 */
#ifndef CARELINE_HTTP_SERVER_H
#define CARELINE_HTTP_SERVER_H

#include <sys/queue.h>

#include <stddef.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "crypto.h"
#include "http_conn.h"

struct auth_cache;
struct config;
struct db_pool;
struct outbox;
struct events_hub;
struct metrics;
struct static_files;
struct throttle;

#define SERVER_RELISTEN_MS	500	/* retry accept after EMFILE this often */
#define SERVER_MAX_IDS		4	/* {id} segments in one route */

/* Who sent a request: filled in by http_auth for the handlers. */
enum auth_role {
	AUTH_NONE,
	AUTH_OPERATOR,
	AUTH_ADMIN,
	AUTH_PROVIDER,
};

struct auth_identity {
	long long	 token_id;	/* API tokens */
	long long	 operator_id;	/* console sessions */
	enum auth_role	 role;
	long long	 provider_id;	/* AUTH_PROVIDER only */
	char		 actor[32];	/* "token:12", "operator:3": audit log */
	unsigned char	 token_hash[CRYPTO_SHA256_LEN];
};

struct request;

struct server {
	struct event_base		*base;
	struct config			*cfg;
	/*
	 * What main gives the server between server_new and server_listen:
	 * the parts its handlers reach through r->srv (none owned by the
	 * server), and the router, which gets every request read whole and
	 * within limits.
	 */
	struct db_pool			*db;
	struct metrics			*metrics;
	struct auth_cache		*auth;
	struct throttle			*throttle;	/* sign-ins */
	struct outbox			*outbox;	/* for /metrics */
	struct events_hub		*events;
	struct static_files		*files;		/* the console */
	void				(*route)(struct request *);
	int				 nroutes;	/* metrics' index for
							   requests no route
							   took */
	struct evhttp			*http;
	struct evconnlistener		*listener;
	struct event			*relisten;	/* after EMFILE */
	int				 inflight;
	int				 draining;
	long long			 cancelled;	/* clients gone first */
	char				*bound;		/* "addr:port" */
	LIST_ENTRY(server)		 entry;		/* server_all */
	struct http_conns		 conns;

	/* Out of descriptors: one episode from the first refusal until a
	 * whole SERVER_RELISTEN_MS passes without one. */
	int				 accept_paused;
	int				 accept_refused;	/* since last tick */
	long long			 accept_refused_total;
	long long			 accept_pauses;		/* episodes */
	struct timespec			 paused_since;
};

struct request {
	struct server			*srv;
	struct evhttp_request		*req;
	struct timespec			 start;
	const char			*path;		/* of the URI (the
							   router's to read) */
	char				*body;		/* NUL-terminated copy */
	size_t				 body_len;
	/*
	 * Its client hung up while it was worked on: replies are dropped
	 * (the request is still ended by them), and a step that would run
	 * a further query ends it instead (request_cancelled).
	 */
	int				 cancelled;
	/* Set by the router. */
	int				 route_idx;	/* for metrics */
	const char			*pattern;	/* "/v1/calls/{id}" */
	enum evhttp_cmd_type		 method;	/* the route's */
	long long			 ids[SERVER_MAX_IDS];
	int				 nids;
	/* Set by http_auth: who sent it, and what runs once it is known. */
	struct auth_identity		 who;
	int				 auth_need;	/* enum route_auth */
	void				(*handler)(struct request *);
};

struct server	*server_new(struct event_base *, struct config *);
int		 server_listen(struct server *, char **cause);
/* Start or stop accepting (a bound listener accepts nothing until then). */
void		 server_accept(struct server *, int on);
const char	*server_bound(const struct server *);
int		 server_inflight(const struct server *);
/*
 * Replies queued but not yet written to their sockets: a request ends
 * (server_inflight) when its reply is queued, and server_free would
 * close its connection with the reply still in the buffer.
 */
int		 server_unsent(const struct server *);
/* Answer new requests with 503 from now on; in-flight ones carry on. */
void		 server_drain(struct server *);
void		 server_free(struct server *);

/* "GET", "POST", ...; "OTHER" for the rest. */
const char	*http_method_name(enum evhttp_cmd_type);

/*
 * Its client is gone: end r (as a 499 in the metrics) and return 1; or
 * return 0. For a step about to run a further query on r's behalf.
 */
int		 request_cancelled(struct request *);
/* Each of these ends the request: r is freed when they return. */
void		 request_reply_json(struct request *, int status, json_t *);
void		 request_reply_raw(struct request *, int status,
		    const char *ctype, const char *data, size_t len);
/*
 * Begin a streamed 200 (Server-Sent Events): metrics are recorded and r
 * is freed now; the evhttp request lives on with its new owner, whose
 * closecb is called when the connection closes (evhttp's own closecb is
 * the server's: do not set it).
 */
void		 request_stream_start(struct request *,
		    void (*closecb)(struct evhttp_connection *, void *),
		    void *arg);
void		 request_error(struct request *, int status, const char *code,
		    const char *field, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));

#endif
