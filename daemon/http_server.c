#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#include "http_auth.h"
#include "config.h"
#include "http_events.h"
#include "http_static.h"
#include "log.h"
#include "metrics.h"
#include "http_router.h"
#include "http_server.h"
#include "throttle.h"
#include "xmalloc.h"

/*
 * What we know of one client connection, so that a request head and body
 * each have a deadline for their whole (evhttp 2.1's timeout is per read,
 * reset by every byte). It watches the bytes as they arrive on the
 * bufferevent we hand evhttp, and is freed by the connection's close
 * callback.
 */
enum server_conn_state {
	SERVER_CONN_IDLE,	/* between requests: http.timeout applies */
	SERVER_CONN_HEAD,	/* head begun: http.head_timeout */
	SERVER_CONN_BODY,	/* head read: http.body_timeout */
	SERVER_CONN_BUSY,	/* dispatched: ours until the reply */
	SERVER_CONN_WRITING,	/* reply queued: the next deadline starts
				   once it has been written */
	SERVER_CONN_REFUSE,	/* verdict mid-head or mid-chunk: input is
				   dropped, the answer waits for output */
	SERVER_CONN_LINGER,	/* answered: input dropped until EOF */
	SERVER_CONN_STREAM,	/* a stream: counted until it closes */
};

/* A chunked body, followed to sum the chunk sizes it announces. */
enum server_chunk_state {
	SERVER_CHUNK_SIZE,	/* a chunk-size line */
	SERVER_CHUNK_DATA,
	SERVER_CHUNK_TRAILER,	/* after the last chunk */
	SERVER_CHUNK_DONE,
};

/* The request line, a byte at a time: method SP target SP HTTP/1.x */
enum server_rline_state {
	SERVER_RLINE_METHOD,
	SERVER_RLINE_TARGET,
	SERVER_RLINE_VERSION,
	SERVER_RLINE_BAD,
};

struct server_conn {
	struct server			*srv;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;		/* NULL until attached */
	struct evbuffer_cb_entry	*watch;		/* on bev's input */
	struct evbuffer_cb_entry	*owatch;	/* on bev's output */
	LIST_ENTRY(server_conn)		 entry;		/* srv->conn_list */
	struct event			*timer;		/* attach, then deadline */
	void				(*stream_cb)(struct evhttp_connection *,
					    void *);	/* its owner's closecb */
	void				*stream_arg;
	int				 fd;
	enum server_conn_state		 state;
	int				 verdict;	/* 400/413: refuse the head */
	const char			*why;		/* and say why */
	int				 bodyless;	/* evhttp reads no body */
	int				 has_body;	/* the head announces one */
	int				 chunked;	/* a Transfer-Encoding */
	int				 te_chunked;	/* that evhttp reads */
	long long			 clen;		/* Content-Length, or -1 */
	long long			 discard;	/* body bytes to drop */
	long long			 headlen;	/* head bytes so far */
	int				 colon;		/* this line has one */
	int				 cr;		/* last byte was CR */
	int				 tfirst;	/* the target's first */
	enum server_rline_state		 rline;
	size_t				 rlen;		/* of its current part */
	enum server_chunk_state		 chunk;
	long long			 chunk_left;	/* data bytes to come */
	long long			 chunk_size;	/* on this size line */
	long long			 chunk_total;	/* announced so far */
	int				 chunk_digits;
	int				 chunk_ext;	/* past the size */
	size_t				 chunk_linelen;
	/* The current head line: its start, its length, lines so far. */
	char				 line[SERVER_LINE_KEEP];
	size_t				 linelen;
	int				 nlines;
};

/* evconnlistener's error callback gets evhttp's argument, not ours. */
static LIST_HEAD(, server) server_all = LIST_HEAD_INITIALIZER(server_all);

static void	server_conn_free(struct server_conn *);

static const char *
server_reason(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 201: return ("Created");
	case 202: return ("Accepted");
	case 204: return ("No Content");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 409: return ("Conflict");
	case 410: return ("Gone");
	case 413: return ("Payload Too Large");
	case 415: return ("Unsupported Media Type");
	case 422: return ("Unprocessable Entity");
	case 431: return ("Request Header Fields Too Large");
	case 429: return ("Too Many Requests");
	case 500: return ("Internal Server Error");
	case 503: return ("Service Unavailable");
	default: return ("Status");
	}
}

static long
server_elapsed_us(const struct timespec *start)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - start->tv_sec) * 1000000L +
	    (now.tv_nsec - start->tv_nsec) / 1000);
}

static long long
server_elapsed_ms(const struct timespec *start)
{
	return (server_elapsed_us(start) / 1000);
}

static void
server_ms_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* The watched connection a request arrived on, or NULL. */
static struct server_conn *
server_conn_of(struct server *srv, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct server_conn		*c;
	int				 fd;

	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return (NULL);
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || fd >= srv->nslots)
		return (NULL);
	c = srv->conns[fd];
	return (c != NULL && c->evcon == evcon ? c : NULL);
}

