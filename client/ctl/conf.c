/*
 * carelinectl: where carelined is and who asks, from the options, the
 * environment or the configuration file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "xmalloc.h"

#include "ctl.h"

static const char *
ctl_getenv(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

static char *
ctl_conf_path(void)
{
	const char	*xdg = getenv("XDG_CONFIG_HOME"), *home;
	struct passwd	*pw;

	/* The XDG spec: a relative XDG_CONFIG_HOME is to be ignored. */
	if (xdg != NULL && xdg[0] == '/')
		return (xprintf("%s/%s", xdg, CTL_CONF_NAME));
	if ((home = ctl_getenv("HOME")) == NULL) {
		if ((pw = getpwuid(getuid())) == NULL)
			return (NULL);
		home = pw->pw_dir;
	}
	return (xprintf("%s/.config/%s", home, CTL_CONF_NAME));
}

/* The url: and token: of the configuration file, if there is one. */
static int
ctl_conf_read(struct ctl *c, char **url, char **token)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	yaml_node_t	*root, *k, *v;
	yaml_node_pair_t *pair;
	struct stat	 st;
	FILE		*f;
	char		**dst;
	const char	*key;
	int		 fd, rc = CTL_CONTINUE;

	if ((c->confpath = ctl_conf_path()) == NULL)
		return (CTL_CONTINUE);
	if ((fd = open(c->confpath, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return (CTL_CONTINUE);
		ctl_warn("%s: %s", c->confpath, strerror(errno));
		return (CTL_EXIT_USAGE);
	}
	/* Checked on the open file, so it cannot be swapped in between. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		ctl_warn("%s: not a regular file", c->confpath);
		close(fd);
		return (CTL_EXIT_USAGE);
	}
	if (st.st_uid != geteuid()) {
		ctl_warn("%s: owned by uid %u, not by you: refusing a token "
		    "from it", c->confpath, (unsigned)st.st_uid);
		close(fd);
		return (CTL_EXIT_AUTH);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ctl_warn("%s: permissions %04o are too open: it may hold an "
		    "API token, so only you may read it (chmod 600 %s)",
		    c->confpath, (unsigned)(st.st_mode & 07777), c->confpath);
		close(fd);
		return (CTL_EXIT_AUTH);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (CTL_EXIT_USAGE);
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		ctl_warn("%s:%zu: %s", c->confpath,
		    parser.problem_mark.line + 1, parser.problem != NULL ?
		    parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return (CTL_EXIT_USAGE);
	}
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && root->type != YAML_MAPPING_NODE) {
		ctl_warn("%s:%zu: expected the keys url: and token:",
		    c->confpath, root->start_mark.line + 1);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	for (pair = root != NULL ? root->data.mapping.pairs.start : NULL;
	    pair != NULL && pair < root->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&doc, pair->key);
		v = yaml_document_get_node(&doc, pair->value);
		key = k->type == YAML_SCALAR_NODE ?
		    (const char *)k->data.scalar.value : "";
		if (strcmp(key, "url") == 0)
			dst = url;
		else if (strcmp(key, "token") == 0)
			dst = token;
		else {
			ctl_warn("%s:%zu: unknown key '%s' (url and token "
			    "are known)", c->confpath, k->start_mark.line + 1,
			    key);
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (*dst != NULL || v->type != YAML_SCALAR_NODE) {
			ctl_warn("%s:%zu: %s: %s", c->confpath,
			    k->start_mark.line + 1, key, *dst != NULL ?
			    "given twice" : "expected a string");
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		*dst = xstrdup((const char *)v->data.scalar.value);
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return (rc);
}

void
ctl_secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int
ctl_conf_resolve(struct ctl *c)
{
	const char	*url, *token, *p;
	char		*furl = NULL, *ftoken = NULL;
	size_t		 n;
	int		 rc = CTL_CONTINUE;

	if ((url = c->opt[OPT_URL]) == NULL)
		url = ctl_getenv("CARELINE_URL");
	if ((token = c->opt[OPT_TOKEN]) == NULL)
		token = ctl_getenv("CARELINE_TOKEN");
	if ((url == NULL || token == NULL) &&
	    (rc = ctl_conf_read(c, &furl, &ftoken)) != CTL_CONTINUE)
		goto out;
	if (url == NULL)
		url = furl != NULL ? furl : CTL_DEFAULT_URL;
	if (token == NULL)
		token = ftoken;
	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) {
		rc = ctl_usage(NULL, "the URL must start with http:// or "
		    "https://, not '%s'", url);
		goto out;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	c->url = xstrndup(url, n);
	if (token == NULL) {
		ctl_warn("no API token: give --token, set CARELINE_TOKEN, or "
		    "put token: in %s (chmod 600)", c->confpath != NULL ?
		    c->confpath : "~/.config/" CTL_CONF_NAME);
		rc = CTL_EXIT_AUTH;
		goto out;
	}
	/* It goes into a header line: nothing that could end one. */
	for (p = token; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			ctl_warn("the API token holds a character no token "
			    "has (a space or a line break?)");
			rc = CTL_EXIT_AUTH;
			goto out;
		}
	}
	xasprintf(&c->auth, "Authorization: Bearer %s", token);
out:
	free(furl);
	ctl_secret_free(ftoken);
	return (rc);
}
