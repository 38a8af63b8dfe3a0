/*
 * carelinectl: one HTTP/JSON request, carelined's errors, lists a page at
 * a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

size_t
ctl_buf_write(char *p, size_t size, size_t n, void *arg)
{
	struct ctl_buf	*b = arg;

	if (b->len + size * n > CTL_BODY_MAX)
		return (0);	/* curl fails the transfer */
	b->data = xrealloc(b->data, b->len + size * n + 1);
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return (size * n);
}

/* What every request shares; returns the header list to free. */
struct curl_slist *
ctl_http_setup(struct ctl *c, const char *url, const char *accept,
    char *errbuf)
{
	struct curl_slist	*h = NULL;
	char			*line;

	curl_easy_reset(c->curl);
	errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	/* The token goes to carelined only: no redirects, no file://. */
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    CTL_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "carelinectl/"
	    CTL_VERSION);
	h = curl_slist_append(h, c->auth);
	xasprintf(&line, "Accept: %s", accept);
	h = curl_slist_append(h, line);
	free(line);
	h = curl_slist_append(h, "Expect:");
	return (h);
}

void
ctl_unreachable(struct ctl *c, CURLcode cc, const char *errbuf)
{
	ctl_warn("cannot reach carelined at %s: %s", c->url,
	    *errbuf != '\0' ? errbuf : curl_easy_strerror(cc));
}

/* Prints carelined's error; returns the exit status it means. */
int
ctl_api_fail(struct ctl *c, long status, json_t *j)
{
	json_t		*e = json_object_get(j, "error"), *x, *v;
	struct ctl_table *t;
	const char	*code, *msg, *field;
	char		 b1[32], b2[32], b3[64];
	size_t		 i;
	int		 rc;

	if (status == 401 || status == 403)
		rc = CTL_EXIT_AUTH;
	else if (status >= 400 && status < 500)
		rc = CTL_EXIT_REFUSED;
	else
		rc = CTL_EXIT_UNREACHABLE;
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	field = json_string_value(json_object_get(e, "field"));
	if (code == NULL) {
		ctl_warn("%ld from %s, which is not a careline error (is "
		    "this carelined?)", status, c->url);
		return (rc);
	}
	if (field != NULL)
		ctl_warn("%ld %s (%s): %s", status, code, field,
		    msg != NULL ? msg : "");
	else
		ctl_warn("%ld %s: %s", status, code, msg != NULL ? msg : "");
	if (strcmp(code, "ambiguous_resident") == 0 &&
	    json_array_size(x = json_object_get(j, "candidates")) > 0) {
		fprintf(stderr, "choose one with --resident ID:\n");
		t = ctl_table_new(3, CTL_CELL_MAX, 1);
		ctl_table_row(t, "ID", "NAME", "ADDRESS");
		json_array_foreach(x, i, v) {
			ctl_table_row(t, ctl_jtext(v, "id", b1, sizeof b1),
			    ctl_jtext(v, "name", b2, sizeof b2),
			    ctl_jtext(v, "address", b3, sizeof b3));
		}
		ctl_table_print(t, stderr);
		ctl_table_free(t);
	} else if (strcmp(code, "duplicate_call") == 0 &&
	    (x = json_object_get(j, "open_call")) != NULL)
		ctl_warn("the open call is %lld (%s, logged %s); add "
		    "--duplicate-ok to log another", ctl_jint(x, "id"),
		    ctl_jtext(x, "status", b1, sizeof b1),
		    ctl_jtime(x, "created_at", b3, sizeof b3));
	else if (strcmp(code, "invalid_transition") == 0 &&
	    (x = json_object_get(j, "call")) != NULL)
		ctl_warn("call %lld is %s", ctl_jint(x, "id"),
		    ctl_jtext(x, "status", b1, sizeof b1));
	else if (status == 401)
		ctl_warn("check the token (--token, CARELINE_TOKEN or the "
		    "config file)");
	return (rc);
}

