/* GET /v1/events: a console's live feed, kept by the events hub. */
#include "api.h"
#include "events.h"
#include "server.h"

void
api_events(struct request *r)
{
	events_subscribe(r, r->srv->events);
}
