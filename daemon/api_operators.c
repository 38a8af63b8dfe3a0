/* /v1/operators: admins managing the console's accounts. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "password.h"
#include "http_server.h"
#include "text.h"
#include "xmalloc.h"

static const char *const api_operator_roles[] = { "operator", "admin", NULL };

static const struct jv_field api_operator_fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 64, NULL },
	{ "password", JV_STRING, JV_REQUIRED | JV_SECRET, PASSWORD_MIN_LEN,
	  PASSWORD_MAX_LEN, NULL },
	{ "role", JV_ENUM, 0, 0, 0, api_operator_roles },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* A new operator account: the hash is made off the loop, then stored. */
struct api_operator_new {
	struct request	*r;
	char		*name;
	char		*role;
};

static void
api_operator_hashed(int ok, const char *hash, void *arg)
{
	struct api_operator_new	*o = arg;
	struct request		*r = o->r;
	const char		*params[4];

	if (!ok) {
		request_error(r, 503, "busy", NULL, "cannot hash now");
	} else {
		params[0] = r->who.actor;
		params[1] = o->name;
		params[2] = hash;
		params[3] = o->role;
		api_sql_reply(r, API_SQL("careline_api_operators_create($1, "
		    "$2, $3, $4)"), 4, params);
	}
	free(o->name);
	free(o->role);
	free(o);
}

void
api_operators_create(struct request *r)
{
	struct api_operator_new	*o;
	struct jv_error		 e;
	json_t			*body;
	const char		*role, *why;
	char			*name;

	if (api_body(r, &body) != 0)
		return;
	if (jv_check(body, api_operator_fields, 1, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	/*
	 * The name as it will be compared: whole here, so that nothing the
	 * database would refuse reaches it with a password hash beside it.
	 */
	if ((name = text_fold_name(json_string_value(json_object_get(body,
	    "name")), API_OPERATOR_NAME_MAX, &why)) == NULL) {
		sodium_memzero((char *)json_string_value(json_object_get(body,
		    "password")), json_string_length(json_object_get(body,
		    "password")));
		json_decref(body);
		request_error(r, 422, "invalid_name", "name", "name %s", why);
		return;
	}
	role = json_string_value(json_object_get(body, "role"));
	o = xcalloc(1, sizeof *o);
	o->r = r;
	o->name = name;
	o->role = xstrdup(role != NULL ? role : "operator");
	if (password_hash_async(r->srv->base, json_string_value(
	    json_object_get(body, "password")), api_operator_hashed, o) != 0) {
		free(o->name);
		free(o->role);
		free(o);
		request_error(r, 503, "busy", NULL,
		    "too many password operations at once; try again");
	}
	sodium_memzero((char *)json_string_value(json_object_get(body,
	    "password")), json_string_length(json_object_get(body,
	    "password")));
	json_decref(body);
}

void
api_operators_list(struct request *r)
{
	api_sql_reply(r, API_SQL("careline_api_operators_list()"), 0, NULL);
}
