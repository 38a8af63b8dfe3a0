/*
 * Argon2id (libsodium) off the event loop: a check takes tens of ms of CPU
 * and 19 MiB on purpose, so it runs on a short-lived thread and reports back
 * through an event. At most PASSWORD_MAX_JOBS at once; more wait in a
 * queue, in order, for up to PASSWORD_QUEUE_WAIT_MS. The last slot is kept
 * for priority jobs (sign-ins for names that exist, hashes an admin asked
 * for), so a flood of made-up names cannot shut real operators out.
 */
#ifndef CARELINE_PASSWORD_H
#define CARELINE_PASSWORD_H

#include <event2/event.h>

#define PASSWORD_MAX_JOBS	4
#define PASSWORD_RESERVED	1	/* of those, for priority jobs only */
#define PASSWORD_MAX_QUEUED	64
#define PASSWORD_QUEUE_WAIT_MS	10000
#define PASSWORD_MIN_LEN	8
#define PASSWORD_MAX_LEN	256

struct password_job;
/*
 * ok: 1 the check passed (or the hash was made, and is in hash); 0 it
 * failed (a hash: or was not made); -1 (checks only) it never ran, having
 * waited PASSWORD_QUEUE_WAIT_MS in the queue.
 */
typedef void	(*password_cb)(int ok, const char *hash, void *);

/*
 * Check password against an Argon2id hash string (NULL: check against a
 * dummy, so an unknown name costs the same time). cb runs on the loop.
 * Returns -1 when the queue is full (cb is not called).
 */
int	password_verify_async(struct event_base *, const char *password,
	    const char *hash, int priority, password_cb, void *);
/* Make an Argon2id hash string, off the loop the same way (priority). */
int	password_hash_async(struct event_base *, const char *password,
	    password_cb, void *);
/* Blocking hash, for the command line only. Returns NULL on failure. */
char	*password_hash(const char *password);
void	 password_init(void);
/* Jobs running or queued: they must end before the loop is freed. */
int	 password_busy(void);

#endif
