/*
 * GET /v1/events: the operators' live feed as Server-Sent Events. Rows of
 * the events table (written by the SQL functions, announced by NOTIFY
 * careline_events) are fetched once and fanned out to every console; a
 * console that reconnects with Last-Event-ID is caught up from the table,
 * as far back as events.replay_max and events.replay_age allow.
 *
 * Events are read in the order their transactions committed (see
 * careline_events_after in 0015), so one committed late behind a higher
 * id is not skipped; a failed read is retried on a backing-off timer.
 *
 * A stream lives only as long as the credential it was opened with: every
 * fetch of new rows (and a timer every events.recheck) asks, in the same
 * statement, which of the streams' credentials are no longer good, and
 * those streams are ended before any of the rows is sent.
 */
#ifndef CARELINE_HTTP_EVENTS_H
#define CARELINE_HTTP_EVENTS_H

#include <event2/event.h>

#define EVENTS_MAX_BUFFERED	(1024 * 1024)	/* a slower console is cut */
#define EVENTS_KEEPALIVE_SEC	15
#define EVENTS_BATCH		500
/* Failed fetches and events held behind older transactions: poll again. */
#define EVENTS_RETRY_MIN_MS	50
#define EVENTS_RETRY_MAX_MS	2000

struct config;
struct db_pool;
struct evbuffer;
struct events_hub;
struct request;

/* cfg is the running configuration (reloads change it in place). */
struct events_hub *events_hub_new(struct event_base *, struct config *,
		    struct db_pool *);
void		 events_hub_start(struct events_hub *);
/* New rows may be there (a retry, a re-check, a new stream). */
void		 events_hub_notify(struct events_hub *);
/* The same, said by NOTIFY careline_events or a LISTEN reconnect. */
void		 events_hub_notified(struct events_hub *);
/*
 * End every stream (shutdown) with a last "event: shutdown" and a
 * terminated chunked body; the connections close once it is written.
 */
void		 events_hub_close_all(struct events_hub *);
/* Streams ended whose last bytes are still being written. */
int		 events_hub_ending(const struct events_hub *);
/* After the HTTP server is freed: its connections hold our streams. */
void		 events_hub_free(struct events_hub *);
int		 events_hub_clients(const struct events_hub *);
/* Its lines for GET /metrics. */
void		 events_hub_metrics(const struct events_hub *, struct evbuffer *);
void		 events_subscribe(struct request *, struct events_hub *);

#endif
