/* /v1/deliveries: operators watching the outbox, and sending one again. */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "http_server.h"

void
api_deliveries_list(struct request *r)
{
	static const char *const allowed[] = {
		"status", "provider_id", "limit", "cursor", NULL
	};
	static const char *const statuses[] = {
		"pending", "delivered", "dead", NULL
	};
	struct evkeyvalq	 q;
	const char		*status, *params[4];
	long long		 provider, limit, cursor;
	char			 pbuf[24], lbuf[24], cbuf[24];
	int			 i;

	if (api_args(r, &q, allowed) != 0)
		return;
	status = evhttp_find_header(&q, "status");
	for (i = 0; status != NULL && statuses[i] != NULL; i++) {
		if (strcmp(status, statuses[i]) == 0)
			break;
	}
	if (status != NULL && statuses[i] == NULL) {
		request_error(r, 400, "invalid_parameter", "status",
		    "status must be pending, delivered or dead");
		goto out;
	}
	if ((provider = api_arg_id(r, &q, "provider_id")) < 0 ||
	    (limit = api_arg_id(r, &q, "limit")) < 0 ||
	    (cursor = api_arg_id(r, &q, "cursor")) < 0)
		goto out;
	if (limit > API_LIST_LIMIT_MAX) {
		request_error(r, 400, "invalid_parameter", "limit",
		    "limit must be 1 to %d", API_LIST_LIMIT_MAX);
		goto out;
	}
	snprintf(pbuf, sizeof pbuf, "%lld", provider);
	snprintf(lbuf, sizeof lbuf, "%lld", limit > 0 ? limit :
	    API_LIST_LIMIT_DEFAULT);
	snprintf(cbuf, sizeof cbuf, "%lld", cursor);
	params[0] = status;
	params[1] = provider > 0 ? pbuf : NULL;
	params[2] = lbuf;
	params[3] = cursor > 0 ? cbuf : NULL;
	api_sql_reply(r, API_SQL("careline_api_deliveries_list($1, $2, $3, "
	    "$4)"), 4, params);
out:
	evhttp_clear_headers(&q);
}

void
api_deliveries_retry(struct request *r)
{
	char		 id[24];
	const char	*params[2];

	snprintf(id, sizeof id, "%lld", r->ids[0]);
	params[0] = r->who.actor;
	params[1] = id;
	api_sql_reply(r, API_SQL("careline_api_deliveries_retry($1, $2)"), 2,
	    params);
}
