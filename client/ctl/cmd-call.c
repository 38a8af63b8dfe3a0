/* carelinectl: call new, call show, call cancel, call complete, calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

static void
ctl_print_call(json_t *call)
{
	struct ctl_table	*t;
	json_t			*res, *cands, *o;
	const char		*urg, *community;
	char			 b1[64], b2[64], b3[64], *who, *status;
	size_t			 i;

	res = json_object_get(call, "resident");
	community = json_string_value(json_object_get(res, "community"));
	xasprintf(&who, "%s (resident %lld%s%s)", ctl_jtext(res, "name", b1,
	    sizeof b1), ctl_jint(res, "id"), community != NULL ? ", " : "",
	    community != NULL ? community : "");
	urg = ctl_jtext(call, "urgency", b2, sizeof b2);
	xasprintf(&status, "%s%s", ctl_jtext(call, "status", b1, sizeof b1),
	    strcmp(urg, "urgent") == 0 ? ", urgent" : "");
	t = ctl_table_new(2, 0, 0);
	ctl_table_row(t, "call", ctl_jtext(call, "id", b3, sizeof b3));
	ctl_table_row(t, "status", status);
	ctl_table_row(t, "service", ctl_jtext(call, "service", b1,
	    sizeof b1));
	ctl_table_row(t, "resident", who);
	ctl_table_row(t, "caller", ctl_jtext(call, "caller_phone", b1,
	    sizeof b1));
	ctl_table_row(t, "wanted", ctl_jtime(call, "wanted_at", b1,
	    sizeof b1));
	ctl_table_row(t, "logged", ctl_jtime(call, "created_at", b1,
	    sizeof b1));
	if (json_is_string(json_object_get(call, "closed_at")))
		ctl_table_row(t, "closed", ctl_jtime(call, "closed_at", b1,
		    sizeof b1));
	if (*ctl_jtext(call, "notes", b1, sizeof b1) != '\0')
		ctl_table_row(t, "notes", ctl_jtext(call, "notes", b1,
		    sizeof b1));
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	free(who);
	free(status);

	cands = json_object_get(call, "candidates");
	if (json_array_size(cands) == 0) {
		printf("\nno provider in reach\n");
		return;
	}
	printf("\n");
	t = ctl_table_new(6, CTL_CELL_MAX, 1u << 0 | 1u << 2 | 1u << 3);
	ctl_table_row(t, "RANK", "PROVIDER", "ID", "MINUTES", "OFFER",
	    "ANSWER BY");
	json_array_foreach(cands, i, o) {
		char	r[32], id[32], m[32], st[32], by[64];

		ctl_table_row(t, ctl_jtext(o, "rank", r, sizeof r),
		    ctl_jtext(o, "provider_name", b1, sizeof b1),
		    ctl_jtext(o, "provider_id", id, sizeof id),
		    ctl_jtext(o, "travel_minutes", m, sizeof m),
		    ctl_jtext(o, "status", st, sizeof st),
		    ctl_jtime(o, "respond_by", by, sizeof by));
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

/*
 * --when: RFC 3339 goes as it is (carelined checks it); a local date and
 * time, or a time today, gets the local offset.
 */
