/* Counters for GET /metrics, in the Prometheus text format. */
#ifndef CARELINE_METRICS_H
#define CARELINE_METRICS_H

#include <stdint.h>

struct db_pool;
struct evbuffer;
struct metrics;

struct metrics	*metrics_new(int nroutes);
void		 metrics_free(struct metrics *);
/* A route's labels; strings that outlive m (the route table's). */
void		 metrics_name(struct metrics *, int route, const char *method,
		    const char *pattern);
/* route: 0 to nroutes - 1, or nroutes for requests no route matched. */
void		 metrics_request(struct metrics *, int route, int status,
		    long elapsed_us);
void		 metrics_render(const struct metrics *, const struct db_pool *,
		    int inflight, struct evbuffer *);

#endif
