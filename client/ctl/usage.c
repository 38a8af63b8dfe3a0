/* carelinectl: messages, usage and help. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "xmalloc.h"

#include "ctl.h"

void __attribute__((format(printf, 1, 2)))
ctl_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *clean;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	clean = ctl_clean(msg != NULL ? msg : fmt, 0);
	fprintf(stderr, "carelinectl: %s\n", clean);
	free(clean);
	free(msg);
}

static void
ctl_usage_line(const struct ctl_command *cmd, FILE *f)
{
	const struct ctl_cmdopt	*o;
	const struct ctl_option	*opt;

	fprintf(f, "  carelinectl %s", cmd->name);
	if (*cmd->args != '\0')
		fprintf(f, " %s", cmd->args);
	for (o = cmd->opts; o->opt != OPT_END; o++) {
		opt = &ctl_options[o->opt];
		fprintf(f, " %s--%s%s%s%s", o->required ? "" : "[",
		    opt->name, opt->arg != NULL ? " " : "",
		    opt->arg != NULL ? opt->arg : "", o->required ? "" : "]");
	}
	fputc('\n', f);
}

static void
ctl_help_option(enum ctl_opt id, FILE *f)
{
	const struct ctl_option	*o = &ctl_options[id];
	char			 head[64], letter[8] = "";

	if (o->letter != 0)
		snprintf(letter, sizeof letter, "-%c, ", o->letter);
	snprintf(head, sizeof head, "%s--%s%s%s", letter, o->name,
	    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
	fprintf(f, "  %-22s %s\n", head, o->help);
}

void
ctl_help(const struct ctl_command *cmd, FILE *f)
{
	const struct ctl_cmdopt	*o;
	int			 i;

	if (cmd != NULL) {
		fprintf(f, "usage:\n");
		ctl_usage_line(cmd, f);
		fprintf(f, "\n%s.\n", cmd->help);
		if (cmd->opts[0].opt != OPT_END)
			fprintf(f, "\nOptions:\n");
		for (o = cmd->opts; o->opt != OPT_END; o++)
			ctl_help_option(o->opt, f);
		fprintf(f, "\nGlobal options (carelinectl --help): --url, "
		    "--token, --json.\n");
		return;
	}
	fprintf(f, "usage: carelinectl [--url URL] [--token TOKEN] [--json] "
	    "COMMAND [ARGS]\n\ncarelined's API from a terminal or a script."
	    "\n\nCommands:\n");
	for (i = 0; ctl_commands[i] != NULL; i++) {
		ctl_usage_line(ctl_commands[i], f);
		fprintf(f, "      %s\n", ctl_commands[i]->help);
	}
	fprintf(f, "\nGlobal options (before or after the command):\n");
	for (i = 0; i <= OPT_LAST_GLOBAL; i++)
		ctl_help_option((enum ctl_opt)i, f);
	fprintf(f,
	    "\nThe URL and token come from --url and --token, else\n"
	    "CARELINE_URL and CARELINE_TOKEN, else\n"
	    "$XDG_CONFIG_HOME/" CTL_CONF_NAME " (default ~/.config/...)\n"
	    "with the keys url: and token:. That file must be yours and "
	    "readable\nby you only (chmod 600), or it is refused.\n"
	    "\nTables show times in the local time zone; --json prints what\n"
	    "carelined answered, untouched (watch: one JSON object per "
	    "event,\n{\"id\", \"event\", \"data\"}).\n"
	    "\nExit status:\n"
	    "  0  done\n"
	    "  1  carelined refused the request (4xx other than 401/403);\n"
	    "     the error code, field and message are on stderr\n"
	    "  2  usage error (command, option, argument, config file)\n"
	    "  3  carelined cannot be reached, or failed (5xx)\n"
	    "  4  authentication: no token, a token file others can read,\n"
	    "     or 401/403 from carelined\n");
}

int __attribute__((format(printf, 2, 3)))
ctl_usage(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "carelinectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL) {
		fprintf(stderr, "\nusage:\n");
		ctl_usage_line(cmd, stderr);
	} else
		fprintf(stderr, "\nsee carelinectl --help\n");
	return (CTL_EXIT_USAGE);
}
