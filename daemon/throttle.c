#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "throttle.h"
#include "xmalloc.h"

/* One entry of either table; used_ms 0 is an empty entry. */
struct throttle_entry {
	unsigned char	key[16];
	long		used_ms;
	double		tokens;		/* buckets */
	long		refilled_ms;	/* buckets */
	int		failures;	/* (address, account) */
	long		failed_ms;	/* (address, account) */
};

struct throttle_table {
	struct throttle_entry	e[THROTTLE_SETS * THROTTLE_WAYS];
};

struct throttle {
	/* Keyed SipHash: nobody outside can aim a flood at one set. */
	unsigned char		seed[crypto_shorthash_KEYBYTES];
	struct throttle_table	addrs;
	struct throttle_table	accounts;
};

static long
throttle_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Never 0: that marks an empty entry. */
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000 + 1);
}

struct throttle *
throttle_new(void)
{
	struct throttle	*t;

	t = xcalloc(1, sizeof *t);
	randombytes_buf(t->seed, sizeof t->seed);
	return (t);
}

void
throttle_free(struct throttle *t)
{
	free(t);
}

void
throttle_addr_set(struct throttle_addr *ta, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(ta, 0, sizeof *ta);
	if (sa != NULL && sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		/* As ::ffff:a.b.c.d, so a mapped peer is the same key. */
		ta->a[10] = ta->a[11] = 0xff;
		memcpy(ta->a + 12, &sin->sin_addr, 4);
		inet_ntop(AF_INET, &sin->sin_addr, ta->text, sizeof ta->text);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(ta->a, &sin6->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memset(ta->a + 8, 0, 8);
		inet_ntop(AF_INET6, &sin6->sin6_addr, ta->text,
		    sizeof ta->text);
	} else
		snprintf(ta->text, sizeof ta->text, "unknown");
}

/* The key's entry, made (from the set's oldest) when absent. */
static struct throttle_entry *
throttle_find(struct throttle *t, struct throttle_table *tab,
    const unsigned char key[16], long now, int *fresh)
{
	unsigned char		 h[crypto_shorthash_BYTES];
	struct throttle_entry	*set, *old;
	unsigned int		 idx;
	int			 i;

	crypto_shorthash(h, key, 16, t->seed);
	memcpy(&idx, h, sizeof idx);
	set = &tab->e[(idx & (THROTTLE_SETS - 1)) * THROTTLE_WAYS];
	old = &set[0];
	for (i = 0; i < THROTTLE_WAYS; i++) {
		if (set[i].used_ms != 0 && memcmp(set[i].key, key, 16) == 0) {
			set[i].used_ms = now;
			*fresh = 0;
			return (&set[i]);
		}
		if (set[i].used_ms < old->used_ms)
			old = &set[i];
	}
	memset(old, 0, sizeof *old);
	memcpy(old->key, key, 16);
	old->used_ms = now;
	*fresh = 1;
	return (old);
}

int
throttle_take(struct throttle *t, const struct throttle_addr *ta,
    int per_minute, int burst, long *wait_ms)
{
	struct throttle_entry	*e;
	long			 now = throttle_now_ms();
	double			 per_ms = per_minute / 60000.0;
	int			 fresh;

	e = throttle_find(t, &t->addrs, ta->a, now, &fresh);
	if (fresh) {
		e->tokens = burst;
		e->refilled_ms = now;
	}
	e->tokens += (now - e->refilled_ms) * per_ms;
	if (e->tokens > burst)
		e->tokens = burst;
	e->refilled_ms = now;
	if (e->tokens >= 1) {
		e->tokens -= 1;
		*wait_ms = 0;
		return (0);
	}
	/* Below zero, tokens count the sign-ins queued for this address. */
	*wait_ms = (long)((1 - e->tokens) / per_ms) + 1;
	if (*wait_ms > THROTTLE_MAX_WAIT_MS)
		return (-1);
	e->tokens -= 1;
	return (0);
}

static void
throttle_account_key(const struct throttle_addr *ta, const char *account,
    unsigned char key[16])
{
	crypto_generichash_state	st;

	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, ta->a, sizeof ta->a);
	crypto_generichash_update(&st, (const unsigned char *)account,
	    strlen(account) + 1);
	crypto_generichash_final(&st, key, 16);
}

long
throttle_attempt(struct throttle *t, const struct throttle_addr *ta,
    const char *account)
{
	struct throttle_entry	*e;
	unsigned char		 key[16];
	long			 now = throttle_now_ms(), backoff, left;
	int			 fresh;

	throttle_account_key(ta, account, key);
	e = throttle_find(t, &t->accounts, key, now, &fresh);
	if (e->failures > 0 && now - e->failed_ms > THROTTLE_FORGET_MS)
		e->failures = 0;
	if (e->failures >= THROTTLE_FREE_FAILURES) {
		/* 2 s after the third failure, then twice as long each time. */
		backoff = THROTTLE_MAX_BACKOFF_MS;
		if (e->failures - THROTTLE_FREE_FAILURES < 8)
			backoff = 2000L << (e->failures -
			    THROTTLE_FREE_FAILURES);
		if (backoff > THROTTLE_MAX_BACKOFF_MS)
			backoff = THROTTLE_MAX_BACKOFF_MS;
		left = e->failed_ms + backoff - now;
		if (left > 0)
			return (left);
	}
	e->failures++;
	e->failed_ms = now;
	return (0);
}

void
throttle_succeeded(struct throttle *t, const struct throttle_addr *ta,
    const char *account)
{
	struct throttle_entry	*e;
	unsigned char		 key[16];
	int			 fresh;

	throttle_account_key(ta, account, key);
	e = throttle_find(t, &t->accounts, key, throttle_now_ms(), &fresh);
	e->failures = 0;
}
