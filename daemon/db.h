/*
 * The asynchronous PostgreSQL pool on the event loop. Every connection is
 * non-blocking libpq driven by one libevent event; callers never wait.
 */
#ifndef CARELINE_DB_H
#define CARELINE_DB_H

#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct config;
struct db_pool;

enum db_status {
	DB_OK,
	DB_ERR_SQL,		/* the server refused the statement */
	DB_ERR_CONN,		/* the connection broke, or none is up */
	DB_ERR_TIMEOUT,		/* waited longer than database.queue_timeout */
	DB_ERR_SHUTDOWN,	/* the pool is being freed */
};

struct db_result {
	enum db_status	 status;
	PGresult	*res;		/* DB_OK, DB_ERR_SQL; the pool frees it */
	const char	*sqlstate;	/* DB_ERR_SQL: five characters */
	const char	*message;	/* for logs; may quote data: ids only */
};

/* Called exactly once per accepted query. */
typedef void	(*db_cb)(const struct db_result *, void *);

/*
 * A notification on a listening pool; channel NULL after a (re)connect,
 * when some may have been missed and the listener should catch up.
 */
typedef void	(*db_notify_cb)(const char *channel, const char *payload,
		    void *);

struct db_stats {
	int		size;
	int		connected;
	int		busy;
	int		waiting;
	uint64_t	reconnects;
	uint64_t	queries;
	uint64_t	failures;
};

/* ready_cb runs whenever the count of usable connections leaves zero. */
struct db_pool	*db_pool_new(struct event_base *, const struct config *,
		    void (*ready_cb)(void *), void *);
/* Before start: LISTEN on channels after every connect (sizes of 1). */
void		 db_pool_listen(struct db_pool *, const char *const *channels,
		    db_notify_cb, void *);
struct db_pool	*db_pool_new_sized(struct event_base *, const struct config *,
		    int size, void (*ready_cb)(void *), void *);
void		 db_pool_start(struct db_pool *);
/* Fails every queued and running query with DB_ERR_SHUTDOWN. */
void		 db_pool_free(struct db_pool *);

/*
 * Queue a one-statement query with text parameters (copied). Returns 0 and
 * later calls cb, or -1 at once when no connection is up or the wait queue
 * is full; cb is not called then.
 */
int		 db_query(struct db_pool *, const char *sql, int nparams,
		    const char *const *params, db_cb cb, void *arg);
int		 db_pool_usable(const struct db_pool *);
void		 db_pool_stats(const struct db_pool *, struct db_stats *);

#endif
