/* Operators signing in to the console (/v1/session) and out again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "api.h"
#include "http_auth.h"
#include "config.h"
#include "db_pool.h"
#include "http_server.h"
#include "log.h"
#include "password.h"
#include "text.h"
#include "throttle.h"
#include "xmalloc.h"

static const struct jv_field api_login_fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 64, NULL },
	{ "password", JV_STRING, JV_REQUIRED | JV_SECRET, 1, PASSWORD_MAX_LEN,
	  NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

/*
 * A sign-in in progress: it may wait for its address's token, then
 * outlives two queries and a hash check.
 */
struct api_login {
	struct request		*r;
	char			*name;
	char			*password;
	long long		 operator_id;	/* 0: no such operator */
	char			*account;	/* the throttle's key */
	struct throttle_addr	 addr;
};

static void
api_login_free(struct api_login *l)
{
	if (l->password != NULL) {
		sodium_memzero(l->password, strlen(l->password));
		free(l->password);
	}
	free(l->name);
	free(l->account);
	free(l);
}

static void
api_login_refused(struct request *r)
{
	request_error(r, 401, "invalid_credentials", NULL,
	    "wrong name or password");
}

/*
 * Come back later. The same answer whatever the name and whichever limit
 * said so, so that it tells nothing about which accounts exist.
 */
static void
api_login_later(struct request *r, int status, long wait_ms)
{
	char	wait[24];
	long	s = (wait_ms + 999) / 1000;

	if (s < 1)
		s = 1;
	snprintf(wait, sizeof wait, "%ld", s);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Retry-After", wait);
	if (status == 429)
		request_error(r, 429, "too_many_attempts", NULL,
		    "too many sign-in attempts; wait %ld s", s);
	else
		request_error(r, 503, "busy", NULL,
		    "too many sign-ins at once; wait %ld s", s);
}

static void
api_login_failed(const struct db_result *res, void *arg)
{
	(void)res;
	api_login_refused(arg);
}

struct api_session_new {
	struct request	*r;
	char		 token[AUTH_TOKEN_LEN + 1];
};

static void
api_session_started(const struct db_result *res, void *arg)
{
	struct api_session_new	*s = arg;
	struct request		*r = s->r;
	json_t			*body;
	int			 status;

	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		sodium_memzero(s->token, sizeof s->token);
		free(s);
		request_error(r, 503, "database_unavailable", NULL,
		    "cannot sign in now; try again");
		return;
	}
	status = atoi(PQgetvalue(res->res, 0, 0));
	body = json_loads(PQgetvalue(res->res, 0, 1), 0, NULL);
	if (status == 201 && body != NULL)
		json_object_set_new(body, "token", json_string(s->token));
	sodium_memzero(s->token, sizeof s->token);
	free(s);
	if (body == NULL) {
		request_error(r, 500, "internal", NULL,
		    "unexpected answer from the database");
		return;
	}
	request_reply_json(r, status, body);
}

static void
api_login_checked(int ok, const char *unused, void *arg)
{
	struct api_login	*l = arg;
	struct request		*r = l->r;
	struct api_session_new	*s;
	unsigned char		 hash[CRYPTO_SHA256_LEN];
	char			 hashp[2 * CRYPTO_SHA256_LEN + 3], id[24];
	char			 idle[16];
	const char		*params[3];
	int			 rc;

	(void)unused;
	snprintf(id, sizeof id, "%lld", l->operator_id);
	if (ok == -1) {
		/* Never checked: it still counts, so no retry slips by. */
		api_login_free(l);
		api_login_later(r, 503, 1000);
		return;
	}
	if (!ok || l->operator_id == 0) {
		/* Operators are staff, not residents: their ids may be logged. */
		log_warn("session: failed sign-in%s%s from %s",
		    l->operator_id != 0 ? " for operator " :
		    " for an unknown name", l->operator_id != 0 ? id : "",
		    l->addr.text);
		/*
		 * The throttle counted it already. One write, the same for
		 * a known and an unknown name: they must take the same time.
		 */
		params[0] = l->operator_id != 0 ? id : NULL;
		params[1] = l->addr.text;
		rc = db_query(r->srv->db, "SELECT careline_login_failed($1, $2)",
		    2, params, api_login_failed, r);
		api_login_free(l);
		if (rc != 0)
			api_login_refused(r);
		return;
	}
	throttle_succeeded(r->srv->throttle, &l->addr, l->account);
	api_login_free(l);
	s = xcalloc(1, sizeof *s);
	s->r = r;
	auth_session_new(s->token, hash);
	auth_hash_param(hash, hashp);
	snprintf(idle, sizeof idle, "%d", r->srv->cfg->auth_session_idle_ms /
	    1000);
	params[0] = id;
	params[1] = hashp;
	params[2] = idle;
	if (db_query(r->srv->db, API_SQL("careline_api_session_start($1, "
	    "$2::bytea, $3)"), 3, params, api_session_started, s) != 0) {
		sodium_memzero(s->token, sizeof s->token);
		free(s);
		request_error(r, 503, "database_unavailable", NULL,
		    "cannot sign in now; try again");
	}
}

