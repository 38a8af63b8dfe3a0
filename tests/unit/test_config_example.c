/*
 * The configuration's defaults and its shipped example: every key listed
 * once, the example parsing to exactly the defaults, and documenting
 * every key config_key names. No files are written; config_load reads
 * config/careline.yaml of the repository.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static void
test_defaults(void **state)
{
	struct config	*c;

	(void)state;
	c = config_defaults();
	assert_string_equal(c->listen_address, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->db_url, "dbname=careline");
	assert_int_equal(c->db_reconnect_min_ms, 100);
	assert_int_equal(c->http_max_body, 64 * 1024);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_true(c->match_detour_factor == 1.3);
	assert_int_equal(c->offer_timeout_ms, 120000);
	assert_int_equal(c->webhook_retry_count, 5);
	assert_int_equal(c->webhook_retry_ms[0], 5000);
	assert_int_equal(c->webhook_retry_ms[1], 30000);
	assert_int_equal(c->webhook_retry_ms[2], 120000);
	assert_int_equal(c->webhook_retry_ms[3], 600000);
	assert_int_equal(c->webhook_retry_ms[4], 1800000);
	assert_int_equal(c->webhook_allow_private, 0);
	assert_null(c->path);
	config_free(c);
	config_free(NULL);
}

static void
test_config_key_walk(void **state)
{
	const char	*k, *other;
	int		 i, j;

	(void)state;
	assert_null(config_key(-1));
	assert_string_equal(config_key(0), "listen.address");
	for (i = 0; (k = config_key(i)) != NULL; i++) {
		assert_non_null(strchr(k, '.'));
		for (j = 0; j < i; j++) {
			other = config_key(j);
			if (strcmp(k, other) == 0)
				fail_msg("key %s listed twice", k);
		}
	}
	assert_true(i > 10);
}

static void
example_path(char *buf, size_t len)
{
	const char	*root;

	if ((root = getenv("CARELINE_TEST_ROOT")) == NULL || *root == '\0')
		root = ".";
	snprintf(buf, len, "%s/config/careline.yaml", root);
}

static void
test_example_parses_to_defaults(void **state)
{
	struct config	*c, *d;
	char		 path[PATH_MAX], *cause;

	(void)state;
	example_path(path, sizeof path);
	c = config_load(path, &cause);
	if (c == NULL) {
		fail_msg("%s", cause);
		free(cause);
	}
	assert_null(cause);
	d = config_defaults();

	/* The example says "the default shown here": every value is one. */
	assert_string_equal(c->path, path);
	assert_string_equal(c->db_url,
	    "host=/var/run/postgresql dbname=careline user=careline");
	assert_string_equal(c->listen_address, d->listen_address);
	assert_int_equal(c->listen_port, d->listen_port);
	assert_int_equal(c->listen_backlog, d->listen_backlog);
	assert_int_equal(c->db_pool_size, d->db_pool_size);
	assert_int_equal(c->db_queue_max, d->db_queue_max);
	assert_int_equal(c->db_queue_timeout_ms, d->db_queue_timeout_ms);
	assert_int_equal(c->db_connect_timeout_ms, d->db_connect_timeout_ms);
	assert_int_equal(c->db_statement_timeout_ms,
	    d->db_statement_timeout_ms);
	assert_int_equal(c->db_reconnect_min_ms, d->db_reconnect_min_ms);
	assert_int_equal(c->db_reconnect_max_ms, d->db_reconnect_max_ms);
	assert_int_equal(c->http_max_body, d->http_max_body);
	assert_int_equal(c->http_max_headers, d->http_max_headers);
	assert_int_equal(c->http_timeout_ms, d->http_timeout_ms);
	assert_int_equal(c->http_shutdown_grace_ms, d->http_shutdown_grace_ms);
	assert_int_equal(c->log_level, d->log_level);
	assert_int_equal(c->log_format, d->log_format);
	assert_string_equal(c->district_timezone, d->district_timezone);
	assert_true(c->match_max_minutes == d->match_max_minutes);
	assert_true(c->match_detour_factor == d->match_detour_factor);
	assert_true(c->match_speed_walk == d->match_speed_walk);
	assert_true(c->match_speed_ebike == d->match_speed_ebike);
	assert_true(c->match_speed_car == d->match_speed_car);
	assert_true(c->match_speed_shuttle == d->match_speed_shuttle);
	assert_true(c->match_speed_wheelchair == d->match_speed_wheelchair);
	assert_int_equal(c->match_max_candidates, d->match_max_candidates);
	assert_int_equal(c->offer_strategy, d->offer_strategy);
	assert_int_equal(c->offer_timeout_ms, d->offer_timeout_ms);
	assert_int_equal(c->offer_broadcast_k, d->offer_broadcast_k);
	assert_string_equal(c->webhook_public_url, d->webhook_public_url);
	assert_int_equal(c->webhook_timeout_ms, d->webhook_timeout_ms);
	assert_int_equal(c->webhook_connect_timeout_ms,
	    d->webhook_connect_timeout_ms);
	assert_int_equal(c->webhook_retry_count, d->webhook_retry_count);
	assert_memory_equal(c->webhook_retry_ms, d->webhook_retry_ms,
	    sizeof c->webhook_retry_ms);
	assert_int_equal(c->webhook_max_in_flight, d->webhook_max_in_flight);
	assert_int_equal(c->webhook_max_response_bytes,
	    d->webhook_max_response_bytes);
	assert_int_equal(c->webhook_lease_ms, d->webhook_lease_ms);
	assert_int_equal(c->webhook_poll_ms, d->webhook_poll_ms);
	assert_int_equal(c->webhook_allow_private, d->webhook_allow_private);
	assert_string_equal(c->static_dir, d->static_dir);
	assert_string_equal(c->sql_dir, d->sql_dir);

	/* And nothing reloadable differs either, by the daemon's own test. */
	assert_int_equal(config_reload(d, c), 0);

	config_free(d);
	config_free(c);
}