static void
server_conn_refuse(struct server_conn *c, int status, const char *why)
{
	if (c->verdict == 0) {
		c->verdict = status;
		c->why = why;
	}
}

/*
 * Refuse now, before evhttp parses what we saw (it would answer in HTML):
 * the caller stops scanning, and server_conn_feed drops the input.
 */
static void
server_conn_cut(struct server_conn *c, int status, const char *why)
{
	server_conn_refuse(c, status, why);
	c->state = SERVER_CONN_REFUSE;
	evtimer_del(c->timer);
	event_active(c->timer, EV_TIMEOUT, 0);
}

/* RFC 9110's tchar: what a method is made of. */
static int
server_tchar(int ch)
{
	return (isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~",
	    ch) != NULL));
}

/*
 * One byte of the request line (no LF). Stricter than evhttp, so that
 * what evhttp would refuse in HTML we refuse first in JSON: a target in
 * origin form not starting "//" (which evhttp parses as an authority),
 * "*", or an absolute URI (left to evhttp); HTTP/1.x; a CR only last.
 */
static void
server_conn_rline(struct server_conn *c, int ch)
{
	static const char	version[] = "HTTP/1.";

	if (c->cr)
		c->rline = SERVER_RLINE_BAD;
	switch (c->rline) {
	case SERVER_RLINE_METHOD:
		if (ch == ' ' && c->rlen > 0) {
			c->rline = SERVER_RLINE_TARGET;
			c->rlen = 0;
			return;
		}
		if (!server_tchar(ch))
			c->rline = SERVER_RLINE_BAD;
		break;
	case SERVER_RLINE_TARGET:
		if (ch == ' ' && c->rlen > 0) {
			c->rline = SERVER_RLINE_VERSION;
			c->rlen = 0;
			return;
		}
		if (c->rlen == 0)
			c->tfirst = ch;
		if (ch <= ' ' || ch >= 0x7f ||
		    (c->rlen == 0 && ch != '/' && ch != '*' && !isalpha(ch)) ||
		    (c->rlen == 1 && c->tfirst == '/' && ch == '/') ||
		    (c->rlen > 0 && c->tfirst == '*'))
			c->rline = SERVER_RLINE_BAD;
		break;
	case SERVER_RLINE_VERSION:
		if (c->rlen < sizeof version - 1 ? ch != version[c->rlen] :
		    c->rlen == sizeof version - 1 ? !isdigit(ch) :
		    !(c->rlen == sizeof version && ch == '\r'))
			c->rline = SERVER_RLINE_BAD;
		break;
	case SERVER_RLINE_BAD:
		break;
	}
	c->rlen++;
}

static int
server_conn_rline_ok(const struct server_conn *c)
{
	return (c->rline == SERVER_RLINE_VERSION &&
	    (c->rlen == 8 || c->rlen == 9));
}

/*
 * The request line. evhttp 2.1 reads no body after HEAD, TRACE, CONNECT
 * or a method it does not know: such a body would be read as the next
 * request, so one announced is refused.
 */
static void
server_conn_method(struct server_conn *c)
{
	static const char *const with_body[] = {
		"GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "OPTIONS ",
	};
	size_t	i, n, have;

	have = c->linelen < sizeof c->line ? c->linelen : sizeof c->line;
	c->bodyless = 1;
	for (i = 0; i < sizeof with_body / sizeof *with_body; i++) {
		n = strlen(with_body[i]);
		if (have >= n && memcmp(c->line, with_body[i], n) == 0)
			c->bodyless = 0;
	}
}

/*
 * A header line. evhttp answers a Content-Length it cannot parse in HTML,
 * and one too large to parse, or past its own limit, only after reading
 * every byte announced (or never): judge it here, first.
 */
