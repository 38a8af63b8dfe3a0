/*
 * /v1/reports/{name}: the district's programmes and the hotline's own
 * figures, computed by queries over the tables (sql/), as JSON or CSV.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "db_pool.h"
#include "http_server.h"
#include "xmalloc.h"

#define API_REPORT_NAME_MAX	32

/* RFC 4180: quote a field when it holds a comma, quote or line break. */
static void
api_csv_field(struct evbuffer *out, json_t *v)
{
	const char	*s, *p;
	char		*text = NULL;
	int		 formula;

	if (json_is_null(v) || v == NULL)
		return;
	if (json_is_string(v))
		s = json_string_value(v);
	else
		s = text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (s == NULL)
		return;
	/* A leading =, +, - or @ in text is a formula to a spreadsheet. */
	formula = json_is_string(v) && s[0] != '\0' &&
	    strchr("=+-@\t\r", s[0]) != NULL;
	if (strpbrk(s, ",\"\r\n") == NULL && !formula) {
		evbuffer_add(out, s, strlen(s));
	} else {
		evbuffer_add(out, "\"", 1);
		if (formula)
			evbuffer_add(out, "'", 1);
		for (p = s; *p != '\0'; p++) {
			if (*p == '"')
				evbuffer_add(out, "\"\"", 2);
			else
				evbuffer_add(out, p, 1);
		}
		evbuffer_add(out, "\"", 1);
	}
	free(text);
}

static void
api_csv_row(struct evbuffer *out, json_t *row)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(row, i, v) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		api_csv_field(out, v);
	}
	evbuffer_add(out, "\r\n", 2);
}

struct api_report {
	struct request	*r;
	char		 name[API_REPORT_NAME_MAX];
};

/* The JSON answer as CSV: the header, then the rows. */
static void
api_report_csv(const struct db_result *res, void *arg)
{
	struct api_report	*rep = arg;
	struct request		*r = rep->r;
	struct evbuffer		*out;
	json_t			*body, *rows, *row;
	char			 disp[96], *text;
	size_t			 i, len;
	int			 status;

	if (res->status == DB_ERR_SQL) {
		free(rep);
		api_sql_error(r, res);
		return;
	}
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		free(rep);
		request_error(r, 503, "database_unavailable", NULL,
		    "the database is not answering; try again");
		return;
	}
	status = atoi(PQgetvalue(res->res, 0, 0));
	body = json_loads(PQgetvalue(res->res, 0, 1), 0, NULL);
	if (status != 200 || body == NULL) {
		free(rep);
		if (body == NULL)
			request_error(r, 500, "internal", NULL,
			    "unexpected answer from the database");
		else
			request_reply_json(r, status, body);
		return;
	}
	out = evbuffer_new();
	api_csv_row(out, json_object_get(body, "columns"));
	rows = json_object_get(body, "rows");
	json_array_foreach(rows, i, row)
		api_csv_row(out, row);
	json_decref(body);
	len = evbuffer_get_length(out);
	text = xmalloc(len + 1);
	evbuffer_remove(out, text, len);
	evbuffer_free(out);
	snprintf(disp, sizeof disp, "attachment; filename=\"%s.csv\"",
	    rep->name);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Disposition", disp);
	free(rep);
	request_reply_raw(r, 200, "text/csv; charset=utf-8", text, len);
	free(text);
}

void
api_reports_get(struct request *r)
{
	static const char *const allowed[] = { "format", "from", "to", NULL };
	struct evkeyvalq	 q;
	struct api_report	*rep;
	const char		*path, *name, *format, *from, *to, *params[2];
	json_t			*p;
	char			*ptext;

	if (api_args(r, &q, allowed) != 0)
		return;
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->req));
	name = strrchr(path, '/') + 1;
	format = evhttp_find_header(&q, "format");
	from = evhttp_find_header(&q, "from");
	to = evhttp_find_header(&q, "to");
	if (format != NULL && strcmp(format, "json") != 0 &&
	    strcmp(format, "csv") != 0) {
		request_error(r, 400, "invalid_parameter", "format",
		    "format must be json or csv");
		goto out;
	}
	if ((from != NULL && !api_is_date(from)) ||
	    (to != NULL && !api_is_date(to))) {
		request_error(r, 400, "invalid_parameter", from != NULL &&
		    !api_is_date(from) ? "from" : "to",
		    "from and to are dates: YYYY-MM-DD");
		goto out;
	}
	/* Days and hours are the district's. */
	p = json_pack("{s:s}", "timezone", r->srv->cfg->district_timezone);
	if (from != NULL)
		json_object_set_new(p, "from", json_string(from));
	if (to != NULL)
		json_object_set_new(p, "to", json_string(to));
	ptext = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	params[0] = name;
	params[1] = ptext;
	if (format != NULL && strcmp(format, "csv") == 0) {
		rep = xcalloc(1, sizeof *rep);
		rep->r = r;
		snprintf(rep->name, sizeof rep->name, "%s", name);
		if (db_query(r->srv->db, API_SQL("careline_api_reports_get($1, "
		    "$2::jsonb)"), 2, params, api_report_csv, rep) != 0) {
			free(rep);
			request_error(r, 503, "database_unavailable", NULL,
			    "the database is not answering; try again");
		}
	} else
		api_sql_reply(r, API_SQL("careline_api_reports_get($1, "
		    "$2::jsonb)"), 2, params);
	free(ptext);
out:
	evhttp_clear_headers(&q);
}