static int
ctl_when(struct ctl *c, char *out, size_t len)
{
	const char	*in = c->opt[OPT_WHEN];
	struct tm	 tm, want;
	time_t		 t;
	int		 y, mo, d, h, mi, sec = 0, n = 0, m = 0;

	t = time(NULL);
	localtime_r(&t, &tm);
	if (sscanf(in, "%4d-%2d-%2d%*1[Tt ]%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &n) == 5 && n > 0) {
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
	} else if (sscanf(in, "%2d:%2d%n", &h, &mi, &n) != 2 || n == 0) {
		snprintf(out, len, "%s", in);
		return (CTL_CONTINUE);
	}
	if (in[n] == ':' && sscanf(in + n, ":%2d%n", &sec, &m) == 1 && m == 3)
		n += m;
	if (in[n] != '\0') {
		/* An offset or fractional seconds: RFC 3339 to pass on. */
		snprintf(out, len, "%s", in);
		return (CTL_CONTINUE);
	}
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	want = tm;
	/* mktime makes 30 February into March: such a time does not exist. */
	if ((t = mktime(&tm)) == (time_t)-1 || tm.tm_mday != want.tm_mday ||
	    tm.tm_mon != want.tm_mon || tm.tm_min != want.tm_min ||
	    tm.tm_sec != want.tm_sec ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		return (ctl_usage(c->cmd, "--when: there is no such time as "
		    "'%s'", in));
	/* strftime's +0800 is RFC 3339's +08:00. */
	n = (int)strlen(out);
	memmove(out + n - 1, out + n - 2, 3);
	out[n - 2] = ':';
	return (CTL_CONTINUE);
}

static int
ctl_cmd_call_new(struct ctl *c)
{
	json_t		*b, *j;
	char		 when[64];
	int		 rc;

	b = json_object();
	if ((rc = ctl_set_string(c, b, "caller_phone", OPT_PHONE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "service", OPT_SERVICE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "notes", OPT_NOTES)) != CTL_CONTINUE)
		goto out;
	if (c->opt[OPT_RESIDENT] != NULL)
		json_object_set_new(b, "resident_id",
		    json_integer(ctl_idval(c->opt[OPT_RESIDENT])));
	if (c->opt[OPT_WHEN] != NULL) {
		if ((rc = ctl_when(c, when, sizeof when)) != CTL_CONTINUE)
			goto out;
		if ((j = json_string(when)) == NULL) {
			rc = ctl_usage(c->cmd, "--when is not UTF-8 text");
			goto out;
		}
		json_object_set_new(b, "wanted_at", j);
	}
	if (c->opt[OPT_URGENT] != NULL)
		json_object_set_new(b, "urgency", json_string("urgent"));
	if (c->opt[OPT_DUPLICATE_OK] != NULL)
		json_object_set_new(b, "duplicate_ok", json_true());
	if ((rc = ctl_api(c, "POST", "/v1/calls", b, &j)) == CTL_EXIT_OK &&
	    !c->json)
		ctl_print_call(j);
	json_decref(j);
out:
	json_decref(b);
	return (rc);
}

/* GET or POST /v1/calls/ID[/verb] and show the call. */
static int
ctl_call_request(struct ctl *c, const char *verb)
{
	json_t		*b = NULL, *j;
	long long	 id;
	char		*path;
	int		 rc;

	id = ctl_idval(c->args[0]);
	if (verb != NULL && c->opt[OPT_REASON] != NULL) {
		b = json_object();
		if ((rc = ctl_set_string(c, b, "reason", OPT_REASON)) !=
		    CTL_CONTINUE) {
			json_decref(b);
			return (rc);
		}
	}
	path = xprintf("/v1/calls/%lld%s%s", id, verb != NULL ? "/" : "",
	    verb != NULL ? verb : "");
	rc = ctl_api(c, verb != NULL ? "POST" : "GET", path, b, &j);
	if (rc == CTL_EXIT_OK && !c->json)
		ctl_print_call(j);
	json_decref(j);
	json_decref(b);
	free(path);
	return (rc);
}

static int
ctl_cmd_call_show(struct ctl *c)
{
	return (ctl_call_request(c, NULL));
}

static int
ctl_cmd_call_cancel(struct ctl *c)
{
	return (ctl_call_request(c, "cancel"));
}

static int
ctl_cmd_call_complete(struct ctl *c)
{
	return (ctl_call_request(c, "complete"));
}

static int
ctl_cmd_calls(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o, *res;
	char			*q = NULL;
	char			 b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
	char			 w[64], l[64];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "status", c->opt[OPT_STATUS]);
	ctl_query(c, &q, "service", c->opt[OPT_SERVICE]);
	ctl_query(c, &q, "resident_id", c->opt[OPT_RESIDENT]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/calls", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no calls\n");
	else {
		t = ctl_table_new(8, CTL_CELL_MAX, 1u << 0);
		ctl_table_row(t, "ID", "STATUS", "SERVICE", "URGENCY",
		    "RESIDENT", "COMMUNITY", "WANTED", "LOGGED");
		json_array_foreach(items, i, o) {
			res = json_object_get(o, "resident");
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "status", b2, sizeof b2),
			    ctl_jtext(o, "service", b3, sizeof b3),
			    ctl_jtext(o, "urgency", b4, sizeof b4),
			    ctl_jtext(res, "name", b5, sizeof b5),
			    ctl_jtext(res, "community", b6, sizeof b6),
			    ctl_jtime(o, "wanted_at", w, sizeof w),
			    ctl_jtime(o, "created_at", l, sizeof l));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

static const struct ctl_cmdopt ctl_opts_call_new[] = {
	{ OPT_PHONE, 1 }, { OPT_SERVICE, 1 }, { OPT_RESIDENT, 0 },
	{ OPT_NOTES, 0 }, { OPT_URGENT, 0 }, { OPT_WHEN, 0 },
	{ OPT_DUPLICATE_OK, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_reason[] = {
	{ OPT_REASON, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_calls[] = {
	{ OPT_STATUS, 0 }, { OPT_SERVICE, 0 }, { OPT_RESIDENT, 0 },
	{ OPT_LIMIT, 0 }, { OPT_CURSOR, 0 }, { OPT_END, 0 }
};

const struct ctl_command ctl_call_new_entry = {
	"call new", "", 0, 0, ctl_opts_call_new, ctl_cmd_call_new,
	"log a call; it is matched and offered at once"
};
const struct ctl_command ctl_call_show_entry = {
	"call show", "ID", 1, 1, ctl_opts_none, ctl_cmd_call_show,
	"a call with its ranked candidates"
};
const struct ctl_command ctl_call_cancel_entry = {
	"call cancel", "ID", 1, 1, ctl_opts_reason, ctl_cmd_call_cancel,
	"cancel an open call"
};
const struct ctl_command ctl_call_complete_entry = {
	"call complete", "ID", 1, 1, ctl_opts_reason, ctl_cmd_call_complete,
	"mark a call completed"
};
const struct ctl_command ctl_calls_entry = {
	"calls", "", 0, 0, ctl_opts_calls, ctl_cmd_calls,
	"calls, newest first (--status new|offered|accepted|completed|"
	"cancelled|unmatched)"
};
