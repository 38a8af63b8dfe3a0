/*
 * Sign-in under attack, and credentials that end: a flood of bogus
 * sign-ins from 16 addresses (distinct loopback sources, bound before
 * connect) must not keep a real operator out; wrong guesses from one
 * address must not lock the account for another; known and unknown names
 * must look and take the same; and with the credentials cache set long
 * (60 s), revocation, sign-out, an idle end and a disable in SQL must end
 * a credential on this instance and on a second one at once.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define PASSWORD	"correct horse battery"
#define FLOODERS	16
#define FLOOD_MAX_MS	60000	/* a flood thread stops by itself */
#define INVALID_WAIT_MS	10000	/* far below the cache's 60 s */

static char		*db, *admin;
static struct th_daemon	 a, b, c;	/* c: sessions idle after 2 s */

struct reply {
	long	 status;
	char	*body;
	char	*headers;
	double	 secs;
};

/* A sign-in sent from the loopback address src. 0: got an answer. */
static int
sign_in_from(struct reply *rp, const struct th_daemon *d, const char *src,
    const char *name, const char *password)
{
	CURL			*cu;
	struct curl_slist	*hl = NULL;
	struct th_buf		 bb = { NULL, 0 }, hb = { NULL, 0 };
	char			*url, *body;
	int			 rc;

	memset(rp, 0, sizeof *rp);
	url = xprintf("%s/v1/session", d->url);
	body = xprintf("{\"name\": \"%s\", \"password\": \"%s\"}", name,
	    password);
	cu = curl_easy_init();
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_INTERFACE, src);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, th_collect);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &bb);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, th_collect);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &rp->status);
	curl_easy_getinfo(cu, CURLINFO_TOTAL_TIME, &rp->secs);
	curl_easy_cleanup(cu);
	curl_slist_free_all(hl);
	free(url);
	free(body);
	rp->body = bb.data != NULL ? bb.data : xstrdup("");
	rp->headers = hb.data != NULL ? hb.data : xstrdup("");
	return (rc);
}

static void
reply_free(struct reply *rp)
{
	free(rp->body);
	free(rp->headers);
}

/* Retry-After's seconds, or -1. */
static int
retry_after(const struct reply *rp)
{
	const char	*p = strcasestr(rp->headers, "\nRetry-After:");

	return (p == NULL ? -1 : atoi(p + 13));
}

