/*
 * carelinectl watch: Server-Sent Events from a real carelined, and from a
 * scripted stand-in (for reconnection with Last-Event-ID and the corners
 * of the format, which carelined cannot be made to show on demand); a
 * signal ending it cleanly, and its errors. The other commands:
 * test_carelinectl.c.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "harness_ctl.h"
#include "xmalloc.h"

static char		*db, *oper;
static struct th_daemon	 d;

static int
group_setup(void **state)
{
	(void)state;
	if (th_group_up("ctl_watch", &db, NULL, &oper, &d) != 0)
		return (-1);
	if (th_daemon_start(&d, db, "auth:\n  token_cache_ttl: 0s\n", 2,
	    NULL) != 0)
		return (-1);
	return (ctl_setup(d.url));
}

static int
group_teardown(void **state)
{
	th_group_teardown(state);
	ctl_teardown();
	return (0);
}

/*
 * carelinectl in the background, its output read as it comes, for
 * commands that do not end by themselves (watch).
 */
struct bg {
	pid_t	 pid;
	int	 fd;
	char	 buf[65536];
	size_t	 len;
};

static void
bg_start(struct bg *b, const char *url, const char *token, int json)
{
	int	p[2];

	memset(b, 0, sizeof *b);
	assert_int_equal(pipe(p), 0);
	if ((b->pid = fork()) == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		if (json)
			execl(ctl_bin(), ctl_bin(), "--url", url, "--token", token,
			    "watch", "--json", (char *)NULL);
		else
			execl(ctl_bin(), ctl_bin(), "--url", url, "--token", token,
			    "watch", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	b->fd = p[0];
	fcntl(b->fd, F_SETFL, O_NONBLOCK);
}

/* Reads for up to ms; 0 once needle has been seen (NULL: until EOF). */
static int
bg_read(struct bg *b, const char *needle, int ms)
{
	struct pollfd	pfd;
	long		deadline = th_now_ms() + ms;
	ssize_t		n;

	for (;;) {
		if (needle != NULL && strstr(b->buf, needle) != NULL)
			return (0);
		if (th_now_ms() >= deadline)
			return (-1);
		pfd.fd = b->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		poll(&pfd, 1, 50);
		n = read(b->fd, b->buf + b->len, sizeof b->buf - 1 - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			b->buf[b->len] = '\0';
		} else if (n == 0)
			return (needle == NULL ? 0 : -1);
	}
}

/*
 * Waits up to ms for it to end (after sig, when not 0); killed if it does
 * not. Returns its exit status, -1 when it had to be killed.
 */
static int
bg_end(struct bg *b, int sig, int ms)
{
	long	deadline = th_now_ms() + ms;
	int	status, rc = -1;

	if (sig != 0)
		kill(b->pid, sig);
	for (;;) {
		bg_read(b, NULL, 50);
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
			break;
		}
		if (th_now_ms() >= deadline) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
			break;
		}
	}
	bg_read(b, NULL, 200);
	close(b->fd);
	check_sanitizer(b->buf);
	return (rc);
}

/*
 * A stand-in for GET /v1/events: one scripted answer per connection, each
 * request head appended to log. It tries what carelined cannot be made to
 * do on demand: a byte-order mark, CR and CRLF line ends, a multi-line
 * data field, an event cut short, a retry: field, a 503, and the 204 that
 * tells a client to stop.
 */
static const char *const sse_script[] = {
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	"Cache-Control: no-store\r\n\r\n"
	"\xef\xbb\xbf: a byte-order mark, then a comment\n"
	"retry: 50\n\n"
	"id: 1\nevent: call.created\ndata: {\"call_id\": 7, \"status\": "
	"\"new\"}\n\n"
	"id: 2\r\nevent: call.updated\r\ndata: {\"call_id\": 7,\r\ndata: "
	"\"status\": \"offered\"}\r\n\r\n"
	"data: cut short, never dispatched\n",

	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
	"event: note\rdata: 你好\r\r"
	"id: 3\ndata: plain text\n\n",

	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
	"application/json\r\nContent-Length: 59\r\nConnection: close\r\n\r\n"
	"{\"error\": {\"code\": \"shutting_down\", \"message\": \"draining\"}}",

	"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
};

