/*
 * /v1/config: the public, non-secret part of the configuration that the
 * console works with (services, matching's speeds and reach, list limits),
 * read from the running config, so it follows a reload (SIGHUP). Never a
 * secret, token, database URL or webhook address. Also the one list of
 * services the daemon accepts.
 */
#include <jansson.h>

#include "api.h"
#include "config.h"
#include "http_server.h"

/*
 * The services careline dispatches. The schema's CHECKs, partial indexes
 * and careline_match's branches follow the same list (docs/DECISIONS.md
 * "One place for each list and default").
 */
const char *const api_services[] = {
	"meal", "housekeeping", "daycare", "companionship", NULL
};

void
api_config(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	json_t			*services, *body;
	int			 i;

	services = json_array();
	for (i = 0; api_services[i] != NULL; i++)
		json_array_append_new(services, json_string(api_services[i]));
	body = json_pack("{s:o, s:s, s:{s:f, s:f, s:i, s:{s:f, s:f, s:f, "
	    "s:f, s:f}}, s:{s:s, s:i, s:i}, s:{s:i, s:i}}",
	    "services", services,
	    "timezone", cfg->district_timezone,
	    "matching",
	    "max_minutes", cfg->match_max_minutes,
	    "detour_factor", cfg->match_detour_factor,
	    "max_candidates", cfg->match_max_candidates,
	    "speed_kmh",
	    "walk", cfg->match_speed_walk,
	    "ebike", cfg->match_speed_ebike,
	    "car", cfg->match_speed_car,
	    "shuttle", cfg->match_speed_shuttle,
	    "wheelchair", cfg->match_speed_wheelchair,
	    "offers",
	    "strategy", cfg->offer_strategy == OFFER_STRATEGY_BROADCAST ?
	    "broadcast" : "cascade",
	    "timeout_ms", cfg->offer_timeout_ms,
	    "broadcast_k", cfg->offer_broadcast_k,
	    "lists",
	    "max_limit", API_LIST_LIMIT_MAX,
	    "default_limit", API_LIST_LIMIT_DEFAULT);
	request_reply_json(r, 200, body);
}
