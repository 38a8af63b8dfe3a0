#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "http_conn.h"
#include "log.h"
#include "xmalloc.h"

/* Where a connection is (see http_conn.h); freed by its close callback. */
enum http_conn_state {
	HTTP_CONN_IDLE,		/* between requests: http.timeout applies */
	HTTP_CONN_HEAD,		/* head begun: http.head_timeout */
	HTTP_CONN_BODY,		/* head read: http.body_timeout */
	HTTP_CONN_BUSY,		/* dispatched: ours until the reply */
	HTTP_CONN_WRITING,	/* reply queued: the next deadline starts
				   once it has been written */
	HTTP_CONN_REFUSE,	/* verdict mid-head or mid-chunk: input is
				   dropped, the answer waits for output */
	HTTP_CONN_LINGER,	/* answered: input dropped until EOF */
	HTTP_CONN_STREAM,	/* a stream: counted until it closes */
};

/* A chunked body, followed to sum the chunk sizes it announces. */
enum http_chunk_state {
	HTTP_CHUNK_SIZE,	/* a chunk-size line */
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_TRAILER,	/* after the last chunk */
	HTTP_CHUNK_DONE,
};

/* The request line, a byte at a time: method SP target SP HTTP/1.x */
enum http_rline_state {
	HTTP_RLINE_METHOD,
	HTTP_RLINE_TARGET,
	HTTP_RLINE_VERSION,
	HTTP_RLINE_BAD,
};

struct http_conn {
	struct http_conns		*set;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;		/* NULL until attached */
	struct evbuffer_cb_entry	*watch;		/* on bev's input */
	struct evbuffer_cb_entry	*owatch;	/* on bev's output */
	LIST_ENTRY(http_conn)		 entry;		/* set->conn_list */
	struct event			*timer;		/* attach, then deadline */
	struct event			*hangup;	/* busy: has it gone? */
	void				(*stream_cb)(struct evhttp_connection *,
					    void *);	/* its owner's closecb */
	void				*stream_arg;
	void				(*gone)(void *);	/* busy: the
					   request's, if the client leaves */
	void				*gone_arg;
	int				 fd;
	enum http_conn_state		 state;
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
	enum http_rline_state		 rline;
	size_t				 rlen;		/* of its current part */
	enum http_chunk_state		 chunk;
	long long			 chunk_left;	/* data bytes to come */
	long long			 chunk_size;	/* on this size line */
	long long			 chunk_total;	/* announced so far */
	int				 chunk_digits;
	int				 chunk_ext;	/* past the size */
	size_t				 chunk_linelen;
	/* The current head line: its start, its length, lines so far. */
	char				 line[HTTP_LINE_KEEP];
	size_t				 linelen;
	int				 nlines;
};

static void	http_conn_free(struct http_conn *);

static void
http_ms_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* The watched connection a request arrived on, or NULL. */
struct http_conn *
http_conn_of(struct http_conns *set, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct http_conn		*c;
	int				 fd;

	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return (NULL);
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || fd >= set->nslots)
		return (NULL);
	c = set->conns[fd];
	return (c != NULL && c->evcon == evcon ? c : NULL);
}

static void
http_conn_refuse(struct http_conn *c, int status, const char *why)
{
	if (c->verdict == 0) {
		c->verdict = status;
		c->why = why;
	}
}

/*
 * Refuse now, before evhttp parses what we saw (it would answer in HTML):
 * the caller stops scanning, and http_conn_feed drops the input.
 */
static void
http_conn_cut(struct http_conn *c, int status, const char *why)
{
	http_conn_refuse(c, status, why);
	c->state = HTTP_CONN_REFUSE;
	evtimer_del(c->timer);
	event_active(c->timer, EV_TIMEOUT, 0);
}

