/*
 * The client connections of the HTTP listener, each watched byte by byte
 * as it arrives: a request head and body each have a deadline for their
 * whole (evhttp 2.1's timeout is per read, reset by every byte), and what
 * evhttp would refuse in HTML (a malformed head, an over-size body) is
 * refused here first, in JSON, written past evhttp. Knows nothing of
 * requests beyond a callback for one whose client leaves.
 */
#ifndef CARELINE_HTTP_CONN_H
#define CARELINE_HTTP_CONN_H

#include <sys/queue.h>

struct bufferevent;
struct config;
struct event_base;
struct evhttp_connection;
struct evhttp_request;
struct http_conn;

#define HTTP_HARD_BODY_FACTOR	2	/* evhttp's own body limit, × max_body */
#define HTTP_LINE_KEEP		64	/* head bytes kept per line, to find
					   Content-Length */
#define HTTP_CLEN_DIGITS_MAX	18	/* a longer Content-Length cannot fit */
#define HTTP_RAW_REPLY_MAX	512	/* a reply written past evhttp */
#define HTTP_FLUSH_WAIT_MS	10	/* before it, while one is queued */
#define HTTP_LINGER_MS		2000	/* after it, input read and dropped */
#define HTTP_LINGER_MAX		(16 * 1024 * 1024)	/* body bytes read and
					   dropped before refusing it */

/* Why a connection was cut before its request was read (metrics). */
enum http_cut {
	HTTP_CUT_HEAD_TIMEOUT,
	HTTP_CUT_BODY_TIMEOUT,
	HTTP_CUT_TOO_LARGE,
	HTTP_CUT_BAD_HEAD,
	HTTP_CUT_MAX
};

/* The connections of one listener. */
struct http_conns {
	struct config			*cfg;
	/* Indexed by descriptor (each freed when evhttp closes it). */
	struct http_conn		**conns;
	int				 nslots;
	LIST_HEAD(, http_conn)		 conn_list;	/* attached or not */
	int				 nconns;	/* open, watched or not */
	long long			 cut[HTTP_CUT_MAX];
};

/* After evhttp_free: those evhttp never handed over, and the index. */
void		 http_conns_clear(struct http_conns *);
/* Connections whose reply is queued but not yet all written. */
int		 http_conns_writing(const struct http_conns *);
/* evhttp_set_bevcb's callback; arg is the struct http_conns. */
struct bufferevent *http_conn_new(struct event_base *, void *arg);
/* The watched connection a request arrived on, or NULL. */
struct http_conn *http_conn_of(struct http_conns *, struct evhttp_request *);
/*
 * A request was read whole: no deadline while it is worked on. If the
 * connection closes before http_conn_done, gone(arg) is called.
 */
void		 http_conn_busy(struct http_conn *, void (*gone)(void *),
		    void *arg);
/* Its reply is queued: the next deadline starts once it is written. */
void		 http_conn_done(struct http_conn *);
/* A stream: no deadline; closecb(evcon, arg) when the connection closes. */
void		 http_conn_stream(struct http_conn *,
		    void (*closecb)(struct evhttp_connection *, void *),
		    void *arg);

#endif
