/*
 * config_load and friends against small files written per test. Causes are
 * compared whole: the message is what an operator reads after a bad edit,
 * so its file, line, key and wording are the contract.
 */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

struct fixture {
	char	dir[64];
	char	path[128];
};

static int
fixture_setup(void **state)
{
	struct fixture	*fx;

	if ((fx = calloc(1, sizeof *fx)) == NULL)
		return (-1);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/careline-test-config.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return (-1);
	}
	snprintf(fx->path, sizeof fx->path, "%s/careline.yaml", fx->dir);
	*state = fx;
	return (0);
}

static int
fixture_teardown(void **state)
{
	struct fixture	*fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return (0);
}

static void
write_file(const struct fixture *fx, const char *text)
{
	FILE	*f;

	f = fopen(fx->path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) < 0 ? -1 : 0, 0);
	assert_int_equal(fclose(f), 0);
}

static struct config *
load_text(void **state, const char *text, char **cause)
{
	struct fixture	*fx = *state;

	write_file(fx, text);
	return (config_load(fx->path, cause));
}

/* Load text, expect a refusal, and compare the cause after "PATH". */
static void
expect_cause(void **state, const char *text, const char *after_path)
{
	struct fixture	*fx = *state;
	struct config	*c;
	char		*cause, want[512];

	c = load_text(state, text, &cause);
	assert_null(c);
	assert_non_null(cause);
	snprintf(want, sizeof want, "%s%s", fx->path, after_path);
	assert_string_equal(cause, want);
	free(cause);
}

/*
 * For causes whose line libyaml decides (end of stream, where a scanner
 * gave up): "PATH:N: problem" with N any positive line number.
 */
static void
expect_cause_any_line(void **state, const char *text, const char *problem)
{
	struct fixture	*fx = *state;
	struct config	*c;
	char		*cause, *end;
	size_t		 n = strlen(fx->path);
	long		 line;

	c = load_text(state, text, &cause);
	assert_null(c);
	assert_non_null(cause);
	assert_int_equal(strncmp(cause, fx->path, n), 0);
	assert_int_equal(cause[n], ':');
	assert_true(isdigit((unsigned char)cause[n + 1]));
	line = strtol(cause + n + 1, &end, 10);
	assert_true(line >= 1);
	assert_int_equal(strncmp(end, ": ", 2), 0);
	assert_int_equal(strncmp(end + 2, problem, strlen(problem)), 0);
	free(cause);
}

/* Load text that must be accepted. */
static struct config *
expect_ok(void **state, const char *text)
{
	struct config	*c;
	char		*cause;

	c = load_text(state, text, &cause);
	if (c == NULL) {
		fail_msg("refused: %s", cause);
		free(cause);
	}
	assert_null(cause);
	return (c);
}

static void
test_unknown_key_top(void **state)
{
	expect_cause(state, "colour: red\n", ":1: colour: unknown key");
	expect_cause(state, "listen:\n  port: 80\nprot: 1\n",
	    ":3: prot: unknown key");
}

static void
test_unknown_key_nested(void **state)
{
	expect_cause(state, "listen:\n  prot: 1\n",
	    ":2: listen.prot: unknown key");
	expect_cause(state, "matching:\n  speed_kmh:\n    bike: 3\n",
	    ":3: matching.speed_kmh.bike: unknown key");
	/* A mapping under an unknown key is refused at the key. */
	expect_cause(state, "listen:\n  tls:\n    cert: x\n",
	    ":2: listen.tls: unknown key");
}

static void
test_wrong_type_int(void **state)
{
	expect_cause(state, "listen:\n  port: abc\n",
	    ":2: listen.port: must be an integer");
	expect_cause(state, "listen:\n  port: 80.5\n",
	    ":2: listen.port: must be an integer");
	expect_cause(state, "listen:\n  port:\n",
	    ":2: listen.port: must be an integer, not empty");
}

static void
test_wrong_type_quoted_int(void **state)
{
	expect_cause(state, "listen:\n  port: \"8080\"\n",
	    ":2: listen.port: must be an integer");
	expect_cause(state, "listen:\n  port: '8080'\n",
	    ":2: listen.port: must be an integer");
}

