/*
 * The asynchronous PostgreSQL pool on the event loop. Every connection is
 * non-blocking libpq driven by one libevent event; callers never wait.
 */
#ifndef CARELINE_DB_POOL_H
#define CARELINE_DB_POOL_H

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
 * A notification that arrived on a listening pool; channel and payload
 * NULL after every (re)connect, when some may have been missed.
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

/*
 * carelined's connections come in separate pools so that no kind of work
 * can take another's: HTTP requests (database.pool_size), the webhook
 * dispatcher (database.dispatcher_connections), and one LISTEN connection.
 * name says which in logs ("http", "dispatcher", "listen").
 *
 * up_cb runs each time one of the pool's connections becomes usable.
 */
struct db_pool	*db_pool_new(struct event_base *, const struct config *,
		    void (*up_cb)(void *), void *);	/* "http", pool_size */
struct db_pool	*db_pool_new_sized(struct event_base *, const struct config *,
		    const char *name, int size, void (*up_cb)(void *), void *);
/*
 * Before db_pool_start: run listen_sql ("LISTEN a;LISTEN b;", copied)
 * after every connect, and hand cb every notification. db_listen's, which
 * fans them out to the subscribers of each channel.
 */
void		 db_pool_listen(struct db_pool *, const char *listen_sql,
		    db_notify_cb cb, void *arg);
void		 db_pool_start(struct db_pool *);
/* Fails every queued and running query with DB_ERR_SHUTDOWN. */
void		 db_pool_free(struct db_pool *);

/*
 * Queue a one-statement query with text parameters (copied). Returns 0 and
 * later calls cb, or -1 at once when no connection is up or the wait queue
 * is full; cb is not called then. cb always runs from the event loop, never
 * before db_query has returned (even when the send fails): a caller may
 * mark its query as out after the call.
 */
int		 db_query(struct db_pool *, const char *sql, int nparams,
		    const char *const *params, db_cb cb, void *arg);
/* Connections up and usable; db_pool_full: all of them. */
int		 db_pool_usable(const struct db_pool *);
int		 db_pool_full(const struct db_pool *);
void		 db_pool_stats(const struct db_pool *, struct db_stats *);

#endif
