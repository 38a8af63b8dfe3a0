/*
 * /v1/offers/{id}/accept|decline|arrived|completed: a provider answering,
 * by its token or by the one-time link in the webhook.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "http_auth.h"
#include "http_server.h"

#define API_LINK_TOKEN_MAX	128

static const struct jv_field api_answer_fields[] = {
	{ "reason", JV_STRING, JV_MULTILINE, 0, 500, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static void
api_offers_answer(struct request *r, const char *action)
{
	static const char *const allowed[] = { "t", NULL };
	struct evkeyvalq	 q;
	json_t			*body = NULL;
	struct jv_error		 e;
	const char		*link, *params[7], *reason = NULL;
	char			 id[24], prov[24], actor[48];
	size_t			 i;

	if (api_args(r, &q, allowed) != 0)
		return;
	link = evhttp_find_header(&q, "t");
	if (link != NULL) {
		for (i = 0; link[i] != '\0'; i++) {
			if (!isxdigit((unsigned char)link[i]))
				break;
		}
		if (link[i] != '\0' || i == 0 || i > API_LINK_TOKEN_MAX) {
			request_error(r, 403, "invalid_link", "t",
			    "this link is not valid");
			goto out;
		}
	}
	if (r->body_len > 0) {
		if (api_body(r, &body) != 0)
			goto out;
		if (jv_check(body, api_answer_fields, 0, &e) != 0) {
			api_fail(r, &e);
			goto out;
		}
		reason = json_string_value(json_object_get(body, "reason"));
	}
	snprintf(id, sizeof id, "%lld", r->ids[0]);
	snprintf(prov, sizeof prov, "%lld", r->who.provider_id);
	if (r->who.role == AUTH_NONE)
		snprintf(actor, sizeof actor, "link:offer:%lld", r->ids[0]);
	else
		snprintf(actor, sizeof actor, "%s", r->who.actor);
	params[0] = actor;
	params[1] = id;
	params[2] = r->who.role == AUTH_PROVIDER ? prov : NULL;
	params[3] = link;
	params[4] = action;
	params[5] = reason;
	params[6] = r->srv->cfg->dispatch_params;
	api_sql_reply(r, API_SQL("careline_api_offers_answer($1, $2, $3, "
	    "$4, $5, $6, $7::jsonb)"), 7, params);
out:
	json_decref(body);
	evhttp_clear_headers(&q);
}

void
api_offers_accept(struct request *r)
{
	api_offers_answer(r, "accept");
}

void
api_offers_decline(struct request *r)
{
	api_offers_answer(r, "decline");
}

void
api_offers_arrived(struct request *r)
{
	api_offers_answer(r, "arrived");
}

void
api_offers_completed(struct request *r)
{
	api_offers_answer(r, "completed");
}
