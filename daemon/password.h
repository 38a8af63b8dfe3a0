/*
 * Argon2id (libsodium) off the event loop: a check takes tens of ms of CPU
 * and 19 MiB on purpose, so it runs on a short-lived thread and reports back
 * through an event. At most PASSWORD_MAX_JOBS at once.
 */
#ifndef CARELINE_PASSWORD_H
#define CARELINE_PASSWORD_H

#include <event2/event.h>

#define PASSWORD_MAX_JOBS	4
#define PASSWORD_MIN_LEN	8
#define PASSWORD_MAX_LEN	256

struct password_job;
/* ok: the check passed (or the hash was made, and is in hash). */
typedef void	(*password_cb)(int ok, const char *hash, void *);

/*
 * Check password against an Argon2id hash string (NULL: check against a
 * dummy, so an unknown name costs the same time). cb runs on the loop.
 * Returns -1 when too many checks are under way (cb is not called).
 */
int	password_verify_async(struct event_base *, const char *password,
	    const char *hash, password_cb, void *);
/* Make an Argon2id hash string, off the loop the same way. */
int	password_hash_async(struct event_base *, const char *password,
	    password_cb, void *);
/* Blocking hash, for the command line only. Returns NULL on failure. */
char	*password_hash(const char *password);
void	 password_init(void);
/* Checks under way: their threads must finish before the loop is freed. */
int	 password_busy(void);

#endif