/*
 * One request. body, when not NULL, is sent as JSON. On success *out is
 * the answer (caller decrefs), printed as it is under --json; otherwise
 * the error is printed and the exit status returned.
 */
int
ctl_api(struct ctl *c, const char *method, const char *path, json_t *body,
    json_t **out)
{
	struct curl_slist	*h;
	struct ctl_buf		 b = { NULL, 0 };
	char			 errbuf[CURL_ERROR_SIZE], *url, *text = NULL;
	json_t			*j = NULL;
	long			 status = 0;
	CURLcode		 cc;
	int			 rc;

	*out = NULL;
	url = xprintf("%s%s", c->url, path);
	h = ctl_http_setup(c, url, "application/json", errbuf);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, CTL_TIMEOUT_MS);
	if (strcmp(method, "POST") == 0) {
		if (body != NULL)
			text = json_dumps(body, JSON_COMPACT);
		/* No body: no Content-Type, or curl claims a form. */
		h = curl_slist_append(h, text != NULL ?
		    "Content-Type: application/json" : "Content-Type:");
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    text != NULL ? text : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		    (long)(text != NULL ? strlen(text) : 0));
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, ctl_buf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	free(text);
	free(url);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR)
			ctl_warn("the answer from %s is over %d bytes", c->url,
			    CTL_BODY_MAX);
		else
			ctl_unreachable(c, cc, errbuf);
		free(b.data);
		return (CTL_EXIT_UNREACHABLE);
	}
	if (b.data != NULL)
		j = json_loadb(b.data, b.len, 0, NULL);
	if (status >= 200 && status < 300 && j == NULL) {
		ctl_warn("%ld from %s, but not JSON (is this carelined?)",
		    status, c->url);
		rc = CTL_EXIT_UNREACHABLE;
	} else if (status >= 200 && status < 300) {
		rc = CTL_EXIT_OK;
		*out = j;
		j = NULL;
	} else
		rc = ctl_api_fail(c, status, j);
	/* For scripts the answer stands as it is, error or not. */
	if (c->json && (rc == CTL_EXIT_OK || j != NULL) && b.data != NULL) {
		fwrite(b.data, 1, b.len, stdout);
		if (b.len == 0 || b.data[b.len - 1] != '\n')
			putchar('\n');
	}
	json_decref(j);
	free(b.data);
	return (rc);
}

/* Appends key=value, escaped, to a query string (NULL value: nothing). */
void
ctl_query(struct ctl *c, char **q, const char *key, const char *value)
{
	char	*e, *n;

	if (value == NULL)
		return;
	e = curl_easy_escape(c->curl, value, 0);
	xasprintf(&n, "%s%c%s=%s", *q != NULL ? *q : "", *q != NULL ? '&' :
	    '?', key, e);
	curl_free(e);
	free(*q);
	*q = n;
}

static void
ctl_more(struct ctl *c, json_t *j)
{
	const char	*next;

	next = json_string_value(json_object_get(j, "next_cursor"));
	if (next != NULL && !c->json)
		ctl_warn("more: carelinectl %s ... --cursor %s", c->cmd->name,
		    next);
}

/*
 * GET a list: base plus the query built in q (freed here). Under --json
 * the answer is already printed and *out is NULL; otherwise *out holds it
 * for a table and ctl_list_done ends the command.
 */
int
ctl_list_get(struct ctl *c, const char *base, char *q, json_t **out)
{
	char	*path;
	int	 rc;

	path = xprintf("%s%s", base, q != NULL ? q : "");
	free(q);
	rc = ctl_api(c, "GET", path, NULL, out);
	free(path);
	if (rc != CTL_EXIT_OK || c->json) {
		json_decref(*out);
		*out = NULL;
	}
	return (rc);
}

int
ctl_list_done(struct ctl *c, json_t *j)
{
	ctl_more(c, j);
	json_decref(j);
	return (CTL_EXIT_OK);
}