static void
test_wrong_type_mapping_for_scalar(void **state)
{
	expect_cause(state, "listen:\n  port: {a: 1}\n",
	    ":2: listen.port: must be an integer, not a mapping");
	expect_cause(state, "listen:\n  port: [1, 2]\n",
	    ":2: listen.port: must be an integer, not a list");
}

static void
test_wrong_type_scalar_for_section(void **state)
{
	expect_cause(state, "listen: 5\n", ":1: listen: must be a mapping of keys");
	expect_cause(state, "matching:\n  speed_kmh: 4\n",
	    ":2: matching.speed_kmh: must be a mapping of keys");
}

static void
test_port_out_of_range(void **state)
{
	struct config	*c;

	expect_cause(state, "listen:\n  port: 70000\n",
	    ":2: listen.port: must be 1..65535");
	expect_cause(state, "listen:\n  port: 0\n",
	    ":2: listen.port: must be 1..65535");
	expect_cause(state, "listen:\n  port: -1\n",
	    ":2: listen.port: must be 1..65535");

	c = expect_ok(state, "listen:\n  port: 65535\n");
	assert_int_equal(c->listen_port, 65535);
	config_free(c);
	c = expect_ok(state, "listen:\n  port: 1\n");
	assert_int_equal(c->listen_port, 1);
	config_free(c);
}

static void
test_yaml_syntax_error(void **state)
{
	expect_cause_any_line(state, "listen:\n  address: \"127.0.0.1\n"
	    "  port: 80\n", "YAML syntax error");
	expect_cause_any_line(state, "listen:\n  port: 80\n port: 81\n",
	    "YAML syntax error");
}

static void
test_empty_file(void **state)
{
	expect_cause(state, "",
	    ":1: the file is empty: expected a mapping of settings");
}

static void
test_comments_only_file(void **state)
{
	expect_cause_any_line(state, "# nothing here\n# yet\n",
	    "the file is empty: expected a mapping of settings");
	expect_cause_any_line(state, "---\n",
	    "the file is empty: expected a mapping of settings");
}

static void
test_top_level_not_mapping(void **state)
{
	expect_cause(state, "- listen\n",
	    ":1: the top level must be a mapping of settings");
	expect_cause(state, "listen\n",
	    ":1: the top level must be a mapping of settings");
}

static void
test_key_given_twice(void **state)
{
	expect_cause(state, "listen:\n  port: 1\n  port: 2\n",
	    ":3: listen.port: given twice (first on line 2)");
	expect_cause(state, "listen:\n  port: 1\nlisten:\n  port: 2\n",
	    ":3: listen: section given twice (first on line 1)");
	expect_cause(state, "listen:\n  port: 1\nlisten:\n  address: ::1\n",
	    ":3: listen: section given twice (first on line 1)");
}

static void
test_lease_outlasts_an_attempt(void **state)
{
	expect_cause(state, "webhooks:\n  timeout: 10s\n  lease: 5s\n",
	    ":3: webhooks.lease: must be longer than webhooks.timeout plus "
	    "webhooks.connect_timeout");
}

static void
test_dotted_key_refused(void **state)
{
	expect_cause(state, "listen.port: 9000\n",
	    ":1: listen.port: keys are single words: nest sections instead "
	    "of using dots");
}

static void
test_alias_refused(void **state)
{
	expect_cause(state, "listen: &l\n  port: 1\ndatabase: *l\n",
	    ":3: YAML aliases are not supported here");
}

static void
test_duration(void **state)
{
	struct config	*c;

	expect_cause(state, "database:\n  queue_timeout: 5\n",
	    ":2: database.queue_timeout: must be a duration such as 500ms, "
	    "30s or 2m");
	expect_cause(state, "database:\n  queue_timeout: 5x\n",
	    ":2: database.queue_timeout: must be a duration such as 500ms, "
	    "30s or 2m");
	expect_cause(state, "database:\n  queue_timeout: -5s\n",
	    ":2: database.queue_timeout: must be a duration such as 500ms, "
	    "30s or 2m");
	expect_cause(state, "database:\n  queue_timeout: 2m\n",
	    ":2: database.queue_timeout: must be 1ms..60s");

	c = expect_ok(state, "database:\n  queue_timeout: 250ms\n"
	    "  statement_timeout: 2m\nhttp:\n  timeout: 1h\n");
	assert_int_equal(c->db_queue_timeout_ms, 250);
	assert_int_equal(c->db_statement_timeout_ms, 120000);
	assert_int_equal(c->http_timeout_ms, 3600000);
	config_free(c);
}

