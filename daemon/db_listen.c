#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "db_listen.h"
#include "db_pool.h"
#include "log.h"
#include "xmalloc.h"

#define DB_LISTEN_CHANNEL_MAX	63	/* PostgreSQL's NAMEDATALEN - 1 */

struct db_listen_sub {
	char			*dls_channel;
	db_notify_cb		 dls_cb;
	void			*dls_arg;
};

struct db_listen {
	struct db_pool		*dl_pool;	/* one connection; owned */
	struct db_listen_sub	*dl_subs;
	int			 dl_nsubs;
};

/* A (re)connect: each distinct subscriber catches up once. */
static void
db_listen_catch_up(struct db_listen *dl)
{
	int	i, j;

	for (i = 0; i < dl->dl_nsubs; i++) {
		for (j = 0; j < i; j++) {
			if (dl->dl_subs[j].dls_cb == dl->dl_subs[i].dls_cb &&
			    dl->dl_subs[j].dls_arg == dl->dl_subs[i].dls_arg)
				break;
		}
		if (j == i)
			dl->dl_subs[i].dls_cb(NULL, NULL,
			    dl->dl_subs[i].dls_arg);
	}
}

static void
db_listen_notified(const char *channel, const char *payload, void *arg)
{
	struct db_listen	*dl = arg;
	int			 i;

	if (channel == NULL) {
		db_listen_catch_up(dl);
		return;
	}
	for (i = 0; i < dl->dl_nsubs; i++) {
		if (strcmp(dl->dl_subs[i].dls_channel, channel) == 0)
			dl->dl_subs[i].dls_cb(channel, payload,
			    dl->dl_subs[i].dls_arg);
	}
}

struct db_listen *
db_listen_new(struct event_base *base, const struct config *cfg,
    void (*up_cb)(void *), void *arg)
{
	struct db_listen	*dl;

	dl = xcalloc(1, sizeof *dl);
	dl->dl_pool = db_pool_new_sized(base, cfg, "listen", 1, up_cb, arg);
	return (dl);
}

void
db_listen_subscribe(struct db_listen *dl, const char *channel,
    db_notify_cb cb, void *arg)
{
	const char		*p;
	struct db_listen_sub	*sub;

	/* Goes into LISTEN unquoted: our own constants, checked here. */
	for (p = channel; *p != '\0'; p++) {
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			break;
	}
	if (*p != '\0' || p == channel || p - channel > DB_LISTEN_CHANNEL_MAX) {
		log_error("database: cannot LISTEN on \"%s\"", channel);
		abort();
	}
	dl->dl_subs = xrealloc(dl->dl_subs, (dl->dl_nsubs + 1) *
	    sizeof *dl->dl_subs);
	sub = &dl->dl_subs[dl->dl_nsubs++];
	sub->dls_channel = xstrdup(channel);
	sub->dls_cb = cb;
	sub->dls_arg = arg;
}

void
db_listen_start(struct db_listen *dl)
{
	char	*sql;
	size_t	 len = 1;
	int	 i, j;

	/* Each channel once, however many subscribers it has. */
	for (i = 0; i < dl->dl_nsubs; i++)
		len += strlen(dl->dl_subs[i].dls_channel) + 8;
	sql = xcalloc(1, len);
	for (i = 0; i < dl->dl_nsubs; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(dl->dl_subs[j].dls_channel,
			    dl->dl_subs[i].dls_channel) == 0)
				break;
		}
		if (j < i)
			continue;
		strcat(sql, "LISTEN ");
		strcat(sql, dl->dl_subs[i].dls_channel);
		strcat(sql, ";");
	}
	if (dl->dl_nsubs > 0)
		db_pool_listen(dl->dl_pool, sql, db_listen_notified, dl);
	free(sql);
	db_pool_start(dl->dl_pool);
}

void
db_listen_free(struct db_listen *dl)
{
	int	i;

	if (dl == NULL)
		return;
	db_pool_free(dl->dl_pool);
	for (i = 0; i < dl->dl_nsubs; i++)
		free(dl->dl_subs[i].dls_channel);
	free(dl->dl_subs);
	free(dl);
}

int
db_listen_up(const struct db_listen *dl)
{
	return (db_pool_full(dl->dl_pool));
}

void
db_listen_stats(const struct db_listen *dl, struct db_stats *st)
{
	db_pool_stats(dl->dl_pool, st);
}