/* RFC 9110's tchar: what a method is made of. */
static int
http_tchar(int ch)
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
http_conn_rline(struct http_conn *c, int ch)
{
	static const char	version[] = "HTTP/1.";

	if (c->cr)
		c->rline = HTTP_RLINE_BAD;
	switch (c->rline) {
	case HTTP_RLINE_METHOD:
		if (ch == ' ' && c->rlen > 0) {
			c->rline = HTTP_RLINE_TARGET;
			c->rlen = 0;
			return;
		}
		if (!http_tchar(ch))
			c->rline = HTTP_RLINE_BAD;
		break;
	case HTTP_RLINE_TARGET:
		if (ch == ' ' && c->rlen > 0) {
			c->rline = HTTP_RLINE_VERSION;
			c->rlen = 0;
			return;
		}
		if (c->rlen == 0)
			c->tfirst = ch;
		if (ch <= ' ' || ch >= 0x7f ||
		    (c->rlen == 0 && ch != '/' && ch != '*' && !isalpha(ch)) ||
		    (c->rlen == 1 && c->tfirst == '/' && ch == '/') ||
		    (c->rlen > 0 && c->tfirst == '*'))
			c->rline = HTTP_RLINE_BAD;
		break;
	case HTTP_RLINE_VERSION:
		if (c->rlen < sizeof version - 1 ? ch != version[c->rlen] :
		    c->rlen == sizeof version - 1 ? !isdigit(ch) :
		    !(c->rlen == sizeof version && ch == '\r'))
			c->rline = HTTP_RLINE_BAD;
		break;
	case HTTP_RLINE_BAD:
		break;
	}
	c->rlen++;
}

static int
http_conn_rline_ok(const struct http_conn *c)
{
	return (c->rline == HTTP_RLINE_VERSION &&
	    (c->rlen == 8 || c->rlen == 9));
}

/*
 * The request line. evhttp 2.1 reads no body after HEAD, TRACE, CONNECT
 * or a method it does not know: such a body would be read as the next
 * request, so one announced is refused.
 */
static void
http_conn_method(struct http_conn *c)
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
http_conn_header(struct http_conn *c)
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
		if (++digits > HTTP_CLEN_DIGITS_MAX)
			break;
		v = v * 10 + (*p - '0');
	}
	if (digits > HTTP_CLEN_DIGITS_MAX || c->linelen > sizeof c->line) {
		http_conn_refuse(c, 413, "the Content-Length is too large");
		return;
	}
	c->clen = v;
	if (v > (long long)c->set->cfg->http_max_body *
	    HTTP_HARD_BODY_FACTOR) {
		http_conn_refuse(c, 413, "the Content-Length is too large");
		return;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (digits == 0 || p != end)
		http_conn_refuse(c, 400, "the Content-Length is not a number");
	else if (v > 0)
		c->has_body = 1;
}

