/*
 * demo-receiver: stands in for the providers' webhook endpoints, for the
 * demo (`make run`) and for fault-injection tests.
 *
 * It listens on 127.0.0.1:PORT for Standard Webhooks deliveries:
 *
 *	POST /hooks/<provider_id>
 *	webhook-id: <id>
 *	webhook-timestamp: <unix seconds>
 *	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> ...
 *
 * Several space-separated signatures may come while a secret rotates: one
 * match is enough. The HMAC key is the base64 part of the provider's
 * "whsec_..." secret, decoded. By default that is the demo district's
 * secret, "whsec_" + base64(sha256("demo-" + provider_id)) as
 * sql/demo/seed.sql sets it; --secret gives one secret for every provider.
 *
 * A delivery is valid when its headers are all there, one signature
 * matches and its timestamp is within 5 minutes of ours; otherwise it gets
 * a 401. Valid deliveries are remembered by webhook-id (the last 4096): a
 * second valid delivery of one already acted on is answered 200 and not
 * acted on again. Every webhook is answered at once; for offer.created
 * the accept (or decline) is a POST made later, from a timer, with libcurl
 * driven by the same event loop:
 *
 *	accept:  POST accept_url   {}
 *	decline: POST decline_url  {"reason": "busy"}
 *
 * The fault options decide, in this order, what a valid delivery gets:
 * --status, --fail-first, --hang-rate, --fail-rate, then the normal 200.
 * Only a 2xx answer acts on a webhook.
 *
 * stderr gets one line per event, with ids only: an accept answer carries
 * the resident's personal data, so neither it nor the capability URLs are
 * ever printed. --log FILE appends one JSON object per line for every
 * POST to /hooks/<id>, flushed at once, for tests to read:
 *
 *	{"webhook_id": "msg_1", "type": "offer.created", "provider": 3,
 *	 "offer_id": 12, "valid": true, "attempt_seen": 1, "at": <unix ms>,
 *	 "status": 200, "duplicate": false}
 *
 * attempt_seen counts the valid deliveries of that webhook-id so far (0
 * for an invalid one, which is not counted); status is what it was
 * answered, 0 when it was held open by --hang-rate.
 *
 * Examples:
 *	demo-receiver
 *	demo-receiver --port 18189 --secret whsec_... --fail-first 2 --log f
 *	demo-receiver --status 503 --retry-after 30
 *
 * SIGINT and SIGTERM end it with status 0. Run with --help for the options.
 */

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "crypto.h"
#include "curl_ev.h"
#include "log.h"
#include "xmalloc.h"

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
struct config {
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

static struct config cfg = {
	.status = 0,
	.retry_after = -1,
	.seed = -1,
};

enum opt_type {
	OPT_INT,
	OPT_RATE,
	OPT_DURATION,
	OPT_STRING,
	OPT_FLAG,
};

struct opt_entry {
	const char	*name;
	enum opt_type	 type;
	const char	*arg;		/* shown in --help */
	long long	 min;
	long long	 max;
	const char	*def;		/* parsed like an argument; NULL: unset */
	void		*var;
	const char	*help;
};

static const struct opt_entry opt_table[] = {
	{ "port", OPT_INT, "N", 1, 65535, "8089", &cfg.port,
	  "listen on " RECV_ADDRESS ":N" },
	{ "accept-after", OPT_DURATION, "DURATION", 0, RECV_DURATION_MAX, "2s",
	  &cfg.accept_after,
	  "wait this long after offer.created before\n"
	  "answering it: 500ms, 2s, 1.5s, 1m; a bare\n"
	  "number is seconds" },
	{ "decline-rate", OPT_RATE, "P", 0, 0, "0", &cfg.decline_rate,
	  "share of offers declined, {\"reason\": \"busy\"}" },
	{ "ignore-rate", OPT_RATE, "P", 0, 0, "0", &cfg.ignore_rate,
	  "share of offers neither accepted nor declined:\n"
	  "they expire" },
	{ "fail-rate", OPT_RATE, "P", 0, 0, "0", &cfg.fail_rate,
	  "share of webhook deliveries answered 500" },
	{ "fail-first", OPT_INT, "N", 0, INT_MAX, "0", &cfg.fail_first,
	  "answer the first N deliveries of each webhook-id\n"
	  "with 500" },
	{ "status", OPT_INT, "CODE", 100, 599, NULL, &cfg.status,
	  "answer every webhook with CODE; only a 2xx CODE\n"
	  "still acts on it" },
	{ "retry-after", OPT_INT, "SECONDS", 0, 86400, NULL, &cfg.retry_after,
	  "with --status 429 or 503, send Retry-After: SECONDS" },
	{ "hang-rate", OPT_RATE, "P", 0, 0, "0", &cfg.hang_rate,
	  "share of deliveries never answered: held open\n"
	  "until the client gives up" },
	{ "seed", OPT_INT, "N", 0, LLONG_MAX, NULL, &cfg.seed,
	  "random seed, for reproducible runs (default: from\n"
	  "the kernel, printed at start)" },
	{ "secret", OPT_STRING, "whsec_...", 0, 0, NULL, &cfg.secret,
	  "one signing secret for every provider (default:\n"
	  "each demo provider's own, which is\n"
	  "whsec_ + base64(sha256(\"demo-\" + id)))" },
	{ "log", OPT_STRING, "FILE", 0, 0, NULL, &cfg.log_path,
	  "append one JSON line per received webhook to\n"
	  "FILE" },
	{ "quiet", OPT_FLAG, NULL, 0, 0, NULL, &cfg.quiet,
	  "print only warnings and errors" },
};
#define OPT_COUNT	(sizeof opt_table / sizeof opt_table[0])
#define OPT_HELP	256	/* getopt value of --help; options follow */

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

static void	respond_free(struct respond *);

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* splitmix64: small, and the same sequence everywhere for one --seed. */
static double
rng_next(struct receiver *r)
{
	uint64_t	z;

	z = (r->r_rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return ((double)(z >> 11) * 0x1.0p-53);
}

/* Draws only when the rate can matter, so other options keep their draws. */
static int
rng_chance(struct receiver *r, double rate)
{
	if (rate <= 0)
		return (0);
	return (rng_next(r) < rate);
}

/*
 * Ids go into log lines and the dedup table as they are: allow only
 * characters that cannot be mistaken for anything else.
 */
static int
id_is_safe(const char *s)
{
	size_t	len = strlen(s);

	if (len == 0 || len > RECV_ID_MAX)
		return (0);
	return (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:-") == len);
}

static int
opt_parse_int(const struct opt_entry *o, const char *s, char **cause)
{
	long long	 v;
	char		*end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0) {
		xasprintf(cause, "--%s: %s is not a number", o->name, s);
		return (-1);
	}
	if (v < o->min || v > o->max) {
		xasprintf(cause, "--%s: %s is not in %lld..%lld", o->name, s,
		    o->min, o->max);
		return (-1);
	}
	*(long long *)o->var = v;
	return (0);
}

static int
opt_parse_rate(const struct opt_entry *o, const char *s, char **cause)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < 0 || v > 1) {
		xasprintf(cause, "--%s: %s is not a share from 0 to 1",
		    o->name, s);
		return (-1);
	}
	*(double *)o->var = v;
	return (0);
}

