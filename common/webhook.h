/*
 * Standard Webhooks on the sending side: signatures, what an answer means
 * for the delivery, and which addresses a receiver may not live at.
 */
#ifndef CARELINE_WEBHOOK_H
#define CARELINE_WEBHOOK_H

#include <sys/socket.h>

#include <stddef.h>

#define WEBHOOK_SIG_MAX	128	/* "v1,<44 base64 chars>" and a NUL */

enum webhook_outcome {
	WEBHOOK_DELIVERED,	/* 2xx */
	WEBHOOK_RETRY,		/* network error, timeout, 3xx, 408, 429, 5xx */
	WEBHOOK_DEAD,		/* any other 4xx: resending will not help */
	WEBHOOK_GONE,		/* 410: the endpoint is retired */
};

/*
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed by the base64 part
 * of a "whsec_..." secret. Returns 0, or -1 if the secret is malformed.
 */
int	webhook_sign(const char *secret, const char *id, long long timestamp,
	    const char *body, size_t len, char out[WEBHOOK_SIG_MAX]);
/* status: the HTTP status, or 0 when no answer came. */
enum webhook_outcome webhook_classify(long status);
const char *webhook_outcome_name(enum webhook_outcome);
/* Should a Retry-After on this status be honoured? */
int	webhook_honours_retry_after(long status);
/*
 * Loopback, private, link-local, unspecified, multicast, reserved,
 * documentation, or an IPv4 address inside IPv6 that is one of these.
 */
int	webhook_addr_private(const struct sockaddr *);
/*
 * A receiver's URL as libcurl parses it: 0 when usable, -1 when it does not
 * parse whole (or is not http/https with a host), -2 when its host is a
 * literal address webhook_addr_private refuses (not checked when
 * allow_private). *why completes "webhook_url ...".
 */
int	webhook_url_check(const char *url, int allow_private,
	    const char **why);

#endif