static void
http_conn_arm(struct http_conn *c, enum http_conn_state st, int ms)
{
	struct timeval	tv;

	c->state = st;
	http_ms_tv(ms, &tv);
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
http_conn_scan(struct http_conn *c, const char *p, size_t n)
{
	const struct config	*cfg = c->set->cfg;
	size_t			 i;

	for (i = 0; i < n && c->state == HTTP_CONN_HEAD; i++) {
		if (++c->headlen > cfg->http_max_headers) {
			http_conn_cut(c, 431, "the request head is too large");
			return (i + 1);
		}
		if (c->cr && p[i] != '\n') {
			http_conn_cut(c, 400, "a CR in the request head is "
			    "not followed by LF");
			return (i + 1);
		}
		if (p[i] != '\n') {
			if (c->nlines == 0)
				http_conn_rline(c, (unsigned char)p[i]);
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
			if (!http_conn_rline_ok(c)) {
				http_conn_cut(c, 400,
				    "the request line is malformed");
				return (i + 1);
			}
			http_conn_method(c);
		} else if (c->linelen > 0) {
			c->nlines++;
			if (c->line[0] == ' ' || c->line[0] == '\t') {
				http_conn_cut(c, 400, "a header line is "
				    "folded (obs-fold)");
				return (i + 1);
			}
			if (!c->colon) {
				http_conn_cut(c, 400,
				    "a header line has no colon");
				return (i + 1);
			}
			http_conn_header(c);
		} else {
			c->linelen = 0;
			c->nlines = 0;
			if (c->bodyless && c->has_body)
				http_conn_refuse(c, 400,
				    "this method takes no request body");
			http_conn_arm(c, HTTP_CONN_BODY,
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
http_conn_chunks(struct http_conn *c, const char *p, size_t n)
{
	long long	max = c->set->cfg->http_max_body;
	size_t		i, take;
	int		ch;

	for (i = 0; i < n && c->state == HTTP_CONN_BODY &&
	    c->chunk != HTTP_CHUNK_DONE; i++) {
		ch = (unsigned char)p[i];
		switch (c->chunk) {
		case HTTP_CHUNK_DATA:
			take = n - i;
			if ((long long)take > c->chunk_left)
				take = (size_t)c->chunk_left;
			c->chunk_left -= (long long)take;
			i += take - 1;
			if (c->chunk_left == 0)
				c->chunk = HTTP_CHUNK_SIZE;
			break;
		case HTTP_CHUNK_SIZE:
			if (ch == '\n') {
				if (c->chunk_digits == 0 &&
				    c->chunk_linelen > (c->cr ? 1 : 0)) {
					http_conn_cut(c, 400, "a chunk size "
					    "is not a number");
					return (i + 1);
				}
				/* evhttp skips the empty line after data. */
				if (c->chunk_digits > 0 && c->chunk_size == 0)
					c->chunk = HTTP_CHUNK_TRAILER;
				else if (c->chunk_digits > 0) {
					c->chunk = HTTP_CHUNK_DATA;
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
					http_conn_cut(c, 413, "the body is "
					    "too large");
					return (i + 1);
				}
			} else if (ch == ' ' && c->chunk_digits > 0 && !c->cr)
				c->chunk_ext = 1;	/* evhttp ignores it */
			else if (ch == '\r' && !c->cr)
				c->cr = 1;
			else {
				http_conn_cut(c, 400, "a chunk size is not "
				    "a number");
				return (i + 1);
			}
			break;
		case HTTP_CHUNK_TRAILER:
			if (ch == '\n') {
				if (c->chunk_linelen == 0)
					c->chunk = HTTP_CHUNK_DONE;
				c->chunk_linelen = 0;
			} else if (ch != '\r')
				c->chunk_linelen++;
			break;
		case HTTP_CHUNK_DONE:
			break;
		}
	}
	return (i);
}

/*
 * Drop what is in buf, n bytes of it being body; answer once the body
 * announced has gone by (http_conn_timer).
 */
static void
http_conn_drop(struct http_conn *c, struct evbuffer *buf, size_t n)
{
	c->discard -= (long long)n < c->discard ? (long long)n : c->discard;
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (c->discard == 0)
		event_active(c->timer, EV_TIMEOUT, 0);
}

/* A head, or a chunked body not yet judged, whose bytes we follow. */
static int
http_conn_scanning(const struct http_conn *c)
{
	return (c->state == HTTP_CONN_HEAD ||
	    (c->state == HTTP_CONN_BODY && c->verdict == 0 &&
	    c->te_chunked &&
	    c->chunk != HTTP_CHUNK_DONE));
}

/* Scan n bytes of buf from off on; a head begins with its first byte. */
static void
http_conn_feed(struct http_conn *c, struct evbuffer *buf, size_t off,
    size_t n)
{
	struct evbuffer_ptr	pos;
	struct evbuffer_iovec	v;
	size_t			len;

	if (n == 0)
		return;
	if (c->state == HTTP_CONN_IDLE) {
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
		c->rline = HTTP_RLINE_METHOD;
		c->rlen = 0;
		c->chunk = HTTP_CHUNK_SIZE;
		c->chunk_left = c->chunk_size = c->chunk_total = 0;
		c->chunk_digits = c->chunk_ext = 0;
		c->chunk_linelen = 0;
		http_conn_arm(c, HTTP_CONN_HEAD,
		    c->set->cfg->http_head_timeout_ms);
	}
	if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0)
		return;
	while (n > 0 && http_conn_scanning(c) &&
	    evbuffer_peek(buf, (ev_ssize_t)n, &pos, &v, 1) > 0) {
		len = v.iov_len < n ? v.iov_len : n;
		if (c->state == HTTP_CONN_HEAD)
			len = http_conn_scan(c, v.iov_base, len);
		else
			len = http_conn_chunks(c, v.iov_base, len);
		n -= len;
		if (evbuffer_ptr_set(buf, &pos, len, EVBUFFER_PTR_ADD) != 0)
			break;
	}
	if (c->state == HTTP_CONN_REFUSE) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	/*
	 * A head to refuse: take its end away from evhttp, which then waits
	 * for more. A body of known, bearable length is read and dropped
	 * first (as evhttp's lingering close would), so that the client,
	 * still sending, reads our answer rather than a reset.
	 */
	if (c->state == HTTP_CONN_BODY && c->verdict != 0) {
		if (!c->chunked && c->clen > 0 && c->clen <= HTTP_LINGER_MAX)
			c->discard = c->clen;
		http_conn_drop(c, buf, n);
	}
}

/* evhttp closes the connection: forget it, then tell a stream's owner. */
static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn	*c = arg;
	void			(*cb)(struct evhttp_connection *, void *);
	void			*cbarg;

	/* A request still being worked on: its client is gone. */
	if (c->state == HTTP_CONN_BUSY && c->gone != NULL)
		c->gone(c->gone_arg);
	cb = c->stream_cb;
	cbarg = c->stream_arg;
	http_conn_free(c);
	if (cb != NULL)
		cb(evcon, cbarg);
}

/*
 * Now that evhttp has made its connection around our bufferevent (whose
 * callback argument is that connection), watch for its end. We hold a
 * reference, so the bufferevent is there even if evhttp gave up on it.
 */
static int
http_conn_attach(struct http_conn *c)
{
	struct http_conns	*set = c->set;
	void		*evcon = NULL;
	void		(*readcb)(struct bufferevent *, void *) = NULL;
	int		 n;

	bufferevent_getcb(c->bev, &readcb, NULL, NULL, &evcon);
	c->fd = bufferevent_getfd(c->bev);
	if (readcb == NULL || evcon == NULL || c->fd < 0) {
		/* Freed by evhttp already (it could not set it up). */
		http_conn_free(c);
		return (-1);
	}
	c->evcon = evcon;
	if (c->fd >= set->nslots) {
		n = set->nslots;
		set->nslots = c->fd < 64 ? 128 : c->fd * 2;
		set->conns = xrealloc(set->conns, set->nslots *
		    sizeof *set->conns);
		memset(set->conns + n, 0, (set->nslots - n) *
		    sizeof *set->conns);
	}
	set->conns[c->fd] = c;
	evhttp_connection_set_closecb(c->evcon, http_conn_closed, c);
	bufferevent_decref(c->bev);
	return (0);
}

/* Bytes came in (or went out to the parser, which we ignore). */
static void
http_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct http_conn	*c = arg;
	size_t			 len;

	if (info->n_added == 0)
		return;
	if (c->evcon == NULL) {
		event_del(c->timer);
		if (http_conn_attach(c) != 0)
			return;
	}
	if (c->state == HTTP_CONN_REFUSE || c->state == HTTP_CONN_LINGER) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (c->state == HTTP_CONN_BODY && c->verdict != 0) {
		http_conn_drop(c, buf, info->n_added);
		return;
	}
	if (c->state != HTTP_CONN_IDLE && !http_conn_scanning(c))
		return;
	len = evbuffer_get_length(buf);
	http_conn_feed(c, buf, len >= info->n_added ? len - info->n_added :
	    0, info->n_added);
}

/*
 * Bytes went out. The reply just written was the last thing queued: the
 * next request's deadline starts now, with its first byte, which may be
 * waiting already (pipelined). Starting it when the reply was queued let
 * a client that reads slowly run out of time while we were still writing.
 */
static void
http_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct http_conn	*c = arg;
	struct evbuffer		*in;

	if (info->n_deleted == 0 || c->state != HTTP_CONN_WRITING ||
	    evbuffer_get_length(buf) > 0)
		return;
	in = bufferevent_get_input(c->bev);
	c->state = HTTP_CONN_IDLE;
	http_conn_feed(c, in, 0, evbuffer_get_length(in));
}

/* Write a short JSON error past evhttp, on a connection about to close. */
static void
http_conn_reply(struct http_conn *c, int status, const char *reason,
    const char *code, const char *msg)
{
	char	body[HTTP_RAW_REPLY_MAX / 2], out[HTTP_RAW_REPLY_MAX];
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
	/* Best effort: our output has all been written (http_conn_timer). */
	if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("http: fd %d: %s", c->fd, strerror(errno));
}

/*
 * Answered: close our side for writing, and read and drop what the
 * client still sends for a while, so that closing with its bytes unread
 * does not reset the connection before it has read the answer.
 */
static void
http_conn_linger(struct http_conn *c)
{
	struct timeval	tv;

	(void)shutdown(c->fd, SHUT_WR);
	c->state = HTTP_CONN_LINGER;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	http_ms_tv(HTTP_LINGER_MS, &tv);
	evtimer_add(c->timer, &tv);
}

/* The first turn of the loop after accept, then a deadline. */
static void
http_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	struct http_conns		*set = c->set;
	struct timeval		 tv;

	(void)fd;
	(void)what;
	if (c->evcon == NULL) {
		(void)http_conn_attach(c);
		return;
	}
	if (c->state == HTTP_CONN_LINGER) {
		/* Calls http_conn_closed, which frees c. */
		evhttp_connection_free(c->evcon);
		return;
	}
	if (c->state != HTTP_CONN_HEAD && c->state != HTTP_CONN_BODY &&
	    c->state != HTTP_CONN_REFUSE)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		/*
		 * Every answer written past evhttp waits for what evhttp
		 * queued before it (a pipelined reply), or it would be
		 * spliced into it.
		 */
		http_ms_tv(HTTP_FLUSH_WAIT_MS, &tv);
		evtimer_add(c->timer, &tv);
		return;
	}
	if (c->verdict == 431) {
		set->cut[HTTP_CUT_TOO_LARGE]++;
		http_conn_reply(c, 431, "Request Header Fields Too Large",
		    "headers_too_large", c->why);
	} else if (c->state == HTTP_CONN_REFUSE && c->verdict == 413) {
		set->cut[HTTP_CUT_TOO_LARGE]++;
		http_conn_reply(c, 413, "Payload Too Large",
		    "body_too_large", c->why);
	} else if (c->state == HTTP_CONN_REFUSE) {
		set->cut[HTTP_CUT_BAD_HEAD]++;
		http_conn_reply(c, 400, "Bad Request", "bad_request", c->why);
	} else if (c->state == HTTP_CONN_HEAD) {
		set->cut[HTTP_CUT_HEAD_TIMEOUT]++;
		http_conn_reply(c, 408, "Request Timeout", "request_timeout",
		    "the request head did not arrive in time");
		log_debug("http: fd %d: head not complete in %d ms", c->fd,
		    set->cfg->http_head_timeout_ms);
	} else if (c->state == HTTP_CONN_BODY && c->verdict == 413) {
		set->cut[HTTP_CUT_TOO_LARGE]++;
		http_conn_reply(c, 413, "Payload Too Large",
		    "body_too_large", c->why);
	} else if (c->state == HTTP_CONN_BODY && c->verdict != 0) {
		set->cut[HTTP_CUT_BAD_HEAD]++;
		http_conn_reply(c, 400, "Bad Request", "bad_request", c->why);
	} else if (c->state == HTTP_CONN_BODY) {
		set->cut[HTTP_CUT_BODY_TIMEOUT]++;
		http_conn_reply(c, 408, "Request Timeout", "request_timeout",
		    "the request body did not arrive in time");
		log_debug("http: fd %d: body not complete in %d ms", c->fd,
		    set->cfg->http_body_timeout_ms);
	}
	http_conn_linger(c);
}