/* The error code and message with digits dropped: the body's shape. */
static char *
shape(const struct reply *rp)
{
	json_t		*j = json_loads(rp->body, 0, NULL);
	json_t		*e = json_object_get(j, "error");
	const char	*m;
	char		*s, *p, *q;

	s = xprintf("%ld %s %s %s", rp->status,
	    json_string_value(json_object_get(e, "code")) ?: "-",
	    (m = json_string_value(json_object_get(e, "message"))) ?: "-",
	    retry_after(rp) > 0 ? "retry-after" : "");
	for (p = q = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			*q++ = *p;
	*q = '\0';
	json_decref(j);
	return (s);
}

static int
group_setup(void **state)
{
	static const char *const names[] = {
		"lihua", "zhaomin", "sunli", "zhouyi", "wuqing", "qianli",
		"timing",
	};
	size_t	i;

	(void)state;
	th_init();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	db = th_db_create("t_signin");
	if (th_migrate(db, NULL) != 0)
		return (-1);
	admin = th_token(db, "admin", "signin test admin");
	for (i = 0; i < sizeof names / sizeof *names; i++)
		if (th_operator(db, names[i], NULL, PASSWORD) != 0)
			return (-1);
	/* Long enough that only an invalidation can explain a 401. */
	if (th_daemon_start(&a, db, "auth:\n  token_cache_ttl: 60s\n", 2,
	    NULL) != 0 || th_daemon_start(&b, db,
	    "auth:\n  token_cache_ttl: 60s\n", 2, NULL) != 0 ||
	    th_daemon_start(&c, db, "auth:\n  token_cache_ttl: 60s\n"
	    "  session_idle: 2s\n", 2, NULL) != 0)
		return (-1);
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_signal_wait(&a, SIGTERM, 15000);
	th_daemon_signal_wait(&b, SIGTERM, 15000);
	th_daemon_signal_wait(&c, SIGTERM, 15000);
	th_daemon_cleanup(&a);
	th_daemon_cleanup(&b);
	th_daemon_cleanup(&c);
	free(db);
	free(admin);
	return (0);
}

/* The flood: each thread one address, one request at a time. */
struct flooder {
	pthread_t	 t;
	int		 n;
	volatile int	*stop;
	int		 sent;
	int		 answered;
};

static void *
flood(void *arg)
{
	struct flooder	*f = arg;
	struct reply	 rp;
	char		 src[32], name[32];
	long		 end = th_now_ms() + FLOOD_MAX_MS;

	snprintf(src, sizeof src, "127.0.0.%d", 2 + f->n);
	while (!*f->stop && th_now_ms() < end && f->sent < 5000) {
		/* Half guess at the real operator, half make names up. */
		if (f->n % 2 == 0)
			snprintf(name, sizeof name, "lihua");
		else
			snprintf(name, sizeof name, "nobody-%d-%d", f->n,
			    f->sent);
		f->sent++;
		if (sign_in_from(&rp, &a, src, name, "bogus-password") == 0)
			__atomic_add_fetch(&f->answered, 1, __ATOMIC_SEQ_CST);
		reply_free(&rp);
	}
	return (NULL);
}

static int
flood_answered(struct flooder *f)
{
	int	i, n = 0;

	for (i = 0; i < FLOODERS; i++)
		n += __atomic_load_n(&f[i].answered, __ATOMIC_SEQ_CST);
	return (n);
}

static void
test_flood_does_not_lock_out(void **state)
{
	struct flooder	 f[FLOODERS];
	volatile int	 stop = 0;
	struct reply	 rp;
	long		 deadline;
	int		 i, wait;

	(void)state;
	for (i = 0; i < FLOODERS; i++) {
		memset(&f[i], 0, sizeof f[i]);
		f[i].n = i;
		f[i].stop = &stop;
		assert_int_equal(pthread_create(&f[i].t, NULL, flood, &f[i]),
		    0);
	}
	/* Under way: every Argon2 slot contended. */
	deadline = th_now_ms() + 20000;
	while (flood_answered(f) < 4 * FLOODERS && th_now_ms() < deadline)
		usleep(20000);
	assert_true(flood_answered(f) >= 4 * FLOODERS);

	/* From an address of its own: in, every time. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(sign_in_from(&rp, &a, "127.0.0.100", "lihua",
		    PASSWORD), 0);
		if (rp.status != 201)
			fprintf(stderr, "# own address: %ld %s\n", rp.status,
			    rp.body);
		assert_int_equal(rp.status, 201);
		reply_free(&rp);
	}

	/* Until that flooding address has spent its burst of 10. */
	deadline = th_now_ms() + 30000;
	while (__atomic_load_n(&f[1].answered, __ATOMIC_SEQ_CST) < 12 &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(f[1].answered >= 12);
	/*
	 * From a flooding address, the right password either waits its turn
	 * (201) or is told when to come back (429 with Retry-After, never
	 * 503); then it gets in.
	 */
	assert_int_equal(sign_in_from(&rp, &a, "127.0.0.3", "lihua",
	    PASSWORD), 0);
	fprintf(stderr, "# flooding address: %ld after %.2f s\n", rp.status,
	    rp.secs);
	assert_true(rp.status == 201 || rp.status == 429);
	wait = retry_after(&rp);
	if (rp.status == 429) {
		assert_true(wait >= 1 && wait <= 60);
		assert_non_null(strstr(rp.body, "too_many_attempts"));
	}
	reply_free(&rp);
	stop = 1;
	for (i = 0; i < FLOODERS; i++)
		pthread_join(f[i].t, NULL);
	if (wait > 0) {
		sleep(wait);	/* as the server asked */
		assert_int_equal(sign_in_from(&rp, &a, "127.0.0.3", "lihua",
		    PASSWORD), 0);
		assert_int_equal(rp.status, 201);
		reply_free(&rp);
	}
}

static void
test_guesses_elsewhere_do_not_lock_out(void **state)
{
	struct reply	rp;
	int		i, refused = 0;

	(void)state;
	for (i = 0; i < 8; i++) {
		assert_int_equal(sign_in_from(&rp, &a, "127.0.0.20", "zhaomin",
		    "guess-guess"), 0);
		assert_true(rp.status == 401 || rp.status == 429);
		refused += rp.status == 429;
		reply_free(&rp);
	}
	/* The guessing address is slowed, even for the right password... */
	assert_true(refused >= 4);
	assert_int_equal(sign_in_from(&rp, &a, "127.0.0.20", "zhaomin",
	    PASSWORD), 0);
	assert_int_equal(rp.status, 429);
	assert_true(retry_after(&rp) >= 1);
	reply_free(&rp);
	/* ...and nobody else: the operator signs in from elsewhere at once. */
	assert_int_equal(sign_in_from(&rp, &a, "127.0.0.21", "zhaomin",
	    PASSWORD), 0);
	assert_int_equal(rp.status, 201);
	reply_free(&rp);
}

/* Several sign-ins at once from one address. */
struct burst {
	pthread_t	 t;
	const char	*src, *name;
	struct reply	 rp;
};

static void *
burst_one(void *arg)
{
	struct burst	*bu = arg;

	sign_in_from(&bu->rp, &a, bu->src, bu->name, "guess-guess");
	return (NULL);
}

static int
shapes_of(const char *src, const char *name, char **out, int n)
{
	struct burst	bu[16];
	int		i;

	for (i = 0; i < n; i++) {
		bu[i].src = src;
		bu[i].name = name;
		pthread_create(&bu[i].t, NULL, burst_one, &bu[i]);
	}
	for (i = 0; i < n; i++) {
		pthread_join(bu[i].t, NULL);
		out[i] = shape(&bu[i].rp);
		reply_free(&bu[i].rp);
	}
	return (n);
}

static int
has_shape(char **set, int n, const char *s)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i], s) == 0)
			return (1);
	return (0);
}

