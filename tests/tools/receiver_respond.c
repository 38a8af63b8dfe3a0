/*
 * The demo receiver's answers that do not go back on the request: an
 * accept or decline POSTed later on the shared curl_ev, and requests held
 * open by --hang-rate until the client gives up.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "curl_ev.h"
#include "log.h"
#include "receiver.h"
#include "xmalloc.h"

static size_t
respond_discard_cb(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return (size * n);
}

static const char *
respond_verb(const struct respond *rsp)
{
	return (rsp->rsp_kind == RESPOND_ACCEPT ? "accept" : "decline");
}

/* curl_ev: an accept or decline ended. */
void
respond_done(CURL *easy, CURLcode result, void *arg)
{
	struct respond	*rsp;
	char		*priv;
	long		 status;

	(void)arg;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	rsp = (struct respond *)priv;
	if (result != CURLE_OK) {
		log_warn("%s offer %s: failed (%s)", respond_verb(rsp),
		    rsp->rsp_offer, rsp->rsp_error[0] != '\0' ?
		    rsp->rsp_error : curl_easy_strerror(result));
	} else {
		status = 0;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		log_info("%s offer %s: %ld", respond_verb(rsp),
		    rsp->rsp_offer, status);
	}
	respond_free(rsp);
}

void
respond_free(struct respond *rsp)
{
	struct receiver	*r;

	if (rsp == NULL)
		return;
	r = rsp->rsp_rcv;
	TAILQ_REMOVE(&r->r_responds, rsp, rsp_entry);
	r->r_nresponds--;
	if (rsp->rsp_easy != NULL) {
		curl_ev_remove(r->r_curl, rsp->rsp_easy);
		curl_easy_cleanup(rsp->rsp_easy);
	}
	curl_slist_free_all(rsp->rsp_headers);
	if (rsp->rsp_timer != NULL)
		event_free(rsp->rsp_timer);
	free(rsp->rsp_url);
	free(rsp);
}

/* The wait is over: start the POST on the shared multi handle. */
static void
respond_start_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct respond	*rsp = arg;
	struct receiver	*r = rsp->rsp_rcv;
	const char	*body;
	CURL		*easy;

	(void)fd;
	(void)kind;
	body = rsp->rsp_kind == RESPOND_ACCEPT ? "{}" : "{\"reason\": \"busy\"}";
	if ((easy = curl_easy_init()) == NULL) {
		log_error("%s offer %s: cannot start libcurl",
		    respond_verb(rsp), rsp->rsp_offer);
		respond_free(rsp);
		return;
	}
	rsp->rsp_easy = easy;
	rsp->rsp_headers = curl_slist_append(NULL,
	    "Content-Type: application/json");
	curl_easy_setopt(easy, CURLOPT_URL, rsp->rsp_url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, rsp->rsp_headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, RECV_NAME);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)RECV_RESPOND_TIMEOUT);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, respond_discard_cb);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, rsp->rsp_error);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)rsp);
	if (curl_ev_add(r->r_curl, easy) != 0) {
		log_error("%s offer %s: cannot start libcurl",
		    respond_verb(rsp), rsp->rsp_offer);
		curl_easy_cleanup(easy);
		rsp->rsp_easy = NULL;
		respond_free(rsp);
	}
}

void
respond_schedule(struct receiver *r, const struct hook *h,
    enum respond_kind kind)
{
	struct respond	*rsp;
	struct timeval	 tv;

	if (r->r_nresponds >= RECV_PENDING_MAX) {
		log_warn("offer %s for provider %s: %u answers pending, "
		    "leaving it to expire", h->h_offer, h->h_provider,
		    r->r_nresponds);
		return;
	}
	rsp = xcalloc(1, sizeof *rsp);
	rsp->rsp_rcv = r;
	rsp->rsp_kind = kind;
	snprintf(rsp->rsp_provider, sizeof rsp->rsp_provider, "%s",
	    h->h_provider);
	snprintf(rsp->rsp_offer, sizeof rsp->rsp_offer, "%s", h->h_offer);
	rsp->rsp_url = xstrdup(kind == RESPOND_ACCEPT ? h->h_accept_url :
	    h->h_decline_url);
	rsp->rsp_timer = evtimer_new(r->r_base, respond_start_cb, rsp);
	TAILQ_INSERT_TAIL(&r->r_responds, rsp, rsp_entry);
	r->r_nresponds++;
	tv.tv_sec = cfg.accept_after / 1000;
	tv.tv_usec = (cfg.accept_after % 1000) * 1000;
	evtimer_add(rsp->rsp_timer, &tv);
	log_info("offer %s for provider %s: %s in %.1fs", h->h_offer,
	    h->h_provider, kind == RESPOND_ACCEPT ? "accepting" : "declining",
	    cfg.accept_after / 1000.0);
}