/*
 * A new connection (evhttp_set_bevcb): make its bufferevent ourselves so
 * we can watch its input; evhttp sets the descriptor and callbacks next,
 * and we attach at the loop's next turn.
 */
struct bufferevent *
http_conn_new(struct event_base *base, void *arg)
{
	struct http_conns		*set = arg;
	struct http_conn	*c;

	c = xcalloc(1, sizeof *c);
	c->set = set;
	c->fd = -1;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return (NULL);
	}
	bufferevent_incref(c->bev);
	c->timer = evtimer_new(base, http_conn_timer, c);
	c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev),
	    http_conn_input, c);
	c->owatch = evbuffer_add_cb(bufferevent_get_output(c->bev),
	    http_conn_output, c);
	event_active(c->timer, EV_TIMEOUT, 0);
	LIST_INSERT_HEAD(&set->conn_list, c, entry);
	set->nconns++;
	return (c->bev);
}

static void
http_conn_free(struct http_conn *c)
{
	struct http_conns	*set = c->set;

	if (c->fd >= 0 && c->fd < set->nslots && set->conns[c->fd] == c)
		set->conns[c->fd] = NULL;
	if (c->evcon == NULL)
		bufferevent_decref(c->bev);	/* never attached */
	else {
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
		    c->watch);
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		    c->owatch);
	}
	event_free(c->timer);
	if (c->hangup != NULL)
		event_free(c->hangup);
	LIST_REMOVE(c, entry);
	set->nconns--;
	free(c);
}

