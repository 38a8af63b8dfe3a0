/*
 * carelinectl: GET /v1/events as Server-Sent Events (the WHATWG HTML
 * standard, "Server-sent events"): lines end with CRLF, LF or CR; "field:
 * value"; a blank line dispatches the event; a line starting with ':' is a
 * comment; retry: sets the reconnection delay; the id of the last event is
 * kept for Last-Event-ID.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "xmalloc.h"

#include "ctl.h"

static void
ctl_sse_dispatch(struct ctl_sse *s)
{
	if (s->idbuf != NULL) {
		free(s->lastid);
		s->lastid = xstrdup(s->idbuf);
	}
	if (s->datalen > 0) {
		s->data[--s->datalen] = '\0';	/* the last line's \n */
		s->onevent(s, s->event != NULL && *s->event != '\0' ?
		    s->event : "message", s->data);
		s->events++;
	}
	free(s->event);
	free(s->data);
	s->event = s->data = NULL;
	s->datalen = 0;
}

static void
ctl_sse_line(struct ctl_sse *s, const char *line, size_t len)
{
	const char	*colon, *val;
	size_t		 flen, vlen, i;

	if (len == 0) {
		ctl_sse_dispatch(s);
		return;
	}
	if (line[0] == ':')
		return;
	if ((colon = memchr(line, ':', len)) != NULL) {
		flen = (size_t)(colon - line);
		val = colon + 1;
		vlen = len - flen - 1;
		if (vlen > 0 && *val == ' ') {
			val++;
			vlen--;
		}
	} else {
		flen = len;
		val = "";
		vlen = 0;
	}
	if (flen == 5 && memcmp(line, "event", 5) == 0) {
		free(s->event);
		s->event = xstrndup(val, vlen);
	} else if (flen == 4 && memcmp(line, "data", 4) == 0) {
		s->data = xrealloc(s->data, s->datalen + vlen + 2);
		memcpy(s->data + s->datalen, val, vlen);
		s->datalen += vlen;
		s->data[s->datalen++] = '\n';
		s->data[s->datalen] = '\0';
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(val, '\0', vlen) == NULL) {
			free(s->idbuf);
			s->idbuf = xstrndup(val, vlen);
		}
	} else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
		for (i = 0; i < vlen && isdigit((unsigned char)val[i]); i++)
			;
		if (vlen > 0 && i == vlen && vlen < 9)
			s->retry_ms = strtol(val, NULL, 10);
	}
}

/* One byte of the stream; -1 when a line is too long to keep. */
static int
ctl_sse_byte(struct ctl_sse *s, char ch)
{
	if (ch == '\n' && s->cr) {
		s->cr = 0;
		return (0);
	}
	s->cr = ch == '\r';
	if (ch == '\r' || ch == '\n') {
		ctl_sse_line(s, s->line, s->linelen);
		s->linelen = 0;
		return (0);
	}
	if (s->linelen + 1 >= s->linecap) {
		if (s->linecap >= CTL_SSE_LINE_MAX)
			return (-1);
		s->line = xrealloc(s->line, s->linecap = s->linecap != 0 ?
		    2 * s->linecap : 256);
	}
	s->line[s->linelen++] = ch;
	return (0);
}

size_t
ctl_sse_write(char *p, size_t size, size_t n, void *arg)
{
	static const char	 bom[] = "\xef\xbb\xbf";
	struct ctl_sse		*s = arg;
	size_t			 len = size * n, i, k;
	long			 status = 0;
	char			*ct = NULL;

	if (s->mode == 0) {
		curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(s->c->curl, CURLINFO_CONTENT_TYPE, &ct);
		s->mode = status == 200 && ct != NULL &&
		    strncasecmp(ct, "text/event-stream", 17) == 0 ? 1 : 2;
	}
	if (s->mode == 2)
		return (ctl_buf_write(p, size, n, &s->other));
	for (i = 0; i < len; i++) {
		/* A byte-order mark may open the stream; it is not text. */
		if (s->bom < 3) {
			if (p[i] == bom[s->bom]) {
				s->bom++;
				continue;
			}
			for (k = 0; k < (size_t)s->bom; k++) {
				if (ctl_sse_byte(s, bom[k]) != 0)
					goto toolong;
			}
			s->bom = 3;
		}
		if (ctl_sse_byte(s, p[i]) != 0)
			goto toolong;
	}
	return (len);
toolong:
	s->toolong = 1;
	return (0);	/* curl ends the transfer */
}
