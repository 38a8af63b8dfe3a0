/*
 * What the hostile-client tests share: carelined on a config of their
 * own (every address, a descriptor limit, short deadlines), a raw
 * client connection that shows the framing a client library would hide,
 * and /metrics asked from a given address.
 */
#ifndef CARELINE_TEST_HARNESS_RAW_H
#define CARELINE_TEST_HARNESS_RAW_H

#include <sys/types.h>
#include <sys/resource.h>

#include "harness.h"

#define METRICS_TOKEN	"metrics-test-token-5b1e"
#define HEAD_TIMEOUT_MS	1000
#define BODY_TIMEOUT_MS	2000
/* The group daemon's deadlines (ms above) and its metrics token. */
#define HOSTILE_YAML	"http:\n  timeout: 60s\n  head_timeout: 1s\n" \
			"  body_timeout: 2s\n" \
			"metrics:\n  token: \"" METRICS_TOKEN "\"\n"

/* A raw client connection, with what it has read and not yet used. */
struct raw {
	int	fd;
	char	buf[65536];
	size_t	len;
};

struct raw_resp {
	int	status;
	char	head[8192];	/* NUL-terminated */
	char	body[16384];	/* NUL-terminated */
	size_t	blen;
};

/*
 * carelined on dburl listening on address, under a descriptor limit
 * (nofile 0: none), serving www (NULL: client/www), with extra YAML
 * sections; 0 once /readyz is 200.
 */
int	 hostile_start(struct th_daemon *, const char *dburl,
	    const char *address, rlim_t nofile, const char *www,
	    const char *extra);

void	 raw_open_to(struct raw *, const char *ip, int port);
void	 raw_close(struct raw *);
int	 raw_send(struct raw *, const char *);
/* Read more into buf: bytes read, 0 at EOF, -1 on error or timeout. */
ssize_t	 raw_fill(struct raw *);
/* The value of a header in a raw head, or NULL (static buffer). */
const char *raw_header(const char *head, const char *name);
/*
 * Read one response. head_only: the answer to a HEAD, whose length
 * describes a body that is not sent. 0, or -1 if it does not parse as a
 * response at this point of the stream.
 */
int	 raw_response(struct raw *, int head_only, struct raw_resp *);
/* The error code of a JSON error body, or "" (static buffer). */
const char *raw_error_code(const struct raw_resp *);

/* This machine's first IPv4 address that is not loopback, or NULL. */
const char *own_address(void);
/* GET /metrics from ip:port with an auth header line (or NULL): the
 * status; *body (when not NULL) gets the body, the caller's to free. */
long	 metrics_from(const char *ip, int port, const char *auth,
	    char **body);

#endif