static char *
read_text(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc(len + 1)) == NULL) {
		fclose(f);
		return (NULL);
	}
	if (fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[len] = '\0';
	fclose(f);
	return (buf);
}

/* Indentation of the line at p, or -1 for a blank or comment line. */
static int
line_indent(const char *p)
{
	int	n = 0;

	while (p[n] == ' ')
		n++;
	if (p[n] == '\0' || p[n] == '\n' || p[n] == '#')
		return (-1);
	return (n);
}

static const char *
next_line(const char *p, const char *end)
{
	const char	*nl;

	if ((nl = memchr(p, '\n', end - p)) == NULL)
		return (end);
	return (nl + 1);
}

/*
 * Does the text hold key ("a.b.c") as nested YAML: "a:" at column 0,
 * "b:" indented within a's block, "c:" within b's? A two-space indent per
 * level, as the example is written.
 */
static int
yaml_has_key(const char *text, const char *key)
{
	const char	*start = text, *end = text + strlen(text), *p, *q;
	const char	*dot;
	size_t		 n;
	int		 indent = 0, found, i;

	for (;;) {
		dot = strchr(key, '.');
		n = dot != NULL ? (size_t)(dot - key) : strlen(key);
		found = 0;
		for (p = start; p < end; p = next_line(p, end)) {
			if (line_indent(p) == indent &&
			    strncmp(p + indent, key, n) == 0 &&
			    p[indent + n] == ':') {
				found = 1;
				break;
			}
		}
		if (!found)
			return (0);
		if (dot == NULL)
			return (1);
		/* The block: following lines indented deeper than this key. */
		start = next_line(p, end);
		for (q = start; q < end; q = next_line(q, end)) {
			if ((i = line_indent(q)) != -1 && i <= indent)
				break;
		}
		end = q;
		indent += 2;
		key = dot + 1;
	}
}

static void
test_example_documents_every_key(void **state)
{
	char		 path[PATH_MAX], missing[1024], *text;
	const char	*k;
	size_t		 len = 0;
	int		 i;

	(void)state;
	example_path(path, sizeof path);
	text = read_text(path);
	assert_non_null(text);

	/* Sanity of the checker itself, both ways. */
	assert_true(yaml_has_key(text, "matching.speed_kmh.walk"));
	assert_false(yaml_has_key(text, "listen.walk"));
	assert_false(yaml_has_key(text, "speed_kmh.walk"));

	missing[0] = '\0';
	for (i = 0; (k = config_key(i)) != NULL; i++) {
		if (!yaml_has_key(text, k) && len < sizeof missing)
			len += snprintf(missing + len, sizeof missing - len,
			    " %s", k);
	}
	free(text);
	if (missing[0] != '\0')
		fail_msg("%s does not document:%s", path, missing);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_key_walk),
		cmocka_unit_test(test_example_parses_to_defaults),
		cmocka_unit_test(test_example_documents_every_key),
	};

	/* config_reload logs each key; keep the test output to results. */
	log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	/* The environment must not decide the outcome. */
	unsetenv("CARELINE_DATABASE_URL");
	unsetenv("PGHOST");
	unsetenv("PGHOSTADDR");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
