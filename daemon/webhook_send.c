#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config.h"
#include "curl_ev.h"
#include "log.h"
#include "webhook.h"
#include "webhook_send.h"
#include "xmalloc.h"

#define WEBHOOK_SEND_USER_AGENT	"careline-webhooks/0.1"

/* Upper bounds of the attempt latency buckets, in seconds. */
const double webhook_send_latency_bounds[8] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5
};

struct webhook_sender {
	struct event_base	*base;
	const struct config	*cfg;
	struct curl_ev		*curl;		/* libcurl on our loop */
	webhook_send_done_cb	 done;
	void			*arg;
	int			 in_flight;
	struct webhook_jobs	 jobs;		/* in flight */
	struct webhook_send_stats stats;
};

void
webhook_job_free(struct webhook_job *job)
{
	if (job == NULL)
		return;
	free(job->event_id);
	free(job->event_type);
	free(job->url);
	free(job->payload);
	free(job->signature);
	free(job);
}

static long
webhook_send_ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* Read and drop the answer, but no more of it than configured. */
static size_t
webhook_send_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct webhook_job	*job = arg;

	(void)ptr;
	job->received += size * nmemb;
	/* Past the cap: stop reading; the status line already counts. */
	if (job->received > job->max_received)
		return (0);
	return (size * nmemb);
}

static size_t
webhook_send_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct webhook_job	*job = arg;
	size_t			 len = size * nmemb;
	char			 buf[64];
	long			 secs;

	if (len > 12 && len < sizeof buf &&
	    strncasecmp(ptr, "Retry-After:", 12) == 0) {
		memcpy(buf, ptr + 12, len - 12);
		buf[len - 12] = '\0';
		/* Seconds only; an HTTP date is rare from receivers. */
		secs = strtol(buf, NULL, 10);
		if (secs > 0 && secs <= 86400)
			job->retry_after_ms = secs * 1000;
	}
	return (len);
}

/* The address actually connected to must be allowed, not only the name. */
static curl_socket_t
webhook_send_open_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct webhook_job	*job = arg;

	(void)purpose;
	/* Every address curl tries, not only the first. */
	if (job->check_target && webhook_addr_private(&a->addr)) {
		job->refused = 1;
		return (CURL_SOCKET_BAD);
	}
	return (socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
}

/*
 * CURLOPT_PREREQFUNCTION: runs on every transfer, on a new connection or
 * a kept-alive one, before the request is sent. The open callback sees
 * only new sockets, so a connection pooled while private targets were
 * allowed would be reused after a reload forbade them: check here too.
 */
static int
webhook_send_prereq_cb(void *arg, char *ip, char *local_ip, int port,
    int local_port)
{
	struct webhook_job	*job = arg;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	(void)local_ip;
	(void)port;
	(void)local_port;
	if (!job->check_target)
		return (CURL_PREREQFUNC_OK);
	memset(&sin, 0, sizeof sin);
	memset(&sin6, 0, sizeof sin6);
	sin.sin_family = AF_INET;
	sin6.sin6_family = AF_INET6;
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
		if (!webhook_addr_private((struct sockaddr *)&sin))
			return (CURL_PREREQFUNC_OK);
	} else if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1) {
		if (!webhook_addr_private((struct sockaddr *)&sin6))
			return (CURL_PREREQFUNC_OK);
	}
	job->refused = 1;
	return (CURL_PREREQFUNC_ABORT);
}

static void
webhook_send_finish(struct webhook_sender *n, struct webhook_job *job,
    CURLcode rc)
{
	long	ms;
	int	i;

	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE,
	    &job->http_status);
	curl_ev_remove(n->curl, job->easy);
	curl_easy_cleanup(job->easy);
	curl_slist_free_all(job->headers);
	job->easy = NULL;
	job->headers = NULL;
	TAILQ_REMOVE(&n->jobs, job, entry);
	n->in_flight--;

	ms = webhook_send_ms_since(&job->started);
	job->duration_ms = ms;
	if (job->refused && job->http_status == 0) {
		job->outcome = WEBHOOK_DEAD;
		snprintf(job->error, sizeof job->error, "target address not "
		    "allowed (private, loopback or link-local)");
	} else if (job->http_status > 0) {
		job->outcome = webhook_classify(job->http_status);
		if (job->outcome != WEBHOOK_DELIVERED)
			snprintf(job->error, sizeof job->error, "HTTP %ld",
			    job->http_status);
		if (!webhook_honours_retry_after(job->http_status))
			job->retry_after_ms = -1;
	} else {
		job->outcome = WEBHOOK_RETRY;
		job->retry_after_ms = -1;
		snprintf(job->error, sizeof job->error, "%s",
		    curl_easy_strerror(rc));
	}
	n->stats.attempts++;
	if (job->outcome == WEBHOOK_DELIVERED)
		n->stats.delivered++;
	else
		n->stats.failed++;
	n->stats.latency_us_sum += (uint64_t)ms * 1000;
	for (i = 0; i < 8; i++) {
		if (ms / 1000.0 <= webhook_send_latency_bounds[i])
			n->stats.latency_bucket[i]++;
	}
	n->done(job, n->arg);
}

