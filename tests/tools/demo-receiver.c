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

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "crypto.h"
#include "curl_ev.h"
#include "log.h"
#include "receiver.h"
#include "xmalloc.h"

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