static int
opt_parse_duration(const struct opt_entry *o, const char *s, char **cause)
{
	double	 v, unit;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0)
		goto bad;
	if (*end == '\0' || strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60000;
	else
		goto bad;
	v *= unit;
	if (v > (double)o->max)
		goto bad;
	/* Rounded by hand: the Makefile links no libm. */
	*(long long *)o->var = (long long)(v + 0.5);
	return (0);
bad:
	xasprintf(cause, "--%s: %s is not a duration from 0 to %llds",
	    o->name, s, o->max / 1000);
	return (-1);
}

static int
opt_parse(const struct opt_entry *o, const char *s, char **cause)
{
	switch (o->type) {
	case OPT_INT:
		return (opt_parse_int(o, s, cause));
	case OPT_RATE:
		return (opt_parse_rate(o, s, cause));
	case OPT_DURATION:
		return (opt_parse_duration(o, s, cause));
	case OPT_STRING:
		*(const char **)o->var = s;
		return (0);
	case OPT_FLAG:
		*(int *)o->var = 1;
		return (0);
	}
	return (-1);
}

static void
opt_usage(FILE *f)
{
	const struct opt_entry	*o;
	const char		*p, *nl;
	char			 left[64];
	size_t			 i;

	fprintf(f, "usage: %s [options]\n\n"
	    "Answers careline's signed webhooks on POST /hooks/<provider_id>\n"
	    "and accepts or declines the offers they bring.\n\n", RECV_NAME);
	for (i = 0; i < OPT_COUNT; i++) {
		o = &opt_table[i];
		if (o->arg != NULL)
			snprintf(left, sizeof left, "--%s %s", o->name, o->arg);
		else
			snprintf(left, sizeof left, "--%s", o->name);
		fprintf(f, "  %-26s", left);
		for (p = o->help; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			fprintf(f, "%.*s\n  %-26s", (int)(nl - p), p, "");
		fputs(p, f);
		if (o->def != NULL && strcmp(o->def, "0") != 0)
			fprintf(f, " (default %s)", o->def);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s%s\n", "--help", "show this and exit");
}

/* Fills cfg from the defaults in the table, then from argv. */
static int
opt_load(int argc, char **argv, char **cause)
{
	struct option	 longopts[OPT_COUNT + 2];
	size_t		 i;
	int		 ch;

	for (i = 0; i < OPT_COUNT; i++) {
		if (opt_table[i].def != NULL &&
		    opt_parse(&opt_table[i], opt_table[i].def, cause) != 0)
			return (-1);
		longopts[i].name = opt_table[i].name;
		longopts[i].has_arg = opt_table[i].type == OPT_FLAG ?
		    no_argument : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = OPT_HELP + 1 + (int)i;
	}
	longopts[i++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h' || ch == OPT_HELP) {
			opt_usage(stdout);
			exit(0);
		}
		if (ch <= OPT_HELP || ch > OPT_HELP + (int)OPT_COUNT) {
			xasprintf(cause, "try --help");
			return (-1);
		}
		if (opt_parse(&opt_table[ch - OPT_HELP - 1], optarg, cause) != 0)
			return (-1);
	}
	if (optind != argc) {
		xasprintf(cause, "unexpected argument %s", argv[optind]);
		return (-1);
	}
	if (cfg.decline_rate + cfg.ignore_rate > 1) {
		xasprintf(cause, "--decline-rate and --ignore-rate add up to "
		    "more than 1");
		return (-1);
	}
	if (cfg.retry_after >= 0 && cfg.status != 429 && cfg.status != 503) {
		xasprintf(cause, "--retry-after needs --status 429 or 503");
		return (-1);
	}
	return (0);
}

/* Decodes a "whsec_<base64>" secret into its HMAC key. */
static int
secret_decode(const char *secret, unsigned char *key, size_t *keylen,
    char **cause)
{
	unsigned char	buf[3 * RECV_SECRET_MAX / 4 + 3];
	int		n;

	if (strncmp(secret, "whsec_", 6) != 0 ||
	    strlen(secret) > RECV_SECRET_MAX ||
	    (n = crypto_unbase64(secret + 6, buf)) <= 0 || n > RECV_KEY_MAX) {
		xasprintf(cause, "--secret must be whsec_ and the base64 of 1 "
		    "to %d bytes", RECV_KEY_MAX);
		return (-1);
	}
	memcpy(key, buf, (size_t)n);
	*keylen = (size_t)n;
	return (0);
}

static uint32_t
dedup_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h & (RECV_DEDUP_BUCKETS - 1));
}