/* curl_ev: a transfer ended. */
static void
webhook_send_done(CURL *easy, CURLcode rc, void *arg)
{
	struct webhook_sender	*n = arg;
	struct webhook_job	*job;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&job);
	webhook_send_finish(n, job, rc);
}

void
webhook_send(struct webhook_sender *n, struct webhook_job *job)
{
	const struct config	*cfg = n->cfg;
	struct curl_slist	*h = NULL;
	char			 line[256];
	CURL			*e;

	clock_gettime(CLOCK_MONOTONIC, &job->started);
	job->retry_after_ms = -1;
	job->max_received = (size_t)cfg->webhook_max_response_bytes;
	job->check_target = !cfg->webhook_allow_private;
	job->refused = 0;
	e = curl_easy_init();
	h = curl_slist_append(h, "Content-Type: application/json");
	snprintf(line, sizeof line, "webhook-id: %s", job->event_id);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof line, "webhook-timestamp: %lld", job->timestamp);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof line, "webhook-signature: %s", job->signature);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Expect:");
	job->easy = e;
	job->headers = h;
	curl_easy_setopt(e, CURLOPT_URL, job->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* No proxy from the environment: the target check must see it. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->payload);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(job->payload));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_USERAGENT, WEBHOOK_SEND_USER_AGENT);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)cfg->webhook_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_send_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, webhook_send_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, job);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, webhook_send_open_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, job);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, webhook_send_prereq_cb);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, job);
	curl_easy_setopt(e, CURLOPT_PRIVATE, job);
	TAILQ_INSERT_TAIL(&n->jobs, job, entry);
	n->in_flight++;
	if (curl_ev_add(n->curl, e) != 0) {
		snprintf(job->error, sizeof job->error, "cannot start");
		webhook_send_finish(n, job, CURLE_FAILED_INIT);
	}
}

struct webhook_sender *
webhook_send_new(struct event_base *base, const struct config *cfg,
    webhook_send_done_cb done, void *arg)
{
	struct webhook_sender	*n;

	n = xcalloc(1, sizeof *n);
	n->base = base;
	n->cfg = cfg;
	n->done = done;
	n->arg = arg;
	TAILQ_INIT(&n->jobs);
	if ((n->curl = curl_ev_new(base, webhook_send_done, n)) == NULL) {
		log_error("webhooks: cannot start libcurl");
		abort();
	}
	/* Keep-alive connections to receivers, reused across deliveries. */
	curl_multi_setopt(curl_ev_multi(n->curl), CURLMOPT_MAXCONNECTS,
	    (long)cfg->webhook_max_in_flight);
	return (n);
}

int
webhook_send_in_flight(const struct webhook_sender *n)
{
	return (n->in_flight);
}

const struct webhook_send_stats *
webhook_send_stats(const struct webhook_sender *n)
{
	return (&n->stats);
}

void
webhook_send_free(struct webhook_sender *n)
{
	struct webhook_job	*job;

	if (n == NULL)
		return;
	/* Attempts cut short: their leases lapse and they are sent again. */
	while ((job = TAILQ_FIRST(&n->jobs)) != NULL) {
		TAILQ_REMOVE(&n->jobs, job, entry);
		curl_ev_remove(n->curl, job->easy);
		curl_easy_cleanup(job->easy);
		curl_slist_free_all(job->headers);
		webhook_job_free(job);
	}
	curl_ev_free(n->curl);
	free(n);
}
