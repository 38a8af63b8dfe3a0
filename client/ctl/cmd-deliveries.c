/* carelinectl: deliveries. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

static int
ctl_cmd_deliveries(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	const char		*when;
	char			*q = NULL, last[160];
	char			 b1[32], b2[32], b3[64], b4[32], b5[32];
	char			 b6[32], b7[64], b8[64], b9[64], b10[64];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "status", c->opt[OPT_STATUS]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/deliveries", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no deliveries\n");
	else {
		t = ctl_table_new(9, CTL_CELL_MAX, 1u << 0 | 1u << 4 |
		    1u << 5);
		ctl_table_row(t, "ID", "STATUS", "EVENT", "PROVIDER", "CALL",
		    "TRIES", "LAST ANSWER", "NEXT/DONE", "CREATED");
		json_array_foreach(items, i, o) {
			snprintf(last, sizeof last, "%s%s%s",
			    ctl_jtext(o, "last_http_status", b7, sizeof b7),
			    json_is_string(json_object_get(o, "last_error")) &&
			    json_is_integer(json_object_get(o,
			    "last_http_status")) ? " " : "",
			    ctl_jtext(o, "last_error", b8, sizeof b8));
			when = json_is_string(json_object_get(o,
			    "delivered_at")) ? "delivered_at" :
			    "next_attempt_at";
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "status", b2, sizeof b2),
			    ctl_jtext(o, "event_type", b3, sizeof b3),
			    ctl_jtext(o, "provider_name", b9, sizeof b9),
			    ctl_jtext(o, "call_id", b4, sizeof b4),
			    ctl_jtext(o, "attempts", b5, sizeof b5), last,
			    strcmp(ctl_jtext(o, "status", b6, sizeof b6),
			    "dead") == 0 ? "" : ctl_jtime(o, when, b7,
			    sizeof b7), ctl_jtime(o, "created_at", b10,
			    sizeof b10));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

static const struct ctl_cmdopt ctl_opts_deliveries[] = {
	{ OPT_STATUS, 0 }, { OPT_LIMIT, 0 }, { OPT_CURSOR, 0 },
	{ OPT_END, 0 }
};

const struct ctl_command ctl_deliveries_entry = {
	"deliveries", "", 0, 0, ctl_opts_deliveries, ctl_cmd_deliveries,
	"webhook deliveries, newest first (--status pending|delivered|"
	"dead)"
};
