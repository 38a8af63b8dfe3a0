#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

const struct route routes[] = {
	{ EVHTTP_REQ_GET, "/healthz", health_healthz, ROUTE_PUBLIC },
	{ EVHTTP_REQ_GET, "/readyz", health_readyz, ROUTE_PUBLIC },
	{ EVHTTP_REQ_GET, "/metrics", health_metrics, ROUTE_PUBLIC },
};
const int nroutes = sizeof routes / sizeof *routes;

const char *
route_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:		return ("GET");
	case EVHTTP_REQ_POST:		return ("POST");
	case EVHTTP_REQ_PUT:		return ("PUT");
	case EVHTTP_REQ_PATCH:		return ("PATCH");
	case EVHTTP_REQ_DELETE:		return ("DELETE");
	case EVHTTP_REQ_HEAD:		return ("HEAD");
	case EVHTTP_REQ_OPTIONS:	return ("OPTIONS");
	default:			return ("OTHER");
	}
}

/* A positive decimal id that fits: "{id}" accepts nothing else. */
static int
routes_parse_id(const char *s, size_t n, long long *out)
{
	long long	v = 0;
	size_t		i;

	if (n == 0 || n > 18 || s[0] == '0')
		return (-1);
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

/* Match one pattern against a path segment by segment. */
static int
routes_match_one(const char *pattern, const char *path, long long *ids,
    int *nids)
{
	const char	*p = pattern, *s = path;
	size_t		 pn, sn;
	int		 n = 0;

	for (;;) {
		if (*p != '/' || *s != '/')
			return (*p == '\0' && *s == '\0' ? 0 : -1);
		p++;
		s++;
		pn = strcspn(p, "/");
		sn = strcspn(s, "/");
		if (pn == 4 && strncmp(p, "{id}", 4) == 0) {
			if (n >= ROUTES_MAX_IDS ||
			    routes_parse_id(s, sn, &ids[n]) != 0)
				return (-1);
			n++;
		} else if (pn != sn || strncmp(p, s, pn) != 0)
			return (-1);
		p += pn;
		s += sn;
		if (*p == '\0' && *s == '\0') {
			*nids = n;
			return (0);
		}
	}
}

int
routes_match(enum evhttp_cmd_type method, const char *path, long long *ids,
    int *nids)
{
	int	i, path_known = 0;

	if (method == EVHTTP_REQ_HEAD)
		method = EVHTTP_REQ_GET;
	for (i = 0; i < nroutes; i++) {
		if (routes_match_one(routes[i].pattern, path, ids, nids) != 0)
			continue;
		if (routes[i].method == method)
			return (i);
		path_known = 1;
	}
	return (path_known ? -2 : -1);
}