static void
test_size(void **state)
{
	struct config	*c;

	expect_cause(state, "http:\n  max_body: 64Q\n",
	    ":2: http.max_body: must be a size such as 65536, 64KiB or 1MiB");
	expect_cause(state, "http:\n  max_body: -64\n",
	    ":2: http.max_body: must be a size such as 65536, 64KiB or 1MiB");
	expect_cause(state, "http:\n  max_body: 1.5MiB\n",
	    ":2: http.max_body: must be a size such as 65536, 64KiB or 1MiB");
	expect_cause(state, "http:\n  max_body: 1\n",
	    ":2: http.max_body: must be 1024..16777216");
	expect_cause(state, "http:\n  max_body: 17MiB\n",
	    ":2: http.max_body: must be 1024..16777216");

	c = expect_ok(state, "http:\n  max_body: 1MiB\n  max_headers: 32k\n"
	    "webhooks:\n  max_response_bytes: 0\n");
	assert_int_equal(c->http_max_body, 1024 * 1024);
	assert_int_equal(c->http_max_headers, 32 * 1024);
	assert_int_equal(c->webhook_max_response_bytes, 0);
	config_free(c);
}

static void
test_enum(void **state)
{
	struct config	*c;

	expect_cause(state, "log:\n  level: loud\n",
	    ":2: log.level: must be one of: debug, info, warn, error");
	expect_cause(state, "log:\n  format: xml\n",
	    ":2: log.format: must be one of: text, json");
	expect_cause(state, "offers:\n  strategy: Cascade\n",
	    ":2: offers.strategy: must be one of: cascade, broadcast");

	c = expect_ok(state, "log:\n  level: debug\n  format: json\n"
	    "offers:\n  strategy: broadcast\n");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	assert_int_equal(c->offer_strategy, OFFER_STRATEGY_BROADCAST);
	config_free(c);
}

static void
test_bool(void **state)
{
	struct config	*c;

	expect_cause(state, "webhooks:\n  allow_private_targets: yes\n",
	    ":2: webhooks.allow_private_targets: must be true or false");
	expect_cause(state, "webhooks:\n  allow_private_targets: 1\n",
	    ":2: webhooks.allow_private_targets: must be true or false");
	expect_cause(state, "webhooks:\n  allow_private_targets: \"true\"\n",
	    ":2: webhooks.allow_private_targets: must be true or false");

	c = expect_ok(state, "webhooks:\n  allow_private_targets: true\n");
	assert_int_equal(c->webhook_allow_private, 1);
	config_free(c);
	c = expect_ok(state, "webhooks:\n  allow_private_targets: false\n");
	assert_int_equal(c->webhook_allow_private, 0);
	config_free(c);
}

static void
test_retry_schedule_list(void **state)
{
	struct config	*c;

	c = expect_ok(state, "webhooks:\n  retry_schedule: [1s, 2m]\n");
	assert_int_equal(c->webhook_retry_count, 2);
	assert_int_equal(c->webhook_retry_ms[0], 1000);
	assert_int_equal(c->webhook_retry_ms[1], 120000);
	config_free(c);

	/* Block style is the same list. */
	c = expect_ok(state, "webhooks:\n  retry_schedule:\n    - 500ms\n"
	    "    - 1h\n    - 30s\n");
	assert_int_equal(c->webhook_retry_count, 3);
	assert_int_equal(c->webhook_retry_ms[0], 500);
	assert_int_equal(c->webhook_retry_ms[1], 3600000);
	assert_int_equal(c->webhook_retry_ms[2], 30000);
	config_free(c);
}

