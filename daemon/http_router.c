#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "http_auth.h"
#include "http_router.h"
#include "http_server.h"
#include "http_static.h"
#include "metrics.h"

#define GET	EVHTTP_REQ_GET
#define POST	EVHTTP_REQ_POST
#define PATCH	EVHTTP_REQ_PATCH
#define DELETE	EVHTTP_REQ_DELETE

/* flags are given only where set; the rest are 0. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct route routes[] = {
	{ GET, "/healthz", health_healthz, ROUTE_PUBLIC },
	{ GET, "/readyz", health_readyz, ROUTE_PUBLIC },
	{ GET, "/metrics", health_metrics, ROUTE_PUBLIC },

	{ POST, "/v1/calls", api_calls_create, ROUTE_OPERATOR },
	{ GET, "/v1/calls", api_calls_list, ROUTE_OPERATOR },
	{ GET, "/v1/calls/{id}", api_calls_get, ROUTE_OPERATOR },
	{ POST, "/v1/calls/{id}/cancel", api_calls_cancel, ROUTE_OPERATOR },
	{ POST, "/v1/calls/{id}/complete", api_calls_complete, ROUTE_OPERATOR },
	{ GET, "/v1/matches", api_matches, ROUTE_OPERATOR },

	{ POST, "/v1/residents", api_residents_create, ROUTE_OPERATOR },
	{ GET, "/v1/residents", api_residents_search, ROUTE_OPERATOR },
	{ GET, "/v1/residents/{id}", api_residents_get, ROUTE_OPERATOR },
	{ PATCH, "/v1/residents/{id}", api_residents_update, ROUTE_OPERATOR },

	{ POST, "/v1/providers", api_providers_create, ROUTE_ADMIN },
	{ GET, "/v1/providers", api_providers_list, ROUTE_ADMIN },
	{ GET, "/v1/providers/{id}", api_providers_get, ROUTE_ADMIN },
	{ PATCH, "/v1/providers/{id}", api_providers_update, ROUTE_ADMIN },
	{ POST, "/v1/providers/{id}/deactivate", api_providers_deactivate,
	  ROUTE_ADMIN, ROUTE_NO_BODY },

	{ POST, "/v1/providers/{id}/rotate-secret",
	  api_providers_rotate_secret, ROUTE_ADMIN, ROUTE_NO_BODY },

	{ POST, "/v1/offers/{id}/accept", api_offers_accept, ROUTE_OFFER },
	{ POST, "/v1/offers/{id}/decline", api_offers_decline, ROUTE_OFFER },
	{ POST, "/v1/offers/{id}/arrived", api_offers_arrived, ROUTE_OFFER },
	{ POST, "/v1/offers/{id}/completed", api_offers_completed,
	  ROUTE_OFFER },

	{ GET, "/v1/deliveries", api_deliveries_list, ROUTE_OPERATOR },
	{ POST, "/v1/deliveries/{id}/retry", api_deliveries_retry,
	  ROUTE_ADMIN, ROUTE_NO_BODY },

	{ POST, "/v1/session", api_session_create, ROUTE_PUBLIC },
	{ GET, "/v1/session", api_session_get, ROUTE_OPERATOR },
	{ DELETE, "/v1/session", api_session_delete, ROUTE_OPERATOR },
	{ POST, "/v1/operators", api_operators_create, ROUTE_ADMIN },
	{ GET, "/v1/operators", api_operators_list, ROUTE_ADMIN },
	{ GET, "/v1/events", api_events, ROUTE_OPERATOR, ROUTE_NO_HEAD },
	{ POST, "/v1/ringing", api_ringing, ROUTE_OPERATOR },
	{ GET, "/v1/ringing/{id}", api_ringing_get, ROUTE_OPERATOR },

	{ GET, "/v1/residents/{id}/context", api_residents_context,
	  ROUTE_OPERATOR },
	{ GET, "/v1/residents/{id}/access-log", api_residents_access_log,
	  ROUTE_ADMIN },
	{ GET, "/v1/clinics/nearest", api_clinics_nearest, ROUTE_OPERATOR },
	{ GET, "/v1/reports/social-work", api_reports_get, ROUTE_OPERATOR },
	{ GET, "/v1/reports/timebank", api_reports_get, ROUTE_OPERATOR },
	{ GET, "/v1/reports/elderly-services", api_reports_get,
	  ROUTE_OPERATOR },
	{ GET, "/v1/reports/public-health", api_reports_get, ROUTE_OPERATOR },
	{ GET, "/v1/reports/estates", api_reports_get, ROUTE_OPERATOR },
	{ GET, "/v1/reports/wechat", api_reports_get, ROUTE_OPERATOR },
	{ GET, "/v1/reports/hotline", api_reports_get, ROUTE_OPERATOR },

	{ POST, "/v1/tokens", api_tokens_create, ROUTE_ADMIN },
	{ GET, "/v1/tokens", api_tokens_list, ROUTE_ADMIN },
	{ DELETE, "/v1/tokens/{id}", api_tokens_revoke, ROUTE_ADMIN },
	{ GET, "/v1/config", api_config, ROUTE_OPERATOR },
};
#pragma GCC diagnostic pop
const int nroutes = sizeof routes / sizeof *routes;

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

/* HEAD is GET without the body, except on a stream, which has no end. */
static int
routes_method_ok(const struct route *rt, enum evhttp_cmd_type method)
{
	if (method == EVHTTP_REQ_HEAD)
		return (rt->method == EVHTTP_REQ_GET &&
		    !(rt->flags & ROUTE_NO_HEAD));
	return (rt->method == method);
}

