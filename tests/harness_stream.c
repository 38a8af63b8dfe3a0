/*
 * What integration tests share beyond requests: the operators' event
 * stream read on a thread of its own, and a stand-in for systemd's
 * NOTIFY_SOCKET.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "xmalloc.h"

int
th_notify_open(const char *name, char **path)
{
	struct sockaddr_un	sun;
	int			fd;

	*path = xprintf("%s/%s-notify-%d.sock", th_tmp(), name, (int)getpid());
	unlink(*path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", *path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	return (fd);
}

char *
th_notify_expect(int fd, const char *want, int timeout_ms)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	long		deadline = th_now_ms() + timeout_ms;
	char		buf[1024];
	ssize_t		n;

	while (th_now_ms() < deadline) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((n = recv(fd, buf, sizeof buf - 1, 0)) <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, want) != NULL)
			return (xstrdup(buf));
	}
	return (NULL);
}

static size_t
th_stream_collect(char *p, size_t size, size_t n, void *arg)
{
	struct th_stream	*s = arg;

	pthread_mutex_lock(&s->lock);
	s->text = xrealloc(s->text, s->len + size * n + 1);
	memcpy(s->text + s->len, p, size * n);
	s->len += size * n;
	s->text[s->len] = '\0';
	pthread_mutex_unlock(&s->lock);
	return (size * n);
}

static int
th_stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
    curl_off_t e)
{
	struct th_stream	*s = arg;
	int			 stop;

	(void)a;
	(void)b;
	(void)c;
	(void)e;
	pthread_mutex_lock(&s->lock);
	stop = s->abort;
	pthread_mutex_unlock(&s->lock);
	return (stop);
}

static void *
th_stream_run(void *arg)
{
	struct th_stream	*s = arg;
	struct curl_slist	*h = NULL;
	char			 line[256];
	CURL			*c = curl_easy_init();
	CURLcode		 rc;
	long			 status = 0;

	snprintf(line, sizeof line, "Authorization: Bearer %s", s->token);
	h = curl_slist_append(h, line);
	if (s->last_id != NULL) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", s->last_id);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_stream_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, th_stream_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	/* A safety net only: every test waits for a condition. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	pthread_mutex_lock(&s->lock);
	s->rc = rc;
	s->status = status;
	s->done = 1;
	pthread_mutex_unlock(&s->lock);
	return (NULL);
}

int
th_stream_has(struct th_stream *s, const char *needle)
{
	int	yes;

	pthread_mutex_lock(&s->lock);
	yes = needle == NULL ? s->done : s->text != NULL &&
	    strstr(s->text, needle) != NULL;
	pthread_mutex_unlock(&s->lock);
	return (yes);
}

int
th_stream_wait(struct th_stream *s, const char *needle, int timeout_ms)
{
	long	until = th_now_ms() + timeout_ms;

	while (!th_stream_has(s, needle)) {
		if (th_now_ms() > until)
			return (-1);
		usleep(20000);
	}
	return (0);
}

struct th_stream *
th_stream_open(const char *base, const char *token, const char *last_id,
    int timeout_ms)
{
	struct th_stream	*s = xcalloc(1, sizeof *s);

	s->url = xprintf("%s/v1/events", base);
	s->token = xstrdup(token);
	s->last_id = last_id != NULL ? xstrdup(last_id) : NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_create(&s->thread, NULL, th_stream_run, s);
	assert_int_equal(th_stream_wait(s, ": connected\n", timeout_ms), 0);
	return (s);
}

void
th_stream_close(struct th_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->abort = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s->text);
	free(s->token);
	free(s->last_id);
	free(s->url);
	free(s);
}
