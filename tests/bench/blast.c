/*
 * blast: the reference for carelined's webhook throughput. A bare libcurl
 * multi loop, no database: N signed webhook POSTs to one URL with K in
 * flight, then one line with deliveries per second.
 *
 *	blast --url http://127.0.0.1:18086/hooks/1 -n 50000 -k 256 \
 *	    --secret whsec_...
 *
 * Each request looks like one of carelined's (daemon/webhook_send.c): the same
 * headers (Content-Type, webhook-id, webhook-timestamp, webhook-signature,
 * an empty Expect:, careline's User-Agent) and an offer.cancelled body of
 * about 300 bytes, shaped like the payloads scripts/bench-webhooks.sh puts
 * in the outbox. Every message has its own webhook-id and is signed once,
 * Standard Webhooks style (HMAC-SHA256 of "id.timestamp.body", base64),
 * with OpenSSL's HMAC() as carelined signs, so a demo-receiver given the
 * same --secret verifies it and answers 200. libcrypto is loaded with
 * dlopen() so that blast builds with libcurl alone:
 *
 *	cc -std=gnu11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror \
 *	    tests/bench/blast.c $(pkg-config --cflags --libs libcurl) \
 *	    -o build/bench-blast
 *
 * Like carelined, connections are kept alive and reused (the multi
 * handle's cache holds K); unlike it, the K easy handles are reused too,
 * which is what a tight loop does. Only 2xx answers count as deliveries.
 *
 * Output, one machine-readable line on stdout:
 *	BLAST sent=N delivered=N failed=N seconds=S rate=R body_bytes=B
 *	    signed=yes|no
 * Exit status 0 when every request was answered 2xx.
 */

#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define BLAST_USER_AGENT	"careline-webhooks/0.1"	/* as webhook_send.c */
#define BLAST_BODY_MAX		1024
#define BLAST_SIG_MAX		128

/* The few libcrypto functions used, found at run time. */
typedef const void *(*evp_md_fn)(void);
typedef unsigned char *(*hmac_fn)(const void *, const void *, int,
    const unsigned char *, size_t, unsigned char *, unsigned int *);
typedef int (*b64enc_fn)(unsigned char *, const unsigned char *, int);
typedef int (*b64dec_fn)(unsigned char *, const unsigned char *, int);

static struct {
	evp_md_fn	 sha256;
	hmac_fn		 hmac;
	b64enc_fn	 enc;
	b64dec_fn	 dec;
} ossl;

struct slot {
	CURL			*easy;
	struct curl_slist	*headers;
	char			 body[BLAST_BODY_MAX];
	size_t			 body_len;
};

static unsigned char	key[256];
static int		key_len = -1;	/* -1: no usable secret, no signing */
static long		n_ok, n_failed;

