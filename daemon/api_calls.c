/* /v1/calls and /v1/matches: logging a call, following it, previewing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "crypto.h"
#include "http_auth.h"
#include "http_server.h"
#include "xmalloc.h"

#define API_IDEMPOTENCY_KEY_MAX	200
/* How far wanted_at may lie from now: a typo in the year is not a plan. */
#define API_WANTED_PAST_S	3600
#define API_WANTED_AHEAD_S	(60 * 86400)


static const char *const api_urgencies[] = { "normal", "urgent", NULL };
static const char *const api_call_statuses[] = {
	"new", "offered", "accepted", "completed", "cancelled", "unmatched",
	NULL
};

static const struct jv_field api_call_fields[] = {
	{ "caller_phone", JV_PHONE, JV_REQUIRED, 0, 0, NULL },
	{ "resident_id", JV_INT, 0, 1, 1e15, NULL },
	{ "service", JV_ENUM, JV_REQUIRED, 0, 0, api_services },
	{ "wanted_at", JV_TIME, JV_NULLABLE, 0, 0, NULL },
	{ "notes", JV_STRING, JV_MULTILINE, 0, 2000, NULL },
	{ "urgency", JV_ENUM, 0, 0, 0, api_urgencies },
	{ "duplicate_ok", JV_BOOL, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct jv_field api_reason_fields[] = {
	{ "reason", JV_STRING, JV_MULTILINE, 0, 500, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* A printable ASCII key of sensible length, as clients generate them. */
static int
api_idempotency_key(struct request *r, const char **out)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(r->req);
	const char		*k = evhttp_find_header(h, "Idempotency-Key");
	size_t			 i, n;

	*out = k;
	if (k == NULL)
		return (0);
	n = strlen(k);
	for (i = 0; i < n; i++) {
		if (k[i] < 0x21 || k[i] > 0x7e)
			break;
	}
	if (n == 0 || n > API_IDEMPOTENCY_KEY_MAX || i != n) {
		request_error(r, 400, "invalid_idempotency_key",
		    "Idempotency-Key", "Idempotency-Key must be 1 to %d "
		    "printable ASCII characters", API_IDEMPOTENCY_KEY_MAX);
		return (-1);
	}
	return (0);
}

/* wanted_at within an hour back and 60 days ahead; else r is answered. */
static int
api_wanted_at_ok(struct request *r, json_t *req)
{
	json_t		*w = json_object_get(req, "wanted_at");
	long long	 t, now = (long long)time(NULL);

	if (!json_is_string(w))
		return (0);
	if (jv_rfc3339_time(json_string_value(w), &t) != 0) {
		request_error(r, 422, "invalid_field", "wanted_at",
		    "wanted_at is not a real date and time");
		return (-1);
	}
	if (t < now - API_WANTED_PAST_S || t > now + API_WANTED_AHEAD_S) {
		request_error(r, 422, "wanted_at_out_of_range", "wanted_at",
		    "wanted_at must be from an hour ago to 60 days ahead");
		return (-1);
	}
	return (0);
}

void
api_calls_create(struct request *r)
{
	json_t		*req;
	struct jv_error	 e;
	const char	*params[6], *key;
	unsigned char	 hash[CRYPTO_SHA256_LEN];
	char		 token[24], hashp[2 * CRYPTO_SHA256_LEN + 3];
	char		*reqtext;

	if (api_idempotency_key(r, &key) != 0 || api_body(r, &req) != 0)
		return;
	if (jv_check(req, api_call_fields, 1, &e) != 0) {
		json_decref(req);
		api_fail(r, &e);
		return;
	}
	if (api_wanted_at_ok(r, req) != 0) {
		json_decref(req);
		return;
	}
	/* The normalised request, keys sorted: what "the same body" means. */
	reqtext = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(req);
	crypto_sha256(reqtext, strlen(reqtext), hash);
	auth_hash_param(hash, hashp);
	snprintf(token, sizeof token, "%lld", r->who.token_id);
	params[0] = r->who.actor;
	params[1] = token;
	params[2] = reqtext;
	params[3] = r->srv->cfg->dispatch_params;
	params[4] = key;
	params[5] = hashp;
	api_sql_reply(r, API_SQL("careline_api_calls_create($1, $2, "
	    "$3::jsonb, $4::jsonb, $5, $6::bytea)"), 6, params);
	free(reqtext);
}

void
api_calls_get(struct request *r)
{
	/* The call names its resident: the read is audited. */
	api_audited_read(r, API_SQL("careline_api_calls_get($1, $2, $3)"));
}

void
api_calls_list(struct request *r)
{
	static const char *const allowed[] = {
		"status", "service", "resident_id", "since", "limit", "cursor",
		NULL
	};
	struct evkeyvalq	 q;
	const char		*params[8], *status, *service, *since;
	struct api_page		 page;
	long long		 resident;
	char			 rbuf[24];
	char			 route[API_ROUTE_NAME_MAX];

	if (api_args(r, &q, allowed) != 0)
		return;
	if (api_arg_choice(r, &q, "status", api_call_statuses, &status) != 0 ||
	    api_arg_choice(r, &q, "service", api_services, &service) != 0 ||
	    api_arg_time(r, &q, "since", &since) != 0 ||
	    (resident = api_arg_id(r, &q, "resident_id")) < 0 ||
	    api_arg_page(r, &q, &page) != 0)
		goto out;
	snprintf(rbuf, sizeof rbuf, "%lld", resident);
	api_route_name(r, route, sizeof route);
	params[0] = r->who.actor;
	params[1] = route;
	params[2] = status;
	params[3] = service;
	params[4] = resident > 0 ? rbuf : NULL;
	params[5] = since;
	params[6] = page.limit;
	params[7] = page.cursor;
	api_sql_reply(r, API_SQL("careline_api_calls_list($1, $2, $3, $4, $5, "
	    "$6, $7, $8)"), 8, params);
out:
	evhttp_clear_headers(&q);
}

/* cancel and complete: an optional {"reason": "..."} body. */
static void
api_calls_transition(struct request *r, const char *action)
{
	json_t		*body = NULL;
	struct jv_error	 e;
	const char	*params[4];
	char		 id[24];

	if (r->body_len > 0) {
		if (api_body(r, &body) != 0)
			return;
		if (jv_check(body, api_reason_fields, 0, &e) != 0) {
			json_decref(body);
			api_fail(r, &e);
			return;
		}
	}
	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = r->who.actor;
	params[1] = id;
	params[2] = action;
	params[3] = body != NULL ? json_string_value(json_object_get(body,
	    "reason")) : NULL;
	api_sql_reply(r, API_SQL("careline_api_calls_transition($1, $2, $3, "
	    "$4)"), 4, params);
	json_decref(body);
}

void
api_calls_cancel(struct request *r)
{
	api_calls_transition(r, "cancel");
}

void
api_calls_complete(struct request *r)
{
	api_calls_transition(r, "complete");
}

void
api_matches(struct request *r)
{
	static const char *const allowed[] = {
		"resident_id", "service", "at", NULL
	};
	struct evkeyvalq	 q;
	const char		*params[6], *service, *at;
	long long		 resident;
	char			 rbuf[24], route[API_ROUTE_NAME_MAX];

	if (api_args(r, &q, allowed) != 0)
		return;
	if ((resident = api_arg_id(r, &q, "resident_id")) < 0 ||
	    api_arg_choice(r, &q, "service", api_services, &service) != 0 ||
	    api_arg_time(r, &q, "at", &at) != 0)
		goto out;
	if (resident == 0 || service == NULL) {
		request_error(r, 400, "missing_parameter", resident == 0 ?
		    "resident_id" : "service", "resident_id and service are "
		    "required");
		goto out;
	}
	snprintf(rbuf, sizeof rbuf, "%lld", resident);
	api_route_name(r, route, sizeof route);
	params[0] = r->who.actor;
	params[1] = route;
	params[2] = rbuf;
	params[3] = service;
	params[4] = at;
	params[5] = r->srv->cfg->dispatch_params;
	/* Who can reach the resident says where they live: audited. */
	api_sql_reply(r, API_SQL("careline_api_matches_list($1, $2, $3, $4, "
	    "$5, $6::jsonb)"), 6, params);
out:
	evhttp_clear_headers(&q);
}