static void
pair_round(struct reply *r1, const char *src1, const char *name1,
    struct reply *r2, const char *src2, const char *name2)
{
	struct burst	bu[2];
	int		i;

	bu[0].src = src1;
	bu[0].name = name1;
	bu[1].src = src2;
	bu[1].name = name2;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&bu[i].t, NULL, burst_one,
		    &bu[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(bu[i].t, NULL);
	*r1 = bu[0].rp;
	*r2 = bu[1].rp;
}

static void
test_names_look_alike(void **state)
{
	struct reply	 known, unknown;
	char		*ks, *us, *kset[16], *uset[16];
	int		 i, round;

	(void)state;
	/*
	 * Fresh, then past the free failures: the same answers, in step. Both
	 * at once, so that each round ends within one sign-in of the last,
	 * far inside the 2 s back-off, however busy the machine.
	 */
	for (round = 0; round < 6; round++) {
		pair_round(&known, "127.0.0.30", "sunli", &unknown,
		    "127.0.0.31", "sunli-who");
		ks = shape(&known);
		us = shape(&unknown);
		if (strcmp(ks, us) != 0)
			fprintf(stderr, "# round %d: known \"%s\", unknown "
			    "\"%s\"\n", round, ks, us);
		assert_string_equal(ks, us);
		assert_int_equal(known.status, round < 3 ? 401 : 429);
		free(ks);
		free(us);
		reply_free(&known);
		reply_free(&unknown);
	}
	/* Many at once, past the address's bucket too. */
	shapes_of("127.0.0.30", "sunli", kset, 16);
	shapes_of("127.0.0.31", "sunli-who", uset, 16);
	for (i = 0; i < 16; i++) {
		if (!has_shape(uset, 16, kset[i]) ||
		    !has_shape(kset, 16, uset[i]))
			fprintf(stderr, "# burst: known \"%s\", unknown "
			    "\"%s\"\n", kset[i], uset[i]);
		assert_true(has_shape(uset, 16, kset[i]));
		assert_true(has_shape(kset, 16, uset[i]));
	}
	for (i = 0; i < 16; i++) {
		free(kset[i]);
		free(uset[i]);
	}
}

static int
cmp_double(const void *x, const void *y)
{
	double	p = *(const double *)x, q = *(const double *)y;

	return (p < q ? -1 : p > q);
}

/*
 * A wrong password for a real name and any password for a made-up one
 * take the same time. Pairs from one fresh address each, in alternating
 * order, so load on the machine falls on both alike; the median of the
 * pairs' differences must be small beside the Argon2 check itself and
 * beside a write. The test cluster runs with fsync off, where a commit
 * costs nothing; on a server it waits for the disk. So each write to the
 * tables a sign-in touches is made to cost as much as a whole sign-in
 * (measured first, as a busy machine slows it): a path that writes more
 * than the other is off by 100 % or more, far outside the noise.
 */
#define TIMING_CALIBRATE	7
#define TIMING_PAIRS		31

static double
median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return (v[n / 2]);
}