static void
server_conn_header(struct server_conn *c)
{
	static const char	 name[] = "content-length:";
	static const char	 te[] = "transfer-encoding:";
	const char		*p = c->line, *end;
	long long		 v = 0;
	int			 digits = 0;

	end = c->line + (c->linelen < sizeof c->line ? c->linelen :
	    sizeof c->line);
	if ((size_t)(end - p) >= sizeof te - 1 &&
	    strncasecmp(p, te, sizeof te - 1) == 0) {
		c->has_body = c->chunked = 1;
		/* evhttp reads chunks only for exactly "chunked". */
		for (p += sizeof te - 1; p < end && (*p == ' ' ||
		    *p == '\t'); p++)
			;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		c->te_chunked = end - p == 7 && strncasecmp(p, "chunked",
		    7) == 0 && c->linelen <= sizeof c->line;
		return;
	}
	if ((size_t)(end - p) < sizeof name - 1 ||
	    strncasecmp(p, name, sizeof name - 1) != 0)
		return;
	for (p += sizeof name - 1; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	for (; p < end && isdigit((unsigned char)*p); p++) {
		if (++digits > SERVER_CLEN_DIGITS_MAX)
			break;
		v = v * 10 + (*p - '0');
	}
	if (digits > SERVER_CLEN_DIGITS_MAX || c->linelen > sizeof c->line) {
		server_conn_refuse(c, 413, "the Content-Length is too large");
		return;
	}
	c->clen = v;
	if (v > (long long)c->srv->cfg->http_max_body *
	    SERVER_HARD_BODY_FACTOR) {
		server_conn_refuse(c, 413, "the Content-Length is too large");
		return;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (digits == 0 || p != end)
		server_conn_refuse(c, 400, "the Content-Length is not a number");
	else if (v > 0)
		c->has_body = 1;
}

static void
server_conn_arm(struct server_conn *c, enum server_conn_state st, int ms)
{
	struct timeval	tv;

	c->state = st;
	server_ms_tv(ms, &tv);
	evtimer_add(c->timer, &tv);
}

/*
 * Follow the head's lines to its end; the body's deadline starts there.
 * What evhttp would refuse in HTML is refused here first, in JSON: a
 * head past http.max_headers (counted with its line ends, so before
 * evhttp's count, which leaves them out), a malformed request line, a
 * folded header line (obs-fold, RFC 9112 5.2), one without a colon, a
 * bare CR. Returns the bytes that were part of the head.
 */
static size_t
server_conn_scan(struct server_conn *c, const char *p, size_t n)
{
	const struct config	*cfg = c->srv->cfg;
	size_t			 i;

	for (i = 0; i < n && c->state == SERVER_CONN_HEAD; i++) {
		if (++c->headlen > cfg->http_max_headers) {
			server_conn_cut(c, 431, "the request head is too large");
			return (i + 1);
		}
		if (c->cr && p[i] != '\n') {
			server_conn_cut(c, 400, "a CR in the request head is "
			    "not followed by LF");
			return (i + 1);
		}
		if (p[i] != '\n') {
			if (c->nlines == 0)
				server_conn_rline(c, (unsigned char)p[i]);
			else if (p[i] == ':')
				c->colon = 1;
			c->cr = p[i] == '\r';
			if (c->linelen < sizeof c->line)
				c->line[c->linelen] = p[i];
			c->linelen++;
			continue;
		}
		c->cr = 0;
		if (c->linelen > 0 && c->linelen <= sizeof c->line &&
		    c->line[c->linelen - 1] == '\r')
			c->linelen--;
		if (c->nlines == 0) {
			c->nlines++;
			if (!server_conn_rline_ok(c)) {
				server_conn_cut(c, 400,
				    "the request line is malformed");
				return (i + 1);
			}
			server_conn_method(c);
		} else if (c->linelen > 0) {
			c->nlines++;
			if (c->line[0] == ' ' || c->line[0] == '\t') {
				server_conn_cut(c, 400, "a header line is "
				    "folded (obs-fold)");
				return (i + 1);
			}
			if (!c->colon) {
				server_conn_cut(c, 400,
				    "a header line has no colon");
				return (i + 1);
			}
			server_conn_header(c);
		} else {
			c->linelen = 0;
			c->nlines = 0;
			if (c->bodyless && c->has_body)
				server_conn_refuse(c, 400,
				    "this method takes no request body");
			server_conn_arm(c, SERVER_CONN_BODY,
			    cfg->http_body_timeout_ms);
			return (i + 1);
		}
		c->linelen = 0;
		c->colon = 0;
	}
	return (i);
}

/*
 * Follow a chunked body: evhttp refuses, in HTML, a chunk whose announced
 * size takes the body past its own limit, and a size line it cannot
 * parse. Sum the sizes as they are announced and refuse at
 * http.max_body (which the body would be refused at anyway, once read).
 * Returns the bytes looked at.
 */
static size_t
server_conn_chunks(struct server_conn *c, const char *p, size_t n)
{
	long long	max = c->srv->cfg->http_max_body;
	size_t		i, take;
	int		ch;

	for (i = 0; i < n && c->state == SERVER_CONN_BODY &&
	    c->chunk != SERVER_CHUNK_DONE; i++) {
		ch = (unsigned char)p[i];
		switch (c->chunk) {
		case SERVER_CHUNK_DATA:
			take = n - i;
			if ((long long)take > c->chunk_left)
				take = (size_t)c->chunk_left;
			c->chunk_left -= (long long)take;
			i += take - 1;
			if (c->chunk_left == 0)
				c->chunk = SERVER_CHUNK_SIZE;
			break;
		case SERVER_CHUNK_SIZE:
			if (ch == '\n') {
				if (c->chunk_digits == 0 &&
				    c->chunk_linelen > (c->cr ? 1 : 0)) {
					server_conn_cut(c, 400, "a chunk size "
					    "is not a number");
					return (i + 1);
				}
				/* evhttp skips the empty line after data. */
				if (c->chunk_digits > 0 && c->chunk_size == 0)
					c->chunk = SERVER_CHUNK_TRAILER;
				else if (c->chunk_digits > 0) {
					c->chunk = SERVER_CHUNK_DATA;
					c->chunk_left = c->chunk_size;
					c->chunk_total += c->chunk_size;
				}
				c->chunk_digits = 0;
				c->chunk_size = 0;
				c->chunk_ext = 0;
				c->chunk_linelen = 0;
				c->cr = 0;
				break;
			}
			c->chunk_linelen++;
			if (c->chunk_ext)
				break;
			if (isxdigit(ch) && !c->cr) {
				/* Checked at each digit: cannot overflow. */
				c->chunk_digits++;
				c->chunk_size = c->chunk_size * 16 +
				    (isdigit(ch) ? ch - '0' :
				    tolower(ch) - 'a' + 10);
				if (c->chunk_total + c->chunk_size > max) {
					server_conn_cut(c, 413, "the body is "
					    "too large");
					return (i + 1);
				}
			} else if (ch == ' ' && c->chunk_digits > 0 && !c->cr)
				c->chunk_ext = 1;	/* evhttp ignores it */
			else if (ch == '\r' && !c->cr)
				c->cr = 1;
			else {
				server_conn_cut(c, 400, "a chunk size is not "
				    "a number");
				return (i + 1);
			}
			break;
		case SERVER_CHUNK_TRAILER:
			if (ch == '\n') {
				if (c->chunk_linelen == 0)
					c->chunk = SERVER_CHUNK_DONE;
				c->chunk_linelen = 0;
			} else if (ch != '\r')
				c->chunk_linelen++;
			break;
		case SERVER_CHUNK_DONE:
			break;
		}
	}
	return (i);
}

/*
 * Drop what is in buf, n bytes of it being body; answer once the body
 * announced has gone by (server_conn_timer).
 */
static void
server_conn_drop(struct server_conn *c, struct evbuffer *buf, size_t n)
{
	c->discard -= (long long)n < c->discard ? (long long)n : c->discard;
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (c->discard == 0)
		event_active(c->timer, EV_TIMEOUT, 0);
}

/* A head, or a chunked body not yet judged, whose bytes we follow. */
static int
server_conn_scanning(const struct server_conn *c)
{
	return (c->state == SERVER_CONN_HEAD ||
	    (c->state == SERVER_CONN_BODY && c->verdict == 0 &&
	    c->te_chunked &&
	    c->chunk != SERVER_CHUNK_DONE));
}

/* Scan n bytes of buf from off on; a head begins with its first byte. */
static void
server_conn_feed(struct server_conn *c, struct evbuffer *buf, size_t off,
    size_t n)
{
	struct evbuffer_ptr	pos;
	struct evbuffer_iovec	v;
	size_t			len;

	if (n == 0)
		return;
	if (c->state == SERVER_CONN_IDLE) {
		c->linelen = 0;
		c->nlines = 0;
		c->verdict = 0;
		c->why = NULL;
		c->bodyless = 0;
		c->has_body = 0;
		c->chunked = 0;
		c->te_chunked = 0;
		c->clen = -1;
		c->headlen = 0;
		c->colon = 0;
		c->cr = 0;
		c->rline = SERVER_RLINE_METHOD;
		c->rlen = 0;
		c->chunk = SERVER_CHUNK_SIZE;
		c->chunk_left = c->chunk_size = c->chunk_total = 0;
		c->chunk_digits = c->chunk_ext = 0;
		c->chunk_linelen = 0;
		server_conn_arm(c, SERVER_CONN_HEAD,
		    c->srv->cfg->http_head_timeout_ms);
	}
	if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0)
		return;
	while (n > 0 && server_conn_scanning(c) &&
	    evbuffer_peek(buf, (ev_ssize_t)n, &pos, &v, 1) > 0) {
		len = v.iov_len < n ? v.iov_len : n;
		if (c->state == SERVER_CONN_HEAD)
			len = server_conn_scan(c, v.iov_base, len);
		else
			len = server_conn_chunks(c, v.iov_base, len);
		n -= len;
		if (evbuffer_ptr_set(buf, &pos, len, EVBUFFER_PTR_ADD) != 0)
			break;
	}
	if (c->state == SERVER_CONN_REFUSE) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	/*
	 * A head to refuse: take its end away from evhttp, which then waits
	 * for more. A body of known, bearable length is read and dropped
	 * first (as evhttp's lingering close would), so that the client,
	 * still sending, reads our answer rather than a reset.
	 */
	if (c->state == SERVER_CONN_BODY && c->verdict != 0) {
		if (!c->chunked && c->clen > 0 && c->clen <= SERVER_LINGER_MAX)
			c->discard = c->clen;
		server_conn_drop(c, buf, n);
	}
}

/* evhttp closes the connection: forget it, then tell a stream's owner. */
static void
server_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct server_conn	*c = arg;
	void			(*cb)(struct evhttp_connection *, void *);
	void			*cbarg;

	cb = c->stream_cb;
	cbarg = c->stream_arg;
	server_conn_free(c);
	if (cb != NULL)
		cb(evcon, cbarg);
}

