/*
 * libcurl's multi-socket interface on a libevent loop, shared by
 * carelined's webhook sender and the demo receiver: one event per socket
 * curl asks to watch, one timer for curl's deadline, and each finished
 * transfer handed to a callback. No threads, no blocking calls.
 */
#ifndef CARELINE_CURL_EV_H
#define CARELINE_CURL_EV_H

#include <curl/curl.h>
#include <event2/event.h>

struct curl_ev;

/*
 * A transfer ended with result. easy is still in the multi handle: the
 * callback takes it out (curl_ev_remove) before it cleans it up, and may
 * add other transfers meanwhile.
 */
typedef void	(*curl_ev_done_cb)(CURL *easy, CURLcode result, void *arg);

struct curl_ev	*curl_ev_new(struct event_base *, curl_ev_done_cb, void *);
/* The multi handle, for curl_multi_setopt; owned by the curl_ev. */
CURLM		*curl_ev_multi(struct curl_ev *);
/* Start a transfer: 0, or -1 when curl refused it (done is not called). */
int		 curl_ev_add(struct curl_ev *, CURL *);
void		 curl_ev_remove(struct curl_ev *, CURL *);
/* Every transfer must have been removed first. Accepts NULL. */
void		 curl_ev_free(struct curl_ev *);

#endif