static double
timed_sign_in(const char *src, const char *name)
{
	struct reply	rp;
	double		secs;

	assert_int_equal(sign_in_from(&rp, &a, src, name, "guess-guess"), 0);
	assert_int_equal(rp.status, 401);
	secs = rp.secs;
	reply_free(&rp);
	return (secs);
}

static void
test_names_take_the_same_time(void **state)
{
	double		 diff[TIMING_PAIRS], all[2 * TIMING_PAIRS];
	double		 cal[TIMING_CALIBRATE], tk, tu, write_ms, med_diff;
	double		 med_all;
	char		 src[32], name[32], *sql;
	int		 i;

	(void)state;
	for (i = 0; i < TIMING_CALIBRATE; i++) {
		snprintf(src, sizeof src, "127.0.2.%d", i + 1);
		snprintf(name, sizeof name, "calibrate-%d", i);
		cal[i] = timed_sign_in(src, name);
	}
	write_ms = median(cal, TIMING_CALIBRATE) * 1000;
	if (write_ms < 20)
		write_ms = 20;
	if (write_ms > 1000)
		write_ms = 1000;
	sql = xprintf("CREATE FUNCTION t_slow_write() RETURNS trigger "
	    "LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(%.3f); RETURN NEW; "
	    "END $$; CREATE TRIGGER t_slow_write BEFORE INSERT OR UPDATE ON "
	    "audit_log FOR EACH ROW EXECUTE FUNCTION t_slow_write(); "
	    "CREATE TRIGGER t_slow_write BEFORE UPDATE ON operators "
	    "FOR EACH ROW EXECUTE FUNCTION t_slow_write()", write_ms / 1000);
	assert_int_equal(th_pg_exec(db, sql), 0);
	free(sql);
	for (i = 0; i < TIMING_PAIRS; i++) {
		snprintf(src, sizeof src, "127.0.1.%d", i + 1);
		if (i % 2 == 0) {
			tk = timed_sign_in(src, "timing");
			tu = timed_sign_in(src, "timing-who");
		} else {
			tu = timed_sign_in(src, "timing-who");
			tk = timed_sign_in(src, "timing");
		}
		diff[i] = tk - tu;
		all[2 * i] = tk;
		all[2 * i + 1] = tu;
	}
	med_diff = median(diff, TIMING_PAIRS) * 1000;
	med_all = median(all, 2 * TIMING_PAIRS) * 1000;
	fprintf(stderr, "# sign-in %.1f ms (median, a write costing %.1f ms); "
	    "known - unknown %.1f ms (median of %d pairs)\n", med_all,
	    write_ms, med_diff, TIMING_PAIRS);
	assert_int_equal(th_pg_exec(db, "DROP TRIGGER t_slow_write ON "
	    "audit_log; DROP TRIGGER t_slow_write ON operators; "
	    "DROP FUNCTION t_slow_write()"), 0);
	/* Within noise: well under one write, or one Argon2 check. */
	assert_true(med_diff < write_ms / 2 && med_diff > -write_ms / 2);
}

