#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#include "config.h"
#include "http_conn.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* evconnlistener's error callback gets evhttp's argument, not ours. */
static LIST_HEAD(, server) server_all = LIST_HEAD_INITIALIZER(server_all);

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

static void
server_ms_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

const char *
http_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:		return ("GET");
	case EVHTTP_REQ_POST:		return ("POST");
	case EVHTTP_REQ_PUT:		return ("PUT");
	case EVHTTP_REQ_PATCH:		return ("PATCH");
	case EVHTTP_REQ_DELETE:		return ("DELETE");
	case EVHTTP_REQ_HEAD:		return ("HEAD");
	case EVHTTP_REQ_OPTIONS:	return ("OPTIONS");
	default:			return ("OTHER");
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

/* Metrics, then r is gone (its evhttp request is not touched). */
static void
request_end(struct request *r, int status)
{
	metrics_request(r->srv->metrics, r->route_idx, status,
	    server_elapsed_us(&r->start));
	r->srv->inflight--;
	free(r->body);
	free(r);
}

/*
 * The connection closed while r was worked on (http_conn_busy). An
 * evhttp request still on its connection is freed with it; one evhttp
 * took off it is ours to free when r ends.
 */
static void
request_gone(void *arg)
{
	struct request	*r = arg;

	r->cancelled = 1;
	r->srv->cancelled++;
	if (evhttp_request_get_connection(r->req) != NULL)
		r->req = NULL;
	log_debug("http: %s %s: the client hung up before the reply",
	    http_method_name(r->method), r->pattern != NULL ? r->pattern :
	    "-");
}

/* A cancelled request ends as 499 (nginx's "client closed request"). */
static void
request_drop(struct request *r)
{
	if (r->req != NULL)
		evhttp_request_free(r->req);
	request_end(r, 499);
}

int
request_cancelled(struct request *r)
{
	if (!r->cancelled)
		return (0);
	request_drop(r);
	return (1);
}

void
request_reply_raw(struct request *r, int status, const char *ctype,
    const char *data, size_t len)
{
	struct evkeyvalq	*h;
	struct evbuffer		*buf;
	struct http_conn	*c;
	char			 n[24];

	if (r->cancelled) {
		request_drop(r);
		return;
	}
	h = evhttp_request_get_output_headers(r->req);
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
	if ((c = http_conn_of(&r->srv->conns, r->req)) != NULL)
		http_conn_done(c);
	buf = evbuffer_new();
	if (len > 0)
		evbuffer_add(buf, data, len);
	evhttp_send_reply(r->req, status, server_reason(status), buf);
	evbuffer_free(buf);
	request_end(r, status);
}

void
request_stream_start(struct request *r,
    void (*closecb)(struct evhttp_connection *, void *), void *arg)
{
	struct http_conn	*c;

	/*
	 * A stream has no deadline, but its connection stays counted until
	 * it closes: our close callback calls its owner's.
	 */
	if ((c = http_conn_of(&r->srv->conns, r->req)) != NULL)
		http_conn_stream(c, closecb, arg);
	else
		evhttp_connection_set_closecb(evhttp_request_get_connection(
		    r->req), closecb, arg);
	evhttp_send_reply_start(r->req, 200, "OK");
	request_end(r, 200);
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

	if (r->cancelled) {
		request_drop(r);
		return;
	}
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
		log_warn("http: %s %s: %d %s", http_method_name(
		    evhttp_request_get_command(r->req)),
		    r->pattern != NULL ? r->pattern : "-", status, code);
	request_reply_json(r, status, json_pack("{s:o}", "error", err));
}

/*
 * A request read whole, within http.max_headers and http.body_timeout:
 * refuse it while draining, or malformed or over http.max_body; else the
 * router's.
 */
static void
server_request(struct evhttp_request *req, void *arg)
{
	struct server			*srv = arg;
	struct request			*r;
	const struct evhttp_uri		*uri;
	const char			*path;
	struct evbuffer			*in;
	struct http_conn		*c;
	size_t				 len;

	r = xcalloc(1, sizeof *r);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->srv = srv;
	r->req = req;
	r->route_idx = srv->nroutes;	/* "no route" until matched */
	r->method = evhttp_request_get_command(req);
	srv->inflight++;
	if ((c = http_conn_of(&srv->conns, req)) != NULL)
		http_conn_busy(c, request_gone, r);

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
	r->path = path;
	r->body = xmalloc(len + 1);
	evbuffer_remove(in, r->body, len);
	r->body[len] = '\0';
	r->body_len = len;
	srv->route(r);
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
	    evutil_socket_error_to_string(err), srv->conns.nconns,
	    SERVER_RELISTEN_MS);
	server_ms_tv(SERVER_RELISTEN_MS, &tv);
	evtimer_add(srv->relisten, &tv);
}

struct server *
server_new(struct event_base *base, struct config *cfg)
{
	struct server	*srv;

	srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->cfg = cfg;
	srv->http = evhttp_new(base);
	srv->relisten = evtimer_new(base, server_relisten, srv);
	srv->conns.cfg = cfg;		/* the rest zeroed with srv */
	LIST_INIT(&srv->conns.conn_list);
	evhttp_set_max_body_size(srv->http,
	    (ev_ssize_t)cfg->http_max_body * HTTP_HARD_BODY_FACTOR);
	evhttp_set_max_headers_size(srv->http, cfg->http_max_headers);
	evhttp_set_timeout(srv->http, (cfg->http_timeout_ms + 999) / 1000);
	/*
	 * Every method, unknown ones too (evhttp's bit 15): the router
	 * answers 405 with Allow in JSON, where evhttp would send HTML 501.
	 */
	evhttp_set_allowed_methods(srv->http, 0xffff);
	/* Read an over-size body to the end so the client sees our 413. */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(srv->http, server_request, srv);
	evhttp_set_bevcb(srv->http, http_conn_new, &srv->conns);
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
server_accept(struct server *srv, int on)
{
	if (srv->listener == NULL)
		return;
	if (on)
		evconnlistener_enable(srv->listener);
	else
		evconnlistener_disable(srv->listener);
}

const char *
server_bound(const struct server *srv)
{
	return (srv->bound != NULL ? srv->bound : "-");
}

int
server_inflight(const struct server *srv)
{
	return (srv->inflight);
}

int
server_unsent(const struct server *srv)
{
	return (http_conns_writing(&srv->conns));
}

void
server_drain(struct server *srv)
{
	srv->draining = 1;
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	/* evhttp_free closes the listener it was bound to, and clients. */
	evhttp_free(srv->http);
	/* Those evhttp never handed over are left. */
	http_conns_clear(&srv->conns);
	LIST_REMOVE(srv, entry);
	event_free(srv->relisten);
	free(srv->bound);
	free(srv);
}
