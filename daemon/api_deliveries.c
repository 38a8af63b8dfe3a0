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
	struct api_page		 page;
	const char		*status, *params[4];
	long long		 provider;
	char			 pbuf[24];

	if (api_args(r, &q, allowed) != 0)
		return;
	if (api_arg_choice(r, &q, "status", statuses, &status) != 0 ||
	    (provider = api_arg_id(r, &q, "provider_id")) < 0 ||
	    api_arg_page(r, &q, &page) != 0)
		goto out;
	snprintf(pbuf, sizeof pbuf, "%lld", provider);
	params[0] = status;
	params[1] = provider > 0 ? pbuf : NULL;
	params[2] = page.limit;
	params[3] = page.cursor;
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