/*
 * Now that evhttp has made its connection around our bufferevent (whose
 * callback argument is that connection), watch for its end. We hold a
 * reference, so the bufferevent is there even if evhttp gave up on it.
 */
static int
server_conn_attach(struct server_conn *c)
{
	struct server	*srv = c->srv;
	void		*evcon = NULL;
	void		(*readcb)(struct bufferevent *, void *) = NULL;
	int		 n;

	bufferevent_getcb(c->bev, &readcb, NULL, NULL, &evcon);
	c->fd = bufferevent_getfd(c->bev);
	if (readcb == NULL || evcon == NULL || c->fd < 0) {
		/* Freed by evhttp already (it could not set it up). */
		server_conn_free(c);
		return (-1);
	}
	c->evcon = evcon;
	if (c->fd >= srv->nslots) {
		n = srv->nslots;
		srv->nslots = c->fd < 64 ? 128 : c->fd * 2;
		srv->conns = xrealloc(srv->conns, srv->nslots *
		    sizeof *srv->conns);
		memset(srv->conns + n, 0, (srv->nslots - n) *
		    sizeof *srv->conns);
	}
	srv->conns[c->fd] = c;
	evhttp_connection_set_closecb(c->evcon, server_conn_closed, c);
	bufferevent_decref(c->bev);
	return (0);
}