/* A withdrawn offer is not answered any more, unless already under way. */
void
respond_cancel(struct receiver *r, const struct hook *h)
{
	struct respond	*rsp, *next;

	for (rsp = TAILQ_FIRST(&r->r_responds); rsp != NULL; rsp = next) {
		next = TAILQ_NEXT(rsp, rsp_entry);
		if (rsp->rsp_easy == NULL &&
		    strcmp(rsp->rsp_provider, h->h_provider) == 0 &&
		    strcmp(rsp->rsp_offer, h->h_offer) == 0) {
			log_info("offer %s for provider %s: dropping the "
			    "pending %s", h->h_offer, h->h_provider,
			    respond_verb(rsp));
			respond_free(rsp);
		}
	}
}

static double
hang_elapsed(const struct hang *hg)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((double)(now.tv_sec - hg->hg_since.tv_sec) +
	    (now.tv_nsec - hg->hg_since.tv_nsec) / 1e9);
}

/* Forgets hg; with free_conn, also closes its connection and request. */
void
hang_drop(struct hang *hg, int free_conn)
{
	struct receiver	*r = hg->hg_rcv;

	TAILQ_REMOVE(&r->r_hangs, hg, hg_entry);
	r->r_nhangs--;
	evhttp_connection_set_closecb(hg->hg_evcon, NULL, NULL);
	if (free_conn)
		evhttp_connection_free(hg->hg_evcon);
	free(hg);
}

/*
 * evhttp closes the connection itself: if it saw the client go, it has
 * let go of the request, which is then ours to free.
 */
static void
hang_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct hang	*hg = arg;

	(void)evcon;
	log_info("webhook %s: connection closed after %.1fs", hg->hg_id,
	    hang_elapsed(hg));
	if (evhttp_request_get_connection(hg->hg_req) == NULL)
		evhttp_request_free(hg->hg_req);
	hang_drop(hg, 0);
}

/*
 * evhttp stops reading a connection once it has a request, so it does
 * not see the client hang up: peek at each socket for the end of file.
 */
void
hang_poll_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct receiver	*r = arg;
	struct hang	*hg, *next;
	char		 c;
	ssize_t		 n;
	int		 sock;

	(void)fd;
	(void)kind;
	for (hg = TAILQ_FIRST(&r->r_hangs); hg != NULL; hg = next) {
		next = TAILQ_NEXT(hg, hg_entry);
		sock = bufferevent_getfd(
		    evhttp_connection_get_bufferevent(hg->hg_evcon));
		n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0 || (n < 0 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK || errno == EINTR)))
			continue;
		log_info("webhook %s: client gave up after %.1fs", hg->hg_id,
		    hang_elapsed(hg));
		hang_drop(hg, 1);
	}
}

int
hang_hold(struct receiver *r, struct evhttp_request *req, const char *id)
{
	struct hang	*hg;

	if (r->r_nhangs >= RECV_HANG_MAX)
		return (-1);
	hg = xcalloc(1, sizeof *hg);
	hg->hg_rcv = r;
	hg->hg_req = req;
	hg->hg_evcon = evhttp_request_get_connection(req);
	snprintf(hg->hg_id, sizeof hg->hg_id, "%s", id);
	clock_gettime(CLOCK_MONOTONIC, &hg->hg_since);
	evhttp_connection_set_closecb(hg->hg_evcon, hang_closed_cb, hg);
	TAILQ_INSERT_TAIL(&r->r_hangs, hg, hg_entry);
	r->r_nhangs++;
	return (0);
}
