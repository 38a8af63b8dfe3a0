#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "db_pool.h"
#include "log.h"
#include "http_server.h"
#include "xmalloc.h"

void
api_fail(struct request *r, const struct jv_error *e)
{
	request_error(r, e->status, e->code, e->field[0] != '\0' ?
	    e->field : NULL, "%s", e->message);
}

int
api_body(struct request *r, json_t **out)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(r->req);
	const char		*ct = evhttp_find_header(h, "Content-Type");
	struct jv_error		 e;
	size_t			 n;

	*out = NULL;
	/* application/json, with parameters such as charset=utf-8 only. */
	n = strlen("application/json");
	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0 ||
	    (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ')) {
		request_error(r, 415, "unsupported_media_type", NULL,
		    "send the body as Content-Type: application/json");
		return (-1);
	}
	if (jv_parse(r->body, r->body_len, out, &e) != 0) {
		api_fail(r, &e);
		return (-1);
	}
	return (0);
}

int
api_args(struct request *r, struct evkeyvalq *q, const char *const *allowed)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(r->req);
	const char		*qs = evhttp_uri_get_query(uri);
	struct evkeyval		*kv, *dup;
	int			 i;

	TAILQ_INIT(q);
	if (qs == NULL)
		return (0);
	/* Decoded, a NUL would cut the value short where C reads it. */
	if (strstr(qs, "%00") != NULL) {
		request_error(r, 400, "bad_query", NULL,
		    "the query string holds a NUL byte (%%00)");
		return (-1);
	}
	if (evhttp_parse_query_str(qs, q) != 0) {
		request_error(r, 400, "bad_query", NULL,
		    "the query string is malformed");
		return (-1);
	}
	TAILQ_FOREACH(kv, q, next) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(kv->key, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			request_error(r, 400, "unknown_parameter", kv->key,
			    "unknown query parameter: %.64s", kv->key);
			evhttp_clear_headers(q);
			return (-1);
		}
		/* Only the first would be read: refuse, do not guess. */
		for (dup = TAILQ_FIRST(q); dup != kv;
		    dup = TAILQ_NEXT(dup, next)) {
			if (strcmp(dup->key, kv->key) == 0) {
				request_error(r, 400, "duplicate_parameter",
				    kv->key, "query parameter given twice: "
				    "%.64s", kv->key);
				evhttp_clear_headers(q);
				return (-1);
			}
		}
	}
	return (0);
}

long long
api_arg_id(struct request *r, struct evkeyvalq *q, const char *key)
{
	const char	*v = evhttp_find_header(q, key);
	char		*end;
	long long	 id;

	if (v == NULL)
		return (0);
	id = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || id <= 0 || strlen(v) > 18) {
		request_error(r, 400, "invalid_parameter", key,
		    "%s must be a positive integer", key);
		return (-1);
	}
	return (id);
}

int
api_arg_choice(struct request *r, struct evkeyvalq *q, const char *key,
    const char *const *choices, const char **out)
{
	const char	*v = evhttp_find_header(q, key);
	char		 list[256];
	size_t		 len = 0;
	int		 i;

	*out = NULL;
	if (v == NULL)
		return (0);
	list[0] = '\0';
	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(v, choices[i]) == 0) {
			*out = v;
			return (0);
		}
		if (len < sizeof list)
			len += snprintf(list + len, sizeof list - len, "%s%s",
			    i > 0 ? ", " : "", choices[i]);
	}
	request_error(r, 400, "invalid_parameter", key,
	    "%s must be one of: %s", key, list);
	return (-1);
}