static void
test_retry_schedule_empty(void **state)
{
	expect_cause(state, "webhooks:\n  retry_schedule: []\n",
	    ":2: webhooks.retry_schedule: needs at least one entry");
}

static void
test_retry_schedule_not_list(void **state)
{
	expect_cause(state, "webhooks:\n  retry_schedule: 5s\n",
	    ":2: webhooks.retry_schedule: must be a list of durations such as "
	    "[5s, 30s, 2m]");
	expect_cause(state, "webhooks:\n  retry_schedule: {a: 5s}\n",
	    ":2: webhooks.retry_schedule: must be a list of durations such as "
	    "[5s, 30s, 2m], not a mapping");
}

static void
test_retry_schedule_bad_entries(void **state)
{
	char	text[512];
	size_t	len;
	int	i;

	expect_cause(state, "webhooks:\n  retry_schedule: [1s, soon]\n",
	    ":2: webhooks.retry_schedule: must be a list of durations such as "
	    "[5s, 30s, 2m]");
	expect_cause(state, "webhooks:\n  retry_schedule: [1s, [2s]]\n",
	    ":2: webhooks.retry_schedule: must be a list of durations such as "
	    "[5s, 30s, 2m]");
	expect_cause(state, "webhooks:\n  retry_schedule: [50ms]\n",
	    ":2: webhooks.retry_schedule: must be 100ms..86400s");

	len = (size_t)snprintf(text, sizeof text,
	    "webhooks:\n  retry_schedule: [1s");
	for (i = 1; i <= CONFIG_MAX_RETRIES; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, ", 1s");
	snprintf(text + len, sizeof text - len, "]\n");
	expect_cause(state, text,
	    ":2: webhooks.retry_schedule: at most 20 entries");
}

static void
test_double(void **state)
{
	struct config	*c;

	expect_cause(state, "matching:\n  detour_factor: 0.5\n",
	    ":2: matching.detour_factor: must be 1..5");
	expect_cause(state, "matching:\n  detour_factor: abc\n",
	    ":2: matching.detour_factor: must be a number");
	expect_cause(state, "matching:\n  detour_factor: .nan\n",
	    ":2: matching.detour_factor: must be a number");
	expect_cause(state, "matching:\n  speed_kmh:\n    walk: 0.25\n",
	    ":3: matching.speed_kmh.walk: must be 0.5..200");

	c = expect_ok(state, "matching:\n  detour_factor: 1.25\n"
	    "  speed_kmh:\n    wheelchair: 3.5\n");
	assert_true(c->match_detour_factor == 1.25);
	assert_true(c->match_speed_wheelchair == 3.5);
	config_free(c);
}

static void
test_reconnect_min_over_max(void **state)
{
	expect_cause(state, "database:\n  reconnect_min: 5s\n"
	    "  reconnect_max: 1s\n",
	    ":2: database.reconnect_min: must not exceed database.reconnect_max");
	/* Against the default maximum (2s), reported where min was set. */
	expect_cause(state, "listen:\n  port: 80\ndatabase:\n"
	    "  reconnect_min: 3s\n",
	    ":4: database.reconnect_min: must not exceed database.reconnect_max");
}

static void
test_public_url_scheme(void **state)
{
	expect_cause(state, "webhooks:\n  public_url: ftp://example.org\n",
	    ":2: webhooks.public_url: must start with http:// or https://");
}

static void
test_env_database_url(void **state)
{
	struct config	*c;
	const char	*text = "database:\n  url: dbname=fromfile\n";

	assert_int_equal(setenv("CARELINE_DATABASE_URL", "dbname=fromenv", 1),
	    0);
	c = expect_ok(state, text);
	unsetenv("CARELINE_DATABASE_URL");
	assert_string_equal(c->db_url, "dbname=fromenv");
	config_free(c);

	c = expect_ok(state, text);
	assert_string_equal(c->db_url, "dbname=fromfile");
	config_free(c);

	/* Set but empty is as good as unset. */
	assert_int_equal(setenv("CARELINE_DATABASE_URL", "", 1), 0);
	c = expect_ok(state, text);
	unsetenv("CARELINE_DATABASE_URL");
	assert_string_equal(c->db_url, "dbname=fromfile");
	config_free(c);
}

