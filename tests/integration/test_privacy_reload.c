/*
 * A reload that forbids private webhook targets must reach connections
 * already open: a delivery to a receiver of our own on 127.0.0.1 while
 * they are allowed keeps its connection in curl's pool, and after the
 * reload the next delivery is refused instead of reusing it.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define TEST_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define BASE_LAT	27.8700
#define BASE_LON	113.1800

static char	*db, *oper;

/*
 * A webhook receiver of our own on 127.0.0.1: HTTP/1.1 keep-alive, 200 to
 * every request, counting connections accepted and requests answered.
 */
struct counter {
	int		 lfd;
	int		 port;
	int		 stop;
	int		 conns;
	int		 requests;
	pthread_mutex_t	 mu;
	pthread_t	 thread;
};

#define COUNTER_MAXFD	16

static int
counter_request_end(const char *buf, size_t len)
{
	const char	*end, *cl;
	size_t		 head, body = 0;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return (-1);
	head = (size_t)(end - buf) + 4;
	for (cl = buf; cl < end; cl++) {
		if (strncasecmp(cl, "\r\nContent-Length:", 17) == 0) {
			body = strtoul(cl + 17, NULL, 10);
			break;
		}
	}
	return (len >= head + body ? (int)(head + body) : -1);
}

static void *
counter_main(void *arg)
{
	struct counter	*c = arg;
	struct pollfd	 pfd[COUNTER_MAXFD];
	char		 bufs[COUNTER_MAXFD][8192];
	size_t		 lens[COUNTER_MAXFD];
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n";
	int		 n = 1, i, fd, used;
	ssize_t		 got;

	pfd[0].fd = c->lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu);
		if (poll(pfd, n, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < COUNTER_MAXFD &&
		    (fd = accept(c->lfd, NULL, NULL)) >= 0) {
			pfd[n].fd = fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			lens[n] = 0;
			n++;
			pthread_mutex_lock(&c->mu);
			c->conns++;
			pthread_mutex_unlock(&c->mu);
		}
		for (i = 1; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(pfd[i].fd, bufs[i] + lens[i],
			    sizeof bufs[i] - lens[i]);
			if (got <= 0) {
				close(pfd[i].fd);
				pfd[i] = pfd[n - 1];
				memcpy(bufs[i], bufs[n - 1], lens[n - 1]);
				lens[i] = lens[n - 1];
				n--;
				i--;
				continue;
			}
			lens[i] += (size_t)got;
			while ((used = counter_request_end(bufs[i], lens[i])) >
			    0) {
				if (write(pfd[i].fd, ok, sizeof ok - 1) < 0)
					break;
				memmove(bufs[i], bufs[i] + used,
				    lens[i] - (size_t)used);
				lens[i] -= (size_t)used;
				pthread_mutex_lock(&c->mu);
				c->requests++;
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
	for (i = 1; i < n; i++)
		close(pfd[i].fd);
	return (NULL);
}

static void
counter_start(struct counter *c)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			one = 1;

	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	assert_true((c->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(c->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(c->lfd, 16), 0);
	getsockname(c->lfd, (struct sockaddr *)&sin, &len);
	c->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, counter_main, c), 0);
}

static void
counter_get(struct counter *c, int *conns, int *requests)
{
	pthread_mutex_lock(&c->mu);
	*conns = c->conns;
	*requests = c->requests;
	pthread_mutex_unlock(&c->mu);
}

static void
counter_stop(struct counter *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	close(c->lfd);
	pthread_mutex_destroy(&c->mu);
}

/* POST body as a call to url; its delivery comes to status: its id. */
static long long
call_delivers(const char *url, const char *body, const char *status)
{
	long long	 id;
	json_t		*j;

	assert_int_equal(th_api(url, oper, "POST", "/v1/calls", body, &j),
	    201);
	id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	assert_int_equal(th_wait_val(db, status, 10000, "SELECT d.status FROM "
	    "deliveries d JOIN offers o ON o.id = d.offer_id WHERE o.call_id "
	    "= %lld", id), 0);
	return (id);
}

static void
test_reload_forbidding_private_drops_kept_alive(void **state)
{
	struct th_daemon	 d2;
	struct counter		 c;
	long long		 prov, rid, c2;
	char			*q, *body, *v;
	int			 conns, requests;
	long			 deadline;

	(void)state;
	counter_start(&c);
	th_sql(db, "UPDATE providers SET active = false");
	rid = th_num(db, "INSERT INTO residents (name, phone, address, "
	    "location) VALUES ('重载测试', '13900000103', '荷塘区隐私路1号', "
	    "ST_SetSRID(ST_MakePoint(%f, %f), 4326)::geography) RETURNING id",
	    BASE_LON, BASE_LAT + 0.01);
	prov = th_num(db, "INSERT INTO providers (name, services, location, "
	    "travel_mode, capacity, opening_hours, webhook_url, "
	    "webhook_secret) VALUES ('本机接收', '{meal}', ST_SetSRID("
	    "ST_MakePoint(%f, %f), 4326)::geography, 'walk', 50, '24/7', "
	    "'http://127.0.0.1:%d/hooks', '%s') RETURNING id", BASE_LON,
	    BASE_LAT + 0.0101, c.port, TEST_SECRET);
	q = xprintf("INSERT INTO provider_hours SELECT %lld, d, '00:00', "
	    "'24:00' FROM generate_series(1, 7) d", prov);
	th_sql(db, q);
	free(q);
	assert_int_equal(th_daemon_start(&d2, db, "offers:\n  timeout: 1h\n"
	    "webhooks:\n  allow_private_targets: true\n"
	    "  retry_schedule: [100ms]\n  poll_interval: 200ms\n", 2, NULL), 0);

	/* Allowed: delivered, and the connection stays open in curl's pool. */
	body = xprintf("{\"caller_phone\": \"13900000103\", \"resident_id\": "
	    "%lld, \"service\": \"meal\", \"duplicate_ok\": true}", rid);
	(void)call_delivers(d2.url, body, "delivered");
	counter_get(&c, &conns, &requests);
	assert_int_equal(conns, 1);
	assert_int_equal(requests, 1);

	/* Forbidden by a reload: the pooled connection must not be used. */
	th_file_replace(d2.config, "allow_private_targets: true",
	    "allow_private_targets: false");
	kill(d2.pid, SIGHUP);
	deadline = th_now_ms() + 5000;
	while (!th_file_contains(d2.log,
	    "webhooks.allow_private_targets reloaded") &&
	    th_now_ms() < deadline)
		usleep(20000);
	assert_true(th_file_contains(d2.log,
	    "webhooks.allow_private_targets reloaded"));
	c2 = call_delivers(d2.url, body, "dead");
	v = th_val(db,
	    "SELECT d.last_error FROM deliveries d JOIN offers o ON o.id "
	    "= d.offer_id WHERE o.call_id = %lld", c2);
	assert_non_null(strstr(v, "not allowed"));
	free(v);
	counter_get(&c, &conns, &requests);
	assert_int_equal(requests, 1);
	free(body);
	th_daemon_stop(&d2);
	counter_stop(&c);
}

static int
group_setup(void **state)
{
	(void)state;
	return (th_group_up("privacy_reload", &db, NULL, &oper, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_forbidding_private_drops_kept_alive),
	};

	return (cmocka_run_group_tests(tests, group_setup,
	    th_group_teardown));
}
