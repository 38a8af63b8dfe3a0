/*
 * The offer and webhook engine: claims due deliveries from the outbox
 * (leased, fenced), hands them to webhook_send, records the results in
 * batches, fires the offer timers. Woken by NOTIFY (subscribed on the
 * LISTEN connection), by a timer on the earliest due row, and by a slow
 * poll as a backstop. Its queries run on a pool of its own, so HTTP
 * requests holding every connection of theirs cannot keep results from
 * being recorded (which would have the attempts made again).
 */
#ifndef CARELINE_OUTBOX_H
#define CARELINE_OUTBOX_H

#include <stdint.h>

#include <event2/event.h>

struct config;
struct db_listen;
struct db_pool;
struct outbox;
struct evbuffer;

/*
 * db: the outbox's own pool; listen: on which it subscribes (before
 * db_listen_start). The caller owns both, and frees them before the
 * outbox.
 */
struct outbox *outbox_new(struct event_base *, const struct config *,
		    struct db_pool *db, struct db_listen *listen);
void		 outbox_start(struct outbox *);
/* Claim nothing more; in-flight attempts finish and are recorded. */
void		 outbox_stop(struct outbox *);
/* Nothing in flight and nothing left to record. */
int		 outbox_idle(const struct outbox *);
/* Attempts under way or made but not yet recorded. */
int		 outbox_unrecorded(const struct outbox *);
void		 outbox_free(struct outbox *);
void		 outbox_metrics(const struct outbox *, struct evbuffer *);

#endif
