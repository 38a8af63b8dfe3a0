/*
 * The router: the route table (method, path pattern, handler, who may
 * call it) and the walk of every request the server has read, route ->
 * static file -> auth -> handler.
 */
#ifndef CARELINE_HTTP_ROUTER_H
#define CARELINE_HTTP_ROUTER_H

#include <event2/http.h>

#include "http_auth.h"
#include "http_server.h"

struct metrics;

#define ROUTES_MAX_IDS	SERVER_MAX_IDS	/* {id} segments in one pattern */

#define ROUTE_NO_BODY	0x1	/* an action: a body sent is refused (400) */
#define ROUTE_NO_HEAD	0x2	/* a stream: HEAD is not offered */

struct route {
	enum evhttp_cmd_type	 method;
	const char		*pattern;	/* "/v1/calls/{id}" */
	void			(*handler)(struct request *);
	enum route_auth		 auth;
	int			 flags;		/* ROUTE_NO_* */
};

extern const struct route	routes[];
extern const int		nroutes;

/*
 * server_new's route: the route, or a console file, or 404/405; then
 * auth, then the route's handler.
 */
void	router_request(struct request *);
/*
 * Find the route for a method and path, filling ids from {id} segments.
 * Returns its index, -1 when no pattern matches the path (404), or -2 when
 * one does but not with this method (405).
 */
int	routes_match(enum evhttp_cmd_type, const char *path, long long *ids,
	    int *nids);
/* Name each route's metrics (metrics_new(nroutes)). */
void	routes_metrics(struct metrics *);
/* The methods path answers to, for an Allow header ("GET, HEAD"). */
void	routes_allow(const char *path, char *buf, size_t len);

/* Handlers, one file per concern. */
void	health_healthz(struct request *);
void	health_readyz(struct request *);
void	health_metrics(struct request *);

#endif