/* Poll until the credential is refused: the time it took, or -1. */
static long
until_refused(const struct th_daemon *d, const char *tok)
{
	long	start = th_now_ms(), st;

	for (;;) {
		st = th_api(d->url, tok, "GET", "/v1/calls?limit=1", NULL,
		    NULL);
		if (st == 401)
			return (th_now_ms() - start);
		assert_int_equal(st, 200);
		if (th_now_ms() - start > INVALID_WAIT_MS)
			return (-1);
		usleep(20000);
	}
}

static char *
session(const struct th_daemon *d, const char *src, const char *name)
{
	struct reply	 rp;
	json_t		*j;
	char		*tok;

	assert_int_equal(sign_in_from(&rp, d, src, name, PASSWORD), 0);
	assert_int_equal(rp.status, 201);
	j = json_loads(rp.body, 0, NULL);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	json_decref(j);
	reply_free(&rp);
	return (tok);
}

static void
test_revoked_token_ends_everywhere(void **state)
{
	json_t	*j;
	char	*tok, *path;
	long long id;

	(void)state;
	assert_int_equal(th_api(a.url, admin, "POST", "/v1/tokens",
	    "{\"name\": \"revoke me\", \"role\": \"operator\"}", &j), 201);
	tok = xstrdup(json_string_value(json_object_get(j, "token")));
	id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	/* Cached on both. */
	assert_int_equal(th_api(a.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	assert_int_equal(th_api(b.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	path = xprintf("/v1/tokens/%lld", id);
	assert_int_equal(th_api(a.url, admin, "DELETE", path, NULL, NULL),
	    200);
	/* The very next request here... */
	assert_int_equal(th_api(a.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 401);
	/* ...and the other instance as soon as NOTIFY reaches it. */
	assert_true(until_refused(&b, tok) >= 0);
	free(path);
	free(tok);
}

static void
test_signed_out_session_ends_everywhere(void **state)
{
	char	*tok;

	(void)state;
	tok = session(&a, "127.0.0.40", "wuqing");
	assert_int_equal(th_api(a.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	assert_int_equal(th_api(b.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	assert_int_equal(th_api(a.url, tok, "DELETE", "/v1/session", NULL,
	    NULL), 204);
	assert_int_equal(th_api(a.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 401);
	assert_true(until_refused(&b, tok) >= 0);
	free(tok);
}

static void
test_disabled_operator_ends_everywhere(void **state)
{
	char	*tok;

	(void)state;
	tok = session(&a, "127.0.0.41", "zhouyi");
	assert_int_equal(th_api(a.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	assert_int_equal(th_api(b.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	/* Accounts are disabled in SQL only. */
	assert_int_equal(th_pg_exec(db, "UPDATE operators SET disabled_at = "
	    "now() WHERE name = 'zhouyi'"), 0);
	assert_true(until_refused(&a, tok) >= 0);
	assert_true(until_refused(&b, tok) >= 0);
	free(tok);
}

static void
test_idle_session_not_kept_by_cache(void **state)
{
	char	*tok;
	long	 took;

	(void)state;
	tok = session(&c, "127.0.0.42", "qianli");
	assert_int_equal(th_api(c.url, tok, "GET", "/v1/calls?limit=1", NULL,
	    NULL), 200);
	/* auth.session_idle is 2 s there; the cache would keep it 60 s. */
	took = until_refused(&c, tok);
	assert_true(took >= 0);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guesses_elsewhere_do_not_lock_out),
		cmocka_unit_test(test_names_look_alike),
		cmocka_unit_test(test_names_take_the_same_time),
		cmocka_unit_test(test_revoked_token_ends_everywhere),
		cmocka_unit_test(test_signed_out_session_ends_everywhere),
		cmocka_unit_test(test_disabled_operator_ends_everywhere),
		cmocka_unit_test(test_idle_session_not_kept_by_cache),
		cmocka_unit_test(test_flood_does_not_lock_out),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
