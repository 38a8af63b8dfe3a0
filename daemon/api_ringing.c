/*
 * /v1/ringing: the PBX's caller-ID hook, and the consoles fetching the
 * number that rang.
 */
#include <stdio.h>

#include "api.h"
#include "http_server.h"

static const struct jv_field api_ringing_fields[] = {
	{ "phone", JV_PHONE, JV_REQUIRED, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

void
api_ringing(struct request *r)
{
	struct jv_error	 e;
	json_t		*body;
	const char	*params[2];

	if (api_body(r, &body) != 0)
		return;
	if (jv_check(body, api_ringing_fields, 1, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	params[0] = r->who.actor;
	params[1] = json_string_value(json_object_get(body, "phone"));
	api_sql_reply(r, API_SQL("careline_api_ringing_create($1, $2)"), 2,
	    params);
	json_decref(body);
}

/* A console fetches the number that rang: the event holds only ids. */
void
api_ringing_get(struct request *r)
{
	char		 id[24];
	const char	*params[1] = { id };

	snprintf(id, sizeof id, "%lld", r->ids[0]);
	api_sql_reply(r, API_SQL("careline_api_ringing_get($1)"), 1, params);
}
