/* carelinectl: watch, the event stream for people. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

/*
 * watch follows GET /v1/events (stream.c reads it) and reconnects with the
 * last id in Last-Event-ID, so nothing is missed in between.
 */

static volatile sig_atomic_t	ctl_stop;


static void
ctl_watch_signal(int sig)
{
	(void)sig;
	ctl_stop = 1;
}

/* curl calls it at least once a second: a signal ends the transfer. */
static int
ctl_watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return (ctl_stop ? 1 : 0);
}

/*
 * " key=value" for a line of text: times in the local zone, strings with
 * blanks quoted, nulls left out.
 */
static void
ctl_watch_pair(char **line, const char *key, json_t *v)
{
	char		 buf[64], *n;
	const char	*text, *q;
	json_t		*o;

	if (json_is_null(v))
		return;
	o = json_object();
	json_object_set(o, "v", v);
	if (json_is_object(v))
		text = "{...}";
	else if (json_is_array(v))
		text = "[...]";
	else if (json_is_string(v))
		text = ctl_time_fmt(json_string_value(v), "%Y-%m-%d %H:%M:%S",
		    buf, sizeof buf);
	else
		text = ctl_jtext(o, "v", buf, sizeof buf);
	q = json_is_string(v) && (*text == '\0' || strpbrk(text, " =\"") !=
	    NULL) ? "\"" : "";
	xasprintf(&n, "%s %s=%s%s%s", *line, key, q, text, q);
	free(*line);
	*line = n;
	json_decref(o);
}

/*
 * One event for people: its time, type and id, then what it says. An
 * event of carelined's is {"id", "type", "at", "call_id", "data"}: the
 * time is "at", the call is named, data's fields are shown flat.
 */