#define DB_NAME_HINT	"is a name: give hostaddr= too, or use an IP " \
			"address or a socket directory"

/* libpq would resolve these on the loop at every reconnect: refused. */
static void
test_database_url_host_names_refused(void **state)
{
	expect_cause(state, "log:\n  level: info\ndatabase:\n"
	    "  url: \"host=db.example dbname=careline\"\n",
	    ":4: database.url: host 'db.example' " DB_NAME_HINT);
	expect_cause(state, "database:\n  url: \"host=localhost\"\n",
	    ":2: database.url: host 'localhost' " DB_NAME_HINT);
	expect_cause(state, "database:\n"
	    "  url: postgresql://careline:pw@db.example:5432/careline\n",
	    ":2: database.url: host 'db.example' " DB_NAME_HINT);
	/* A list is checked host by host, and a hostaddr covers only its own. */
	expect_cause(state, "database:\n"
	    "  url: \"host=/run/postgresql,10.0.0.2,db2.example\"\n",
	    ":2: database.url: host 'db2.example' " DB_NAME_HINT);
	expect_cause(state, "database:\n"
	    "  url: \"host=db1.example,db2.example hostaddr=10.0.0.1,\"\n",
	    ":2: database.url: host 'db2.example' " DB_NAME_HINT);
	expect_cause(state, "database:\n"
	    "  url: postgresql://10.0.0.1,db2.example:5433/careline\n",
	    ":2: database.url: host 'db2.example' " DB_NAME_HINT);
	/* Unparsable: said so, without echoing what may hold a password. */
	expect_cause(state, "database:\n  url: \"host=x password\"\n",
	    ":2: database.url: not a libpq connection string or URI");
}

static void
test_database_url_hosts_accepted(void **state)
{
	static const char *const ok[] = {
		"dbname=careline",
		"careline",
		"host=/var/run/postgresql dbname=careline user=careline",
		"host=127.0.0.1 port=5432 dbname=careline",
		"host=::1 dbname=careline",
		"host=db.example hostaddr=10.0.0.5 dbname=careline",
		"host=db1.example,db2.example hostaddr=10.0.0.1,10.0.0.2",
		"host=/run/postgresql,10.0.0.2",
		"hostaddr=10.0.0.5 dbname=careline",
		"postgresql://careline@10.0.0.5:5432/careline",
		"postgresql://[::1]:5432/careline",
		"postgresql:///careline?host=/var/run/postgresql",
		"postgresql://%2Fvar%2Frun%2Fpostgresql/careline",
		"postgres://db.example/careline?hostaddr=10.0.0.5",
		"postgresql:///careline",
	};
	struct config	*c;
	char		*text;
	size_t		 i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		text = NULL;
		if (asprintf(&text, "database:\n  url: \"%s\"\n", ok[i]) < 0)
			fail();
		c = expect_ok(state, text);
		assert_string_equal(c->db_url, ok[i]);
		config_free(c);
		free(text);
	}
}

/* The environment's URL obeys the rule too, and the error names it. */
static void
test_database_url_env_checked(void **state)
{
	struct config	*c;
	char		*cause = NULL;

	assert_int_equal(setenv("CARELINE_DATABASE_URL",
	    "host=db.example dbname=careline", 1), 0);
	c = load_text(state, "database:\n  url: dbname=fromfile\n", &cause);
	unsetenv("CARELINE_DATABASE_URL");
	assert_null(c);
	assert_non_null(cause);
	assert_string_equal(cause, "CARELINE_DATABASE_URL: host 'db.example' "
	    DB_NAME_HINT);
	free(cause);

	/* With no host in the string libpq takes PGHOST: checked as well. */
	assert_int_equal(setenv("PGHOST", "db.example", 1), 0);
	cause = NULL;
	c = load_text(state, "database:\n  url: dbname=careline\n", &cause);
	unsetenv("PGHOST");
	assert_null(c);
	assert_non_null(cause);
	assert_non_null(strstr(cause, ":2: database.url: host 'db.example' "
	    "(from PGHOST) " DB_NAME_HINT));
	free(cause);
}

