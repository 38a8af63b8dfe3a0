/*
 * Webhook sending: libcurl's multi-socket interface driven by the event
 * loop (no threads, no blocking calls), keep-alive connections reused,
 * bounded in flight, in time and in response bytes read.
 */
#ifndef CARELINE_WEBHOOK_SEND_H
#define CARELINE_WEBHOOK_SEND_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "webhook.h"

struct config;
struct notifier;
struct notify_job;
TAILQ_HEAD(notify_jobs, notify_job);

/* One attempt at one delivery. The notifier owns it while sending. */
struct notify_job {
	long long		 id;
	long long		 lease_token;
	int			 attempt;
	char			*event_id;
	char			*event_type;
	char			*url;
	char			*payload;
	char			*signature;	/* "v1,... v1,..." */
	long long		 timestamp;	/* webhook-timestamp */
	char			 started_at[40];	/* RFC 3339, UTC */
	struct timespec		 started;

	/* Filled in when done. */
	long			 http_status;	/* 0: no answer */
	enum webhook_outcome	 outcome;
	char			 error[160];
	long			 retry_after_ms;	/* -1: none */
	long			 duration_ms;

	/* Private to the notifier. */
	TAILQ_ENTRY(notify_job)	 entry;
	void			*easy;
	void			*headers;
	size_t			 received;
	size_t			 max_received;
	int			 check_target;	/* refuse private addresses */
	int			 refused;	/* one was refused */
};

struct notifier_stats {
	uint64_t	attempts;
	uint64_t	delivered;
	uint64_t	failed;
	uint64_t	latency_us_sum;
	uint64_t	latency_bucket[8];	/* see notifier.c */
};

typedef void	(*notifier_done_cb)(struct notify_job *, void *);

struct notifier	*notifier_new(struct event_base *, const struct config *,
		    notifier_done_cb, void *);
void		 notifier_free(struct notifier *);
/* Send (the job is handed back through the callback, always). */
void		 notifier_send(struct notifier *, struct notify_job *);
int		 notifier_in_flight(const struct notifier *);
const struct notifier_stats *notifier_stats(const struct notifier *);
extern const double notifier_latency_bounds[8];
void		 notify_job_free(struct notify_job *);

#endif
