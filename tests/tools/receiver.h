/*
 * The demo receiver's parts (tests/tools/demo-receiver.c is the entry and
 * the HTTP side): its options (receiver_opts.c), and the answers it makes
 * later or holds open (receiver_respond.c).
 */
#ifndef CARELINE_RECEIVER_H
#define CARELINE_RECEIVER_H

#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "crypto.h"

#define RECV_NAME		"demo-receiver"
#define RECV_ADDRESS		"127.0.0.1"
#define RECV_BODY_MAX		(64 * 1024)
#define RECV_HEADERS_MAX	(16 * 1024)
#define RECV_SERVER_TIMEOUT	30	/* seconds to read a request */
#define RECV_TOLERANCE		300	/* seconds a timestamp may be off */
#define RECV_PENDING_MAX	1024	/* accepts and declines not yet done */
#define RECV_DEDUP_MAX		4096	/* webhook-ids remembered */
#define RECV_DEDUP_BUCKETS	8192	/* a power of two */
#define RECV_ID_MAX		128	/* webhook-id, offer_id, type */
#define RECV_PROVIDER_MAX	19	/* digits of a bigint */
#define RECV_URL_MAX		2048
#define RECV_KEY_MAX		64	/* Standard Webhooks: 24 to 64 bytes */
#define RECV_SECRET_MAX		(6 + 4 * ((RECV_KEY_MAX + 2) / 3))
#define RECV_SIG_MAX		(3 + 4 * ((CRYPTO_SHA256_LEN + 2) / 3))
#define RECV_RESPOND_TIMEOUT	10000	/* ms for an accept or decline */
#define RECV_HANG_MAX		256	/* requests held open at once */
#define RECV_HANG_POLL		1	/* seconds between looks for hang-ups */
#define RECV_DURATION_MAX	3600000	/* ms */

/* Options: the table below parses, checks and documents them. */
struct recv_config {
	long long	 port;
	long long	 accept_after;	/* ms */
	double		 decline_rate;
	double		 ignore_rate;
	double		 fail_rate;
	double		 hang_rate;
	long long	 fail_first;
	long long	 status;	/* 0: answer normally */
	long long	 retry_after;	/* -1: no Retry-After */
	long long	 seed;		/* -1: from the kernel */
	const char	*secret;	/* NULL: the demo secrets */
	const char	*log_path;
	int		 quiet;
};

extern struct recv_config cfg;

/* Valid webhook-ids seen lately: a ring of slots, chained by hash. */
struct dedup_entry {
	char		 de_id[RECV_ID_MAX + 1];	/* "" if unused */
	int		 de_next;	/* next slot in the bucket, or -1 */
	unsigned int	 de_seen;	/* valid deliveries so far */
	int		 de_done;	/* answered 2xx and acted on */
};

struct dedup {
	struct dedup_entry	 dd_slots[RECV_DEDUP_MAX];
	int			 dd_buckets[RECV_DEDUP_BUCKETS];
	int			 dd_ring;	/* next slot to (re)use */
};

enum respond_kind {
	RESPOND_ACCEPT,
	RESPOND_DECLINE,
};

/*
 * An accept or decline: waits on rsp_timer, then runs as rsp_easy. Owned
 * by the receiver's list; respond_free ends it in either state.
 */
struct respond {
	TAILQ_ENTRY(respond)	 rsp_entry;
	struct receiver		*rsp_rcv;
	enum respond_kind	 rsp_kind;
	char			 rsp_provider[RECV_PROVIDER_MAX + 1];
	char			 rsp_offer[RECV_ID_MAX + 1];
	char			*rsp_url;	/* a capability: never log it */
	struct event		*rsp_timer;
	CURL			*rsp_easy;	/* NULL until the POST starts */
	struct curl_slist	*rsp_headers;
	char			 rsp_error[CURL_ERROR_SIZE];
};
TAILQ_HEAD(respond_list, respond);

/*
 * A request held open by --hang-rate. evhttp owns the request and its
 * connection; we only drop the connection once the client has gone.
 */
struct hang {
	TAILQ_ENTRY(hang)		 hg_entry;
	struct receiver			*hg_rcv;
	struct evhttp_request		*hg_req;
	struct evhttp_connection	*hg_evcon;
	char				 hg_id[RECV_ID_MAX + 1];
	struct timespec			 hg_since;
};
TAILQ_HEAD(hang_list, hang);

struct receiver {
	struct event_base	*r_base;
	struct evhttp		*r_http;
	struct curl_ev		*r_curl;	/* the accepts and declines */
	struct event		*r_sigint;
	struct event		*r_sigterm;
	struct event		*r_hang_timer;
	FILE			*r_log;
	uint64_t		 r_rng;
	unsigned char		 r_key[RECV_KEY_MAX];	/* from --secret */
	size_t			 r_keylen;		/* 0: demo secrets */
	struct respond_list	 r_responds;
	unsigned int		 r_nresponds;
	struct hang_list	 r_hangs;
	unsigned int		 r_nhangs;
	struct dedup		 r_dedup;
};

/* What one delivery said and what it got: one --log line. */
struct hook {
	char		 h_provider[RECV_PROVIDER_MAX + 1];
	const char	*h_id;		/* the header, NULL if missing */
	json_t		*h_body;	/* parsed body, or NULL */
	const char	*h_type;	/* in h_body */
	json_t		*h_offer_json;	/* in h_body */
	char		 h_offer[RECV_ID_MAX + 1];	/* "" if none */
	const char	*h_accept_url;	/* in h_body */
	const char	*h_decline_url;	/* in h_body */
	int		 h_valid;
	unsigned int	 h_attempt;
	int		 h_duplicate;
};

/* receiver_opts.c: fills cfg from the defaults, then from argv. */
int	opt_load(int, char **, char **);

/* receiver_respond.c */
void	respond_done(CURL *, CURLcode, void *);
void	respond_free(struct respond *);
void	respond_schedule(struct receiver *, const struct hook *,
	    enum respond_kind);
void	respond_cancel(struct receiver *, const struct hook *);
void	hang_drop(struct hang *, int);
void	hang_poll_cb(evutil_socket_t, short, void *);
int	hang_hold(struct receiver *, struct evhttp_request *, const char *);

#endif
