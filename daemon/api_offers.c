/*
 * /v1/offers/{id}/accept|decline|arrived|completed: a provider answering,
 * by its token or by the one-time link in the webhook; /v1/deliveries for
 * operators watching the outbox; secret rotation for admins.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "auth.h"
#include "crypto.h"
#include "dispatcher.h"
#include "server.h"
#include "xmalloc.h"

#define API_LINK_TOKEN_MAX	128
#define API_SECRET_BYTES	24

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
	char			 id[24], prov[24], actor[48], *p;
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
	p = dispatch_params(r->srv->cfg);
	params[0] = actor;
	params[1] = id;
	params[2] = r->who.role == AUTH_PROVIDER ? prov : NULL;
	params[3] = link;
	params[4] = action;
	params[5] = reason;
	params[6] = p;
	api_sql_reply(r, API_SQL("careline_offer_answer_checked($1, $2, $3, $4, "
	    "$5, $6, $7::jsonb)"), 7, params);
	free(p);
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

void
api_deliveries_list(struct request *r)
{
	static const char *const allowed[] = {
		"status", "provider_id", "limit", "cursor", NULL
	};
	static const char *const statuses[] = {
		"pending", "delivered", "dead", NULL
	};
	struct evkeyvalq	 q;
	const char		*status, *params[4];
	long long		 provider, limit, cursor;
	char			 pbuf[24], lbuf[24], cbuf[24];
	int			 i;

	if (api_args(r, &q, allowed) != 0)
		return;
	status = evhttp_find_header(&q, "status");
	for (i = 0; status != NULL && statuses[i] != NULL; i++) {
		if (strcmp(status, statuses[i]) == 0)
			break;
	}
	if (status != NULL && statuses[i] == NULL) {
		request_error(r, 400, "invalid_parameter", "status",
		    "status must be pending, delivered or dead");
		goto out;
	}
	if ((provider = api_arg_id(r, &q, "provider_id")) < 0 ||
	    (limit = api_arg_id(r, &q, "limit")) < 0 ||
	    (cursor = api_arg_id(r, &q, "cursor")) < 0)
		goto out;
	if (limit > API_LIST_LIMIT_MAX) {
		request_error(r, 400, "invalid_parameter", "limit",
		    "limit must be 1 to %d", API_LIST_LIMIT_MAX);
		goto out;
	}
	snprintf(pbuf, sizeof pbuf, "%lld", provider);
	snprintf(lbuf, sizeof lbuf, "%lld", limit > 0 ? limit :
	    API_LIST_LIMIT_DEFAULT);
	snprintf(cbuf, sizeof cbuf, "%lld", cursor);
	params[0] = status;
	params[1] = provider > 0 ? pbuf : NULL;
	params[2] = lbuf;
	params[3] = cursor > 0 ? cbuf : NULL;
	api_sql_reply(r, "SELECT 200, careline_delivery_list($1, $2, $3, $4)"
	    "::text", 4, params);
out:
	evhttp_clear_headers(&q);
}

void
api_deliveries_retry(struct request *r)
{
	char		 id[24];
	const char	*params[2];

	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = r->who.actor;
	params[1] = id;
	api_sql_reply(r, API_SQL("careline_delivery_retry($1, $2)"), 2, params);
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
