#include <sys/queue.h>

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
	int		 priority;
	int		 queued;	/* waiting for a slot */
	TAILQ_ENTRY(password_job) entry;
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

TAILQ_HEAD(password_queue, password_job);

/* Touched on the loop's thread only. */
static int			password_jobs;		/* running */
static int			password_queued;
static struct password_queue	password_urgent =
				    TAILQ_HEAD_INITIALIZER(password_urgent);
static struct password_queue	password_waiting =
				    TAILQ_HEAD_INITIALIZER(password_waiting);

static void	password_run_queue(void);

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
password_job_free(struct password_job *job)
{
	sodium_memzero(job->password, strlen(job->password));
	free(job->password);
	event_free(job->done);
	free(job);
}

static void
password_done(evutil_socket_t fd, short what, void *arg)
{
	struct password_job	*job = arg;

	(void)fd;
	(void)what;
	if (job->queued) {
		/* Waited its whole time for a slot: it never ran. */
		TAILQ_REMOVE(job->priority ? &password_urgent :
		    &password_waiting, job, entry);
		password_queued--;
		job->cb(job->hashing ? 0 : -1, NULL, job->arg);
		password_job_free(job);
		return;
	}
	password_jobs--;
	/* The slot goes to the next in line before anything else runs. */
	password_run_queue();
	job->cb(job->ok, job->hashing && job->ok ? job->hash : NULL, job->arg);
	password_job_free(job);
}

static int
password_spawn(struct password_job *job)
{
	pthread_attr_t	attr;
	pthread_t	t;
	int		rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, password_thread, job);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return (-1);
	password_jobs++;
	return (0);
}

/* May this job have a slot now? Ordinary ones leave the last for others. */
static int
password_slot_free(int priority)
{
	return (password_jobs < PASSWORD_MAX_JOBS - (priority ? 0 :
	    PASSWORD_RESERVED));
}

static void
password_run_queue(void)
{
	struct password_job	*job;
	struct password_queue	*q;

	for (;;) {
		if (!TAILQ_EMPTY(&password_urgent) && password_slot_free(1))
			q = &password_urgent;
		else if (!TAILQ_EMPTY(&password_waiting) &&
		    password_slot_free(0))
			q = &password_waiting;
		else
			return;
		job = TAILQ_FIRST(q);
		TAILQ_REMOVE(q, job, entry);
		password_queued--;
		job->queued = 0;
		event_del(job->done);
		if (password_spawn(job) != 0) {
			/* No thread: report it as a job that never ran. */
			job->queued = 1;
			TAILQ_INSERT_HEAD(q, job, entry);
			password_queued++;
			event_active(job->done, EV_TIMEOUT, 1);
			return;
		}
	}
}

static int
password_start(struct event_base *base, int hashing, int priority,
    const char *password, const char *hash, password_cb cb, void *arg)
{
	struct password_job	*job;
	struct timeval		 tv;
	int			 now;

	/* Ordinary jobs never pass those already waiting. */
	now = password_slot_free(priority) && (priority ||
	    TAILQ_EMPTY(&password_waiting));
	if (!now && password_queued >= PASSWORD_MAX_QUEUED)
		return (-1);
	job = xcalloc(1, sizeof *job);
	job->hashing = hashing;
	job->priority = priority;
	job->password = xstrdup(password);
	if (!hashing)
		snprintf(job->hash, sizeof job->hash, "%s",
		    hash != NULL ? hash : password_dummy);
	job->cb = cb;
	job->arg = arg;
	job->done = event_new(base, -1, 0, password_done, job);
	if (now) {
		if (password_spawn(job) == 0)
			return (0);
		password_job_free(job);
		return (-1);
	}
	/* Wait in line; the event fires if no slot comes in time. */
	job->queued = 1;
	TAILQ_INSERT_TAIL(priority ? &password_urgent : &password_waiting,
	    job, entry);
	password_queued++;
	tv.tv_sec = PASSWORD_QUEUE_WAIT_MS / 1000;
	tv.tv_usec = (PASSWORD_QUEUE_WAIT_MS % 1000) * 1000;
	event_add(job->done, &tv);
	return (0);
}

int
password_verify_async(struct event_base *base, const char *password,
    const char *hash, int priority, password_cb cb, void *arg)
{
	return (password_start(base, 0, priority, password, hash, cb, arg));
}

int
password_hash_async(struct event_base *base, const char *password,
    password_cb cb, void *arg)
{
	return (password_start(base, 1, 1, password, NULL, cb, arg));
}

int
password_busy(void)
{
	return (password_jobs + password_queued);
}
