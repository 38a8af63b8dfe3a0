/* /v1/residents: the older people the hotline serves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "phone.h"
#include "http_server.h"
#include "text.h"
#include "xmalloc.h"

#define API_SEARCH_LIMIT_MAX	50

static const char *const api_mobility[] = {
	"walk", "ebike", "car", "wheelchair", "bedridden", NULL
};

static const struct jv_field api_resident_fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 100, NULL },
	{ "phone", JV_PHONE, JV_REQUIRED, 0, 0, NULL },
	{ "address", JV_STRING, JV_REQUIRED, 1, 300, NULL },
	{ "lat", JV_NUMBER, JV_REQUIRED, -90, 90, NULL },
	{ "lon", JV_NUMBER, JV_REQUIRED, -180, 180, NULL },
	{ "community_id", JV_INT, JV_NULLABLE, 1, 1e15, NULL },
	{ "community", JV_STRING, JV_NULLABLE, 1, 100, NULL },
	{ "mobility", JV_ENUM, 0, 0, 0, api_mobility },
	{ "lives_alone", JV_BOOL, 0, 0, 0, NULL },
	{ "disabled", JV_BOOL, 0, 0, 0, NULL },
	{ "low_income", JV_BOOL, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static void
api_residents_save(struct request *r, int create)
{
	json_t		*body;
	struct jv_error	 e;
	const char	*params[3];
	char		 id[24], *text;

	if (api_body(r, &body) != 0)
		return;
	if (jv_check(body, api_resident_fields, create, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	if (json_object_get(body, "community") != NULL &&
	    json_object_get(body, "community_id") != NULL) {
		json_decref(body);
		request_error(r, 422, "invalid_field", "community",
		    "give community or community_id, not both");
		return;
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(id, sizeof id, "%lld", create ? 0 : r->ids[0]);
	params[0] = r->who.actor;
	params[1] = create ? NULL : id;
	params[2] = text;
	api_sql_reply(r, API_SQL("careline_api_residents_save($1, $2, "
	    "$3::jsonb)"),
	    3, params);
	free(text);
}

void
api_residents_create(struct request *r)
{
	api_residents_save(r, 1);
}

void
api_residents_update(struct request *r)
{
	api_residents_save(r, 0);
}

/* Each read of a person's record is audited by the function that reads. */
void
api_residents_get(struct request *r)
{
	api_audited_read(r, API_SQL("careline_api_residents_get($1, $2, $3)"));
}

void
api_residents_access_log(struct request *r)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	struct evkeyvalq	 q;
	struct api_page		 page;
	const char		*params[3];
	char			 id[24];

	if (api_args(r, &q, allowed) != 0)
		return;
	if (api_arg_page(r, &q, &page) != 0)
		goto out;
	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = id;
	params[1] = page.limit;
	params[2] = page.cursor;
	api_sql_reply(r, API_SQL("careline_api_residents_access_log($1, $2, "
	    "$3)"), 3, params);
out:
	evhttp_clear_headers(&q);
}

void
api_residents_search(struct request *r)
{
	static const char *const allowed[] = { "phone", "name", "limit", NULL };
	struct evkeyvalq	 q;
	const char		*phone, *name, *why, *params[5];
	char			 norm[PHONE_MAX], lbuf[24];
	char			 route[API_ROUTE_NAME_MAX];
	long long		 limit;

	if (api_args(r, &q, allowed) != 0)
		return;
	phone = evhttp_find_header(&q, "phone");
	name = evhttp_find_header(&q, "name");
	if ((limit = api_arg_id(r, &q, "limit")) < 0)
		goto out;
	if ((phone == NULL) == (name == NULL)) {
		request_error(r, 400, "missing_parameter", "phone",
		    "search by phone or by name (one of them)");
		goto out;
	}
	if (phone != NULL && phone_normalize(phone, norm, &why) != 0) {
		request_error(r, 422, "invalid_phone", "phone", "phone: %s",
		    why);
		goto out;
	}
	if (name != NULL && (*name == '\0' || jv_utf8_len(name) > 100)) {
		request_error(r, 400, "invalid_parameter", "name",
		    "name must be 1 to 100 characters");
		goto out;
	}
	if (name != NULL && text_check(name, 0, &why) != 0) {
		request_error(r, 400, "invalid_parameter", "name", "name %s",
		    why);
		goto out;
	}
	if (limit > API_SEARCH_LIMIT_MAX) {
		request_error(r, 400, "invalid_parameter", "limit",
		    "limit must be 1 to %d", API_SEARCH_LIMIT_MAX);
		goto out;
	}
	snprintf(lbuf, sizeof lbuf, "%lld", limit > 0 ? limit : 20);
	api_route_name(r, route, sizeof route);
	params[0] = r->who.actor;
	params[1] = route;
	params[2] = phone != NULL ? norm : NULL;
	params[3] = name;
	params[4] = lbuf;
	api_sql_reply(r, API_SQL("careline_api_residents_search($1, $2, $3, "
	    "$4, $5)"), 5, params);
out:
	evhttp_clear_headers(&q);
}

/* The card's context: the resident's estate and WeChat group. */
void
api_residents_context(struct request *r)
{
	api_audited_read(r, API_SQL("careline_api_residents_context($1, $2, "
	    "$3)"));
}