static void
dedup_init(struct dedup *dd)
{
	size_t	i;

	for (i = 0; i < RECV_DEDUP_BUCKETS; i++)
		dd->dd_buckets[i] = -1;
	for (i = 0; i < RECV_DEDUP_MAX; i++) {
		dd->dd_slots[i].de_id[0] = '\0';
		dd->dd_slots[i].de_next = -1;
	}
	dd->dd_ring = 0;
}

static void
dedup_unlink(struct dedup *dd, int slot)
{
	int	*p;

	p = &dd->dd_buckets[dedup_hash(dd->dd_slots[slot].de_id)];
	while (*p != slot)
		p = &dd->dd_slots[*p].de_next;
	*p = dd->dd_slots[slot].de_next;
}

/* Counts one valid delivery of id; the oldest id makes room if need be. */
static struct dedup_entry *
dedup_record(struct dedup *dd, const char *id)
{
	struct dedup_entry	*de;
	uint32_t		 b = dedup_hash(id);
	int			 slot;

	for (slot = dd->dd_buckets[b]; slot != -1; slot = de->de_next) {
		de = &dd->dd_slots[slot];
		if (strcmp(de->de_id, id) == 0) {
			de->de_seen++;
			return (de);
		}
	}
	slot = dd->dd_ring;
	dd->dd_ring = (dd->dd_ring + 1) % RECV_DEDUP_MAX;
	de = &dd->dd_slots[slot];
	if (de->de_id[0] != '\0')
		dedup_unlink(dd, slot);
	snprintf(de->de_id, sizeof de->de_id, "%s", id);
	de->de_seen = 1;
	de->de_done = 0;
	de->de_next = dd->dd_buckets[b];
	dd->dd_buckets[b] = slot;
	return (de);
}

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
static void
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

