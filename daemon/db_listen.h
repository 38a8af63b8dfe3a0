/*
 * PostgreSQL's LISTEN/NOTIFY, on a connection of its own: subscribers
 * name a channel and get its notifications. The outbox wakes on
 * careline_deliveries and careline_offers, the consoles' event stream on
 * careline_events, the credential cache on careline_auth; none depends on
 * another to be told.
 */
#ifndef CARELINE_DB_LISTEN_H
#define CARELINE_DB_LISTEN_H

#include <event2/event.h>

#include "db_pool.h"

struct config;
struct db_listen;

/* One connection ("listen" in logs); up_cb as db_pool_new_sized's. */
struct db_listen *db_listen_new(struct event_base *, const struct config *,
		    void (*up_cb)(void *), void *);
/*
 * Before db_listen_start: call cb for each notification on channel
 * (lower-case letters, digits and '_': LISTEN takes it unquoted). A
 * channel may have several subscribers, called in the order they
 * subscribed. After every (re)connect, when some may have been missed,
 * each distinct (cb, arg) is called once with a NULL channel and payload.
 * Subscribers query their own pools, so a slow query never delays a
 * wake-up.
 */
void		 db_listen_subscribe(struct db_listen *, const char *channel,
		    db_notify_cb cb, void *arg);
void		 db_listen_start(struct db_listen *);
/* Frees its connection; no subscriber is called any more. */
void		 db_listen_free(struct db_listen *);
/* The connection is up and listening. */
int		 db_listen_up(const struct db_listen *);
void		 db_listen_stats(const struct db_listen *, struct db_stats *);

#endif
