/* carelinectl: resident find. */
#include <stdio.h>

#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

static int
ctl_cmd_resident_find(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	const char		*flags[3];
	char			*q = NULL, fl[64];
	char			 b1[32], b2[32], b3[32], b4[32], b5[32];
	char			 b6[32];
	size_t			 i, k;
	int			 rc;

	if ((c->nargs == 1) == (c->opt[OPT_NAME] != NULL))
		return (ctl_usage(c->cmd, "resident find: a PHONE or --name "
		    "NAME (one of them)"));
	ctl_query(c, &q, "phone", c->nargs == 1 ? c->args[0] : NULL);
	ctl_query(c, &q, "name", c->opt[OPT_NAME]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/residents", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no resident found\n");
	else {
		t = ctl_table_new(7, CTL_CELL_MAX, 1u << 0);
		ctl_table_row(t, "ID", "NAME", "PHONE", "COMMUNITY",
		    "MOBILITY", "NEEDS", "ADDRESS");
		json_array_foreach(items, i, o) {
			k = 0;
			if (json_is_true(json_object_get(o, "lives_alone")))
				flags[k++] = "alone";
			if (json_is_true(json_object_get(o, "disabled")))
				flags[k++] = "disabled";
			if (json_is_true(json_object_get(o, "low_income")))
				flags[k++] = "low income";
			snprintf(fl, sizeof fl, "%s%s%s%s%s",
			    k > 0 ? flags[0] : "", k > 1 ? ", " : "",
			    k > 1 ? flags[1] : "", k > 2 ? ", " : "",
			    k > 2 ? flags[2] : "");
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "name", b2, sizeof b2),
			    ctl_jtext(o, "phone", b3, sizeof b3),
			    ctl_jtext(o, "community", b4, sizeof b4),
			    ctl_jtext(o, "mobility", b5, sizeof b5), fl,
			    ctl_jtext(o, "address", b6, sizeof b6));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	json_decref(j);
	return (CTL_EXIT_OK);
}

static const struct ctl_cmdopt ctl_opts_resident_find[] = {
	{ OPT_NAME, 0 }, { OPT_LIMIT, 0 }, { OPT_END, 0 }
};

const struct ctl_command ctl_resident_find_entry = {
	"resident find", "[PHONE]", 0, 1, ctl_opts_resident_find,
	ctl_cmd_resident_find,
	"residents by phone number, or by the start of --name"
};