int
api_arg_page(struct request *r, struct evkeyvalq *q, struct api_page *p)
{
	long long	limit, cursor;

	if ((limit = api_arg_id(r, q, "limit")) < 0 ||
	    (cursor = api_arg_id(r, q, "cursor")) < 0)
		return (-1);
	if (limit > API_LIST_LIMIT_MAX) {
		request_error(r, 400, "invalid_parameter", "limit",
		    "limit must be 1 to %d", API_LIST_LIMIT_MAX);
		return (-1);
	}
	snprintf(p->limit, sizeof p->limit, "%lld", limit > 0 ? limit :
	    API_LIST_LIMIT_DEFAULT);
	snprintf(p->cursor_buf, sizeof p->cursor_buf, "%lld", cursor);
	p->cursor = cursor > 0 ? p->cursor_buf : NULL;
	return (0);
}

/*
 * A statement that failed: the route functions answer every error of the
 * request's own making with a status (sql/functions/api.sql), so what
 * reaches here is the database's trouble or a bug.
 */
void
api_sql_error(struct request *r, const struct db_result *res)
{
	const char	*st = res->sqlstate;
	const char	*constraint = NULL;

	if (res->res != NULL)
		constraint = PQresultErrorField(res->res,
		    PG_DIAG_CONSTRAINT_NAME);
	/* SQLSTATE and constraint only: details may quote personal data. */
	log_warn("api: %s: SQLSTATE %s%s%s", r->pattern, st,
	    constraint != NULL ? " constraint " : "",
	    constraint != NULL ? constraint : "");
	if (strcmp(st, "57014") == 0 || strncmp(st, "40", 2) == 0)
		request_error(r, 503, "database_busy", NULL,
		    "the database is busy; try again");
	else
		request_error(r, 500, "internal", NULL,
		    "the request failed inside carelined");
}

static void
api_sql_done(const struct db_result *res, void *arg)
{
	struct request	*r = arg;
	const char	*body;
	int		 status;

	switch (res->status) {
	case DB_OK:
		break;
	case DB_ERR_SQL:
		api_sql_error(r, res);
		return;
	default:
		request_error(r, 503, "database_unavailable", NULL,
		    "the database is not answering; try again");
		return;
	}
	if (PQntuples(res->res) != 1 || PQnfields(res->res) != 2 ||
	    PQgetisnull(res->res, 0, 0)) {
		request_error(r, 500, "internal", NULL,
		    "unexpected answer from the database");
		return;
	}
	status = atoi(PQgetvalue(res->res, 0, 0));
	body = PQgetvalue(res->res, 0, 1);
	request_reply_raw(r, status, "application/json", body, strlen(body));
}

void
api_sql_reply(struct request *r, const char *sql, int n,
    const char *const *params)
{
	if (db_query(r->srv->db, sql, n, params, api_sql_done, r) != 0)
		request_error(r, 503, "database_unavailable", NULL,
		    "the database is not answering; try again");
}

int
api_is_date(const char *s)
{
	int	y, m, d;
	char	tail;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d,
	    &tail) != 3 || s[4] != '-' || s[7] != '-')
		return (0);
	return (y >= 2000 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= 31);
}

int
api_arg_time(struct request *r, struct evkeyvalq *q, const char *key,
    const char **out)
{
	char	*v, *sp;

	*out = v = (char *)evhttp_find_header(q, key);
	/* An unescaped '+' in "+08:00" arrives as a space: take it back. */
	if (v != NULL && (sp = strrchr(v, ' ')) != NULL && sp > v + 18)
		*sp = '+';
	if (*out != NULL && !jv_is_rfc3339(*out)) {
		request_error(r, 400, "invalid_parameter", key,
		    "%s must be an RFC 3339 time with an offset", key);
		return (-1);
	}
	return (0);
}

void
api_route_name(const struct request *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", http_method_name(r->method), r->pattern);
}

void
api_audited_read(struct request *r, const char *sql)
{
	char		 id[24], route[API_ROUTE_NAME_MAX];
	const char	*params[3];

	snprintf(id, sizeof id, "%lld", r->ids[0]);
	api_route_name(r, route, sizeof route);
	params[0] = r->who.actor;
	params[1] = route;
	params[2] = id;
	api_sql_reply(r, sql, 3, params);
}
