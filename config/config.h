/*
 * carelined's configuration: one typed struct, filled from YAML by a table
 * of options (config.c) that also carries each key's default, limits and
 * whether a SIGHUP may change it.
 */
#ifndef CARELINE_CONFIG_H
#define CARELINE_CONFIG_H

#include "log.h"

#define CONFIG_MAX_RETRIES	20	/* entries in webhooks.retry_schedule */

enum offer_strategy {
	OFFER_STRATEGY_CASCADE,
	OFFER_STRATEGY_BROADCAST,
};

struct config {
	char		*path;		/* the file it came from */

	char		*listen_address;
	int		 listen_port;
	int		 listen_backlog;

	char		*db_url;
	int		 db_pool_size;		/* HTTP requests' */
	int		 db_dispatcher_connections;
	int		 db_queue_max;
	int		 db_queue_timeout_ms;
	int		 db_connect_timeout_ms;
	int		 db_statement_timeout_ms;
	int		 db_reconnect_min_ms;
	int		 db_reconnect_max_ms;

	int		 http_max_body;
	int		 http_max_headers;
	int		 http_timeout_ms;
	int		 http_shutdown_grace_ms;
	int		 http_head_timeout_ms;	/* whole request head */
	int		 http_body_timeout_ms;	/* whole request body */
	char		*metrics_token;	/* "" : /metrics from loopback only */

	int		 auth_cache_ttl_ms;
	int		 auth_session_idle_ms;
	int		 auth_signin_rate;	/* per minute per address */
	int		 auth_signin_burst;

	int		 events_recheck_ms;
	int		 events_max_streams;
	int		 events_max_per_credential;
	int		 events_replay_max;
	int		 events_replay_age_ms;

	int		 log_level;	/* enum log_level */
	int		 log_format;	/* enum log_format */

	char		*district_timezone;

	double		 match_max_minutes;
	double		 match_detour_factor;
	double		 match_speed_walk;
	double		 match_speed_ebike;
	double		 match_speed_car;
	double		 match_speed_shuttle;
	double		 match_speed_wheelchair;
	int		 match_max_candidates;

	int		 offer_strategy;	/* enum offer_strategy */
	int		 offer_timeout_ms;
	int		 offer_broadcast_k;

	char		*webhook_public_url;
	int		 webhook_timeout_ms;
	int		 webhook_connect_timeout_ms;
	int		 webhook_retry_ms[CONFIG_MAX_RETRIES];
	int		 webhook_retry_count;
	int		 webhook_max_in_flight;
	int		 webhook_max_response_bytes;
	int		 webhook_lease_ms;
	int		 webhook_poll_ms;
	int		 webhook_allow_private;

	char		*static_dir;
	char		*sql_dir;

	/*
	 * Not a key: the matching, offer and retry keys above as the JSON
	 * the SQL functions take ($n::jsonb), built once by config_load,
	 * config_defaults and config_reload instead of on every request.
	 */
	char		*dispatch_params;
};

/*
 * Load and validate a file. Returns NULL and sets *cause (caller frees) to
 * "FILE:LINE: KEY: problem" on any error. CARELINE_DATABASE_URL, when set,
 * replaces database.url (and an error in it says so instead of FILE:LINE).
 */
struct config	*config_load(const char *path, char **cause);
/*
 * database.url may not name a host libpq would resolve on the loop: each
 * host a socket directory, an IP address, or paired with a hostaddr.
 * Returns 0, or -1 and *why (caller frees).
 */
int		 config_check_db_url(const char *url, char **why);
/* In config_load: the environment's override, then the rule above. */
int		 config_db_url(struct config *, size_t line, char **cause);
/* A config with every default, as if loaded from an empty mapping. */
struct config	*config_defaults(void);
void		 config_free(struct config *);

/*
 * Copy what may change at run time from next into cur; log each key that
 * changed but needs a restart. Returns the number of keys applied.
 */
int		 config_reload(struct config *cur, const struct config *next);

/*
 * (Re)build c->dispatch_params from its keys (params.c); config_load,
 * config_defaults and config_reload call it.
 */
void		 config_dispatch_params(struct config *c);

/* For tests and docs: the option keys, NULL-terminated walk. */
const char	*config_key(int idx);

#endif
