/*
 * carelinectl: carelined from a terminal or a script.
 *
 *	carelinectl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]
 *
 * One HTTP/JSON request per command (libcurl's easy interface: a command
 * line tool has nothing else to wait for), an aligned table for people,
 * the API's own JSON with --json, and `watch`, which follows
 * GET /v1/events (Server-Sent Events) and reconnects with Last-Event-ID.
 *
 * The URL and the token come from --url and --token, else CARELINE_URL and
 * CARELINE_TOKEN, else ~/.config/careline/carelinectl.yaml (keys url: and
 * token:; $XDG_CONFIG_HOME is respected), which must be its owner's and
 * readable by nobody else, as ssh wants of a private key. The token is
 * never printed.
 *
 * Exit status, for scripts:
 *	0	done
 *	1	carelined refused the request (4xx other than 401 and 403);
 *		its error code, field and message are on stderr
 *	2	usage: an unknown command or option, a missing or malformed
 *		argument, a configuration file that cannot be read
 *	3	carelined cannot be reached, or failed (5xx, an answer that is
 *		not JSON)
 *	4	authentication: no token, a token file others may read, or 401
 *		or 403 from carelined
 */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"

/* Every command, in the order of the help. */
const struct ctl_command *const ctl_commands[] = {
	&ctl_call_new_entry,
	&ctl_call_show_entry,
	&ctl_call_cancel_entry,
	&ctl_call_complete_entry,
	&ctl_calls_entry,
	&ctl_resident_find_entry,
	&ctl_provider_list_entry,
	&ctl_provider_add_entry,
	&ctl_provider_deactivate_entry,
	&ctl_deliveries_entry,
	&ctl_watch_entry,
	NULL
};

int
main(int argc, char **argv)
{
	struct ctl	c;
	int		rc;

	memset(&c, 0, sizeof c);
	setlocale(LC_ALL, "");
	/* Numbers are read and written the C way whatever the language. */
	setlocale(LC_NUMERIC, "C");
	ctl_locale_utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if ((rc = ctl_parse(&c, argc, argv)) != CTL_CONTINUE ||
	    (rc = ctl_conf_resolve(&c)) != CTL_CONTINUE)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c.curl = curl_easy_init()) == NULL) {
		ctl_warn("cannot start libcurl");
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	rc = c.cmd->run(&c);
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
out:
	if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
		ctl_warn("stdout: %s", strerror(errno));
		rc = CTL_EXIT_USAGE;
	}
	ctl_secret_free(c.auth);
	free(c.url);
	free(c.confpath);
	free(c.words);
	return (rc);
}
