#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "crypto.h"
#include "webhook.h"
#include "xmalloc.h"

#define WEBHOOK_SECRET_PREFIX	"whsec_"
#define WEBHOOK_KEY_MAX		256

int
webhook_sign(const char *secret, const char *id, long long timestamp,
    const char *body, size_t len, char out[WEBHOOK_SIG_MAX])
{
	unsigned char	 key[WEBHOOK_KEY_MAX], mac[CRYPTO_SHA256_LEN];
	char		 head[160], *b64;
	size_t		 hlen;
	int		 klen;
	unsigned char	*msg;

	if (strncmp(secret, WEBHOOK_SECRET_PREFIX, 6) != 0 ||
	    strlen(secret + 6) > WEBHOOK_KEY_MAX ||
	    (klen = crypto_unbase64(secret + 6, key)) <= 0)
		return (-1);
	hlen = (size_t)snprintf(head, sizeof head, "%s.%lld.", id, timestamp);
	if (hlen >= sizeof head)
		return (-1);
	msg = xmalloc(hlen + len);
	memcpy(msg, head, hlen);
	memcpy(msg + hlen, body, len);
	crypto_hmac_sha256(key, (size_t)klen, msg, hlen + len, mac);
	free(msg);
	explicit_bzero(key, sizeof key);
	b64 = crypto_base64(mac, sizeof mac);
	snprintf(out, WEBHOOK_SIG_MAX, "v1,%s", b64);
	free(b64);
	return (0);
}

enum webhook_outcome
webhook_classify(long status)
{
	if (status >= 200 && status <= 299)
		return (WEBHOOK_DELIVERED);
	if (status == 410)
		return (WEBHOOK_GONE);
	if (status >= 400 && status <= 499 && status != 408 && status != 429)
		return (WEBHOOK_DEAD);
	/* No answer, redirects (never followed), 408, 429, 5xx. */
	return (WEBHOOK_RETRY);
}

const char *
webhook_outcome_name(enum webhook_outcome o)
{
	switch (o) {
	case WEBHOOK_DELIVERED:	return ("delivered");
	case WEBHOOK_RETRY:	return ("retry");
	case WEBHOOK_DEAD:	return ("dead");
	case WEBHOOK_GONE:	return ("gone");
	}
	return ("retry");
}

int
webhook_honours_retry_after(long status)
{
	return (status == 429 || status == 502 || status == 503 ||
	    status == 504);
}

static int
webhook_v4_private(uint32_t a)
{
	return ((a >> 24) == 0 ||			/* 0.0.0.0/8 */
	    (a >> 24) == 10 ||				/* 10/8 */
	    (a >> 24) == 127 ||				/* loopback */
	    (a >> 22) == (100u << 2 | 1) ||		/* 100.64/10 CGN */
	    (a >> 16) == (169u << 8 | 254) ||		/* link-local */
	    (a >> 20) == (172u << 4 | 1) ||		/* 172.16/12 */
	    (a >> 16) == (192u << 8 | 168) ||		/* 192.168/16 */
	    (a >> 8) == (192u << 16 | 0 << 8 | 0) ||	/* 192.0.0/24 */
	    (a >> 17) == (198u << 7 | 9) ||		/* 198.18/15 */
	    (a >> 8) == (192u << 16 | 0 << 8 | 2) ||	/* TEST-NET-1 */
	    (a >> 8) == (198u << 16 | 51 << 8 | 100) ||	/* TEST-NET-2 */
	    (a >> 8) == (203u << 16 | 0 << 8 | 113) ||	/* TEST-NET-3 */
	    (a >> 28) >= 14);				/* multicast, 240/4 */
}

int
webhook_addr_private(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*b;
	uint32_t			 a;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		return (webhook_v4_private(ntohl(sin->sin_addr.s_addr)));
	}
	if (sa->sa_family != AF_INET6)
		return (1);
	sin6 = (const struct sockaddr_in6 *)sa;
	b = sin6->sin6_addr.s6_addr;
	/* IPv4 inside IPv6: mapped, compatible, NAT64 (64:ff9b::/96). */
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_V4COMPAT(&sin6->sin6_addr) ||
	    (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
	    memcmp(b + 4, "\0\0\0\0\0\0\0\0", 8) == 0)) {
		a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		    (uint32_t)b[14] << 8 | b[15];
		return (webhook_v4_private(a));
	}
	/*
	 * Whole ranges no receiver of ours lives in: IPv4-translated
	 * (::ffff:0:0/96, SIIT), local-use NAT64 (64:ff9b:1::/48, whose
	 * translator is ours to reach inside), and documentation
	 * (2001:db8::/32, 3fff::/20).
	 */
	if ((memcmp(b, "\0\0\0\0\0\0\0\0\xff\xff\0\0", 12) == 0) ||
	    (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
	    b[4] == 0x00 && b[5] == 0x01) ||
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
	    (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0))
		return (1);
	/* 6to4 (2002::/16) carries an IPv4 address in bytes 2..5. */
	if (b[0] == 0x20 && b[1] == 0x02) {
		a = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
		    (uint32_t)b[4] << 8 | b[5];
		if (webhook_v4_private(a))
			return (1);
	}
	return (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_SITELOCAL(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr) ||
	    (b[0] & 0xfe) == 0xfc);			/* fc00::/7 ULA */
}

int
webhook_url_check(const char *url, int allow_private, const char **why)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	CURLU			*u;
	char			*scheme = NULL, *host = NULL, *h;
	size_t			 n;
	int			 rc = -1;

	*why = "must be an http:// or https:// URL";
	if ((u = curl_url()) == NULL)
		return (-1);
	/* curl's own parser: what it accepts is what it will connect to. */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0') {
		*why = "must name a host";
		goto out;
	}
	rc = 0;
	if (allow_private)
		goto out;
	/* A literal address is checked now; a name when it is resolved. */
	h = host;
	n = strlen(h);
	if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
		h[n - 1] = '\0';
		h++;
	}
	memset(&sin, 0, sizeof sin);
	memset(&sin6, 0, sizeof sin6);
	sin.sin_family = AF_INET;
	sin6.sin6_family = AF_INET6;
	if ((inet_pton(AF_INET, h, &sin.sin_addr) == 1 &&
	    webhook_addr_private((struct sockaddr *)&sin)) ||
	    (inet_pton(AF_INET6, h, &sin6.sin6_addr) == 1 &&
	    webhook_addr_private((struct sockaddr *)&sin6))) {
		*why = "points at a private, loopback, reserved or "
		    "documentation address";
		rc = -2;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return (rc);
}