static void
ctl_watch_print(struct ctl_sse *s, const char *type, const char *data)
{
	json_t		*d, *v, *v2, *out;
	const char	*key, *key2, *at;
	char		 when[32], *clean, *line = NULL, *head;
	struct tm	 tm;
	time_t		 t;

	d = json_loads(data, JSON_DECODE_ANY, NULL);
	if (s->c->json) {
		v = d != NULL ? json_incref(d) : json_string(data);
		if (v == NULL)
			v = json_null();	/* not UTF-8: not JSON either */
		out = json_pack("{s:s?, s:s, s:o}", "id", s->lastid, "event",
		    type, "data", v);
		if (out != NULL && (line = json_dumps(out, JSON_COMPACT |
		    JSON_ENCODE_ANY)) != NULL)
			printf("%s\n", line);
		free(line);
		json_decref(out);
		json_decref(d);
		fflush(stdout);
		return;
	}
	t = time(NULL);
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	at = json_string_value(json_object_get(d, "at"));
	if (at != NULL)
		at = ctl_time_fmt(at, "%H:%M:%S", when, sizeof when);
	if (json_is_object(d)) {
		/* The call first, whatever order the keys came in. */
		if (json_is_integer(v = json_object_get(d, "call_id")))
			xasprintf(&line, " call %" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		else
			line = xstrdup("");
		json_object_foreach(d, key, v) {
			if (strcmp(key, "id") == 0 ||
			    strcmp(key, "type") == 0 ||
			    strcmp(key, "at") == 0 ||
			    (strcmp(key, "call_id") == 0 && json_is_integer(v)))
				continue;
			if (strcmp(key, "data") == 0 && json_is_object(v)) {
				json_object_foreach(v, key2, v2)
					ctl_watch_pair(&line, key2, v2);
			} else
				ctl_watch_pair(&line, key, v);
		}
	} else
		xasprintf(&line, " %s", data);
	xasprintf(&head, "%s  %-16s%s%s", at != NULL ? at : when, type,
	    s->lastid != NULL ? " #" : "", s->lastid != NULL ? s->lastid : "");
	clean = ctl_clean(head, 0);
	free(head);
	head = ctl_clean(line, 0);
	printf("%s %s\n", clean, head);
	fflush(stdout);
	free(head);
	free(clean);
	free(line);
	json_decref(d);
}

/* Waits ms, or less when a signal comes. */
static void
ctl_sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!ctl_stop && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
ctl_cmd_watch(struct ctl *c)
{
	struct ctl_sse		 s;
	struct sigaction	 sa;
	struct curl_slist	*h;
	json_t			*j;
	const char		*code;
	char			 errbuf[CURL_ERROR_SIZE], *url, *hdr, *why;
	char			*ct;
	long			 status, delay;
	int			 connected = 0, failures = 0, stream, k;
	int			 rc = CTL_EXIT_OK;
	CURLcode		 cc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_watch_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&s, 0, sizeof s);
	s.c = c;
	s.onevent = ctl_watch_print;
	s.retry_ms = CTL_SSE_RETRY_MS;
	url = xprintf("%s/v1/events", c->url);
	while (!ctl_stop) {
		h = ctl_http_setup(c, url, "text/event-stream", errbuf);
		h = curl_slist_append(h, "Cache-Control: no-cache");
		if (s.lastid != NULL && *s.lastid != '\0') {
			xasprintf(&hdr, "Last-Event-ID: %s", s.lastid);
			h = curl_slist_append(h, hdr);
			free(hdr);
		}
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION,
		    ctl_sse_write);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION,
		    ctl_watch_progress);
		/* A stream may be quiet for long: let TCP find a dead peer. */
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPIDLE, 30L);
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPINTVL, 10L);
		s.mode = s.cr = s.bom = s.events = s.toolong = 0;
		s.linelen = 0;
		free(s.other.data);
		s.other.data = NULL;
		s.other.len = 0;
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(h);
		status = 0;
		ct = NULL;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
		/* An event cut short by the end of the stream is dropped. */
		free(s.event);
		free(s.data);
		s.event = s.data = NULL;
		s.datalen = 0;
		if (ctl_stop)
			break;
		stream = status == 200 && ct != NULL &&
		    strncasecmp(ct, "text/event-stream", 17) == 0;
		if (s.toolong) {
			ctl_warn("an event line from %s is over %d bytes", url,
			    CTL_SSE_LINE_MAX);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		if (status == 204) {
			/* The standard's way to say: do not come back. */
			ctl_warn("carelined ended the event stream");
			break;
		}
		if (status != 0 && !stream && (status < 500 || !connected)) {
			if (status == 200) {
				ctl_warn("%s answered %s, not an event stream",
				    url, ct != NULL ? ct : "no content type");
				rc = CTL_EXIT_UNREACHABLE;
				break;
			}
			j = s.other.data != NULL ? json_loadb(s.other.data,
			    s.other.len, 0, NULL) : NULL;
			if (c->json && j != NULL)
				printf("%s\n", s.other.data);
			rc = ctl_api_fail(c, status, j);
			code = json_string_value(json_object_get(
			    json_object_get(j, "error"), "code"));
			if (status == 404 && code != NULL &&
			    strcmp(code, "not_found") == 0)
				ctl_warn("this carelined has no event stream "
				    "(GET /v1/events): it is older than this "
				    "carelinectl");
			json_decref(j);
			break;
		}
		if (status == 0 && !connected) {
			ctl_unreachable(c, cc, errbuf);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		/*
		 * The stream ended, or went away: back after the delay the
		 * server asked for, doubling while attempts fail.
		 */
		if (stream) {
			connected = 1;
			failures = 0;
			why = xstrdup("the event stream ended");
		} else {
			failures++;
			if (status != 0)
				why = xprintf("carelined answered %ld", status);
			else
				why = xprintf("cannot reach carelined (%s)",
				    *errbuf != '\0' ? errbuf :
				    curl_easy_strerror(cc));
		}
		delay = s.retry_ms;
		for (k = 1; k < failures && delay < CTL_SSE_BACKOFF_MAX_MS; k++)
			delay *= 2;
		if (delay > CTL_SSE_BACKOFF_MAX_MS)
			delay = CTL_SSE_BACKOFF_MAX_MS;
		/* Jitter: clients cut off together do not return together. */
		delay += delay > 0 ? random() % (delay / 5 + 1) : 0;
		ctl_warn("%s; reconnecting in %.1fs", why, delay / 1000.0);
		free(why);
		ctl_sleep_ms(delay);
	}
	free(url);
	free(s.other.data);
	free(s.line);
	free(s.idbuf);
	free(s.lastid);
	return (rc);
}

const struct ctl_command ctl_watch_entry = {
	"watch", "", 0, 0, ctl_opts_none, ctl_cmd_watch,
	"follow carelined's events as they happen, until Ctrl-C"
};