int
routes_match(enum evhttp_cmd_type method, const char *path, long long *ids,
    int *nids)
{
	int	i, path_known = 0;

	for (i = 0; i < nroutes; i++) {
		if (routes_match_one(routes[i].pattern, path, ids, nids) != 0)
			continue;
		if (routes_method_ok(&routes[i], method))
			return (i);
		path_known = 1;
	}
	return (path_known ? -2 : -1);
}

void
routes_allow(const char *path, char *buf, size_t len)
{
	static const enum evhttp_cmd_type order[] = {
		EVHTTP_REQ_GET, EVHTTP_REQ_HEAD, EVHTTP_REQ_POST,
		EVHTTP_REQ_PUT, EVHTTP_REQ_PATCH, EVHTTP_REQ_DELETE,
	};
	long long	ids[ROUTES_MAX_IDS];
	size_t		i, off = 0;
	int		j, n, nids;

	buf[0] = '\0';
	for (i = 0; i < sizeof order / sizeof *order; i++) {
		for (j = 0; j < nroutes; j++) {
			if (routes_method_ok(&routes[j], order[i]) &&
			    routes_match_one(routes[j].pattern, path, ids,
			    &nids) == 0)
				break;
		}
		if (j == nroutes)
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    http_method_name(order[i]));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

void
routes_metrics(struct metrics *m)
{
	int	i;

	for (i = 0; i < nroutes; i++)
		metrics_name(m, i, http_method_name(routes[i].method),
		    routes[i].pattern);
}

/* Not the API: perhaps one of the console's files. */
static int
router_static(struct request *r)
{
	struct static_files	*files = r->srv->files;

	if (files == NULL || strncmp(r->path, "/v1/", 4) == 0)
		return (-1);
	if ((r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD) &&
	    static_serve(r, files, r->path) == 0)
		return (0);
	/* A console file exists whatever the method asked. */
	if (static_exists(files, r->path)) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		request_error(r, 405, "method_not_allowed", NULL,
		    "method not allowed on this resource; use GET, HEAD");
		return (0);
	}
	return (-1);
}

void
router_request(struct request *r)
{
	const struct route	*rt;
	char			 allow[64];
	int			 idx;

	idx = routes_match(r->method, r->path, r->ids, &r->nids);
	if (idx == -1) {
		if (router_static(r) != 0)
			request_error(r, 404, "not_found", NULL,
			    "no such resource");
		return;
	}
	if (idx == -2) {
		routes_allow(r->path, allow, sizeof allow);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", allow);
		request_error(r, 405, "method_not_allowed", NULL,
		    "method not allowed on this resource; use %s", allow);
		return;
	}
	rt = &routes[idx];
	r->route_idx = idx;
	r->pattern = rt->pattern;
	r->method = rt->method;
	/* An action that takes no body: one sent is a client's mistake. */
	if ((rt->flags & ROUTE_NO_BODY) && r->body_len > 0) {
		request_error(r, 400, "body_not_allowed", NULL,
		    "this action takes no request body");
		return;
	}
	auth_request(r, rt->auth, rt->handler);
}
