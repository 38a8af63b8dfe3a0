#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "db_pool.h"
#include "http_auth.h"
#include "http_server.h"
#include "xmalloc.h"

struct auth_entry {
	unsigned char		hash[CRYPTO_SHA256_LEN];
	long			expires_ms;	/* monotonic; 0 = empty */
	struct auth_identity	who;
};

struct auth_cache {
	struct auth_entry	e[AUTH_CACHE_SIZE];
	/*
	 * Bumped by every invalidation: a lookup that began before one may
	 * have read what was just revoked, so its answer is not cached.
	 */
	unsigned long		epoch;
	void			(*changed)(void *);
	void			*changed_arg;
};

static const char *auth_role_names[] = {
	"none", "operator", "admin", "provider"
};

static long
auth_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000);
}

const char *
auth_role_name(enum auth_role role)
{
	return (auth_role_names[role]);
}

int
auth_role_parse(const char *s, enum auth_role *out)
{
	int	i;

	for (i = AUTH_OPERATOR; i <= AUTH_PROVIDER; i++) {
		if (strcmp(s, auth_role_names[i]) == 0) {
			*out = (enum auth_role)i;
			return (0);
		}
	}
	return (-1);
}

static void
auth_random_token(const char *prefix, char *out,
    unsigned char hash[CRYPTO_SHA256_LEN])
{
	static const char	 b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		 raw[43];
	size_t			 i;

	/* 43 symbols of 6 bits: 258 bits of randomness. */
	crypto_random(raw, sizeof raw);
	memcpy(out, prefix, 4);
	for (i = 0; i < sizeof raw; i++)
		out[4 + i] = b64url[raw[i] & 63];
	out[AUTH_TOKEN_LEN] = '\0';
	crypto_sha256(out, AUTH_TOKEN_LEN, hash);
}

void
auth_hash_param(const unsigned char hash[CRYPTO_SHA256_LEN], char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	crypto_hex(hash, CRYPTO_SHA256_LEN, out + 2);
}

void
auth_token_new(char *out, unsigned char hash[CRYPTO_SHA256_LEN])
{
	auth_random_token(AUTH_TOKEN_PREFIX, out, hash);
}

void
auth_session_new(char *out, unsigned char hash[CRYPTO_SHA256_LEN])
{
	auth_random_token(AUTH_SESSION_PREFIX, out, hash);
}

struct auth_cache *
auth_cache_new(void)
{
	return (xcalloc(1, sizeof (struct auth_cache)));
}

void
auth_cache_free(struct auth_cache *c)
{
	free(c);
}

static struct auth_entry *
auth_cache_slot(struct auth_cache *c, const unsigned char *hash)
{
	unsigned int	idx;

	/* The hash is uniformly random already: its bytes index the table. */
	memcpy(&idx, hash, sizeof idx);
	return (&c->e[idx & (AUTH_CACHE_SIZE - 1)]);
}

static void
auth_cache_changed(struct auth_cache *c)
{
	c->epoch++;
	if (c->changed != NULL)
		c->changed(c->changed_arg);
}

void
auth_forget(struct auth_cache *c, const unsigned char hash[CRYPTO_SHA256_LEN])
{
	struct auth_entry	*slot = auth_cache_slot(c, hash);

	if (crypto_equal(slot->hash, hash, CRYPTO_SHA256_LEN))
		slot->expires_ms = 0;
	auth_cache_changed(c);
}

void
auth_cache_invalidate_token(struct auth_cache *c, long long token_id)
{
	int	i;

	for (i = 0; i < AUTH_CACHE_SIZE; i++) {
		if (c->e[i].who.token_id == token_id)
			c->e[i].expires_ms = 0;
	}
	auth_cache_changed(c);
}

void
auth_cache_invalidate_operator(struct auth_cache *c, long long operator_id)
{
	int	i;

	for (i = 0; i < AUTH_CACHE_SIZE; i++) {
		if (c->e[i].who.operator_id == operator_id)
			c->e[i].expires_ms = 0;
	}
	auth_cache_changed(c);
}

void
auth_cache_clear(struct auth_cache *c)
{
	int	i;

	for (i = 0; i < AUTH_CACHE_SIZE; i++)
		c->e[i].expires_ms = 0;
	auth_cache_changed(c);
}