static void
sse_serve(int lfd, const char *log, int hold)
{
	char	 buf[8192];
	size_t	 i, len;
	ssize_t	 n;
	FILE	*f;
	int	 fd;

	alarm(20);
	for (i = 0; i < sizeof sse_script / sizeof *sse_script; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		len = 0;
		while (len < sizeof buf - 1 && (n = read(fd, buf + len,
		    sizeof buf - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		buf[len] = '\0';
		if ((f = fopen(log, "a")) != NULL) {
			fprintf(f, "%s----\n", buf);
			fclose(f);
		}
		if (write(fd, sse_script[i], strlen(sse_script[i])) < 0)
			_exit(1);
		if (hold) {
			pause();	/* until killed */
			_exit(0);
		}
		close(fd);
	}
	_exit(0);
}

/* Starts the stand-in; returns its pid, its URL in url. */
static pid_t
sse_start(char *url, size_t len, char **log, int hold)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof sin;
	pid_t			pid;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, len, "http://127.0.0.1:%d", ntohs(sin.sin_port));
	xasprintf(log, "%s/sse-%d-%d.log", th_tmp(), (int)getpid(),
	    ntohs(sin.sin_port));
	unlink(*log);
	if ((pid = fork()) == 0)
		sse_serve(fd, *log, hold);
	close(fd);
	return (pid);
}

static void
sse_stop(pid_t pid, char *log)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(log);
	free(log);
}