/* Bytes came in (or went out to the parser, which we ignore). */
static void
server_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct server_conn	*c = arg;
	size_t			 len;

	if (info->n_added == 0)
		return;
	if (c->evcon == NULL) {
		event_del(c->timer);
		if (server_conn_attach(c) != 0)
			return;
	}
	if (c->state == SERVER_CONN_REFUSE || c->state == SERVER_CONN_LINGER) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (c->state == SERVER_CONN_BODY && c->verdict != 0) {
		server_conn_drop(c, buf, info->n_added);
		return;
	}
	if (c->state != SERVER_CONN_IDLE && !server_conn_scanning(c))
		return;
	len = evbuffer_get_length(buf);
	server_conn_feed(c, buf, len >= info->n_added ? len - info->n_added :
	    0, info->n_added);
}

/*
 * Bytes went out. The reply just written was the last thing queued: the
 * next request's deadline starts now, with its first byte, which may be
 * waiting already (pipelined). Starting it when the reply was queued let
 * a client that reads slowly run out of time while we were still writing.
 */
static void
server_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct server_conn	*c = arg;
	struct evbuffer		*in;

	if (info->n_deleted == 0 || c->state != SERVER_CONN_WRITING ||
	    evbuffer_get_length(buf) > 0)
		return;
	in = bufferevent_get_input(c->bev);
	c->state = SERVER_CONN_IDLE;
	server_conn_feed(c, in, 0, evbuffer_get_length(in));
}

/* Write a short JSON error past evhttp, on a connection about to close. */
static void
server_conn_reply(struct server_conn *c, int status, const char *reason,
    const char *code, const char *msg)
{
	char	body[SERVER_RAW_REPLY_MAX / 2], out[SERVER_RAW_REPLY_MAX];
	int	blen, n;

	blen = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\","
	    "\"message\":\"%s\"}}", code, msg);
	if (blen < 0 || (size_t)blen >= sizeof body)
		return;
	n = snprintf(out, sizeof out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
	    status, reason, blen, body);
	if (n < 0 || (size_t)n >= sizeof out)
		return;
	/* Best effort: our output has all been written (server_conn_timer). */
	if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("http: fd %d: %s", c->fd, strerror(errno));
}

/*
 * Answered: close our side for writing, and read and drop what the
 * client still sends for a while, so that closing with its bytes unread
 * does not reset the connection before it has read the answer.
 */
static void
server_conn_linger(struct server_conn *c)
{
	struct timeval	tv;

	(void)shutdown(c->fd, SHUT_WR);
	c->state = SERVER_CONN_LINGER;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	server_ms_tv(SERVER_LINGER_MS, &tv);
	evtimer_add(c->timer, &tv);
}