void
auth_cache_notified(struct auth_cache *c, const char *payload)
{
	long long	 id;
	char		*end;

	if (payload != NULL && strncmp(payload, "token:", 6) == 0 &&
	    (id = strtoll(payload + 6, &end, 10)) > 0 && *end == '\0')
		auth_cache_invalidate_token(c, id);
	else if (payload != NULL && strncmp(payload, "operator:", 9) == 0 &&
	    (id = strtoll(payload + 9, &end, 10)) > 0 && *end == '\0')
		auth_cache_invalidate_operator(c, id);
	else
		auth_cache_clear(c);
}

void
auth_cache_on_invalidate(struct auth_cache *c, void (*fn)(void *), void *arg)
{
	c->changed = fn;
	c->changed_arg = arg;
}

/* Does the caller's role open this route? */
static int
auth_allows(enum route_auth need, enum auth_role role)
{
	switch (need) {
	case ROUTE_PUBLIC:
		return (1);
	case ROUTE_OPERATOR:
		return (role == AUTH_OPERATOR || role == AUTH_ADMIN);
	case ROUTE_ADMIN:
		return (role == AUTH_ADMIN);
	case ROUTE_PROVIDER:
		return (role == AUTH_PROVIDER || role == AUTH_OPERATOR ||
		    role == AUTH_ADMIN);
	case ROUTE_OFFER:
		/* Operators take calls; answering offers is the provider's. */
		return (role == AUTH_PROVIDER || role == AUTH_ADMIN);
	}
	return (0);
}

static void
auth_proceed(struct request *r)
{
	if (!auth_allows(r->auth_need, r->who.role)) {
		request_error(r, 403, "forbidden", NULL,
		    "this token's role (%s) may not use this route",
		    auth_role_name(r->who.role));
		return;
	}
	r->handler(r);
}

struct auth_pending {
	struct server	*srv;
	unsigned char	 hash[CRYPTO_SHA256_LEN];
	int		 session;	/* a console session, not an API token */
	unsigned long	 epoch;		/* the cache's, when the query went */
	auth_lookup_cb	 cb;
	void		*arg;
};

static void
auth_lookup_done(const struct db_result *res, void *arg)
{
	struct auth_pending	*p = arg;
	struct auth_cache	*c = p->srv->auth;
	struct auth_identity	 who;
	struct auth_entry	*slot;
	enum auth_role		 role;
	PGresult		*pr = res->res;
	long			 ttl;

	if (res->status != DB_OK) {
		p->cb(503, NULL, p->arg);
		free(p);
		return;
	}
	if (PQntuples(pr) != 1 || auth_role_parse(PQgetvalue(pr, 0, 2),
	    &role) != 0) {
		p->cb(401, NULL, p->arg);
		free(p);
		return;
	}
	memset(&who, 0, sizeof who);
	if (p->session) {
		who.operator_id = atoll(PQgetvalue(pr, 0, 0));
		/* What the session does is recorded under its own token. */
		who.token_id = PQgetisnull(pr, 0, 3) ? 0 :
		    atoll(PQgetvalue(pr, 0, 3));
		snprintf(who.actor, sizeof who.actor, "operator:%lld",
		    who.operator_id);
	} else {
		who.token_id = atoll(PQgetvalue(pr, 0, 0));
		who.provider_id = PQgetisnull(pr, 0, 3) ? 0 :
		    atoll(PQgetvalue(pr, 0, 3));
		snprintf(who.actor, sizeof who.actor, "token:%lld",
		    who.token_id);
	}
	who.role = role;
	memcpy(who.token_hash, p->hash, sizeof p->hash);

	/* Never past the moment the credential lapses by itself. */
	ttl = p->srv->cfg->auth_cache_ttl_ms;
	if (!PQgetisnull(pr, 0, 4) && atol(PQgetvalue(pr, 0, 4)) < ttl)
		ttl = atol(PQgetvalue(pr, 0, 4));
	if (ttl > 0 && p->epoch == c->epoch) {
		slot = auth_cache_slot(c, p->hash);
		memcpy(slot->hash, p->hash, sizeof slot->hash);
		slot->who = who;
		slot->expires_ms = auth_now_ms() + ttl;
	}
	p->cb(200, &who, p->arg);
	free(p);
}

