/* carelinectl: every option, and the command line that names them. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "ctl.h"

const struct ctl_cmdopt ctl_opts_none[] = { { OPT_END, 0 } };

const struct ctl_option ctl_options[OPT_END] = {
	[OPT_URL] = { "url", 0, CTL_TEXT, "URL",
	    "carelined's address (else $CARELINE_URL, the config file, "
	    CTL_DEFAULT_URL ")" },
	[OPT_TOKEN] = { "token", 0, CTL_TEXT, "TOKEN",
	    "API token (else $CARELINE_TOKEN, the config file); others "
	    "can see it in ps: prefer those" },
	[OPT_JSON] = { "json", 0, CTL_FLAG, NULL,
	    "print the API's JSON as it is, for scripts" },
	[OPT_HELP] = { "help", 'h', CTL_FLAG, NULL,
	    "this help; after a command, its help" },
	[OPT_VERSION] = { "version", 0, CTL_FLAG, NULL,
	    "print the version" },
	[OPT_PHONE] = { "phone", 0, CTL_TEXT, "PHONE",
	    "the caller's number, as dialled" },
	[OPT_SERVICE] = { "service", 0, CTL_TEXT, "SERVICE",
	    "meal, housekeeping, daycare or companionship" },
	[OPT_RESIDENT] = { "resident", 0, CTL_ID, "ID",
	    "the resident, when the number is shared or the caller calls "
	    "for someone else" },
	[OPT_NOTES] = { "notes", 0, CTL_TEXT, "TEXT",
	    "notes for the provider" },
	[OPT_URGENT] = { "urgent", 0, CTL_FLAG, NULL,
	    "mark the call urgent" },
	[OPT_WHEN] = { "when", 0, CTL_TEXT, "TIME",
	    "when the service is wanted: RFC 3339, or local "
	    "'YYYY-MM-DD HH:MM' or 'HH:MM' (today); default now" },
	[OPT_DUPLICATE_OK] = { "duplicate-ok", 0, CTL_FLAG, NULL,
	    "log it even if the resident has an open call for this "
	    "service" },
	[OPT_REASON] = { "reason", 0, CTL_TEXT, "TEXT",
	    "why, kept in the audit log" },
	[OPT_STATUS] = { "status", 0, CTL_TEXT, "STATUS",
	    "only in this status" },
	[OPT_LIMIT] = { "limit", 0, CTL_ID, "N",
	    "at most N per page" },
	[OPT_CURSOR] = { "cursor", 0, CTL_TEXT, "CURSOR",
	    "the next page, as the previous one said" },
	[OPT_NAME] = { "name", 0, CTL_TEXT, "NAME",
	    "the name (to find: its start)" },
	[OPT_ALL] = { "all", 0, CTL_FLAG, NULL,
	    "inactive providers too" },
	[OPT_SERVICES] = { "services", 0, CTL_TEXT, "LIST",
	    "comma-separated: meal,housekeeping,daycare,companionship" },
	[OPT_LAT] = { "lat", 0, CTL_NUMBER, "DEG",
	    "latitude" },
	[OPT_LON] = { "lon", 0, CTL_NUMBER, "DEG",
	    "longitude" },
	[OPT_MODE] = { "mode", 0, CTL_TEXT, "MODE",
	    "travel mode: walk, ebike, car or shuttle" },
	[OPT_CAPACITY] = { "capacity", 0, CTL_ID, "N",
	    "calls it can have accepted at once" },
	[OPT_HOURS] = { "hours", 0, CTL_TEXT, "HOURS",
	    "opening hours, e.g. 'Mo-Fr 08:00-18:00; Sa 09:00-12:00' or "
	    "24/7" },
	[OPT_WEBHOOK] = { "webhook", 0, CTL_TEXT, "URL",
	    "where offers are sent; a signing secret is made and shown "
	    "once" },
};


/*
 * The command line: options anywhere, then the longest command that the
 * words spell.
 */

/* A positive id as carelined accepts one: 1 to 18 digits, no 0 first. */
static int
ctl_parse_id(const char *s, long long *out)
{
	long long	v = 0;
	size_t		i, n = strlen(s);

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

static int
ctl_parse_number(const char *s, double *out)
{
	char	*end;

	errno = 0;
	*out = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(*out))
		return (-1);
	return (0);
}

/* A value ctl_parse checked already. */
long long
ctl_idval(const char *s)
{
	return (strtoll(s, NULL, 10));
}

static int
ctl_parse_option(struct ctl *c, int argc, char **argv, int *i)
{
	const char	*a = argv[*i], *eq = NULL, *value;
	size_t		 n;
	int		 id;

	if (a[1] != '-') {
		for (id = 0; id < OPT_END; id++) {
			if (ctl_options[id].letter != 0 &&
			    a[1] == ctl_options[id].letter && a[2] == '\0')
				break;
		}
	} else {
		eq = strchr(a + 2, '=');
		n = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (id = 0; id < OPT_END; id++) {
			if (strlen(ctl_options[id].name) == n &&
			    strncmp(ctl_options[id].name, a + 2, n) == 0)
				break;
		}
	}
	if (id == OPT_END)
		return (ctl_usage(NULL, "unknown option %s", a));
	if (ctl_options[id].arg == NULL) {
		if (eq != NULL)
			return (ctl_usage(NULL, "--%s takes no value",
			    ctl_options[id].name));
		value = "";
	} else if (eq != NULL)
		value = eq + 1;
	else if (*i + 1 < argc)
		value = argv[++*i];
	else
		return (ctl_usage(NULL, "--%s needs a value (%s)",
		    ctl_options[id].name, ctl_options[id].arg));
	if (c->opt[id] != NULL)
		return (ctl_usage(NULL, "--%s given twice",
		    ctl_options[id].name));
	c->opt[id] = value;
	return (CTL_CONTINUE);
}

