#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "crypto.h"
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

static int	password_jobs;		/* touched on the loop's thread only */
static char	password_dummy[crypto_pwhash_STRBYTES];

void
password_init(void)
{
	unsigned char	rnd[32];
	char		pw[65];

	if (sodium_init() < 0) {
		log_error("password: libsodium cannot initialise");
		abort();
	}
	/* A hash of nothing anyone knows, for names that do not exist. */
	crypto_random(rnd, sizeof rnd);
	crypto_hex(rnd, sizeof rnd, pw);
	if (crypto_pwhash_str(password_dummy, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		abort();
	sodium_memzero(pw, sizeof pw);
}

char *
password_hash(const char *password)
{
	char	out[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(out, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13)
	    != 0)
		return (NULL);
	return (xstrdup(out));
}

static void *
password_thread(void *arg)
{
	struct password_job	*job = arg;

	if (job->hashing)
		job->ok = crypto_pwhash_str_alg(job->hash, job->password,
		    strlen(job->password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
		    crypto_pwhash_MEMLIMIT_INTERACTIVE,
		    crypto_pwhash_ALG_ARGON2ID13) == 0;
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
