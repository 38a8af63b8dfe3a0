/*
 * /v1/clinics/nearest: the mobile clinic point nearest a resident, open
 * at the time asked, for a health question.
 */
#include <stdio.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "config.h"
#include "http_server.h"

void
api_clinics_nearest(struct request *r)
{
	static const char *const allowed[] = { "resident_id", "at", NULL };
	struct evkeyvalq	 q;
	const char		*at, *params[3];
	long long		 resident;
	char			 rbuf[24];

	if (api_args(r, &q, allowed) != 0)
		return;
	if ((resident = api_arg_id(r, &q, "resident_id")) < 0)
		goto out;
	if (resident == 0) {
		request_error(r, 400, "missing_parameter", "resident_id",
		    "resident_id is required");
		goto out;
	}
	if (api_arg_time(r, &q, "at", &at) != 0)
		goto out;
	snprintf(rbuf, sizeof rbuf, "%lld", resident);
	params[0] = rbuf;
	params[1] = at;
	params[2] = r->srv->cfg->district_timezone;
	api_sql_reply(r, API_SQL("careline_api_clinics_nearest($1, "
	    "$2, $3)"), 3, params);
out:
	evhttp_clear_headers(&q);
}
