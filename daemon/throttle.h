/*
 * Sign-in throttling, in this instance's memory: a token bucket per client
 * address, taken before any database or Argon2 work, and a failure
 * back-off per (client address, account), so that guessing at one account
 * from one place slows down that place only. Both tables are fixed-size
 * and set-associative: a flood from many addresses evicts the oldest
 * entries of a set, it never grows memory.
 */
#ifndef CARELINE_THROTTLE_H
#define CARELINE_THROTTLE_H

struct sockaddr;

#define THROTTLE_SETS		1024	/* per table, a power of two */
#define THROTTLE_WAYS		8	/* entries per set */
#define THROTTLE_MAX_WAIT_MS	5000	/* queue for a token this long */
#define THROTTLE_FREE_FAILURES	3	/* before the back-off starts */
#define THROTTLE_MAX_BACKOFF_MS	300000
#define THROTTLE_FORGET_MS	3600000	/* failures forgotten when quiet */

/*
 * A client address as the throttle sees it: IPv4 whole, IPv6 by its /64
 * (one host holds a whole /64, so finer keys would cost it nothing).
 */
struct throttle_addr {
	unsigned char	a[16];
	char		text[46];	/* for logs and the audit row */
};

struct throttle;

struct throttle	*throttle_new(void);
void		 throttle_free(struct throttle *);
/* NULL or an unknown family: everyone such shares one key. */
void		 throttle_addr_set(struct throttle_addr *,
		    const struct sockaddr *);
/*
 * Take a sign-in token from the address's bucket (per_minute, burst).
 * 0: go on after *wait_ms (0: at once; the token is kept for it). -1: the
 * queue is too long; refuse, and *wait_ms says when to come back.
 */
int		 throttle_take(struct throttle *, const struct throttle_addr *,
		    int per_minute, int burst, long *wait_ms);
/*
 * An attempt at account from the address: 0 and it counts as a failure
 * until throttle_succeeded says otherwise (so that attempts sent at once
 * are counted at once), or the ms it must still wait (nothing counted).
 */
long		 throttle_attempt(struct throttle *,
		    const struct throttle_addr *, const char *account);
void		 throttle_succeeded(struct throttle *,
		    const struct throttle_addr *, const char *account);

#endif