static void
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

static void
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
static void
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
static void
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
static void
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

static int
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

/* Appends this delivery to --log, one flushed line, for tests to read. */
static void
hook_log(struct receiver *r, const struct hook *h, int status)
{
	json_t	*o;
	char	*line;

	if (r->r_log == NULL)
		return;
	o = json_object();
	json_object_set_new(o, "webhook_id",
	    h->h_id != NULL ? json_string(h->h_id) : json_null());
	json_object_set_new(o, "type",
	    h->h_type != NULL ? json_string(h->h_type) : json_null());
	json_object_set_new(o, "provider",
	    json_integer(strtoll(h->h_provider, NULL, 10)));
	json_object_set(o, "offer_id",
	    h->h_offer_json != NULL ? h->h_offer_json : json_null());
	json_object_set_new(o, "valid", json_boolean(h->h_valid));
	json_object_set_new(o, "attempt_seen", json_integer(h->h_attempt));
	json_object_set_new(o, "at", json_integer(now_ms()));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "duplicate", json_boolean(h->h_duplicate));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line == NULL)
		return;
	if (fprintf(r->r_log, "%s\n", line) < 0 || fflush(r->r_log) != 0)
		log_warn("--log: %s", strerror(errno));
	free(line);
}

/* Every answer to a delivery goes through here, and is logged. */
static void
hook_reply(struct receiver *r, struct evhttp_request *req,
    const struct hook *h, int status, const char *error)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	char			 retry[24];

	if (h != NULL)
		hook_log(r, h, status);
	buf = evbuffer_new();
	/* A 204 may carry no body at all. */
	if (status != 204) {
		if (error != NULL)
			evbuffer_add_printf(buf, "{\"error\":\"%s\"}\n", error);
		else
			evbuffer_add_printf(buf, "{\"ok\":true}\n");
		evhttp_add_header(out, "Content-Type", "application/json");
	}
	if (cfg.retry_after >= 0 && (status == 429 || status == 503)) {
		snprintf(retry, sizeof retry, "%lld", cfg.retry_after);
		evhttp_add_header(out, "Retry-After", retry);
	}
	evhttp_send_reply(req, status, NULL, buf);
	evbuffer_free(buf);
}

