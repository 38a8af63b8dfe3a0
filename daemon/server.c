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

#include "auth.h"
#include "config.h"
#include "events.h"
#include "static.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "server.h"
#include "throttle.h"
#include "xmalloc.h"

/*
 * evhttp itself refuses bodies past this multiple of http.max_body, before
 * reading them; between the two we answer a JSON 413 of our own.
 */
#define SERVER_HARD_BODY_FACTOR	2
#define SERVER_RELISTEN_SEC	1	/* after running out of descriptors */

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

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (r->srv->draining)
		evhttp_add_header(h, "Connection", "close");
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
request_stream_start(struct request *r)
{
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
	size_t				 len;
	int				 idx;

	r = xcalloc(1, sizeof *r);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->srv = srv;
	r->req = req;
	r->route_idx = nroutes;		/* "no route" until matched */
	srv->inflight++;

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
		request_error(r, 404, "not_found", NULL, "no such resource");
		return;
	}
	if (idx == -2) {
		request_error(r, 405, "method_not_allowed", NULL,
		    "method not allowed on this resource");
		return;
	}
	r->route_idx = idx;
	r->route = &routes[idx];

	r->body = xmalloc(len + 1);
	evbuffer_remove(in, r->body, len);
	r->body[len] = '\0';
	r->body_len = len;
	auth_request(r);
}

static void
server_relisten(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (srv->listener != NULL && !srv->draining)
		evconnlistener_enable(srv->listener);
}

/* Out of descriptors: pause accepting instead of spinning on EMFILE. */
static void
server_listener_error(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { SERVER_RELISTEN_SEC, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		log_warn("http: accept: %s; pausing %d s",
		    evutil_socket_error_to_string(err), SERVER_RELISTEN_SEC);
		evconnlistener_disable(l);
		evtimer_add(srv->relisten, &tv);
		return;
	}
	log_warn("http: accept: %s", evutil_socket_error_to_string(err));
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
	evhttp_set_max_body_size(srv->http,
	    (ev_ssize_t)cfg->http_max_body * SERVER_HARD_BODY_FACTOR);
	evhttp_set_max_headers_size(srv->http, cfg->http_max_headers);
	evhttp_set_timeout(srv->http, (cfg->http_timeout_ms + 999) / 1000);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	/* Read an over-size body to the end so the client sees our 413. */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(srv->http, server_dispatch, srv);
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
	event_free(srv->relisten);
	auth_cache_free(srv->auth);
	throttle_free(srv->throttle);
	free(srv->bound);
	free(srv);
}
