/*
 * What the /v1 handlers share: reading a JSON body, reading query
 * arguments, and calling one SQL function whose answer (status, body) goes
 * back to the client as it is.
 */
#ifndef CARELINE_API_H
#define CARELINE_API_H

#include <jansson.h>

#include "jsonv.h"

/*
 * A call to the route's function, careline_api_<resource>_<action>
 * (sql/functions/api.sql), returning jsonb {"status", "body"}, as the two
 * columns api_sql_reply wants. Every /v1 handler's SQL is one of these
 * (the sign-in's name and password steps aside).
 */
#define API_SQL(call) \
	"SELECT (x->>'status')::int, (x->'body')::text FROM " call " x"

/*
 * Every paged list (calls, providers, deliveries, the access log): limit
 * 1 to API_LIST_LIMIT_MAX, API_LIST_LIMIT_DEFAULT when not given.
 */
#define API_LIST_LIMIT_MAX	200
#define API_LIST_LIMIT_DEFAULT	50

/* The services careline dispatches, NULL-terminated (api_config.c). */
extern const char *const api_services[];

struct request;
struct config;
struct evkeyvalq;

/* The body as a JSON object; on failure r is answered and ended. */
int	 api_body(struct request *, json_t **);
void	 api_fail(struct request *, const struct jv_error *);
/*
 * Parse the query string, refusing keys not in allowed (NULL-terminated);
 * on failure r is answered and ended. Free q with evhttp_clear_headers.
 */
int	 api_args(struct request *, struct evkeyvalq *q,
	    const char *const *allowed);
/* A query argument as a positive id (0 when absent); -1: answered. */
long long api_arg_id(struct request *, struct evkeyvalq *, const char *);
/* A query argument that must be one of choices, NULL-terminated (*out is
 * NULL when absent); -1: answered. */
int	 api_arg_choice(struct request *, struct evkeyvalq *, const char *,
	    const char *const *, const char **);
/* A paged list's "limit" (as text, the default when absent) and "cursor"
 * (NULL when absent); -1: answered. */
struct api_page {
	char		 limit[24];
	char		 cursor_buf[24];
	const char	*cursor;
};
int	 api_arg_page(struct request *, struct evkeyvalq *, struct api_page *);
/* An RFC 3339 query argument (a '+' sent unescaped is taken back). */
int	 api_arg_time(struct request *, struct evkeyvalq *, const char *,
	    const char **);
struct db_result;
/*
 * Answer a failed statement: 503 when the database is busy, else 500. The
 * route functions answer every refusal themselves.
 */
void	 api_sql_error(struct request *, const struct db_result *);
/* YYYY-MM-DD. */
int	 api_is_date(const char *);
/* An operator's name, in characters, once folded (text_fold_name). */
#define API_OPERATOR_NAME_MAX	64

/* "GET /v1/residents/{id}": the route as the read audit names it. */
#define API_ROUTE_NAME_MAX	128
void	 api_route_name(const struct request *, char *, size_t);
/*
 * A read of a person by the route's id, audited by the SQL function that
 * reads: sql takes ($1 actor, $2 route name, $3 id).
 */
void	 api_audited_read(struct request *, const char *sql);
/*
 * Run sql, which must yield one row of (status int, body json text), and
 * answer with it. A failed statement is answered by api_sql_error.
 */
void	 api_sql_reply(struct request *, const char *sql, int n,
	    const char *const *params);

/* Handlers, by resource. */
void	 api_calls_create(struct request *);
void	 api_calls_get(struct request *);
void	 api_calls_list(struct request *);
void	 api_calls_cancel(struct request *);
void	 api_calls_complete(struct request *);
void	 api_matches(struct request *);
void	 api_residents_create(struct request *);
void	 api_residents_get(struct request *);
void	 api_residents_update(struct request *);
void	 api_residents_search(struct request *);
void	 api_providers_create(struct request *);
void	 api_providers_get(struct request *);
void	 api_providers_update(struct request *);
void	 api_providers_list(struct request *);
void	 api_providers_deactivate(struct request *);
void	 api_tokens_create(struct request *);
void	 api_tokens_list(struct request *);
void	 api_tokens_revoke(struct request *);
void	 api_offers_accept(struct request *);
void	 api_offers_decline(struct request *);
void	 api_offers_arrived(struct request *);
void	 api_offers_completed(struct request *);
void	 api_deliveries_list(struct request *);
void	 api_deliveries_retry(struct request *);
void	 api_providers_rotate_secret(struct request *);
void	 api_session_create(struct request *);
void	 api_session_get(struct request *);
void	 api_session_delete(struct request *);
void	 api_operators_create(struct request *);
void	 api_operators_list(struct request *);
void	 api_ringing(struct request *);
void	 api_ringing_get(struct request *);
void	 api_events(struct request *);
void	 api_reports_get(struct request *);
void	 api_clinics_nearest(struct request *);
void	 api_residents_context(struct request *);
void	 api_residents_access_log(struct request *);
void	 api_config(struct request *);

#endif
