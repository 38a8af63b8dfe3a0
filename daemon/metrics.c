#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "db_pool.h"
#include "metrics.h"
#include "xmalloc.h"

#define METRICS_MAX_STATUSES	16	/* distinct statuses kept per route */

/* Upper bounds of the latency buckets, in microseconds. */
static const long metrics_buckets_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000,
};
#define METRICS_NBUCKETS \
	(sizeof metrics_buckets_us / sizeof *metrics_buckets_us)

struct metrics_route {
	int		 status[METRICS_MAX_STATUSES];
	uint64_t	 count[METRICS_MAX_STATUSES];
	int		 nstatus;
	uint64_t	 other;		/* statuses past METRICS_MAX_STATUSES */
	uint64_t	 bucket[METRICS_NBUCKETS];
	uint64_t	 total;
	double		 sum_s;
	const char	*method;	/* its labels (static strings) */
	const char	*pattern;
};

struct metrics {
	int			 nroutes;
	struct metrics_route	*routes;	/* nroutes + 1 */
	time_t			 started;
};

struct metrics *
metrics_new(int n)
{
	struct metrics	*m;

	m = xcalloc(1, sizeof *m);
	m->nroutes = n;
	m->routes = xcalloc(n + 1, sizeof *m->routes);
	m->started = time(NULL);
	return (m);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->routes);
	free(m);
}

void
metrics_name(struct metrics *m, int route, const char *method,
    const char *pattern)
{
	if (route < 0 || route >= m->nroutes)
		return;
	m->routes[route].method = method;
	m->routes[route].pattern = pattern;
}

void
metrics_request(struct metrics *m, int route, int status, long elapsed_us)
{
	struct metrics_route	*mr;
	size_t			 i;
	int			 j;

	if (route < 0 || route > m->nroutes)
		route = m->nroutes;
	mr = &m->routes[route];
	for (j = 0; j < mr->nstatus; j++) {
		if (mr->status[j] == status)
			break;
	}
	if (j == mr->nstatus) {
		if (mr->nstatus == METRICS_MAX_STATUSES)
			mr->other++;
		else {
			mr->status[j] = status;
			mr->count[j] = 0;
			mr->nstatus++;
		}
	}
	if (j < METRICS_MAX_STATUSES)
		mr->count[j]++;
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		if (elapsed_us <= metrics_buckets_us[i])
			mr->bucket[i]++;
	}
	mr->total++;
	mr->sum_s += elapsed_us / 1e6;
}

static void
metrics_route_labels(const struct metrics *m, int i, char *buf, size_t len)
{
	if (i == m->nroutes)
		snprintf(buf, len, "method=\"\",route=\"unmatched\"");
	else
		snprintf(buf, len, "method=\"%s\",route=\"%s\"",
		    m->routes[i].method != NULL ? m->routes[i].method : "",
		    m->routes[i].pattern != NULL ? m->routes[i].pattern : "");
}

void
metrics_render(const struct metrics *m, const struct db_pool *db,
    int inflight, struct evbuffer *out)
{
	const struct metrics_route	*mr;
	struct db_stats			 st;
	char				 labels[256];
	size_t				 b;
	int				 i, j;

	evbuffer_add_printf(out,
	    "# HELP careline_http_requests_total HTTP requests answered, by "
	    "route and status.\n"
	    "# TYPE careline_http_requests_total counter\n");
	for (i = 0; i <= m->nroutes; i++) {
		mr = &m->routes[i];
		metrics_route_labels(m, i, labels, sizeof labels);
		for (j = 0; j < mr->nstatus; j++)
			evbuffer_add_printf(out, "careline_http_requests_total"
			    "{%s,status=\"%d\"} %llu\n", labels, mr->status[j],
			    (unsigned long long)mr->count[j]);
		if (mr->other > 0)
			evbuffer_add_printf(out, "careline_http_requests_total"
			    "{%s,status=\"other\"} %llu\n", labels,
			    (unsigned long long)mr->other);
	}

	evbuffer_add_printf(out,
	    "# HELP careline_http_request_duration_seconds Time from a "
	    "request's arrival to its reply.\n"
	    "# TYPE careline_http_request_duration_seconds histogram\n");
	for (i = 0; i <= m->nroutes; i++) {
		mr = &m->routes[i];
		if (mr->total == 0)
			continue;
		metrics_route_labels(m, i, labels, sizeof labels);
		for (b = 0; b < METRICS_NBUCKETS; b++)
			evbuffer_add_printf(out,
			    "careline_http_request_duration_seconds_bucket"
			    "{%s,le=\"%g\"} %llu\n", labels,
			    metrics_buckets_us[b] / 1e6,
			    (unsigned long long)mr->bucket[b]);
		evbuffer_add_printf(out,
		    "careline_http_request_duration_seconds_bucket"
		    "{%s,le=\"+Inf\"} %llu\n"
		    "careline_http_request_duration_seconds_sum{%s} %.6f\n"
		    "careline_http_request_duration_seconds_count{%s} %llu\n",
		    labels, (unsigned long long)mr->total, labels, mr->sum_s,
		    labels, (unsigned long long)mr->total);
	}

	db_pool_stats(db, &st);
	evbuffer_add_printf(out,
	    "# HELP careline_http_requests_in_flight Requests not yet "
	    "answered.\n"
	    "# TYPE careline_http_requests_in_flight gauge\n"
	    "careline_http_requests_in_flight %d\n"
	    "# HELP careline_db_pool_size Configured database connections.\n"
	    "# TYPE careline_db_pool_size gauge\n"
	    "careline_db_pool_size %d\n"
	    "# HELP careline_db_pool_connected Connections up and usable.\n"
	    "# TYPE careline_db_pool_connected gauge\n"
	    "careline_db_pool_connected %d\n"
	    "# HELP careline_db_pool_busy Connections running a query.\n"
	    "# TYPE careline_db_pool_busy gauge\n"
	    "careline_db_pool_busy %d\n"
	    "# HELP careline_db_pool_waiting Queries waiting for a "
	    "connection.\n"
	    "# TYPE careline_db_pool_waiting gauge\n"
	    "careline_db_pool_waiting %d\n"
	    "# HELP careline_db_reconnects_total Connections lost and "
	    "re-established.\n"
	    "# TYPE careline_db_reconnects_total counter\n"
	    "careline_db_reconnects_total %llu\n"
	    "# HELP careline_db_queries_total Queries sent.\n"
	    "# TYPE careline_db_queries_total counter\n"
	    "careline_db_queries_total %llu\n"
	    "# HELP careline_db_query_failures_total Queries that failed or "
	    "timed out.\n"
	    "# TYPE careline_db_query_failures_total counter\n"
	    "careline_db_query_failures_total %llu\n"
	    "# HELP careline_start_time_seconds When carelined started.\n"
	    "# TYPE careline_start_time_seconds gauge\n"
	    "careline_start_time_seconds %lld\n",
	    inflight, st.size, st.connected, st.busy, st.waiting,
	    (unsigned long long)st.reconnects,
	    (unsigned long long)st.queries, (unsigned long long)st.failures,
	    (long long)m->started);
}