/* The request heads the stand-in logged. */
static char **
sse_requests(const char *log, int *n)
{
	FILE	*f;
	char	*all, *p, *sep, **out = NULL;
	long	 len;

	*n = 0;
	assert_non_null(f = fopen(log, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	all = xmalloc((size_t)len + 1);
	all[fread(all, 1, (size_t)len, f)] = '\0';
	fclose(f);
	for (p = all; (sep = strstr(p, "----\n")) != NULL; p = sep + 5) {
		out = xrealloc(out, sizeof *out * (size_t)(*n + 1));
		out[(*n)++] = xstrndup(p, (size_t)(sep - p));
	}
	free(all);
	return (out);
}

static void
free_requests(char **reqs, int n)
{
	while (n-- > 0)
		free(reqs[n]);
	free(reqs);
}

/* watch against the stand-in, to the 204; its output and the requests. */
static void
sse_watch(int json, struct bg *b, char ***reqs, int *n)
{
	char	 url[64], *log;
	pid_t	 srv;
	int	 rc;

	srv = sse_start(url, sizeof url, &log, 0);
	bg_start(b, url, oper, json);
	rc = bg_end(b, 0, 10000);
	*reqs = sse_requests(log, n);
	sse_stop(srv, log);
	if (rc != 0)
		fail_msg("watch exited %d:\n%s", rc, b->buf);
}

static void
test_watch_follows_the_stream(void **state)
{
	static struct bg	 b;
	const char		*want[] = { "call.created", "call.updated",
				    "note", "message" };
	char			**reqs, *a, *u, *c, *e, *line, *next;
	json_t			*j;
	int			 n, i;

	(void)state;
	sse_watch(0, &b, &reqs, &n);
	a = strstr(b.buf, "call.created");
	u = strstr(b.buf, "call.updated");
	c = strstr(b.buf, "你好");
	e = strstr(b.buf, "plain text");
	if (a == NULL || u == NULL || c == NULL || e == NULL || a > u ||
	    u > c || c > e)
		fail_msg("events missing or out of order:\n%s", b.buf);
	assert_contains(b.buf, "call.created     #1  call 7 status=new\n");
	assert_contains(b.buf, "call.updated     #2  call 7 status=offered");
	/* An event without an id keeps the last one, as the standard says. */
	assert_contains(b.buf, "note             #2  你好\n");
	assert_contains(b.buf, "message          #3  plain text\n");
	assert_lacks(b.buf, "cut short");
	assert_contains(b.buf, "reconnecting in 0.");
	assert_contains(b.buf, "ended the event stream");

	/* Each reconnection says where it stopped, and who asks. */
	assert_int_equal(n, 4);
	assert_lacks(reqs[0], "Last-Event-ID");
	assert_contains(reqs[1], "Last-Event-ID: 2\r\n");
	assert_contains(reqs[2], "Last-Event-ID: 3\r\n");
	assert_contains(reqs[3], "Last-Event-ID: 3\r\n");
	for (i = 0; i < n; i++) {
		assert_contains(reqs[i], "GET /v1/events HTTP/1.1\r\n");
		assert_contains(reqs[i], "Accept: text/event-stream\r\n");
		assert_contains(reqs[i], oper);
	}
	free_requests(reqs, n);

	/* --json: one object per event, on a line of its own. */
	sse_watch(1, &b, &reqs, &n);
	i = 0;
	for (line = b.buf; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		if (strncmp(line, "carelinectl: ", 13) == 0)
			continue;
		if ((j = json_loads(line, 0, NULL)) == NULL)
			fail_msg("not JSON: \"%s\"", line);
		assert_true(i < 4);
		assert_string_equal(json_string_value(json_object_get(j,
		    "event")), want[i]);
		if (i == 1)
			assert_string_equal(json_string_value(
			    json_object_get(json_object_get(j, "data"),
			    "status")), "offered");
		if (i == 3) {
			assert_string_equal(json_string_value(
			    json_object_get(j, "id")), "3");
			assert_string_equal(json_string_value(
			    json_object_get(j, "data")), "plain text");
		}
		json_decref(j);
		i++;
	}
	assert_int_equal(i, 4);
	free_requests(reqs, n);
}

/* SIGTERM while the stream is open: a clean exit 0 (and no leak). */
static void
test_watch_stops_on_signal(void **state)
{
	static struct bg	 b;
	char			 url[64], *log;
	pid_t			 srv;

	(void)state;
	srv = sse_start(url, sizeof url, &log, 1);
	bg_start(&b, url, oper, 0);
	if (bg_read(&b, "call.updated", 10000) != 0)
		fail_msg("no event:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGTERM, 5000), 0);
	sse_stop(srv, log);
}

/*
 * watch against carelined: a call.ringing (the PBX hook, harmless to
 * repeat) shows up on the stream. Rung until seen, as the stream may not
 * be subscribed yet when the first one happens.
 */
static void
test_watch_carelined(void **state)
{
	static struct bg	 b;
	json_t			*j, *data;
	char			*line, *end;
	int			 tries;

	(void)state;
	bg_start(&b, d.url, oper, 1);
	for (tries = 0; tries < 25; tries++) {
		assert_int_equal(th_api(d.url, oper, "POST", "/v1/ringing",
		    "{\"phone\": \"139 0000 0001\"}", NULL), 202);
		if (bg_read(&b, "\"call.ringing\"", 200) == 0)
			break;
	}
	if (bg_read(&b, "}\n", 1000) != 0)
		fail_msg("no call.ringing from carelined:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGINT, 5000), 0);
	assert_non_null(line = strstr(b.buf, "{\"id\":"));
	assert_non_null(end = strchr(line, '\n'));
	*end = '\0';
	if ((j = json_loads(line, 0, NULL)) == NULL)
		fail_msg("not JSON: %s", line);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "call.ringing");
	assert_non_null(json_string_value(json_object_get(j, "id")));
	data = json_object_get(j, "data");
	assert_string_equal(json_string_value(json_object_get(data, "type")),
	    "call.ringing");
	/* Ids only: the stream carries no person (GET /v1/ringing/{id}). */
	assert_non_null(strstr(line, "\"ringing_id\""));
	assert_null(strstr(line, "王秀英"));
	json_decref(j);

	/* For people: the event's own time, type and id, then its data. */
	bg_start(&b, d.url, oper, 0);
	for (tries = 0; tries < 25; tries++) {
		assert_int_equal(th_api(d.url, oper, "POST", "/v1/ringing",
		    "{\"phone\": \"13900000001\"}", NULL), 202);
		if (bg_read(&b, "call.ringing", 200) == 0)
			break;
	}
	if (bg_read(&b, "ringing_id=", 1000) != 0)
		fail_msg("no call.ringing from carelined:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGTERM, 5000), 0);
}

/* Errors of watch: unreachable (3), a refused token (4). */
static void
test_watch_errors(void **state)
{
	char	*out, url[64];

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d", th_free_port());
	assert_int_equal(ctl_bare(&out, "--url", url, "--token", oper,
	    "watch", NULL), 3);
	assert_contains(out, "cannot reach carelined");
	free(out);
	assert_int_equal(ctl(&out, BOGUS_TOKEN, "watch", NULL), 4);
	assert_contains(out, "401 unauthorized");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_follows_the_stream),
		cmocka_unit_test(test_watch_stops_on_signal),
		cmocka_unit_test(test_watch_carelined),
		cmocka_unit_test(test_watch_errors),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