/* Words of cmd's name that words[] starts with, or 0. */
static int
ctl_command_words(const struct ctl_command *cmd, char **words, int nwords)
{
	const char	*p = cmd->name;
	size_t		 n;
	int		 k = 0;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (k >= nwords || strlen(words[k]) != n ||
		    strncmp(words[k], p, n) != 0)
			return (0);
		k++;
		p += n;
		p += *p == ' ';
	}
	return (k);
}

int
ctl_parse(struct ctl *c, int argc, char **argv)
{
	const struct ctl_command	*cmd = NULL;
	const struct ctl_cmdopt		*o;
	long long			 id;
	double				 num;
	char				*subs = NULL, *n;
	int				 i, k, best = 0, nwords = 0, rest = 0;
	int				 rc;

	c->words = xcalloc((size_t)argc + 1, sizeof *c->words);
	for (i = 1; i < argc; i++) {
		if (!rest && strcmp(argv[i], "--") == 0)
			rest = 1;
		else if (!rest && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((rc = ctl_parse_option(c, argc, argv, &i)) !=
			    CTL_CONTINUE)
				return (rc);
		} else
			c->words[nwords++] = argv[i];
	}
	c->json = c->opt[OPT_JSON] != NULL;
	for (i = 0; ctl_commands[i] != NULL; i++) {
		if ((k = ctl_command_words(ctl_commands[i], c->words,
		    nwords)) > best) {
			best = k;
			cmd = ctl_commands[i];
		}
	}
	if (c->opt[OPT_VERSION] != NULL) {
		printf("carelinectl %s\n", CTL_VERSION);
		return (CTL_EXIT_OK);
	}
	if (c->opt[OPT_HELP] != NULL && (cmd != NULL || nwords == 0)) {
		ctl_help(cmd, stdout);
		return (CTL_EXIT_OK);
	}
	if (nwords == 0)
		return (ctl_usage(NULL, "no command given"));
	if (cmd == NULL) {
		k = (int)strlen(c->words[0]);
		for (i = 0; ctl_commands[i] != NULL; i++) {
			if (strncmp(ctl_commands[i]->name, c->words[0],
			    (size_t)k) != 0 || ctl_commands[i]->name[k] != ' ')
				continue;
			xasprintf(&n, "%s%s%s", subs != NULL ? subs : "",
			    subs != NULL ? ", " : "",
			    ctl_commands[i]->name + k + 1);
			free(subs);
			subs = n;
		}
		if (subs == NULL)
			return (ctl_usage(NULL, "unknown command '%s'",
			    c->words[0]));
		rc = ctl_usage(NULL, "%s %s: which one? %s", c->words[0],
		    nwords > 1 ? c->words[1] : "", subs);
		free(subs);
		return (rc);
	}
	c->cmd = cmd;
	c->args = c->words + best;
	c->nargs = nwords - best;
	if (c->nargs < cmd->minargs)
		return (ctl_usage(cmd, "%s: %s missing", cmd->name,
		    cmd->args));
	if (c->nargs > cmd->maxargs)
		return (ctl_usage(cmd, "%s: unexpected '%s'", cmd->name,
		    c->args[cmd->maxargs]));
	if (c->nargs > 0 && strcmp(cmd->args, "ID") == 0 &&
	    ctl_parse_id(c->args[0], &id) != 0)
		return (ctl_usage(cmd, "%s: the ID must be a positive whole "
		    "number, not '%s'", cmd->name, c->args[0]));
	for (i = OPT_LAST_GLOBAL + 1; i < OPT_END; i++) {
		if (c->opt[i] == NULL)
			continue;
		for (o = cmd->opts; o->opt != OPT_END; o++) {
			if ((int)o->opt == i)
				break;
		}
		if (o->opt == OPT_END)
			return (ctl_usage(cmd, "%s has no option --%s",
			    cmd->name, ctl_options[i].name));
		if ((ctl_options[i].type == CTL_ID &&
		    ctl_parse_id(c->opt[i], &id) != 0) ||
		    (ctl_options[i].type == CTL_NUMBER &&
		    ctl_parse_number(c->opt[i], &num) != 0))
			return (ctl_usage(cmd, "--%s must be a %s, not '%s'",
			    ctl_options[i].name, ctl_options[i].type ==
			    CTL_ID ? "positive whole number" : "number",
			    c->opt[i]));
	}
	for (o = cmd->opts; o->opt != OPT_END; o++) {
		if (o->required && c->opt[o->opt] == NULL)
			return (ctl_usage(cmd, "%s needs --%s", cmd->name,
			    ctl_options[o->opt].name));
	}
	return (CTL_CONTINUE);
}

/* A JSON string from the command line, else a usage error. */
int
ctl_set_string(struct ctl *c, json_t *o, const char *key, enum ctl_opt opt)
{
	json_t	*s;

	if (c->opt[opt] == NULL)
		return (CTL_CONTINUE);
	if ((s = json_string(c->opt[opt])) == NULL)
		return (ctl_usage(c->cmd, "--%s is not UTF-8 text",
		    ctl_options[opt].name));
	json_object_set_new(o, key, s);
	return (CTL_CONTINUE);
}
