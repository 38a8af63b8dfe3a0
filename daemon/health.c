/* /healthz, /readyz and /metrics: what systemd, a load balancer and
 * Prometheus ask, without a token. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "config.h"
#include "crypto.h"
#include "db_pool.h"
#include "http_events.h"
#include "http_router.h"
#include "http_server.h"
#include "metrics.h"
#include "outbox.h"
#include "xmalloc.h"

void
health_healthz(struct request *r)
{
	request_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void
health_readyz_done(const struct db_result *res, void *arg)
{
	struct request	*r = arg;

	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		request_error(r, 503, "database_unavailable", NULL,
		    "the database is not answering");
		return;
	}
	request_reply_json(r, 200, json_pack("{s:s, s:i}", "status", "ready",
	    "schema_version", atoi(PQgetvalue(res->res, 0, 0))));
}

/*
 * Ready means the database answers and still holds our schema; a drain
 * answers 503 before this is reached.
 */
void
health_readyz(struct request *r)
{
	if (db_query(r->srv->db, "SELECT coalesce(max(version), 0) "
	    "FROM schema_migrations", 0, NULL, health_readyz_done, r) != 0)
		request_error(r, 503, "database_unavailable", NULL,
		    "no database connection");
}

/* 127.0.0.0/8 and ::1, also as IPv4 inside IPv6. */
static int
health_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6	*s6;
	const unsigned char		*a;

	if (sa == NULL)
		return (0);
	if (sa->sa_family == AF_INET)
		return ((ntohl(((const struct sockaddr_in *)sa)->sin_addr.
		    s_addr) >> 24) == 127);
	if (sa->sa_family != AF_INET6)
		return (0);
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return (1);
	a = s6->sin6_addr.s6_addr;
	return (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && a[12] == 127);
}

/* Does the request carry "Bearer <metrics.token>"? In constant time. */
static int
health_has_token(struct request *r, const char *token)
{
	const char	*v = evhttp_find_header(
			    evhttp_request_get_input_headers(r->req),
			    "Authorization");
	unsigned char	 want[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];

	if (v == NULL || strncmp(v, "Bearer ", 7) != 0)
		return (0);
	v += 7;
	crypto_sha256(token, strlen(token), want);
	crypto_sha256(v, strlen(v), got);
	return (crypto_equal(want, got, sizeof want));
}

/*
 * Counters tell an outsider how busy the hotline is and how its parts
 * fail: loopback (a local Prometheus, a proxy on the host) or the token.
 */
static int
health_metrics_allowed(struct request *r)
{
	struct evhttp_connection	*evcon;
	const char			*token = r->srv->cfg->metrics_token;

	evcon = evhttp_request_get_connection(r->req);
	if (evcon != NULL &&
	    health_is_loopback(evhttp_connection_get_addr(evcon)))
		return (1);
	if (token == NULL || *token == '\0') {
		request_error(r, 403, "forbidden", NULL,
		    "metrics are served to loopback clients only");
		return (0);
	}
	if (!health_has_token(r, token)) {
		request_error(r, 401, "unauthorized", NULL,
		    "metrics need the metrics token from this address");
		return (0);
	}
	return (1);
}

/* The HTTP side's own counters: connections and what cut them short. */
static void
health_metrics_http(const struct server *srv, struct evbuffer *buf)
{
	static const char *const reasons[HTTP_CUT_MAX] = {
		"head_timeout", "body_timeout", "too_large", "bad_head",
	};
	int	i;

	evbuffer_add_printf(buf,
	    "# HELP careline_http_connections Client connections open.\n"
	    "# TYPE careline_http_connections gauge\n"
	    "careline_http_connections %d\n"
	    "# HELP careline_http_accept_pauses_total Times accepting "
	    "paused for lack of file descriptors.\n"
	    "# TYPE careline_http_accept_pauses_total counter\n"
	    "careline_http_accept_pauses_total %lld\n"
	    "# HELP careline_http_cut_total Connections closed before their "
	    "request was read, by reason.\n"
	    "# TYPE careline_http_cut_total counter\n",
	    srv->conns.nconns, srv->accept_pauses);
	for (i = 0; i < HTTP_CUT_MAX; i++)
		evbuffer_add_printf(buf,
		    "careline_http_cut_total{reason=\"%s\"} %lld\n",
		    reasons[i], srv->conns.cut[i]);
	evbuffer_add_printf(buf,
	    "# HELP careline_http_cancelled_total Requests whose client hung "
	    "up before the reply.\n"
	    "# TYPE careline_http_cancelled_total counter\n"
	    "careline_http_cancelled_total %lld\n", srv->cancelled);
}

void
health_metrics(struct request *r)
{
	struct evbuffer	*buf;
	size_t		 len;
	char		*text;

	if (!health_metrics_allowed(r))
		return;
	buf = evbuffer_new();
	metrics_render(r->srv->metrics, r->srv->db, r->srv->inflight, buf);
	health_metrics_http(r->srv, buf);
	if (r->srv->events != NULL)
		events_hub_metrics(r->srv->events, buf);
	if (r->srv->outbox != NULL)
		outbox_metrics(r->srv->outbox, buf);
	len = evbuffer_get_length(buf);
	text = xmalloc(len + 1);
	evbuffer_remove(buf, text, len);
	evbuffer_free(buf);
	request_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    text, len);
	free(text);
}
