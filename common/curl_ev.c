#include <sys/queue.h>

#include <stdlib.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "curl_ev.h"
#include "xmalloc.h"

/* One socket curl wants watched: its event lives here. */
struct curl_ev_sock {
	TAILQ_ENTRY(curl_ev_sock)	 cs_entry;
	struct curl_ev			*cs_ce;
	curl_socket_t			 cs_fd;
	struct event			*cs_ev;
};
TAILQ_HEAD(curl_ev_socks, curl_ev_sock);

struct curl_ev {
	struct event_base	*ce_base;
	CURLM			*ce_multi;
	struct event		*ce_timer;	/* curl's deadline */
	struct curl_ev_socks	 ce_socks;	/* freed with us if curl did not */
	curl_ev_done_cb		 ce_done;
	void			*ce_arg;
};

/* Hand every finished transfer to the owner. */
static void
curl_ev_check_done(struct curl_ev *ce)
{
	CURLMsg	*msg;
	int	 left;

	while ((msg = curl_multi_info_read(ce->ce_multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			ce->ce_done(msg->easy_handle, msg->data.result,
			    ce->ce_arg);
	}
}

static void
curl_ev_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev_sock	*cs = arg;
	struct curl_ev		*ce = cs->cs_ce;
	int			 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* cs may be freed by curl from here on: use only ce. */
	curl_multi_socket_action(ce->ce_multi, fd, flags, &running);
	curl_ev_check_done(ce);
}

static void
curl_ev_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev	*ce = arg;
	int		 running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(ce->ce_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	curl_ev_check_done(ce);
}

static void
curl_ev_sock_free(struct curl_ev *ce, struct curl_ev_sock *cs)
{
	TAILQ_REMOVE(&ce->ce_socks, cs, cs_entry);
	event_free(cs->cs_ev);
	free(cs);
}

/* CURLMOPT_SOCKETFUNCTION: keep one event per socket in step with curl. */
static int
curl_ev_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct curl_ev		*ce = userp;
	struct curl_ev_sock	*cs = socketp;
	short			 kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL)
			curl_ev_sock_free(ce, cs);
		curl_multi_assign(ce->ce_multi, fd, NULL);
		return (0);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (cs == NULL) {
		cs = xcalloc(1, sizeof *cs);
		cs->cs_ce = ce;
		cs->cs_fd = fd;
		cs->cs_ev = event_new(ce->ce_base, fd, kind,
		    curl_ev_sock_event, cs);
		TAILQ_INSERT_TAIL(&ce->ce_socks, cs, cs_entry);
		curl_multi_assign(ce->ce_multi, fd, cs);
	} else {
		event_del(cs->cs_ev);
		event_assign(cs->cs_ev, ce->ce_base, fd, kind,
		    curl_ev_sock_event, cs);
	}
	event_add(cs->cs_ev, NULL);
	return (0);
}

/* CURLMOPT_TIMERFUNCTION: arm our one timer; never call curl from here. */
static int
curl_ev_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_ev	*ce = userp;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(ce->ce_timer);
		return (0);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(ce->ce_timer, &tv);
	return (0);
}

struct curl_ev *
curl_ev_new(struct event_base *base, curl_ev_done_cb done, void *arg)
{
	struct curl_ev	*ce;

	ce = xcalloc(1, sizeof *ce);
	ce->ce_base = base;
	ce->ce_done = done;
	ce->ce_arg = arg;
	TAILQ_INIT(&ce->ce_socks);
	if ((ce->ce_multi = curl_multi_init()) == NULL) {
		free(ce);
		return (NULL);
	}
	ce->ce_timer = evtimer_new(base, curl_ev_timer_event, ce);
	curl_multi_setopt(ce->ce_multi, CURLMOPT_SOCKETFUNCTION,
	    curl_ev_socket_cb);
	curl_multi_setopt(ce->ce_multi, CURLMOPT_SOCKETDATA, ce);
	curl_multi_setopt(ce->ce_multi, CURLMOPT_TIMERFUNCTION,
	    curl_ev_timer_cb);
	curl_multi_setopt(ce->ce_multi, CURLMOPT_TIMERDATA, ce);
	return (ce);
}

CURLM *
curl_ev_multi(struct curl_ev *ce)
{
	return (ce->ce_multi);
}

int
curl_ev_add(struct curl_ev *ce, CURL *easy)
{
	return (curl_multi_add_handle(ce->ce_multi, easy) == CURLM_OK ? 0 :
	    -1);
}

void
curl_ev_remove(struct curl_ev *ce, CURL *easy)
{
	curl_multi_remove_handle(ce->ce_multi, easy);
}

void
curl_ev_free(struct curl_ev *ce)
{
	if (ce == NULL)
		return;
	curl_multi_cleanup(ce->ce_multi);
	/* Sockets curl kept (idle keep-alive ones) and did not report. */
	while (!TAILQ_EMPTY(&ce->ce_socks))
		curl_ev_sock_free(ce, TAILQ_FIRST(&ce->ce_socks));
	event_free(ce->ce_timer);
	free(ce);
}
