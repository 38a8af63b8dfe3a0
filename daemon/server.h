/*
 * The HTTP side of carelined: evhttp on our own listener, one struct
 * request per request in flight, and the only way out of a request is a
 * reply helper below, which records metrics and frees it.
 */
#ifndef CARELINE_SERVER_H
#define CARELINE_SERVER_H

#include <sys/queue.h>

#include <stddef.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "routes.h"

struct config;
struct db_pool;
struct outbox;
struct events_hub;
struct metrics;
struct static_files;
struct route;
struct server_conn;

/*
 * Limits of the HTTP side. The rest (body and header sizes, timeouts) are
 * config keys.
 */
#define SERVER_HARD_BODY_FACTOR	2	/* evhttp's own body limit, × max_body */
#define SERVER_RELISTEN_MS	500	/* retry accept after EMFILE this often */
#define SERVER_LINE_KEEP	64	/* head bytes kept per line, to find
					   Content-Length */
#define SERVER_CLEN_DIGITS_MAX	18	/* a longer Content-Length cannot fit */
#define SERVER_RAW_REPLY_MAX	512	/* a reply written past evhttp */
#define SERVER_FLUSH_WAIT_MS	10	/* before it, while one is queued */
#define SERVER_LINGER_MS	2000	/* after it, input read and dropped */
#define SERVER_LINGER_MAX	(16 * 1024 * 1024)	/* body bytes read and
					   dropped before refusing it */

/* Why a connection was cut before its request was read (metrics). */
enum server_cut {
	SERVER_CUT_HEAD_TIMEOUT,
	SERVER_CUT_BODY_TIMEOUT,
	SERVER_CUT_TOO_LARGE,
	SERVER_CUT_BAD_HEAD,
	SERVER_CUT_MAX
};

struct server {
	struct event_base		*base;
	struct config			*cfg;
	struct db_pool			*db;
	struct metrics			*metrics;
	struct auth_cache		*auth;
	struct throttle			*throttle;	/* sign-ins */
	struct outbox			*outbox;	/* for /metrics */
	struct events_hub		*events;
	struct static_files		*files;		/* the console */
	struct evhttp			*http;
	struct evconnlistener		*listener;
	struct event			*relisten;	/* after EMFILE */
	int				 inflight;
	int				 draining;
	char				*bound;		/* "addr:port" */
	LIST_ENTRY(server)		 entry;		/* server_all */

	/* Connections we watch, indexed by descriptor (not owned here:
	 * each is freed when evhttp closes its connection). */
	struct server_conn		**conns;
	int				 nslots;
	LIST_HEAD(, server_conn)	 conn_list;	/* all, attached or not */
	int				 nconns;	/* open, watched or not */

	/* Out of descriptors: one episode from the first refusal until a
	 * whole SERVER_RELISTEN_MS passes without one. */
	int				 accept_paused;
	int				 accept_refused;	/* since last tick */
	long long			 accept_refused_total;
	long long			 accept_pauses;		/* episodes */
	struct timespec			 paused_since;
	long long			 cut[SERVER_CUT_MAX];
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