/* "/hooks/<digits>", without leading zeros, as careline builds it. */
static int
hook_path_provider(const char *path, char *provider, size_t size)
{
	const char	*p;
	size_t		 len;

	if (path == NULL || strncmp(path, "/hooks/", 7) != 0)
		return (-1);
	p = path + 7;
	len = strlen(p);
	if (len == 0 || len > RECV_PROVIDER_MAX || p[0] == '0' ||
	    strspn(p, "0123456789") != len || len >= size)
		return (-1);
	errno = 0;
	if (strtoll(p, NULL, 10) == LLONG_MAX && errno == ERANGE)
		return (-1);
	memcpy(provider, p, len + 1);
	return (0);
}

/*
 * Reads what the log line and the action need from the body. Returns -1
 * with a cause for a payload careline should never send.
 */
static int
hook_parse(struct hook *h, const char *body, size_t len, const char **cause)
{
	json_t		*type, *data, *v;
	json_int_t	 n;

	if ((h->h_body = json_loadb(body, len, 0, NULL)) == NULL ||
	    !json_is_object(h->h_body)) {
		*cause = "body is not a JSON object";
		return (-1);
	}
	type = json_object_get(h->h_body, "type");
	if (!json_is_string(type) || !id_is_safe(json_string_value(type))) {
		*cause = "type is missing or unusable";
		return (-1);
	}
	h->h_type = json_string_value(type);
	data = json_object_get(h->h_body, "data");
	if ((v = json_object_get(data, "offer_id")) != NULL) {
		h->h_offer_json = v;
		if (json_is_integer(v) && (n = json_integer_value(v)) > 0)
			snprintf(h->h_offer, sizeof h->h_offer,
			    "%" JSON_INTEGER_FORMAT, n);
		else if (json_is_string(v) && id_is_safe(json_string_value(v)))
			snprintf(h->h_offer, sizeof h->h_offer, "%s",
			    json_string_value(v));
	}
	if (strncmp(h->h_type, "offer.", 6) == 0 && h->h_offer[0] == '\0') {
		*cause = "data.offer_id is missing";
		return (-1);
	}
	if (strcmp(h->h_type, "offer.created") != 0)
		return (0);
	v = json_object_get(data, "accept_url");
	h->h_accept_url = json_is_string(v) ? json_string_value(v) : NULL;
	v = json_object_get(data, "decline_url");
	h->h_decline_url = json_is_string(v) ? json_string_value(v) : NULL;
	if (h->h_accept_url == NULL || h->h_decline_url == NULL ||
	    strlen(h->h_accept_url) > RECV_URL_MAX ||
	    strlen(h->h_decline_url) > RECV_URL_MAX) {
		*cause = "data.accept_url or data.decline_url is missing";
		return (-1);
	}
	return (0);
}

/*
 * 1 if one of the space-separated "v1,<base64>" signatures is the HMAC of
 * "id.timestamp.body" under the provider's key.
 */
