/*
 * The hostile-client tests' daemon and raw connections (harness_raw.h).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness_raw.h"
#include "xmalloc.h"

/*
 * Started here rather than by the harness so it may listen on every
 * address and run under a descriptor limit.
 */
int
hostile_start(struct th_daemon *dd, const char *dburl, const char *address,
    rlim_t nofile, const char *www, const char *extra)
{
	struct rlimit	 rl;
	FILE		*f;
	char		*u, *dflt = NULL;
	int		 fd, rc;

	th_daemon_prepare(dd, "hostile");
	if (www == NULL)
		www = dflt = xprintf("%s/client/www", th_root());
	f = fopen(dd->config, "w");
	if (f != NULL) {
		fprintf(f, "listen:\n  address: %s\n  port: %d\n"
		    "database:\n  url: \"%s\"\n  pool_size: 2\n"
		    "log:\n  level: info\n"
		    "paths:\n  sql_dir: %s/sql\n"
		    "static:\n  dir: %s\n%s",
		    address, dd->port, dburl, th_root(), www, extra);
		fclose(f);
	}
	free(dflt);
	if (f == NULL)
		return (-1);
	if ((dd->pid = fork()) == 0) {
		fd = open(dd->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
		/* Only what carelined opens itself counts against the limit. */
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (nofile > 0) {
			rl.rlim_cur = rl.rlim_max = nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		unsetenv("NOTIFY_SOCKET");
		execl(th_bin(), th_bin(), "-c", dd->config, (char *)NULL);
		_exit(127);
	}
	u = xprintf("%s/readyz", dd->url);
	rc = th_wait_status(u, 200, 15000);
	free(u);
	return (rc);
}

void
raw_open_to(struct raw *c, const char *ip, int port)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 10, 0 };

	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof sin),
	    0);
	/* A reply that never comes fails the test instead of hanging it. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void
raw_close(struct raw *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int
raw_send(struct raw *c, const char *s)
{
	size_t	n = strlen(s);

	return (send(c->fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1);
}

ssize_t
raw_fill(struct raw *c)
{
	ssize_t	n;

	if (c->len == sizeof c->buf - 1)
		return (-1);
	n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
	return (n);
}

const char *
raw_header(const char *head, const char *name)
{
	static char	 v[256];
	const char	*p = head;
	size_t		 n = strlen(name), i;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			for (i = 0; i < sizeof v - 1 && p[i] != '\r' &&
			    p[i] != '\0'; i++)
				v[i] = p[i];
			v[i] = '\0';
			return (v);
		}
	}
	return (NULL);
}

int
raw_response(struct raw *c, int head_only, struct raw_resp *rr)
{
	const char	*cl;
	char		*end;
	size_t		 hlen, blen = 0;
	int		 to_eof = 0;

	memset(rr, 0, sizeof *rr);
	while ((end = strstr(c->buf, "\r\n\r\n")) == NULL) {
		if (raw_fill(c) <= 0)
			return (-1);
	}
	hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof rr->head)
		return (-1);
	memcpy(rr->head, c->buf, hlen);
	rr->head[hlen] = '\0';
	if (sscanf(rr->head, "HTTP/1.%*1d %3d ", &rr->status) != 1)
		return (-1);
	if ((cl = raw_header(rr->head, "Content-Length")) != NULL)
		blen = (size_t)strtoul(cl, NULL, 10);
	else
		to_eof = 1;
	if (head_only || rr->status == 204) {
		blen = 0;
		to_eof = 0;
	}
	while (to_eof ? raw_fill(c) > 0 : c->len < hlen + blen) {
		if (!to_eof && raw_fill(c) <= 0)
			return (-1);
	}
	if (to_eof)
		blen = c->len - hlen;
	if (blen >= sizeof rr->body)
		return (-1);
	memcpy(rr->body, c->buf + hlen, blen);
	rr->body[blen] = '\0';
	rr->blen = blen;
	memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
	c->len -= hlen + blen;
	c->buf[c->len] = '\0';
	return (0);
}

const char *
raw_error_code(const struct raw_resp *rr)
{
	static char	 code[64];
	json_t		*j = json_loads(rr->body, 0, NULL);

	snprintf(code, sizeof code, "%s", th_err_code(j));
	json_decref(j);
	return (code);
}

const char *
own_address(void)
{
	static char	 ip[INET_ADDRSTRLEN];
	struct ifaddrs	*ifs, *i;
	const char	*found = NULL;

	if (getifaddrs(&ifs) != 0)
		return (NULL);
	for (i = ifs; i != NULL && found == NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		found = inet_ntop(AF_INET, &((struct sockaddr_in *)
		    i->ifa_addr)->sin_addr, ip, sizeof ip);
	}
	freeifaddrs(ifs);
	return (found);
}

long
metrics_from(const char *ip, int port, const char *auth, char **body)
{
	struct th_response	 r;
	const char		*h[2] = { auth, NULL };
	char			*u = xprintf("http://%s:%d/metrics", ip, port);
	long			 status;

	assert_int_equal(th_http(&r, "GET", u, NULL, auth != NULL ? h :
	    NULL), 0);
	free(u);
	status = r.status;
	if (body != NULL)
		*body = xstrdup(r.body);
	th_response_free(&r);
	return (status);
}
