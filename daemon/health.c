/* /healthz, /readyz and /metrics: what systemd, a load balancer and
 * Prometheus ask, without a token. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "db.h"
#include "dispatcher.h"
#include "metrics.h"
#include "routes.h"
#include "server.h"
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

void
health_metrics(struct request *r)
{
	struct evbuffer	*buf;
	size_t		 len;
	char		*text;

	buf = evbuffer_new();
	metrics_render(r->srv->metrics, r->srv->db, r->srv->inflight, buf);
	if (r->srv->dispatcher != NULL)
		dispatcher_metrics(r->srv->dispatcher, buf);
	len = evbuffer_get_length(buf);
	text = xmalloc(len + 1);
	evbuffer_remove(buf, text, len);
	evbuffer_free(buf);
	request_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    text, len);
	free(text);
}
