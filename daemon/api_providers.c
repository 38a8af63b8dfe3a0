/*
 * /v1/providers: who delivers meals, cleans, runs day care (admins), and
 * the rotation of their webhook secrets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "crypto.h"
#include "hours.h"
#include "http_server.h"
#include "webhook.h"
#include "xmalloc.h"

#define API_SECRET_BYTES	24	/* whsec_ + 32 base64 characters */
#define API_LIST_LIMIT_MAX	200

static const char *const api_services[] = {
	"meal", "housekeeping", "daycare", "companionship", NULL
};
static const char *const api_modes[] = {
	"walk", "ebike", "car", "shuttle", NULL
};

static const struct jv_field api_provider_fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 200, NULL },
	{ "services", JV_ENUM_SET, JV_REQUIRED, 0, 0, api_services },
	{ "lat", JV_NUMBER, JV_REQUIRED, -90, 90, NULL },
	{ "lon", JV_NUMBER, JV_REQUIRED, -180, 180, NULL },
	{ "travel_mode", JV_ENUM, JV_REQUIRED, 0, 0, api_modes },
	{ "capacity", JV_INT, JV_REQUIRED, 1, 1000, NULL },
	{ "opening_hours", JV_STRING, JV_REQUIRED, 1, HOURS_MAX_LEN, NULL },
	{ "phone", JV_PHONE, JV_NULLABLE, 0, 0, NULL },
	{ "community_id", JV_INT, JV_NULLABLE, 1, 1e15, NULL },
	{ "webhook_url", JV_URL, JV_NULLABLE, 1, 2000, NULL },
	{ "active", JV_BOOL, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* The spans as [{"dow", "opens", "closes"}], or NULL after an answer. */
static char *
api_hours_json(struct request *r, const char *spec)
{
	struct hours_span	 spans[HOURS_MAX_SPANS];
	char			 why[128], opens[16], closes[16], *s;
	json_t			*a;
	int			 n, i;

	if ((n = hours_parse(spec, spans, why, sizeof why)) < 0) {
		request_error(r, 422, "invalid_opening_hours", "opening_hours",
		    "opening_hours: %s (example: Mo-Fr 08:00-18:00; Sa "
		    "09:00-12:00)", why);
		return (NULL);
	}
	a = json_array();
	for (i = 0; i < n; i++) {
		snprintf(opens, sizeof opens, "%02d:%02d", spans[i].opens / 60,
		    spans[i].opens % 60);
		snprintf(closes, sizeof closes, "%02d:%02d",
		    spans[i].closes / 60, spans[i].closes % 60);
		json_array_append_new(a, json_pack("{s:i, s:s, s:s}", "dow",
		    spans[i].dow, "opens", opens, "closes", closes));
	}
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return (s);
}

static void
api_providers_save(struct request *r, int create, json_t *body)
{
	struct jv_error	 e;
	const char	*params[5];
	unsigned char	 raw[API_SECRET_BYTES];
	char		 id[24], *text, *hours = NULL, *secret = NULL, *b64;
	const char	*why;
	json_t		*oh, *url;
	int		 rc;

	if (jv_check(body, api_provider_fields, create, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	/*
	 * A literal private address is refused now, not at the first offer;
	 * a host name is checked at each connect (notifier.c).
	 */
	url = json_object_get(body, "webhook_url");
	if (json_is_string(url) && (rc = webhook_url_check(json_string_value(
	    url), r->srv->cfg->webhook_allow_private, &why)) != 0) {
		json_decref(body);
		request_error(r, 422, rc == -2 ? "private_target" :
		    "invalid_url", "webhook_url", "webhook_url %s", why);
		return;
	}
	oh = json_object_get(body, "opening_hours");
	if (oh != NULL &&
	    (hours = api_hours_json(r, json_string_value(oh))) == NULL) {
		json_decref(body);
		return;
	}
	/*
	 * A receiver needs a signing secret: made here whenever a URL is
	 * given; the SQL keeps an existing one and returns a new one once.
	 */
	if (json_is_string(json_object_get(body, "webhook_url"))) {
		crypto_random(raw, sizeof raw);
		b64 = crypto_base64(raw, sizeof raw);
		xasprintf(&secret, "whsec_%s", b64);
		free(b64);
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(id, sizeof id, "%lld", create ? 0 : r->ids[0]);
	params[0] = r->who.actor;
	params[1] = create ? NULL : id;
	params[2] = text;
	params[3] = hours;
	params[4] = secret;
	api_sql_reply(r, API_SQL("careline_provider_save($1, $2, $3::jsonb, "
	    "$4::jsonb, $5)"), 5, params);
	free(text);
	free(hours);
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
}

void
api_providers_create(struct request *r)
{
	json_t	*body;

	if (api_body(r, &body) == 0)
		api_providers_save(r, 1, body);
}

void
api_providers_update(struct request *r)
{
	json_t	*body;

	if (api_body(r, &body) == 0)
		api_providers_save(r, 0, body);
}

void
api_providers_deactivate(struct request *r)
{
	api_providers_save(r, 0, json_pack("{s:b}", "active", 0));
}

void
api_providers_get(struct request *r)
{
	char		 id[24];
	const char	*params[1] = { id };

	snprintf(id, sizeof id, "%lld", r->ids[0]);
	api_sql_reply(r, "SELECT CASE WHEN j IS NULL THEN 404 ELSE 200 END, "
	    "coalesce(j, '{\"error\": {\"code\": \"provider_not_found\", "
	    "\"message\": \"no provider with this id\", \"field\": null}}')"
	    "::text FROM careline_provider_json($1) j", 1, params);
}

void
api_providers_list(struct request *r)
{
	static const char *const allowed[] = {
		"service", "active", "limit", "cursor", NULL
	};
	struct evkeyvalq	 q;
	const char		*service, *active, *params[4];
	long long		 limit, cursor;
	char			 lbuf[24], cbuf[24];
	int			 i;

	if (api_args(r, &q, allowed) != 0)
		return;
	service = evhttp_find_header(&q, "service");
	active = evhttp_find_header(&q, "active");
	if ((limit = api_arg_id(r, &q, "limit")) < 0 ||
	    (cursor = api_arg_id(r, &q, "cursor")) < 0)
		goto out;
	for (i = 0; service != NULL && api_services[i] != NULL; i++) {
		if (strcmp(service, api_services[i]) == 0)
			break;
	}
	if (service != NULL && api_services[i] == NULL) {
		request_error(r, 400, "invalid_parameter", "service",
		    "service must be meal, housekeeping, daycare or "
		    "companionship");
		goto out;
	}
	if (active != NULL && strcmp(active, "true") != 0 &&
	    strcmp(active, "false") != 0) {
		request_error(r, 400, "invalid_parameter", "active",
		    "active must be true or false");
		goto out;
	}
	if (limit > API_LIST_LIMIT_MAX) {
		request_error(r, 400, "invalid_parameter", "limit",
		    "limit must be 1 to %d", API_LIST_LIMIT_MAX);
		goto out;
	}
	snprintf(lbuf, sizeof lbuf, "%lld", limit > 0 ? limit : 50);
	snprintf(cbuf, sizeof cbuf, "%lld", cursor);
	params[0] = service;
	params[1] = active;
	params[2] = lbuf;
	params[3] = cursor > 0 ? cbuf : NULL;
	api_sql_reply(r, "SELECT 200, careline_provider_list($1, $2::boolean, "
	    "$3, $4)::text", 4, params);
out:
	evhttp_clear_headers(&q);
}

void
api_providers_rotate_secret(struct request *r)
{
	unsigned char	 raw[API_SECRET_BYTES];
	char		 id[24], *b64, *secret;
	const char	*params[3];

	crypto_random(raw, sizeof raw);
	b64 = crypto_base64(raw, sizeof raw);
	xasprintf(&secret, "whsec_%s", b64);
	free(b64);
	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = r->who.actor;
	params[1] = id;
	params[2] = secret;
	api_sql_reply(r, API_SQL("careline_provider_rotate_secret($1, $2, $3)"),
	    3, params);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