static void
api_login_found(const struct db_result *res, void *arg)
{
	struct api_login	*l = arg;
	struct request		*r = l->r;
	const char		*hash = NULL;
	long			 wait_ms;

	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		api_login_free(l);
		request_error(r, 503, "database_unavailable", NULL,
		    "cannot sign in now; try again");
		return;
	}
	if (!PQgetisnull(res->res, 0, 0)) {
		l->operator_id = atoll(PQgetvalue(res->res, 0, 0));
		hash = PQgetvalue(res->res, 0, 1);
	}
	l->account = xstrdup(PQgetvalue(res->res, 0, 2));
	/* Known and unknown names are throttled alike: no tell-tale 429. */
	if ((wait_ms = throttle_attempt(r->srv->throttle, &l->addr,
	    l->account)) > 0) {
		log_debug("session: sign-in for %s from %s refused for %ld ms "
		    "after repeated failures", l->operator_id != 0 ?
		    l->account : "an unknown name", l->addr.text, wait_ms);
		api_login_free(l);
		api_login_later(r, 429, wait_ms);
		return;
	}
	/*
	 * Unknown names are checked against a dummy: the same time taken.
	 * Names that exist may use the slot kept for them.
	 */
	if (password_verify_async(r->srv->base, l->password, hash,
	    l->operator_id != 0, api_login_checked, l) != 0) {
		api_login_free(l);
		api_login_later(r, 503, 1000);
	}
}

static void
api_login_lookup(struct api_login *l)
{
	struct request	*r = l->r;
	const char	*params[1];

	params[0] = l->name;
	if (db_query(r->srv->db, "SELECT id, password_hash, account FROM "
	    "careline_login_lookup($1)", 1, params, api_login_found, l) != 0) {
		api_login_free(l);
		request_error(r, 503, "database_unavailable", NULL,
		    "cannot sign in now; try again");
	}
}

static void
api_login_waited(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	api_login_lookup(arg);
}

void
api_session_create(struct request *r)
{
	struct api_login	*l;
	struct jv_error		 e;
	json_t			*body;
	struct evhttp_connection *conn;
	struct timeval		 tv;
	long			 wait_ms;
	const char		*why;

	if (api_body(r, &body) != 0)
		return;
	if (jv_check(body, api_login_fields, 1, &e) != 0) {
		json_decref(body);
		api_fail(r, &e);
		return;
	}
	l = xcalloc(1, sizeof *l);
	l->r = r;
	/*
	 * Folded as at creation, so ＡＬＩＣＥ signs in as alice. A name that
	 * cannot be folded names no account: it goes on as typed, to take
	 * the unknown name's path and time.
	 */
	why = NULL;
	if ((l->name = text_fold_name(json_string_value(json_object_get(body,
	    "name")), API_OPERATOR_NAME_MAX, &why)) == NULL)
		l->name = xstrdup(json_string_value(json_object_get(body,
		    "name")));
	l->password = xstrdup(json_string_value(json_object_get(body,
	    "password")));
	/* The password is in l only now; wipe jansson's copy. */
	sodium_memzero((char *)json_string_value(json_object_get(body,
	    "password")), json_string_length(json_object_get(body,
	    "password")));
	json_decref(body);

	/*
	 * The TCP peer, before any database or Argon2 work: a flood from
	 * one address waits its turn (briefly) or is told when to return.
	 */
	conn = evhttp_request_get_connection(r->req);
	throttle_addr_set(&l->addr, conn != NULL ?
	    evhttp_connection_get_addr(conn) : NULL);
	if (throttle_take(r->srv->throttle, &l->addr,
	    r->srv->cfg->auth_signin_rate, r->srv->cfg->auth_signin_burst,
	    &wait_ms) != 0) {
		/* Debug only: a flood would fill the log with these. */
		log_debug("session: sign-ins from %s over the rate; refused",
		    l->addr.text);
		api_login_free(l);
		api_login_later(r, 429, wait_ms);
		return;
	}
	if (wait_ms == 0) {
		api_login_lookup(l);
		return;
	}
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	if (event_base_once(r->srv->base, -1, EV_TIMEOUT, api_login_waited, l,
	    &tv) != 0)
		api_login_lookup(l);
}

void
api_session_get(struct request *r)
{
	char		 id[24];
	const char	*params[1] = { id };

	if (r->who.operator_id == 0) {
		request_error(r, 404, "no_session", NULL,
		    "this is an API token, not a console session");
		return;
	}
	snprintf(id, sizeof id, "%lld", r->who.operator_id);
	api_sql_reply(r, API_SQL("careline_api_session_get($1)"), 1, params);
}

void
api_session_delete(struct request *r)
{
	char		 hashp[2 * CRYPTO_SHA256_LEN + 3];
	const char	*params[1] = { hashp };

	if (r->who.operator_id == 0) {
		request_error(r, 404, "no_session", NULL,
		    "this is an API token, not a console session");
		return;
	}
	/* Here at once; other instances by NOTIFY once it commits. */
	auth_forget(r->srv->auth, r->who.token_hash);
	if (r->who.token_id != 0)
		auth_cache_invalidate_token(r->srv->auth, r->who.token_id);
	auth_hash_param(r->who.token_hash, hashp);
	api_sql_reply(r, API_SQL("careline_api_session_end($1::bytea)"), 1,
	    params);
}
