#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "log.h"
#include "password.h"
#include "xmalloc.h"

struct password_job {
	int		 hashing;	/* 1: make hash; 0: check against it */
	char		*password;
	char		 hash[crypto_pwhash_STRBYTES];
	int		 ok;
	password_cb	 cb;
	void		*arg;
	struct event	*done;
};

/*
 * OWASP's Argon2id baseline: 19 MiB, two passes, one lane. Enough to make
 * guessing slow, small enough that PASSWORD_MAX_JOBS checks at once stay
 * well under 100 MiB.
 */
#define PASSWORD_OPSLIMIT	2
#define PASSWORD_MEMLIMIT	(19 * 1024 * 1024)

/*
 * Names that do not exist are checked against this, so they take as long
 * as real ones. Its password was random and thrown away; knowing one
 * would not help anyway, as an unknown name is refused whatever happens.
 */
static const char password_dummy[] = "$argon2id$v=19$m=19456,t=2,p=1$"
    "Ut5b2wP89ek22Fqm0pz3sg$4d9O+MMynkmd7uE2ZvPM1Xoi+3+MIzL8oJ9SNWAGqJ0";

static int	password_jobs;		/* touched on the loop's thread only */

void
password_init(void)
{
	if (sodium_init() < 0) {
		log_error("password: libsodium cannot initialise");
		abort();
	}
}

char *
password_hash(const char *password)
{
	char	out[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(out, password, strlen(password),
	    PASSWORD_OPSLIMIT, PASSWORD_MEMLIMIT,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		return (NULL);
	return (xstrdup(out));
}

static void *
password_thread(void *arg)
{
	struct password_job	*job = arg;

	if (job->hashing)
		job->ok = crypto_pwhash_str_alg(job->hash, job->password,
		    strlen(job->password), PASSWORD_OPSLIMIT,
		    PASSWORD_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) == 0;
	else
		job->ok = crypto_pwhash_str_verify(job->hash, job->password,
		    strlen(job->password)) == 0;
	/* Back to the loop's thread (evthread_use_pthreads is on). */
	event_active(job->done, EV_READ, 1);
	return (NULL);
}

static void
password_done(evutil_socket_t fd, short what, void *arg)
{
	struct password_job	*job = arg;

	(void)fd;
	(void)what;
	password_jobs--;
	job->cb(job->ok, job->hashing && job->ok ? job->hash : NULL, job->arg);
	sodium_memzero(job->password, strlen(job->password));
	free(job->password);
	event_free(job->done);
	free(job);
}

static int
password_start(struct event_base *base, int hashing, const char *password,
    const char *hash, password_cb cb, void *arg)
{
	struct password_job	*job;
	pthread_attr_t		 attr;
	pthread_t		 t;

	if (password_jobs >= PASSWORD_MAX_JOBS)
		return (-1);
	job = xcalloc(1, sizeof *job);
	job->hashing = hashing;
	job->password = xstrdup(password);
	if (!hashing)
		snprintf(job->hash, sizeof job->hash, "%s",
		    hash != NULL ? hash : password_dummy);
	job->cb = cb;
	job->arg = arg;
	job->done = event_new(base, -1, 0, password_done, job);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, password_thread, job) != 0) {
		pthread_attr_destroy(&attr);
		event_free(job->done);
		sodium_memzero(job->password, strlen(job->password));
		free(job->password);
		free(job);
		return (-1);
	}
	pthread_attr_destroy(&attr);
	password_jobs++;
	return (0);
}

int
password_verify_async(struct event_base *base, const char *password,
    const char *hash, password_cb cb, void *arg)
{
	return (password_start(base, 0, password, hash, cb, arg));
}

int
password_hash_async(struct event_base *base, const char *password,
    password_cb cb, void *arg)
{
	return (password_start(base, 1, password, NULL, cb, arg));
}

int
password_busy(void)
{
	return (password_jobs);
}
