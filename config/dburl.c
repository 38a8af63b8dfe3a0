/*
 * database.url's host rule: libpq resolves a host name with a blocking
 * getaddrinfo inside PQconnectStart, on carelined's event loop.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "xmalloc.h"

/* Entry i of a comma-separated libpq list, into buf ("" past its end). */
static const char *
config_list_item(const char *list, int i, char *buf, size_t len)
{
	size_t	n;

	for (; list != NULL && i > 0; i--) {
		if ((list = strchr(list, ',')) != NULL)
			list++;
	}
	if (list == NULL) {
		buf[0] = '\0';
		return (buf);
	}
	n = strcspn(list, ",");
	snprintf(buf, len, "%.*s", (int)n, list);
	return (buf);
}

/*
 * libpq resolves a host name with a blocking getaddrinfo inside
 * PQconnectStart, i.e. on the event loop at every reconnect: each host
 * must be a socket directory, an IP address, or come with a hostaddr.
 * Checks a conninfo string, a URI or a bare database name (with PGHOST,
 * which libpq uses when the string names no host). 0, or -1 and *why.
 */
int
config_check_db_url(const char *url, char **why)
{
	PQconninfoOption	*opts = NULL, *o;
	const char		*host = NULL, *addr = NULL, *from = "", *p;
	char			*err = NULL, h[256], a[256];
	unsigned char		 bin[16];
	int			 i, n, rc = 0;

	*why = NULL;
	if (strchr(url, '=') != NULL || strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0) {
		if ((opts = PQconninfoParse(url, &err)) == NULL) {
			/* libpq's message may quote the string, password too. */
			PQfreemem(err);
			*why = xstrdup("not a libpq connection string or URI");
			return (-1);
		}
		for (o = opts; o->keyword != NULL; o++) {
			if (strcmp(o->keyword, "host") == 0)
				host = o->val;
			else if (strcmp(o->keyword, "hostaddr") == 0)
				addr = o->val;
		}
	}
	if (host == NULL || *host == '\0') {
		host = getenv("PGHOST");
		from = " (from PGHOST)";
	}
	if (addr == NULL || *addr == '\0')
		addr = getenv("PGHOSTADDR");
	/* A list "a,b" is tried host by host: each is checked. */
	n = host != NULL ? 1 : 0;
	for (p = host; p != NULL && (p = strchr(p, ',')) != NULL; p++)
		n++;
	for (i = 0; i < n; i++) {
		config_list_item(host, i, h, sizeof h);
		config_list_item(addr, i, a, sizeof a);
		if (*a != '\0' || *h == '\0' || h[0] == '/' || h[0] == '@' ||
		    inet_pton(AF_INET, h, bin) == 1 ||
		    inet_pton(AF_INET6, h, bin) == 1)
			continue;
		xasprintf(why, "host '%s'%s is a name: give hostaddr= too, or "
		    "use an IP address or a socket directory", h, from);
		rc = -1;
		break;
	}
	PQconninfoFree(opts);
	return (rc);
}

/* CARELINE_DATABASE_URL, when set and not empty, replaces the file's. */
int
config_db_url(struct config *c, size_t line, char **cause)
{
	const char	*env;
	char		*why;

	if ((env = getenv("CARELINE_DATABASE_URL")) != NULL && *env != '\0') {
		free(c->db_url);
		c->db_url = xstrdup(env);
	} else
		env = NULL;
	if (config_check_db_url(c->db_url, &why) == 0)
		return (0);
	if (env != NULL)
		xasprintf(cause, "CARELINE_DATABASE_URL: %s", why);
	else
		xasprintf(cause, "%s:%zu: database.url: %s", c->path, line, why);
	free(why);
	return (-1);
}