/* The first turn of the loop after accept, then a deadline. */
static void
server_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn	*c = arg;
	struct server		*srv = c->srv;
	struct timeval		 tv;

	(void)fd;
	(void)what;
	if (c->evcon == NULL) {
		(void)server_conn_attach(c);
		return;
	}
	if (c->state == SERVER_CONN_LINGER) {
		/* Calls server_conn_closed, which frees c. */
		evhttp_connection_free(c->evcon);
		return;
	}
	if (c->state != SERVER_CONN_HEAD && c->state != SERVER_CONN_BODY &&
	    c->state != SERVER_CONN_REFUSE)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		/*
		 * Every answer written past evhttp waits for what evhttp
		 * queued before it (a pipelined reply), or it would be
		 * spliced into it.
		 */
		server_ms_tv(SERVER_FLUSH_WAIT_MS, &tv);
		evtimer_add(c->timer, &tv);
		return;
	}
	if (c->verdict == 431) {
		srv->cut[SERVER_CUT_TOO_LARGE]++;
		server_conn_reply(c, 431, server_reason(431),
		    "headers_too_large", c->why);
	} else if (c->state == SERVER_CONN_REFUSE && c->verdict == 413) {
		srv->cut[SERVER_CUT_TOO_LARGE]++;
		server_conn_reply(c, 413, "Payload Too Large",
		    "body_too_large", c->why);
	} else if (c->state == SERVER_CONN_REFUSE) {
		srv->cut[SERVER_CUT_BAD_HEAD]++;
		server_conn_reply(c, 400, "Bad Request", "bad_request", c->why);
	} else if (c->state == SERVER_CONN_HEAD) {
		srv->cut[SERVER_CUT_HEAD_TIMEOUT]++;
		server_conn_reply(c, 408, "Request Timeout", "request_timeout",
		    "the request head did not arrive in time");
		log_debug("http: fd %d: head not complete in %d ms", c->fd,
		    srv->cfg->http_head_timeout_ms);
	} else if (c->state == SERVER_CONN_BODY && c->verdict == 413) {
		srv->cut[SERVER_CUT_TOO_LARGE]++;
		server_conn_reply(c, 413, "Payload Too Large",
		    "body_too_large", c->why);
	} else if (c->state == SERVER_CONN_BODY && c->verdict != 0) {
		srv->cut[SERVER_CUT_BAD_HEAD]++;
		server_conn_reply(c, 400, "Bad Request", "bad_request", c->why);
	} else if (c->state == SERVER_CONN_BODY) {
		srv->cut[SERVER_CUT_BODY_TIMEOUT]++;
		server_conn_reply(c, 408, "Request Timeout", "request_timeout",
		    "the request body did not arrive in time");
		log_debug("http: fd %d: body not complete in %d ms", c->fd,
		    srv->cfg->http_body_timeout_ms);
	}
	server_conn_linger(c);
}

/*
 * A new connection (evhttp_set_bevcb): make its bufferevent ourselves so
 * we can watch its input; evhttp sets the descriptor and callbacks next,
 * and we attach at the loop's next turn.
 */
static struct bufferevent *
server_conn_new(struct event_base *base, void *arg)
{
	struct server		*srv = arg;
	struct server_conn	*c;

	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->fd = -1;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return (NULL);
	}
	bufferevent_incref(c->bev);
	c->timer = evtimer_new(base, server_conn_timer, c);
	c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev),
	    server_conn_input, c);
	c->owatch = evbuffer_add_cb(bufferevent_get_output(c->bev),
	    server_conn_output, c);
	event_active(c->timer, EV_TIMEOUT, 0);
	LIST_INSERT_HEAD(&srv->conn_list, c, entry);
	srv->nconns++;
	return (c->bev);
}

static void
server_conn_free(struct server_conn *c)
{
	struct server	*srv = c->srv;

	if (c->fd >= 0 && c->fd < srv->nslots && srv->conns[c->fd] == c)
		srv->conns[c->fd] = NULL;
	if (c->evcon == NULL)
		bufferevent_decref(c->bev);	/* never attached */
	else {
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
		    c->watch);
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		    c->owatch);
	}
	event_free(c->timer);
	LIST_REMOVE(c, entry);
	srv->nconns--;
	free(c);
}

/* A request was read whole: no deadline while we work on it. */
static void
server_conn_busy(struct server_conn *c)
{
	c->state = SERVER_CONN_BUSY;
	evtimer_del(c->timer);
}

/*
 * The reply is on its way: the next request's deadline starts once it
 * has been written (server_conn_output).
 */
static void
server_conn_done(struct server_conn *c)
{
	c->state = SERVER_CONN_WRITING;
	evtimer_del(c->timer);
}

static void
request_free(struct request *r)
{
	free(r->body);
	free(r);
}

void
request_reply_raw(struct request *r, int status, const char *ctype,
    const char *data, size_t len)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(r->req);
	struct evbuffer		*buf;
	struct server_conn	*c;
	char			 n[24];

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (r->srv->draining)
		evhttp_add_header(h, "Connection", "close");
	/*
	 * HEAD: the length a GET would have, and no body. evhttp 2.1 would
	 * send the body without a length, and a keep-alive client would
	 * read it as the start of its next response.
	 */
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD) {
		snprintf(n, sizeof n, "%zu", len);
		evhttp_add_header(h, "Content-Length", n);
		len = 0;
	}
	if ((c = server_conn_of(r->srv, r->req)) != NULL)
		server_conn_done(c);
	buf = evbuffer_new();
	if (len > 0)
		evbuffer_add(buf, data, len);
	evhttp_send_reply(r->req, status, server_reason(status), buf);
	evbuffer_free(buf);

	metrics_request(r->srv->metrics, r->route_idx, status,
	    server_elapsed_us(&r->start));
	r->srv->inflight--;
	request_free(r);
}

void
request_stream_start(struct request *r,
    void (*closecb)(struct evhttp_connection *, void *), void *arg)
{
	struct server_conn	*c;

	/*
	 * A stream has no deadline, but its connection stays counted until
	 * it closes: our close callback calls its owner's.
	 */
	if ((c = server_conn_of(r->srv, r->req)) != NULL) {
		c->state = SERVER_CONN_STREAM;
		evtimer_del(c->timer);
		c->stream_cb = closecb;
		c->stream_arg = arg;
	} else
		evhttp_connection_set_closecb(evhttp_request_get_connection(
		    r->req), closecb, arg);
	evhttp_send_reply_start(r->req, 200, "OK");
	metrics_request(r->srv->metrics, r->route_idx, 200,
	    server_elapsed_us(&r->start));
	r->srv->inflight--;
	request_free(r);
}

