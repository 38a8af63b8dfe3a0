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
#include "http_server.h"
#include "webhook.h"
#include "xmalloc.h"

#define API_SECRET_BYTES	24	/* whsec_ + 32 base64 characters */

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
	/* Parsed by careline_hours_spans (sql/functions/util.sql). */
	{ "opening_hours", JV_STRING, JV_REQUIRED, 1, 256, NULL },
	{ "phone", JV_PHONE, JV_NULLABLE, 0, 0, NULL },
	{ "community_id", JV_INT, JV_NULLABLE, 1, 1e15, NULL },
	{ "webhook_url", JV_URL, JV_NULLABLE, 1, 2000, NULL },
	{ "active", JV_BOOL, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static void
api_providers_save(struct request *r, int create, json_t *body)
{
	struct jv_error	 e;
	const char	*params[4];
	unsigned char	 raw[API_SECRET_BYTES];
	char		 id[24], *text, *secret = NULL, *b64;
	const char	*why;
	json_t		*url;
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
	params[3] = secret;
	api_sql_reply(r, API_SQL("careline_api_providers_save($1, $2, "
	    "$3::jsonb, $4)"), 4, params);
	free(text);
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
	api_sql_reply(r, API_SQL("careline_api_providers_get($1)"), 1, params);
}

void
api_providers_list(struct request *r)
{
	static const char *const allowed[] = {
		"service", "active", "limit", "cursor", NULL
	};
	static const char *const booleans[] = { "true", "false", NULL };
	struct evkeyvalq	 q;
	const char		*service, *active, *params[4];
	struct api_page		 page;

	if (api_args(r, &q, allowed) != 0)
		return;
	if (api_arg_page(r, &q, &page) != 0 ||
	    api_arg_choice(r, &q, "service", api_services, &service) != 0 ||
	    api_arg_choice(r, &q, "active", booleans, &active) != 0)
		goto out;
	params[0] = service;
	params[1] = active;
	params[2] = page.limit;
	params[3] = page.cursor;
	api_sql_reply(r, API_SQL("careline_api_providers_list($1, "
	    "$2::boolean, $3, $4)"), 4, params);
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
	api_sql_reply(r, API_SQL("careline_api_providers_rotate_secret($1, "
	    "$2, $3)"), 3, params);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
