/* The route table: method, path pattern, handler, who may call it. */
#ifndef CARELINE_ROUTES_H
#define CARELINE_ROUTES_H

#include <event2/http.h>

struct request;

#define ROUTES_MAX_IDS	4	/* {id} segments in one pattern */

enum route_auth {
	ROUTE_PUBLIC,		/* health, readiness, metrics */
	ROUTE_OPERATOR,		/* operators and admins */
	ROUTE_ADMIN,		/* admins only */
	ROUTE_PROVIDER,		/* providers, operators and admins */
	ROUTE_OFFER,		/* a one-time link, a provider or an admin */
};

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
 * Find the route for a method and path, filling ids from {id} segments.
 * Returns its index, -1 when no pattern matches the path (404), or -2 when
 * one does but not with this method (405).
 */
int	routes_match(enum evhttp_cmd_type, const char *path, long long *ids,
	    int *nids);
const char *route_method_name(enum evhttp_cmd_type);
/* The methods path answers to, for an Allow header ("GET, HEAD"). */
void	routes_allow(const char *path, char *buf, size_t len);

/* Handlers, one file per concern. */
void	health_healthz(struct request *);
void	health_readyz(struct request *);
void	health_metrics(struct request *);

#endif