void
request_reply_json(struct request *r, int status, json_t *body)
{
	char	*s;

	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL) {
		static const char fallback[] = "{\"error\":{\"code\":"
		    "\"internal\",\"message\":\"could not encode the "
		    "response\"}}";

		request_reply_raw(r, 500, "application/json", fallback,
		    sizeof fallback - 1);
		return;
	}
	request_reply_raw(r, status, "application/json", s, strlen(s));
	free(s);
}

/* Replace bytes that are not valid UTF-8 with '?', in place. */
static void
server_utf8_clean(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	int		 n, i;

	while (*p != '\0') {
		if (*p < 0x80)
			n = 0;
		else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
			n = 1;
		else if ((*p & 0xf0) == 0xe0)
			n = 2;
		else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
			n = 3;
		else {
			*p++ = '?';
			continue;
		}
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				break;
		}
		if (i <= n) {
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

void
request_error(struct request *r, int status, const char *code,
    const char *field, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];
	json_t	*err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Messages and fields may quote input: keep them valid UTF-8. */
	server_utf8_clean(msg);
	err = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (field != NULL) {
		char	f[128];

		snprintf(f, sizeof f, "%s", field);
		server_utf8_clean(f);
		json_object_set_new(err, "field", json_string(f));
	}
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "WWW-Authenticate", "Bearer realm=\"careline\"");
	if (status >= 500)
		log_warn("http: %s %s: %d %s", route_method_name(
		    evhttp_request_get_command(r->req)),
		    r->route != NULL ? r->route->pattern : "-", status, code);
	request_reply_json(r, status, json_pack("{s:o}", "error", err));
}

static void
server_dispatch(struct evhttp_request *req, void *arg)
{
	struct server			*srv = arg;
	struct request			*r;
	const struct evhttp_uri		*uri;
	const char			*path;
	struct evbuffer			*in;
	struct server_conn		*c;
	char				 allow[64];
	size_t				 len;
	int				 idx;

	r = xcalloc(1, sizeof *r);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->srv = srv;
	r->req = req;
	r->route_idx = nroutes;		/* "no route" until matched */
	srv->inflight++;
	if ((c = server_conn_of(srv, req)) != NULL)
		server_conn_busy(c);

	if (srv->draining) {
		request_error(r, 503, "shutting_down", NULL,
		    "carelined is shutting down; try another instance");
		return;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	if (uri == NULL || (path = evhttp_uri_get_path(uri)) == NULL ||
	    *path != '/') {
		request_error(r, 400, "bad_request", NULL, "malformed URI");
		return;
	}
	/* Size first: an over-size body is refused whatever its target. */
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > (size_t)srv->cfg->http_max_body) {
		request_error(r, 413, "body_too_large", NULL,
		    "the request body is over %d bytes",
		    srv->cfg->http_max_body);
		return;
	}
	idx = routes_match(evhttp_request_get_command(req), path, r->ids,
	    &r->nids);
	if (idx == -1) {
		/* Not the API: perhaps one of the console's files. */
		if ((evhttp_request_get_command(req) == EVHTTP_REQ_GET ||
		    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) &&
		    strncmp(path, "/v1/", 4) != 0 && srv->files != NULL &&
		    static_serve(r, srv->files, path) == 0)
			return;
		/* A console file exists whatever the method asked. */
		if (strncmp(path, "/v1/", 4) != 0 && srv->files != NULL &&
		    static_exists(srv->files, path)) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", "GET, HEAD");
			request_error(r, 405, "method_not_allowed", NULL,
			    "method not allowed on this resource; use GET, "
			    "HEAD");
			return;
		}
		request_error(r, 404, "not_found", NULL, "no such resource");
		return;
	}
	if (idx == -2) {
		routes_allow(path, allow, sizeof allow);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", allow);
		request_error(r, 405, "method_not_allowed", NULL,
		    "method not allowed on this resource; use %s", allow);
		return;
	}
	r->route_idx = idx;
	r->route = &routes[idx];
	/* An action that takes no body: one sent is a client's mistake. */
	if ((r->route->flags & ROUTE_NO_BODY) && len > 0) {
		request_error(r, 400, "body_not_allowed", NULL,
		    "this action takes no request body");
		return;
	}

	r->body = xmalloc(len + 1);
	evbuffer_remove(in, r->body, len);
	r->body[len] = '\0';
	r->body_len = len;
	auth_request(r);
}

/*
 * Each tick of an out-of-descriptors episode: accept again; the episode
 * ends when a whole tick passed without a refusal.
 */