static void
usage(void)
{
	fprintf(stderr, "usage: blast --url URL [-n N] [-k K] "
	    "[--secret whsec_...] [--type TYPE]\n");
	exit(2);
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
crypto_load(void)
{
	static const char *const names[] = {
		"libcrypto.so.3", "libcrypto.so", NULL
	};
	void	*h = NULL;
	int	 i;

	for (i = 0; names[i] != NULL && h == NULL; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return (-1);
	*(void **)&ossl.sha256 = dlsym(h, "EVP_sha256");
	*(void **)&ossl.hmac = dlsym(h, "HMAC");
	*(void **)&ossl.enc = dlsym(h, "EVP_EncodeBlock");
	*(void **)&ossl.dec = dlsym(h, "EVP_DecodeBlock");
	return (ossl.sha256 && ossl.hmac && ossl.enc && ossl.dec ? 0 : -1);
}

/* whsec_<base64> -> key, as common/webhook.c reads it. */
static int
secret_load(const char *secret)
{
	size_t	len;
	int	n;

	if (strncmp(secret, "whsec_", 6) != 0)
		return (-1);
	secret += 6;
	len = strlen(secret);
	if (len == 0 || len % 4 != 0 || len > 4 * sizeof key / 3)
		return (-1);
	if ((n = ossl.dec(key, (const unsigned char *)secret, (int)len)) < 0)
		return (-1);
	/* EVP_DecodeBlock counts the padding as data. */
	if (secret[len - 1] == '=')
		n--;
	if (secret[len - 2] == '=')
		n--;
	return (n);
}

/* "v1,<base64 HMAC-SHA256 of id.ts.body>" */
static void
sign(const char *id, long long ts, const char *body, size_t len,
    char out[BLAST_SIG_MAX])
{
	unsigned char	 mac[64], *msg;
	unsigned int	 mlen = 0;
	char		 head[160];
	size_t		 hlen;

	hlen = (size_t)snprintf(head, sizeof head, "%s.%lld.", id, ts);
	if ((msg = malloc(hlen + len)) == NULL)
		abort();
	memcpy(msg, head, hlen);
	memcpy(msg + hlen, body, len);
	ossl.hmac(ossl.sha256(), key, key_len, msg, hlen + len, mac, &mlen);
	free(msg);
	memcpy(out, "v1,", 3);
	ossl.enc((unsigned char *)out + 3, mac, (int)mlen);
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return (size * nmemb);
}

/* Builds message i (its own id, body and signature) into a slot. */
static void
prepare(struct slot *s, const char *url, const char *type, long i,
    const char *run)
{
	char		 id[64], line[256], sig[BLAST_SIG_MAX];
	char		 stamp[48];
	struct tm	 tm;
	time_t		 t = time(NULL);
	long long	 ts = (long long)t;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000000+00:00", &tm);
	snprintf(id, sizeof id, "msg_blast%s%08ld", run, i);
	/* Shaped like the outbox payloads of scripts/bench-webhooks.sh. */
	s->body_len = (size_t)snprintf(s->body, sizeof s->body,
	    "{\"data\": {\"note\": \"The resident's family will bring "
	    "the meal today; no visit is needed.\", \"reason\": "
	    "\"call_cancelled\", \"call_id\": %ld, \"service\": \"meal\", "
	    "\"offer_id\": %ld, \"provider_id\": 1, \"cancelled_by\": "
	    "\"operator\", \"resident_ref\": \"r-%06ld\"}, \"type\": "
	    "\"%s\", \"timestamp\": \"%s\"}", 900000 + i, 1000000 + i,
	    i % 50000, type, stamp);

	curl_slist_free_all(s->headers);
	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(line, sizeof line, "webhook-id: %s", id);
	s->headers = curl_slist_append(s->headers, line);
	snprintf(line, sizeof line, "webhook-timestamp: %lld", ts);
	s->headers = curl_slist_append(s->headers, line);
	if (key_len > 0)
		sign(id, ts, s->body, s->body_len, sig);
	else
		snprintf(sig, sizeof sig, "v1,unsigned");
	snprintf(line, sizeof line, "webhook-signature: %s", sig);
	s->headers = curl_slist_append(s->headers, line);
	s->headers = curl_slist_append(s->headers, "Expect:");

	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->body_len);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_USERAGENT, BLAST_USER_AGENT);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "secret", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*url = NULL, *secret = NULL, *type = "offer.cancelled";
	struct slot	*slots;
	CURLM		*multi;
	CURLMsg		*msg;
	struct slot	*s;
	char		 run[16];
	long		 n = 50000, k = 256, started = 0, done = 0, status;
	double		 t0, t1;
	int		 c, i, running, left;

	while ((c = getopt_long(argc, argv, "n:k:u:s:t:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'k': k = strtol(optarg, NULL, 10); break;
		case 'u': url = optarg; break;
		case 's': secret = optarg; break;
		case 't': type = optarg; break;
		default: usage();
		}
	}
	if (url == NULL || n < 1 || k < 1 || k > 4096)
		usage();
	if (secret != NULL) {
		if (crypto_load() != 0)
			fprintf(stderr, "blast: libcrypto not found; sending "
			    "unsigned (the receiver answers 401)\n");
		else if ((key_len = secret_load(secret)) <= 0) {
			fprintf(stderr, "blast: unusable secret\n");
			return (2);
		}
	}
	/* Message ids unique across runs (the receiver remembers ids). */
	snprintf(run, sizeof run, "%lx", (unsigned long)time(NULL) & 0xffffff);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, k);
	if (k > n)
		k = n;
	if ((slots = calloc((size_t)k, sizeof *slots)) == NULL)
		abort();
	t0 = now_s();
	for (i = 0; i < k; i++) {
		slots[i].easy = curl_easy_init();
		prepare(&slots[i], url, type, started++, run);
		curl_multi_add_handle(multi, slots[i].easy);
	}
	while (done < n) {
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&s);
			status = 0;
			curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE,
			    &status);
			if (msg->data.result == CURLE_OK && status >= 200 &&
			    status <= 299)
				n_ok++;
			else if (n_failed++ < 3)
				fprintf(stderr, "blast: %s, HTTP %ld\n",
				    curl_easy_strerror(msg->data.result),
				    status);
			done++;
			curl_multi_remove_handle(multi, s->easy);
			if (started < n) {
				prepare(s, url, type, started++, run);
				curl_multi_add_handle(multi, s->easy);
			}
		}
		if (done < n)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	t1 = now_s();
	printf("BLAST sent=%ld delivered=%ld failed=%ld seconds=%.3f "
	    "rate=%.0f body_bytes=%zu signed=%s\n", n, n_ok, n_failed,
	    t1 - t0, n_ok / (t1 - t0), slots[0].body_len,
	    key_len > 0 ? "yes" : "no");
	for (i = 0; i < k; i++) {
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
	}
	free(slots);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return (n_failed == 0 ? 0 : 1);
}