void
auth_lookup(struct server *srv, const unsigned char hash[CRYPTO_SHA256_LEN],
    int session, auth_lookup_cb cb, void *arg)
{
	struct auth_entry	*slot;
	struct auth_pending	*p;
	char			 param[2 * CRYPTO_SHA256_LEN + 3], idle[16];
	const char		*params[2];

	slot = auth_cache_slot(srv->auth, hash);
	if (srv->cfg->auth_cache_ttl_ms > 0 &&
	    slot->expires_ms > auth_now_ms() &&
	    crypto_equal(slot->hash, hash, CRYPTO_SHA256_LEN)) {
		cb(200, &slot->who, arg);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->srv = srv;
	memcpy(p->hash, hash, sizeof p->hash);
	p->session = session;
	p->epoch = srv->auth->epoch;
	p->cb = cb;
	p->arg = arg;
	auth_hash_param(p->hash, param);
	params[0] = param;
	snprintf(idle, sizeof idle, "%d", srv->cfg->auth_session_idle_ms /
	    1000);
	params[1] = idle;
	if (db_query(srv->db, session ?
	    "SELECT id, name, role, token_id, valid_ms FROM "
	    "careline_session_auth($1::bytea, $2)" : "SELECT id, name, role, "
	    "provider_id, valid_ms FROM careline_token_auth($1::bytea)",
	    session ? 2 : 1, params, auth_lookup_done, p) != 0) {
		free(p);
		cb(503, NULL, arg);
	}
}

static void
auth_request_checked(int status, const struct auth_identity *who, void *arg)
{
	struct request	*r = arg;

	/* Gone while we asked: run no handler (and no query) for it. */
	if (request_cancelled(r))
		return;
	if (status == 503) {
		request_error(r, 503, "database_unavailable", NULL,
		    "cannot check the token now; try again");
		return;
	}
	if (status != 200) {
		request_error(r, 401, "unauthorized", NULL,
		    "the token is not valid (unknown, revoked or expired)");
		return;
	}
	r->who = *who;
	auth_proceed(r);
}

/* Does the query string carry t, a one-time link's secret? */
static int
auth_has_link(struct request *r)
{
	const char		*q = evhttp_uri_get_query(
				    evhttp_request_get_evhttp_uri(r->req));
	struct evkeyvalq	 args;
	int			 found;

	/* Parsed as the handler will parse it, so both see the same key. */
	TAILQ_INIT(&args);
	if (q == NULL || evhttp_parse_query_str(q, &args) != 0)
		return (0);
	found = evhttp_find_header(&args, "t") != NULL;
	evhttp_clear_headers(&args);
	return (found);
}

void
auth_request(struct request *r, enum route_auth need,
    void (*handler)(struct request *))
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(r->req);
	const char		*v, *token;
	unsigned char		 hash[CRYPTO_SHA256_LEN];

	r->auth_need = need;
	r->handler = handler;
	if (need == ROUTE_PUBLIC) {
		handler(r);
		return;
	}
	/* A one-time link carries its own proof; the SQL checks it. */
	if (need == ROUTE_OFFER && auth_has_link(r)) {
		r->who.role = AUTH_NONE;
		handler(r);
		return;
	}
	v = evhttp_find_header(h, "Authorization");
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
		request_error(r, 401, "unauthorized", NULL,
		    "send Authorization: Bearer <token>");
		return;
	}
	token = v + 7;
	while (*token == ' ')
		token++;
	if (strlen(token) != AUTH_TOKEN_LEN ||
	    (strncmp(token, AUTH_TOKEN_PREFIX, 4) != 0 &&
	    strncmp(token, AUTH_SESSION_PREFIX, 4) != 0)) {
		request_error(r, 401, "unauthorized", NULL,
		    "the token is not valid (unknown, revoked or expired)");
		return;
	}
	crypto_sha256(token, AUTH_TOKEN_LEN, hash);
	auth_lookup(r->srv, hash, strncmp(token, AUTH_SESSION_PREFIX, 4) == 0,
	    auth_request_checked, r);
}
