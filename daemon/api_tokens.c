/* /v1/tokens: API tokens for scripts, the PBX and providers (admins). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db_pool.h"
#include "http_auth.h"
#include "http_server.h"
#include "xmalloc.h"

#define API_TOKEN_SHOWN	8	/* characters kept to tell tokens apart */

static const char *const api_roles[] = {
	"operator", "admin", "provider", NULL
};

static const struct jv_field api_token_fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 100, NULL },
	{ "role", JV_ENUM, JV_REQUIRED, 0, 0, api_roles },
	{ "provider_id", JV_INT, JV_NULLABLE, 1, 1e15, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

struct api_token_pending {
	struct request	*r;
	char		 token[AUTH_TOKEN_LEN + 1];
};

/* Add the token itself to the stored row's JSON: shown this once. */
static void
api_tokens_created(const struct db_result *res, void *arg)
{
	struct api_token_pending	*p = arg;
	struct request			*r = p->r;
	json_t				*body;
	int				 status;

	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		explicit_bzero(p->token, sizeof p->token);
		free(p);
		if (res->status == DB_ERR_SQL)
			api_sql_error(r, res);
		else
			request_error(r, 503, "token_not_created", NULL,
			    "the token was not created: the database is not "
			    "answering");
		return;
	}
	status = atoi(PQgetvalue(res->res, 0, 0));
	body = json_loads(PQgetvalue(res->res, 0, 1), 0, NULL);
	if (status == 201 && body != NULL)
		json_object_set_new(body, "token", json_string(p->token));
	explicit_bzero(p->token, sizeof p->token);
	free(p);
	if (body == NULL) {
		request_error(r, 500, "internal", NULL,
		    "unexpected answer from the database");
		return;
	}
	request_reply_json(r, status, body);
}

void
api_tokens_create(struct request *r)
{
	struct api_token_pending	*p;
	json_t				*body;
	struct jv_error			 e;
	unsigned char			 hash[CRYPTO_SHA256_LEN];
	char				 hashp[2 * CRYPTO_SHA256_LEN + 3];
	char				 prefix[API_TOKEN_SHOWN + 1], pid[24];
	const char			*params[6], *role;
	json_t				*prov;

	if (api_body(r, &body) != 0)
		return;
	if (jv_check(body, api_token_fields, 1, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	role = json_string_value(json_object_get(body, "role"));
	prov = json_object_get(body, "provider_id");
	if ((strcmp(role, "provider") == 0) != json_is_integer(prov)) {
		json_decref(body);
		request_error(r, 422, "invalid_field", "provider_id",
		    "provider_id is required for a provider token and only "
		    "for one");
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->r = r;
	auth_token_new(p->token, hash);
	auth_hash_param(hash, hashp);
	memcpy(prefix, p->token, API_TOKEN_SHOWN);
	prefix[API_TOKEN_SHOWN] = '\0';
	snprintf(pid, sizeof pid, "%lld", json_is_integer(prov) ?
	    (long long)json_integer_value(prov) : 0LL);
	params[0] = r->who.actor;
	params[1] = json_string_value(json_object_get(body, "name"));
	params[2] = role;
	params[3] = json_is_integer(prov) ? pid : NULL;
	params[4] = hashp;
	params[5] = prefix;
	if (db_query(r->srv->db, API_SQL("careline_api_tokens_create($1, $2, "
	    "$3, $4, $5::bytea, $6)"), 6, params, api_tokens_created, p) != 0) {
		explicit_bzero(p->token, sizeof p->token);
		free(p);
		request_error(r, 503, "database_unavailable", NULL,
		    "the database is not answering; try again");
	}
	json_decref(body);
}

void
api_tokens_list(struct request *r)
{
	api_sql_reply(r, API_SQL("careline_api_tokens_list()"), 0, NULL);
}

void
api_tokens_revoke(struct request *r)
{
	char		 id[24];
	const char	*params[2];

	/*
	 * Forgotten here now; every instance (this one again) drops it when
	 * the trigger's NOTIFY arrives after the commit.
	 */
	auth_cache_invalidate_token(r->srv->auth, r->ids[0]);
	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = r->who.actor;
	params[1] = id;
	api_sql_reply(r, API_SQL("careline_api_tokens_revoke($1, $2)"), 2,
	    params);
}