static void
test_missing_file(void **state)
{
	struct fixture	*fx = *state;
	struct config	*c;
	char		*cause, path[160], want[256];

	snprintf(path, sizeof path, "%s/absent.yaml", fx->dir);
	c = config_load(path, &cause);
	assert_null(c);
	assert_non_null(cause);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(cause, want);
	free(cause);
}

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

static void
test_reload(void **state)
{
	struct config	*cur, *next;

	cur = config_defaults();
	next = expect_ok(state, "listen:\n  port: 9090\nlog:\n  level: debug\n"
	    "webhooks:\n  public_url: https://careline.example\n"
	    "  retry_schedule: [1s]\n");

	assert_int_equal(config_reload(cur, next), 3);
	assert_int_equal(cur->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(cur->webhook_public_url,
	    "https://careline.example");
	assert_int_equal(cur->webhook_retry_count, 1);
	assert_int_equal(cur->webhook_retry_ms[0], 1000);
	/* Needs a restart: logged, kept. */
	assert_int_equal(cur->listen_port, 8080);

	/* Nothing left to apply the second time. */
	assert_int_equal(config_reload(cur, next), 0);
	assert_int_equal(cur->listen_port, 8080);

	config_free(next);
	config_free(cur);
}

/*
 * The dispatch parameters are built when the config is, and again when a
 * reload changes it: requests only read them.
 */
static void
test_dispatch_params(void **state)
{
	struct config	*cur, *next;
	char		*before;

	cur = config_defaults();
	assert_non_null(cur->dispatch_params);
	assert_non_null(strstr(cur->dispatch_params, "\"max_minutes\":15.0,"));
	assert_non_null(strstr(cur->dispatch_params, "\"strategy\":\"cascade\""));
	next = expect_ok(state, "matching:\n  max_minutes: 20\n"
	    "offers:\n  strategy: broadcast\n");
	assert_non_null(strstr(next->dispatch_params, "\"max_minutes\":20.0,"));

	assert_int_equal(config_reload(cur, next), 2);
	assert_string_equal(cur->dispatch_params, next->dispatch_params);
	assert_non_null(strstr(cur->dispatch_params,
	    "\"strategy\":\"broadcast\""));

	/* Nothing changed: the same text stays. */
	before = cur->dispatch_params;
	assert_int_equal(config_reload(cur, next), 0);
	assert_ptr_equal(cur->dispatch_params, before);

	config_free(next);
	config_free(cur);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, fixture_setup, \
		    fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_unknown_key_top),
		T(test_unknown_key_nested),
		T(test_wrong_type_int),
		T(test_wrong_type_quoted_int),
		T(test_wrong_type_mapping_for_scalar),
		T(test_wrong_type_scalar_for_section),
		T(test_port_out_of_range),
		T(test_yaml_syntax_error),
		T(test_empty_file),
		T(test_comments_only_file),
		T(test_top_level_not_mapping),
		T(test_key_given_twice),
		T(test_dotted_key_refused),
		T(test_lease_outlasts_an_attempt),
		T(test_alias_refused),
		T(test_duration),
		T(test_size),
		T(test_enum),
		T(test_bool),
		T(test_retry_schedule_list),
		T(test_retry_schedule_empty),
		T(test_retry_schedule_not_list),
		T(test_retry_schedule_bad_entries),
		T(test_double),
		T(test_reconnect_min_over_max),
		T(test_public_url_scheme),
		T(test_env_database_url),
		T(test_database_url_host_names_refused),
		T(test_database_url_hosts_accepted),
		T(test_database_url_env_checked),
		T(test_missing_file),
		T(test_defaults),
		T(test_config_key_walk),
		T(test_example_parses_to_defaults),
		T(test_example_documents_every_key),
		T(test_reload),
		T(test_dispatch_params),
	};

	/* The environment must not decide the outcome. */
	unsetenv("CARELINE_DATABASE_URL");
	/* config_reload logs each key; keep the test output to results. */
	log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	/* A caller's libpq environment must not decide database.url's fate. */
	unsetenv("PGHOST");
	unsetenv("PGHOSTADDR");
	unsetenv("CARELINE_DATABASE_URL");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
