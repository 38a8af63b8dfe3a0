/*
 * The offer and webhook engine: claims due deliveries from the outbox
 * (leased, fenced), hands them to the notifier, records the results in
 * batches, fires the offer timers. Woken by NOTIFY on its own connection,
 * by a timer on the earliest due row, and by a slow poll as a backstop.
 */
#ifndef CARELINE_DISPATCHER_H
#define CARELINE_DISPATCHER_H

#include <stdint.h>

#include <event2/event.h>

struct config;
struct db_pool;
struct dispatcher;
struct evbuffer;

struct dispatcher *dispatcher_new(struct event_base *, const struct config *,
		    struct db_pool *);
struct events_hub;
/* Where NOTIFY careline_events goes: the consoles' live feed. */
void		 dispatcher_set_events(struct dispatcher *, struct events_hub *);
struct auth_cache;
/* Where NOTIFY careline_auth goes: the credentials cache. */
void		 dispatcher_set_auth(struct dispatcher *, struct auth_cache *);
void		 dispatcher_start(struct dispatcher *);
/* Claim nothing more; in-flight attempts finish and are recorded. */
void		 dispatcher_stop(struct dispatcher *);
/* Nothing in flight and nothing left to record. */
int		 dispatcher_idle(const struct dispatcher *);
void		 dispatcher_free(struct dispatcher *);
void		 dispatcher_metrics(const struct dispatcher *, struct evbuffer *);

/* The dispatch parameters the SQL functions take, from the config. */
char		*dispatch_params(const struct config *);

#endif
