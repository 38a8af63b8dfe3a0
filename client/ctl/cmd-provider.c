/* carelinectl: provider list, provider add, provider deactivate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

/* "meal, daycare" from the services array. */
static char *
ctl_services(json_t *o)
{
	json_t	*v;
	char	*s = xstrdup(""), *n;
	size_t	 i;

	json_array_foreach(json_object_get(o, "services"), i, v) {
		xasprintf(&n, "%s%s%s", s, i > 0 ? "," : "",
		    json_string_value(v) != NULL ? json_string_value(v) : "");
		free(s);
		s = n;
	}
	return (s);
}

static const char *
ctl_provider_state(json_t *o, char *buf, size_t len)
{
	char	t[64];

	if (!json_is_true(json_object_get(o, "active")))
		return ("inactive");
	if (json_is_string(json_object_get(o, "endpoint_disabled_at"))) {
		snprintf(buf, len, "webhook off since %s", ctl_jtime(o,
		    "endpoint_disabled_at", t, sizeof t));
		return (buf);
	}
	if (json_is_string(json_object_get(o, "endpoint_failing_since"))) {
		snprintf(buf, len, "webhook failing since %s", ctl_jtime(o,
		    "endpoint_failing_since", t, sizeof t));
		return (buf);
	}
	return ("active");
}

static void
ctl_print_provider(json_t *p)
{
	struct ctl_table	*t;
	char			 b1[64], b2[64], b3[96], *sv, *where;

	sv = ctl_services(p);
	xasprintf(&where, "%.6f, %.6f", json_number_value(json_object_get(p,
	    "lat")), json_number_value(json_object_get(p, "lon")));
	t = ctl_table_new(2, 0, 0);
	ctl_table_row(t, "provider", ctl_jtext(p, "id", b1, sizeof b1));
	ctl_table_row(t, "name", ctl_jtext(p, "name", b2, sizeof b2));
	ctl_table_row(t, "state", ctl_provider_state(p, b3, sizeof b3));
	ctl_table_row(t, "services", sv);
	ctl_table_row(t, "travel", ctl_jtext(p, "travel_mode", b1,
	    sizeof b1));
	ctl_table_row(t, "capacity", ctl_jtext(p, "capacity", b1,
	    sizeof b1));
	ctl_table_row(t, "hours", ctl_jtext(p, "opening_hours", b1,
	    sizeof b1));
	ctl_table_row(t, "at", where);
	ctl_table_row(t, "webhook", ctl_jtext(p, "webhook_url", b1,
	    sizeof b1));
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	free(where);
	free(sv);
}

static int
ctl_cmd_provider_list(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	char			*q = NULL, *sv;
	char			 b1[32], b2[32], b3[32], b4[32], b5[96];
	char			 b6[32];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "service", c->opt[OPT_SERVICE]);
	ctl_query(c, &q, "active", c->opt[OPT_ALL] != NULL ? NULL : "true");
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/providers", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no providers\n");
	else {
		t = ctl_table_new(7, CTL_CELL_MAX, 1u << 0 | 1u << 4);
		ctl_table_row(t, "ID", "NAME", "SERVICES", "MODE", "CAP",
		    "HOURS", "STATE");
		json_array_foreach(items, i, o) {
			sv = ctl_services(o);
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "name", b2, sizeof b2), sv,
			    ctl_jtext(o, "travel_mode", b3, sizeof b3),
			    ctl_jtext(o, "capacity", b4, sizeof b4),
			    ctl_jtext(o, "opening_hours", b6, sizeof b6),
			    ctl_provider_state(o, b5, sizeof b5));
			free(sv);
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

static int
ctl_cmd_provider_add(struct ctl *c)
{
	json_t		*b, *services, *j = NULL;
	const char	*p, *secret;
	char		*one;
	size_t		 n, len;
	int		 rc;

	b = json_object();
	services = json_array();
	json_object_set_new(b, "services", services);
	for (p = c->opt[OPT_SERVICES]; *p != '\0'; p += n + (p[n] == ',')) {
		p += strspn(p, " ");
		n = strcspn(p, ",");
		for (len = n; len > 0 && p[len - 1] == ' '; len--)
			;
		one = xstrndup(p, len);
		if (*one != '\0' && json_array_append_new(services,
		    json_string(one)) != 0) {
			free(one);
			rc = ctl_usage(c->cmd, "--services is not UTF-8 text");
			goto out;
		}
		free(one);
	}
	if (json_array_size(services) == 0) {
		rc = ctl_usage(c->cmd, "--services: name at least one");
		goto out;
	}
	if ((rc = ctl_set_string(c, b, "name", OPT_NAME)) != CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "travel_mode", OPT_MODE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "opening_hours", OPT_HOURS)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "webhook_url", OPT_WEBHOOK)) !=
	    CTL_CONTINUE)
		goto out;
	json_object_set_new(b, "lat", json_real(strtod(c->opt[OPT_LAT],
	    NULL)));
	json_object_set_new(b, "lon", json_real(strtod(c->opt[OPT_LON],
	    NULL)));
	json_object_set_new(b, "capacity",
	    json_integer(ctl_idval(c->opt[OPT_CAPACITY])));
	if ((rc = ctl_api(c, "POST", "/v1/providers", b, &j)) != CTL_EXIT_OK)
		goto out;
	if (!c->json)
		ctl_print_provider(j);
	secret = json_string_value(json_object_get(j, "webhook_secret"));
	if (secret != NULL) {
		if (!c->json)
			printf("webhook secret  %s\n", secret);
		ctl_warn("store the webhook secret now, somewhere safe: "
		    "carelined shows it this once and cannot show it again "
		    "(a lost secret must be rotated)");
	}
out:
	json_decref(j);
	json_decref(b);
	return (rc);
}

static int
ctl_cmd_provider_deactivate(struct ctl *c)
{
	json_t		*j;
	char		*path;
	int		 rc;

	path = xprintf("/v1/providers/%lld/deactivate",
	    ctl_idval(c->args[0]));
	rc = ctl_api(c, "POST", path, NULL, &j);
	if (rc == CTL_EXIT_OK && !c->json)
		ctl_print_provider(j);
	json_decref(j);
	free(path);
	return (rc);
}

static const struct ctl_cmdopt ctl_opts_provider_list[] = {
	{ OPT_SERVICE, 0 }, { OPT_ALL, 0 }, { OPT_LIMIT, 0 },
	{ OPT_CURSOR, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_provider_add[] = {
	{ OPT_NAME, 1 }, { OPT_SERVICES, 1 }, { OPT_LAT, 1 },
	{ OPT_LON, 1 }, { OPT_MODE, 1 }, { OPT_CAPACITY, 1 },
	{ OPT_HOURS, 1 }, { OPT_WEBHOOK, 0 }, { OPT_END, 0 }
};

const struct ctl_command ctl_provider_list_entry = {
	"provider list", "", 0, 0, ctl_opts_provider_list,
	ctl_cmd_provider_list, "active providers (--all: every one)"
};
const struct ctl_command ctl_provider_add_entry = {
	"provider add", "", 0, 0, ctl_opts_provider_add,
	ctl_cmd_provider_add, "register a provider (admin token)"
};
const struct ctl_command ctl_provider_deactivate_entry = {
	"provider deactivate", "ID", 1, 1, ctl_opts_none,
	ctl_cmd_provider_deactivate, "stop matching a provider"
};