static int
hook_signature_ok(struct receiver *r, const struct hook *h, const char *ts,
    const char *sigs, const char *body, size_t len)
{
	unsigned char	 demo[CRYPTO_SHA256_LEN], mac[CRYPTO_SHA256_LEN];
	unsigned char	 got[3 * RECV_SIG_MAX / 4 + 3];
	char		 tok[RECV_SIG_MAX + 1], seed[32];
	const unsigned char *key;
	const char	*p;
	char		*msg;
	size_t		 keylen, idlen, tslen, toklen;
	int		 ok = 0;

	if (r->r_keylen > 0) {
		key = r->r_key;
		keylen = r->r_keylen;
	} else {
		/* whsec_ + base64(sha256(x)) decodes back to sha256(x). */
		snprintf(seed, sizeof seed, "demo-%s", h->h_provider);
		crypto_sha256(seed, strlen(seed), demo);
		key = demo;
		keylen = sizeof demo;
	}
	idlen = strlen(h->h_id);
	tslen = strlen(ts);
	msg = xmalloc(idlen + tslen + len + 2);
	memcpy(msg, h->h_id, idlen);
	msg[idlen] = '.';
	memcpy(msg + idlen + 1, ts, tslen);
	msg[idlen + 1 + tslen] = '.';
	memcpy(msg + idlen + tslen + 2, body, len);
	crypto_hmac_sha256(key, keylen, msg, idlen + tslen + len + 2, mac);
	free(msg);

	for (p = sigs; *p != '\0'; p += toklen) {
		p += strspn(p, " ");
		toklen = strcspn(p, " ");
		if (toklen == 0 || toklen > RECV_SIG_MAX ||
		    strncmp(p, "v1,", 3) != 0)
			continue;
		memcpy(tok, p, toklen);
		tok[toklen] = '\0';
		if (crypto_unbase64(tok + 3, got) == CRYPTO_SHA256_LEN &&
		    crypto_equal(got, mac, CRYPTO_SHA256_LEN))
			ok = 1;
	}
	return (ok);
}

/* Returns the cause when the delivery cannot be trusted, else NULL. */
static const char *
hook_verify(struct receiver *r, const struct hook *h, const char *ts,
    const char *sigs, const char *body, size_t len)
{
	long long	 t;
	char		*end;

	errno = 0;
	t = strtoll(ts, &end, 10);
	if (*ts == '\0' || *end != '\0' || errno != 0)
		return ("bad timestamp");
	if (llabs(t - (long long)time(NULL)) > RECV_TOLERANCE)
		return ("timestamp too far from now");
	if (!hook_signature_ok(r, h, ts, sigs, body, len))
		return ("bad signature");
	return (NULL);
}

/* Does what a provider would do with a valid, new webhook. */
static void
hook_act(struct receiver *r, const struct hook *h)
{
	double	x;

	if (strcmp(h->h_type, "offer.created") == 0) {
		x = cfg.decline_rate + cfg.ignore_rate > 0 ? rng_next(r) : 1;
		if (x < cfg.decline_rate)
			respond_schedule(r, h, RESPOND_DECLINE);
		else if (x < cfg.decline_rate + cfg.ignore_rate)
			log_info("offer %s for provider %s: ignoring it, it "
			    "will expire", h->h_offer, h->h_provider);
		else
			respond_schedule(r, h, RESPOND_ACCEPT);
	} else if (strcmp(h->h_type, "offer.confirmed") == 0)
		log_info("offer %s for provider %s: confirmed", h->h_offer,
		    h->h_provider);
	else if (strcmp(h->h_type, "offer.cancelled") == 0) {
		log_info("offer %s for provider %s: cancelled", h->h_offer,
		    h->h_provider);
		respond_cancel(r, h);
	} else
		log_info("webhook %s for provider %s: type %s, nothing to do",
		    h->h_id, h->h_provider, h->h_type);
}

