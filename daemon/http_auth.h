/*
 * Bearer tokens: "clt_" and 43 characters of base64url randomness. Only
 * the SHA-256 of a token is stored; a lookup is by that hash and the match
 * is confirmed in constant time. Recent lookups are cached for a few
 * seconds so most requests cost no extra round trip. A cached credential
 * is dropped the moment it stops being valid: here at once (sign-out,
 * revocation), everywhere through NOTIFY careline_auth, which triggers
 * send when tokens, sessions or operators change, even by hand in SQL.
 * The cache's TTL is only the fallback for a notification lost with the
 * LISTEN connection (whose reconnect clears the whole cache anyway).
 */
#ifndef CARELINE_HTTP_AUTH_H
#define CARELINE_HTTP_AUTH_H

#include "crypto.h"
#include "http_server.h"	/* struct auth_identity */

#define AUTH_TOKEN_PREFIX	"clt_"	/* API tokens */
#define AUTH_SESSION_PREFIX	"cls_"	/* console sessions */
#define AUTH_TOKEN_LEN		(4 + 43)
#define AUTH_CACHE_SIZE		256	/* entries, a power of two */

/* Who may call a route. */
enum route_auth {
	ROUTE_PUBLIC,		/* health, readiness, metrics */
	ROUTE_OPERATOR,		/* operators and admins */
	ROUTE_ADMIN,		/* admins only */
	ROUTE_PROVIDER,		/* providers, operators and admins */
	ROUTE_OFFER,		/* a one-time link, a provider or an admin */
};

struct request;
struct server;
struct auth_cache;

/* A new random token (out holds AUTH_TOKEN_LEN + 1) and its hash. */
void		 auth_token_new(char *out, unsigned char hash[CRYPTO_SHA256_LEN]);
/* A new console session token, "cls_..." the same way. */
void		 auth_session_new(char *out,
		    unsigned char hash[CRYPTO_SHA256_LEN]);
/* Drop a token from the cache (signed out, revoked). */
void		 auth_forget(struct auth_cache *,
		    const unsigned char hash[CRYPTO_SHA256_LEN]);
/* "\\x<hex>" for a bytea parameter; out holds 2 * 32 + 3. */
void		 auth_hash_param(const unsigned char hash[CRYPTO_SHA256_LEN],
		    char *out);
int		 auth_role_parse(const char *, enum auth_role *);
const char	*auth_role_name(enum auth_role);

struct auth_cache *auth_cache_new(void);
void		 auth_cache_free(struct auth_cache *);
/* Drop what is cached for an API token (a session's own token too). */
void		 auth_cache_invalidate_token(struct auth_cache *,
		    long long token_id);
/* Drop every session of an operator (disabled, role changed). */
void		 auth_cache_invalidate_operator(struct auth_cache *,
		    long long operator_id);
void		 auth_cache_clear(struct auth_cache *);
/*
 * A NOTIFY careline_auth payload, "token:ID" or "operator:ID"; anything
 * else, or NULL (the LISTEN connection came back: some may be lost),
 * clears the whole cache.
 */
void		 auth_cache_notified(struct auth_cache *, const char *payload);
/* fn(arg) runs after every invalidation (streams re-check at once). */
void		 auth_cache_on_invalidate(struct auth_cache *,
		    void (*fn)(void *), void *arg);

/*
 * Is this credential (the SHA-256 of a token; session: a "cls_" one)
 * valid now? cb gets 200 and who (valid during the call only), 401, or
 * 503 (the database cannot tell); it may run before auth_lookup returns.
 * Uses the cache, so an answer right after an invalidation is always the
 * database's.
 */
typedef void	(*auth_lookup_cb)(int status, const struct auth_identity *who,
		    void *arg);
void		 auth_lookup(struct server *,
		    const unsigned char hash[CRYPTO_SHA256_LEN], int session,
		    auth_lookup_cb, void *arg);

/*
 * Authenticate r for need, then run handler(r); or answer 401/403/503
 * and end r (a request whose client hung up meanwhile is only ended).
 */
void		 auth_request(struct request *, enum route_auth need,
		    void (*handler)(struct request *));

#endif
