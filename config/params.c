/*
 * What the config hands the SQL functions: the matching, offer and retry
 * keys as one JSON object, built when the config is loaded or reloaded.
 */
#include <stdlib.h>

#include <jansson.h>

#include "config.h"

void
config_dispatch_params(struct config *c)
{
	json_t	*j, *retry;
	int	 i;

	retry = json_array();
	for (i = 0; i < c->webhook_retry_count; i++)
		json_array_append_new(retry,
		    json_integer(c->webhook_retry_ms[i]));
	j = json_pack("{s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f}, s:i, s:s, s:s, "
	    "s:i, s:i, s:s, s:o}",
	    "max_minutes", c->match_max_minutes,
	    "detour_factor", c->match_detour_factor,
	    "speeds",
	    "walk", c->match_speed_walk,
	    "ebike", c->match_speed_ebike,
	    "car", c->match_speed_car,
	    "shuttle", c->match_speed_shuttle,
	    "wheelchair", c->match_speed_wheelchair,
	    "limit", c->match_max_candidates,
	    "timezone", c->district_timezone,
	    "strategy", c->offer_strategy == OFFER_STRATEGY_BROADCAST ?
	    "broadcast" : "cascade",
	    "offer_timeout_ms", c->offer_timeout_ms,
	    "broadcast_k", c->offer_broadcast_k,
	    "public_url", c->webhook_public_url,
	    "retry_ms", retry);
	free(c->dispatch_params);
	c->dispatch_params = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (c->dispatch_params == NULL)
		abort();	/* json_dumps fails only without memory */
}