static void
hook_cb(struct evhttp_request *req, void *arg)
{
	struct receiver		*r = arg;
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evbuffer		*input = evhttp_request_get_input_buffer(req);
	struct dedup_entry	*de;
	struct hook		 h;
	const char		*ts, *sigs, *cause, *body, *bad_payload;
	size_t			 len;
	int			 status;

	memset(&h, 0, sizeof h);
	if (hook_path_provider(evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(req)), h.h_provider,
	    sizeof h.h_provider) != 0) {
		hook_reply(r, req, NULL, 404, "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		hook_reply(r, req, NULL, 405, "use POST");
		return;
	}

	len = evbuffer_get_length(input);
	body = (const char *)evbuffer_pullup(input, -1);
	if (body == NULL)
		body = "";
	h.h_id = evhttp_find_header(in, "webhook-id");
	ts = evhttp_find_header(in, "webhook-timestamp");
	sigs = evhttp_find_header(in, "webhook-signature");
	if (hook_parse(&h, body, len, &bad_payload) == 0)
		bad_payload = NULL;

	if (h.h_id == NULL || ts == NULL || sigs == NULL) {
		log_warn("webhook for provider %s: webhook headers missing",
		    h.h_provider);
		hook_reply(r, req, &h, 400, "webhook headers missing");
		goto out;
	}
	if (!id_is_safe(h.h_id)) {
		h.h_id = NULL;
		log_warn("webhook for provider %s: unusable webhook-id",
		    h.h_provider);
		hook_reply(r, req, &h, 400, "unusable webhook-id");
		goto out;
	}
	if ((cause = hook_verify(r, &h, ts, sigs, body, len)) != NULL) {
		log_warn("webhook %s for provider %s: %s", h.h_id,
		    h.h_provider, cause);
		hook_reply(r, req, &h, 401, cause);
		goto out;
	}
	h.h_valid = 1;
	de = dedup_record(&r->r_dedup, h.h_id);
	h.h_attempt = de->de_seen;
	if (bad_payload != NULL) {
		log_warn("webhook %s for provider %s: %s", h.h_id,
		    h.h_provider, bad_payload);
		hook_reply(r, req, &h, 400, bad_payload);
		goto out;
	}

	status = 200;
	if (cfg.status != 0) {
		status = (int)cfg.status;
		if (status < 200 || status > 299) {
			log_info("webhook %s for provider %s: answering %d",
			    h.h_id, h.h_provider, status);
			hook_reply(r, req, &h, status, "status from --status");
			goto out;
		}
	}
	if (h.h_attempt <= cfg.fail_first) {
		log_info("webhook %s for provider %s: delivery %u, failing "
		    "it", h.h_id, h.h_provider, h.h_attempt);
		hook_reply(r, req, &h, 500, "failing the first deliveries");
		goto out;
	}
	if (rng_chance(r, cfg.hang_rate)) {
		if (hang_hold(r, req, h.h_id) == 0) {
			log_info("webhook %s for provider %s: holding it "
			    "open", h.h_id, h.h_provider);
			hook_log(r, &h, 0);
			goto out;
		}
		log_warn("webhook %s for provider %s: %d requests held open "
		    "already, answering 503", h.h_id, h.h_provider,
		    RECV_HANG_MAX);
		hook_reply(r, req, &h, 503, "too many held requests");
		goto out;
	}
	if (rng_chance(r, cfg.fail_rate)) {
		log_info("webhook %s for provider %s: failing it", h.h_id,
		    h.h_provider);
		hook_reply(r, req, &h, 500, "random failure");
		goto out;
	}
	if (de->de_done) {
		h.h_duplicate = 1;
		log_info("webhook %s for provider %s: duplicate (delivery %u), "
		    "not acting again", h.h_id, h.h_provider, h.h_attempt);
		hook_reply(r, req, &h, status, NULL);
		goto out;
	}
	de->de_done = 1;
	hook_reply(r, req, &h, status, NULL);
	hook_act(r, &h);
out:
	json_decref(h.h_body);
}

static void
signal_cb(evutil_socket_t sig, short kind, void *arg)
{
	struct receiver	*r = arg;

	(void)kind;
	log_info("signal %d: exiting", (int)sig);
	event_base_loopbreak(r->r_base);
}