/*
 * Busy or streaming, evhttp reads nothing from the socket, so it would
 * not see the client leave until a reply fails to go: look ourselves.
 * Bytes that come (a pipelined request) are not a hang-up, and end the
 * watch.
 */
static void
http_conn_hangup(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	char			 ch;
	ssize_t			 n;

	(void)what;
	if (c->state != HTTP_CONN_BUSY && c->state != HTTP_CONN_STREAM)
		return;
	n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)) {
		event_add(c->hangup, NULL);
		return;
	}
	/*
	 * Calls http_conn_closed, which tells the request or the stream's
	 * owner, and frees c.
	 */
	evhttp_connection_free(c->evcon);
}

void
http_conn_busy(struct http_conn *c, void (*gone)(void *), void *arg)
{
	c->state = HTTP_CONN_BUSY;
	c->gone = gone;
	c->gone_arg = arg;
	evtimer_del(c->timer);
	if (c->hangup == NULL)
		c->hangup = event_new(bufferevent_get_base(c->bev), c->fd,
		    EV_READ, http_conn_hangup, c);
	if (c->hangup != NULL)
		event_add(c->hangup, NULL);
}

/* The next request's deadline starts once it has been written. */
void
http_conn_done(struct http_conn *c)
{
	c->state = HTTP_CONN_WRITING;
	c->gone = NULL;
	c->gone_arg = NULL;
	evtimer_del(c->timer);
	if (c->hangup != NULL)
		event_del(c->hangup);
}

void
http_conn_stream(struct http_conn *c,
    void (*closecb)(struct evhttp_connection *, void *), void *arg)
{
	c->state = HTTP_CONN_STREAM;
	c->gone = NULL;
	c->gone_arg = NULL;
	evtimer_del(c->timer);
	c->stream_cb = closecb;
	c->stream_arg = arg;
	/* Still watched: a console that leaves is let go at once. */
}

int
http_conns_writing(const struct http_conns *set)
{
	const struct http_conn	*c;
	int			 n = 0;

	LIST_FOREACH(c, &set->conn_list, entry)
		n += c->state == HTTP_CONN_WRITING;
	return (n);
}

void
http_conns_clear(struct http_conns *set)
{
	while (!LIST_EMPTY(&set->conn_list))
		http_conn_free(LIST_FIRST(&set->conn_list));
	free(set->conns);
	set->conns = NULL;
	set->nslots = 0;
}
