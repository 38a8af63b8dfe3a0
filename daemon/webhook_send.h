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
struct webhook_sender;
struct webhook_job;
TAILQ_HEAD(webhook_jobs, webhook_job);

/* One attempt at one delivery. The sender owns it while sending. */
struct webhook_job {
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

	/* Private to the sender. */
	TAILQ_ENTRY(webhook_job) entry;
	void			*easy;
	void			*headers;
	size_t			 received;
	size_t			 max_received;
	int			 check_target;	/* refuse private addresses */
	int			 refused;	/* one was refused */
};

struct webhook_send_stats {
	uint64_t	attempts;
	uint64_t	delivered;
	uint64_t	failed;
	uint64_t	latency_us_sum;
	uint64_t	latency_bucket[8];	/* see webhook_send.c */
};

typedef void	(*webhook_send_done_cb)(struct webhook_job *, void *);

struct webhook_sender *webhook_send_new(struct event_base *,
		    const struct config *, webhook_send_done_cb, void *);
void		 webhook_send_free(struct webhook_sender *);
/* Send (the job is handed back through the callback, always). */
void		 webhook_send(struct webhook_sender *, struct webhook_job *);
int		 webhook_send_in_flight(const struct webhook_sender *);
const struct webhook_send_stats *webhook_send_stats(
		    const struct webhook_sender *);
extern const double webhook_send_latency_bounds[8];
void		 webhook_job_free(struct webhook_job *);

#endif