static int
receiver_start(struct receiver *r, char **cause)
{
	struct timeval	poll = { RECV_HANG_POLL, 0 };

	TAILQ_INIT(&r->r_responds);
	TAILQ_INIT(&r->r_hangs);
	dedup_init(&r->r_dedup);

	if (cfg.secret != NULL &&
	    secret_decode(cfg.secret, r->r_key, &r->r_keylen, cause) != 0)
		return (-1);
	if (cfg.seed >= 0)
		r->r_rng = (uint64_t)cfg.seed;
	else {
		crypto_random(&r->r_rng, sizeof r->r_rng);
		r->r_rng &= INT64_MAX;	/* printable back as a --seed */
	}
	if (cfg.log_path != NULL &&
	    (r->r_log = fopen(cfg.log_path, "a")) == NULL) {
		xasprintf(cause, "%s: %s", cfg.log_path, strerror(errno));
		return (-1);
	}

	if ((r->r_base = event_base_new()) == NULL) {
		xasprintf(cause, "event_base_new failed");
		return (-1);
	}
	r->r_sigint = evsignal_new(r->r_base, SIGINT, signal_cb, r);
	r->r_sigterm = evsignal_new(r->r_base, SIGTERM, signal_cb, r);
	evsignal_add(r->r_sigint, NULL);
	evsignal_add(r->r_sigterm, NULL);
	r->r_hang_timer = event_new(r->r_base, -1, EV_PERSIST, hang_poll_cb,
	    r);
	evtimer_add(r->r_hang_timer, &poll);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (r->r_curl = curl_ev_new(r->r_base, respond_done, r)) == NULL) {
		xasprintf(cause, "libcurl failed to start");
		return (-1);
	}

	r->r_http = evhttp_new(r->r_base);
	evhttp_set_max_body_size(r->r_http, RECV_BODY_MAX);
	evhttp_set_max_headers_size(r->r_http, RECV_HEADERS_MAX);
	evhttp_set_timeout(r->r_http, RECV_SERVER_TIMEOUT);
	/* So a client sending too big a body still reads its 413. */
	evhttp_set_flags(r->r_http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(r->r_http, hook_cb, r);
	if (evhttp_bind_socket(r->r_http, RECV_ADDRESS,
	    (ev_uint16_t)cfg.port) != 0) {
		xasprintf(cause, "cannot listen on %s:%lld: %s", RECV_ADDRESS,
		    cfg.port, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Frees everything, in an order where nobody calls back into freed state. */
static void
receiver_stop(struct receiver *r)
{
	while (!TAILQ_EMPTY(&r->r_responds))
		respond_free(TAILQ_FIRST(&r->r_responds));
	/* evhttp_free below closes their connections and requests. */
	while (!TAILQ_EMPTY(&r->r_hangs))
		hang_drop(TAILQ_FIRST(&r->r_hangs), 0);
	if (r->r_http != NULL)
		evhttp_free(r->r_http);
	curl_ev_free(r->r_curl);
	curl_global_cleanup();
	if (r->r_hang_timer != NULL)
		event_free(r->r_hang_timer);
	if (r->r_sigint != NULL)
		event_free(r->r_sigint);
	if (r->r_sigterm != NULL)
		event_free(r->r_sigterm);
	if (r->r_base != NULL)
		event_base_free(r->r_base);
	if (r->r_log != NULL)
		fclose(r->r_log);
}

int
main(int argc, char **argv)
{
	static struct receiver	 r;	/* the dedup table is large */
	char			*cause = NULL;

	log_init(RECV_NAME);
	if (opt_load(argc, argv, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", RECV_NAME, cause);
		free(cause);
		return (2);
	}
	log_configure(cfg.quiet ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
	    LOG_FORMAT_TEXT);
	/* A client that hangs up mid-answer must not end us. */
	signal(SIGPIPE, SIG_IGN);

	if (receiver_start(&r, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		receiver_stop(&r);
		return (1);
	}
	log_info("listening on %s:%lld, %s, seed %" PRIu64, RECV_ADDRESS,
	    cfg.port, r.r_keylen > 0 ? "one secret for all providers" :
	    "demo secrets", r.r_rng);
	event_base_dispatch(r.r_base);
	receiver_stop(&r);
	return (0);
}
