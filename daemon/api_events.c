/* GET /v1/events: a console's live feed, kept by the events hub. */
#include "api.h"
#include "http_events.h"
#include "http_server.h"

void
api_events(struct request *r)
{
	events_subscribe(r, r->srv->events);
}