static void
server_relisten(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv;

	(void)fd;
	(void)what;
	if (srv->accept_refused == 0) {
		log_info("http: accepting again after %lld ms out of "
		    "descriptors (%lld accepts refused)",
		    server_elapsed_ms(&srv->paused_since),
		    srv->accept_refused_total);
		srv->accept_paused = 0;
		srv->accept_refused_total = 0;
		return;
	}
	srv->accept_refused = 0;
	if (srv->listener != NULL && !srv->draining)
		evconnlistener_enable(srv->listener);
	server_ms_tv(SERVER_RELISTEN_MS, &tv);
	evtimer_add(srv->relisten, &tv);
}

/*
 * accept failed. Out of descriptors, pause accepting instead of spinning
 * on EMFILE, and say so once per episode. The argument is what
 * evhttp_bind_listener gave the listener: the struct evhttp.
 */
static void
server_listener_error(struct evconnlistener *l, void *arg)
{
	struct server	*srv;
	struct timeval	 tv;
	int		 err = EVUTIL_SOCKET_ERROR();

	LIST_FOREACH(srv, &server_all, entry) {
		if (srv->http == arg)
			break;
	}
	if (err != EMFILE && err != ENFILE && err != ENOBUFS &&
	    err != ENOMEM) {
		log_warn("http: accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	evconnlistener_disable(l);
	if (srv == NULL)
		return;		/* cannot happen: the listener is ours */
	srv->accept_refused++;
	srv->accept_refused_total++;
	if (srv->accept_paused)
		return;		/* the tick re-enables it */
	srv->accept_paused = 1;
	srv->accept_pauses++;
	clock_gettime(CLOCK_MONOTONIC, &srv->paused_since);
	log_warn("http: accept: %s with %d connections open; not accepting "
	    "until descriptors free up (retrying every %d ms)",
	    evutil_socket_error_to_string(err), srv->nconns,
	    SERVER_RELISTEN_MS);
	server_ms_tv(SERVER_RELISTEN_MS, &tv);
	evtimer_add(srv->relisten, &tv);
}

struct server *
server_new(struct event_base *base, struct config *cfg, struct db_pool *db,
    struct metrics *metrics)
{
	struct server	*srv;

	srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->cfg = cfg;
	srv->db = db;
	srv->metrics = metrics;
	srv->auth = auth_cache_new();
	srv->throttle = throttle_new();
	srv->http = evhttp_new(base);
	srv->relisten = evtimer_new(base, server_relisten, srv);
	LIST_INIT(&srv->conn_list);
	evhttp_set_max_body_size(srv->http,
	    (ev_ssize_t)cfg->http_max_body * SERVER_HARD_BODY_FACTOR);
	evhttp_set_max_headers_size(srv->http, cfg->http_max_headers);
	evhttp_set_timeout(srv->http, (cfg->http_timeout_ms + 999) / 1000);
	/*
	 * Every method, unknown ones too (evhttp's bit 15): the router
	 * answers 405 with Allow in JSON, where evhttp would send HTML 501.
	 */
	evhttp_set_allowed_methods(srv->http, 0xffff);
	/* Read an over-size body to the end so the client sees our 413. */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(srv->http, server_dispatch, srv);
	evhttp_set_bevcb(srv->http, server_conn_new, srv);
	LIST_INSERT_HEAD(&server_all, srv, entry);
	return (srv);
}

int
server_listen(struct server *srv, char **cause)
{
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof ss;
	char			*spec;

	if (strchr(srv->cfg->listen_address, ':') != NULL)
		xasprintf(&spec, "[%s]:%d", srv->cfg->listen_address,
		    srv->cfg->listen_port);
	else
		xasprintf(&spec, "%s:%d", srv->cfg->listen_address,
		    srv->cfg->listen_port);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		xasprintf(cause, "listen.address: not an IP address: %s",
		    srv->cfg->listen_address);
		free(spec);
		return (-1);
	}
	srv->listener = evconnlistener_new_bind(srv->base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    srv->cfg->listen_backlog, (struct sockaddr *)&ss, sslen);
	if (srv->listener == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", spec,
		    strerror(errno));
		free(spec);
		return (-1);
	}
	if (evhttp_bind_listener(srv->http, srv->listener) == NULL) {
		xasprintf(cause, "cannot serve HTTP on %s", spec);
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
		free(spec);
		return (-1);
	}
	evconnlistener_set_error_cb(srv->listener, server_listener_error);
	srv->bound = spec;
	log_info("http: listening on %s", spec);
	return (0);
}

void
server_drain(struct server *srv)
{
	srv->draining = 1;
	/* Consoles reconnect elsewhere with Last-Event-ID. */
	if (srv->events != NULL)
		events_hub_close_all(srv->events);
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	/* evhttp_free closes the listener it was bound to, and clients. */
	evhttp_free(srv->http);
	/* Those evhttp never handed over (server_conn_attach) are left. */
	while (!LIST_EMPTY(&srv->conn_list))
		server_conn_free(LIST_FIRST(&srv->conn_list));
	free(srv->conns);
	LIST_REMOVE(srv, entry);
	event_free(srv->relisten);
	auth_cache_free(srv->auth);
	throttle_free(srv->throttle);
	free(srv->bound);
	free(srv);
}
