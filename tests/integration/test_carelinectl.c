/*
 * carelinectl against a real carelined: every command, the exit status
 * that each kind of failure means (1 refused, 2 usage, 3 unreachable, 4
 * auth), --json that parses, tables that stay aligned with Chinese
 * names, the configuration file and the permissions it must have, and
 * watch's Server-Sent Events, from carelined and from a scripted stand-in
 * (for reconnection with Last-Event-ID and the corners of the format,
 * which carelined cannot be made to show on demand).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "xmalloc.h"

#define CTL_MAXARGS	40
#define BOGUS_TOKEN	"clt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static char		*db, *admin, *oper, *bin, *home;
static struct th_daemon	 d;
static long long	 resident_wang;

/*
 * A sanitizer report from carelinectl lands in its output, which the
 * test captures: copy it to our stderr, where tests/run.sh looks.
 */
static void
check_sanitizer(const char *out)
{
	if (strstr(out, "Sanitizer") != NULL ||
	    strstr(out, "runtime error:") != NULL) {
		fprintf(stderr, "carelinectl reported:\n%s\n", out);
		fail_msg("sanitizer report from carelinectl");
	}
}

static int
run_argv(char **out, const char **argv)
{
	int	rc;

	rc = th_run(out, argv, NULL);
	check_sanitizer(*out);
	return (rc);
}

/* carelinectl ARGS... with nothing added. */
static int __attribute__((sentinel))
ctl_bare(char **out, ...)
{
	const char	*argv[CTL_MAXARGS], *a;
	va_list		 ap;
	int		 n = 0;

	argv[n++] = bin;
	va_start(ap, out);
	while ((a = va_arg(ap, const char *)) != NULL && n < CTL_MAXARGS - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return (run_argv(out, argv));
}

/* carelinectl --url DAEMON [--token TOKEN] ARGS... */
static int __attribute__((sentinel))
ctl(char **out, const char *token, ...)
{
	const char	*argv[CTL_MAXARGS], *a;
	va_list		 ap;
	int		 n = 0;

	argv[n++] = bin;
	argv[n++] = "--url";
	argv[n++] = d.url;
	if (token != NULL) {
		argv[n++] = "--token";
		argv[n++] = token;
	}
	va_start(ap, token);
	while ((a = va_arg(ap, const char *)) != NULL && n < CTL_MAXARGS - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return (run_argv(out, argv));
}

static void
assert_contains(const char *out, const char *needle)
{
	if (strstr(out, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, out);
}

static void
assert_lacks(const char *out, const char *needle)
{
	if (strstr(out, needle) != NULL)
		fail_msg("did not expect \"%s\" in:\n%s", needle, out);
}

/*
 * The JSON in output that has a line on stderr too: stderr is written at
 * once, stdout when carelinectl exits, so the JSON comes last.
 */
static json_t *
json_from(const char *out)
{
	const char	*p = strchr(out, '{');

	return (p != NULL ? json_loads(p, 0, NULL) : NULL);
}

static long long
id_of(json_t *j)
{
	return ((long long)json_integer_value(json_object_get(j, "id")));
}

/* The display column where p starts in line: CJK takes two. */
static int
display_col(const char *line, const char *p)
{
	const unsigned char	*s = (const unsigned char *)line;
	unsigned		 cp;
	int			 col = 0, n;

	while ((const char *)s < p) {
		if (*s < 0x80) {
			cp = *s;
			n = 1;
		} else if (*s < 0xe0) {
			cp = *s & 0x1f;
			n = 2;
		} else if (*s < 0xf0) {
			cp = *s & 0x0f;
			n = 3;
		} else {
			cp = *s & 0x07;
			n = 4;
		}
		for (int i = 1; i < n; i++)
			cp = (cp << 6) | (s[i] & 0x3f);
		col += (cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 &&
		    cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
		    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 &&
		    cp <= 0xff60))) ? 2 : 1;
		s += n;
	}
	return (col);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f;

	unlink(path);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
mkdirs(const char *path)
{
	char	*p = xstrdup(path), *s;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	mkdir(p, 0700);
	free(p);
}

static int
group_setup(void **state)
{
	json_t	*j;
	long	 st;

	(void)state;
	th_init();
	db = th_db_create("t_ctl");
	if (th_migrate(db, NULL) != 0)
		return (-1);
	admin = th_token(db, "admin", "ctl admin");
	oper = th_token(db, "operator", "ctl operator");
	if (th_daemon_start(&d, db, "auth:\n  token_cache_ttl: 0s\n", 2,
	    NULL) != 0)
		return (-1);
	xasprintf(&bin, "%s/carelinectl", th_build_dir());
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "no %s: build carelinectl first\n", bin);
		return (-1);
	}
	/* Nothing from whoever runs the tests: no config, no token. */
	xasprintf(&home, "%s/ctl-home-empty", th_tmp());
	mkdirs(home);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("CARELINE_URL");
	unsetenv("CARELINE_TOKEN");
	setenv("TZ", "UTC", 1);
	setenv("LC_ALL", "C.UTF-8", 1);

	st = th_api(d.url, oper, "POST", "/v1/residents", "{\"name\": "
	    "\"王秀英\", \"phone\": \"13900000001\", \"address\": "
	    "\"荷塘区新华西路5号\", \"lat\": 27.88, \"lon\": 113.19, "
	    "\"lives_alone\": true}", &j);
	if (st != 201)
		return (-1);
	resident_wang = id_of(j);
	json_decref(j);
	st = th_api(d.url, admin, "POST", "/v1/providers", "{\"name\": "
	    "\"湘华社区食堂\", \"services\": [\"meal\"], "
	    "\"lat\": 27.883, \"lon\": 113.192, \"travel_mode\": \"ebike\", "
	    "\"capacity\": 5, \"opening_hours\": \"24/7\"}", &j);
	json_decref(j);
	if (st != 201)
		return (-1);
	st = th_api(d.url, admin, "POST", "/v1/providers", "{\"name\": "
	    "\"Sunrise Home Help\", \"services\": [\"meal\", "
	    "\"housekeeping\"], \"lat\": 27.881, \"lon\": 113.191, "
	    "\"travel_mode\": \"walk\", \"capacity\": 2, \"opening_hours\": "
	    "\"24/7\"}", &j);
	json_decref(j);
	return (st == 201 ? 0 : -1);
}

static int
group_teardown(void **state)
{
	(void)state;
	th_daemon_signal_wait(&d, SIGTERM, 10000);
	th_daemon_cleanup(&d);
	free(db);
	free(admin);
	free(oper);
	free(bin);
	free(home);
	return (0);
}

static void
test_usage_errors(void **state)
{
	char	*out;

	(void)state;
	assert_int_equal(ctl_bare(&out, NULL), 2);
	assert_contains(out, "no command");
	free(out);
	assert_int_equal(ctl_bare(&out, "bogus", NULL), 2);
	assert_contains(out, "unknown command 'bogus'");
	free(out);
	assert_int_equal(ctl_bare(&out, "call", NULL), 2);
	assert_contains(out, "new, show, cancel, complete");
	free(out);
	/* A usage error is found before the token is looked for. */
	assert_int_equal(ctl_bare(&out, "call", "show", "abc", NULL), 2);
	assert_contains(out, "positive whole number");
	free(out);
	assert_int_equal(ctl_bare(&out, "call", "show", NULL), 2);
	free(out);
	assert_int_equal(ctl_bare(&out, "call", "show", "1", "2", NULL), 2);
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "new", "--service", "meal",
	    NULL), 2);
	assert_contains(out, "needs --phone");
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--phone", "1", NULL), 2);
	assert_contains(out, "no option --phone");
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--limit", "ten", NULL), 2);
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--frobnicate", NULL), 2);
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--limit", NULL), 2);
	assert_contains(out, "needs a value");
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--json=yes", NULL), 2);
	free(out);
	assert_int_equal(ctl(&out, admin, "provider", "add", "--name", "x",
	    "--services", "meal", "--lat", "north", "--lon", "113", "--mode",
	    "walk", "--capacity", "1", "--hours", "24/7", NULL), 2);
	assert_contains(out, "--lat must be a number");
	free(out);
	assert_int_equal(ctl(&out, oper, "resident", "find", NULL), 2);
	free(out);
	assert_int_equal(ctl(&out, oper, "resident", "find", "139",
	    "--name", "王", NULL), 2);
	free(out);
	assert_int_equal(ctl_bare(&out, "--url", "ftp://127.0.0.1/",
	    "--token", oper, "calls", NULL), 2);
	free(out);

	assert_int_equal(ctl_bare(&out, "--help", NULL), 0);
	assert_contains(out, "Exit status");
	assert_contains(out, "provider add");
	free(out);
	assert_int_equal(ctl_bare(&out, "call", "new", "-h", NULL), 0);
	assert_contains(out, "--duplicate-ok");
	free(out);
	assert_int_equal(ctl_bare(&out, "--version", NULL), 0);
	assert_contains(out, "carelinectl ");
	free(out);
}

static void
test_auth_errors(void **state)
{
	char	*out;

	(void)state;
	assert_int_equal(ctl(&out, NULL, "calls", NULL), 4);
	assert_contains(out, "no API token");
	assert_contains(out, "CARELINE_TOKEN");
	free(out);

	assert_int_equal(ctl(&out, BOGUS_TOKEN, "calls", NULL), 4);
	assert_contains(out, "401 unauthorized");
	assert_lacks(out, BOGUS_TOKEN);
	free(out);

	/* Providers are for admins: an operator's token is refused. */
	assert_int_equal(ctl(&out, oper, "provider", "list", NULL), 4);
	assert_contains(out, "403 forbidden");
	assert_lacks(out, oper);
	free(out);

	assert_int_equal(ctl(&out, "has space", "calls", NULL), 4);
	free(out);

	setenv("CARELINE_TOKEN", BOGUS_TOKEN, 1);
	assert_int_equal(ctl(&out, NULL, "calls", NULL), 4);
	free(out);
	/* The option wins over the environment. */
	assert_int_equal(ctl(&out, oper, "calls", NULL), 0);
	free(out);
	unsetenv("CARELINE_TOKEN");
}

static void
test_unreachable(void **state)
{
	char	*out, url[64];

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d", th_free_port());
	assert_int_equal(ctl_bare(&out, "--url", url, "--token", oper,
	    "calls", NULL), 3);
	assert_contains(out, "cannot reach carelined");
	assert_lacks(out, oper);
	free(out);
	setenv("CARELINE_URL", url, 1);
	assert_int_equal(ctl_bare(&out, "--token", oper, "call", "show", "1",
	    NULL), 3);
	free(out);
	unsetenv("CARELINE_URL");
}

static void
test_call_lifecycle(void **state)
{
	json_t	*j;
	char	*out, id[24], id2[24], rid[24], day[16], when[40], want[40];
	time_t	 tomorrow = time(NULL) + 86400;

	(void)state;
	/* wanted_at must be near: tomorrow (UTC), whatever today is. */
	strftime(day, sizeof day, "%Y-%m-%d", gmtime(&tomorrow));
	snprintf(rid, sizeof rid, "%lld", resident_wang);
	assert_int_equal(ctl(&out, oper, "--json", "call", "new", "--phone",
	    "+86 139-0000-0001", "--service", "meal", "--notes", "少放辣",
	    "--when", (snprintf(when, sizeof when, "%sT11:30:00+08:00", day),
	    when), NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j,
	    "caller_phone")), "13900000001");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "resident_id")), resident_wang);
	assert_true(json_array_size(json_object_get(j, "candidates")) >= 1);
	snprintf(id, sizeof id, "%lld", id_of(j));
	json_decref(j);
	free(out);

	/* For people: the resident, times in local time (TZ=UTC here). */
	assert_int_equal(ctl(&out, oper, "call", "show", id, NULL), 0);
	assert_contains(out, "王秀英");
	snprintf(want, sizeof want, "%s 03:30", day);
	assert_contains(out, want);
	assert_contains(out, "少放辣");
	assert_contains(out, "湘华社区食堂");
	assert_contains(out, "RANK");
	free(out);

	assert_int_equal(ctl(&out, oper, "call", "new", "--phone",
	    "13900000001", "--service", "meal", NULL), 1);
	assert_contains(out, "409 duplicate_call (service)");
	assert_contains(out, "--duplicate-ok");
	free(out);
	assert_int_equal(ctl(&out, oper, "--json", "call", "new", "--phone",
	    "13900000001", "--service", "meal", "--duplicate-ok", "--urgent",
	    "--resident", rid, NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "urgency")),
	    "urgent");
	snprintf(id2, sizeof id2, "%lld", id_of(j));
	json_decref(j);
	free(out);

	/* A local time without an offset is local (TZ=UTC here). */
	assert_int_equal(ctl(&out, oper, "--json", "call", "new", "--phone",
	    "13900000001", "--service", "meal", "--duplicate-ok", "--when",
	    (snprintf(when, sizeof when, "%s 09:15", day), when), NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	snprintf(want, sizeof want, "%sT17:15:00", day);
	assert_true(strncmp(json_string_value(json_object_get(j,
	    "wanted_at")), want, 19) == 0);
	json_decref(j);
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "new", "--phone",
	    "13900000001", "--service", "meal", "--when", "2026-02-30 10:00",
	    NULL), 2);
	assert_contains(out, "no such time");
	free(out);

	assert_int_equal(ctl(&out, oper, "calls", "--service", "meal",
	    "--limit", "10", NULL), 0);
	assert_contains(out, "STATUS");
	assert_contains(out, id);
	assert_contains(out, id2);
	assert_contains(out, "urgent");
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--json", "--limit", "1",
	    NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	assert_true(json_is_string(json_object_get(j, "next_cursor")));
	json_decref(j);
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--limit", "1", NULL), 0);
	assert_contains(out, "--cursor");
	free(out);
	assert_int_equal(ctl(&out, oper, "calls", "--status", "lost", NULL),
	    1);
	assert_contains(out, "400 invalid_parameter (status)");
	free(out);

	assert_int_equal(ctl(&out, oper, "call", "cancel", id, "--reason",
	    "家属自己做饭", NULL), 0);
	assert_contains(out, "cancelled");
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "complete", id, NULL), 1);
	assert_contains(out, "409 invalid_transition");
	assert_contains(out, "is cancelled");
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "complete", id2, NULL), 0);
	assert_contains(out, "completed");
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "show", "999999", NULL), 1);
	assert_contains(out, "404 call_not_found");
	free(out);
	/* --json shows the error as carelined sent it, too. */
	assert_int_equal(ctl(&out, oper, "--json", "call", "show", "999999",
	    NULL), 1);
	assert_non_null(j = json_from(out));
	assert_string_equal(th_err_code(j), "call_not_found");
	json_decref(j);
	free(out);
}

static void
test_bad_phone(void **state)
{
	char	*out;

	(void)state;
	assert_int_equal(ctl(&out, oper, "call", "new", "--phone", "12345abc",
	    "--service", "meal", NULL), 1);
	assert_contains(out, "carelinectl: 422 ");
	assert_contains(out, "(caller_phone): ");
	free(out);
	assert_int_equal(ctl(&out, oper, "call", "new", "--phone",
	    "13900000001", "--service", "massage", NULL), 1);
	assert_contains(out, "(service)");
	free(out);
	assert_int_equal(ctl(&out, oper, "resident", "find", "+1 555 0100",
	    NULL), 1);
	assert_contains(out, "invalid_phone (phone)");
	free(out);
}

static void
test_resident_find(void **state)
{
	json_t	*j;
	char	*out;

	(void)state;
	assert_int_equal(ctl(&out, oper, "resident", "find", "139 0000 0001",
	    NULL), 0);
	assert_contains(out, "王秀英");
	assert_contains(out, "荷塘区新华西路5号");
	assert_contains(out, "alone");
	free(out);
	assert_int_equal(ctl(&out, oper, "resident", "find", "--name", "王",
	    NULL), 0);
	assert_contains(out, "13900000001");
	free(out);
	assert_int_equal(ctl(&out, oper, "--json", "resident", "find",
	    "+8613900000001", NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);
	free(out);
	assert_int_equal(ctl(&out, oper, "resident", "find", "13900009999",
	    NULL), 0);
	assert_contains(out, "no resident");
	free(out);
}

static void
test_provider_add_list_deactivate(void **state)
{
	json_t	*j;
	char	*out, id[24];

	(void)state;
	assert_int_equal(ctl(&out, admin, "provider", "add", "--name",
	    "荷塘助餐点", "--services", "meal, housekeeping",
	    "--lat", "27.88", "--lon", "113.19", "--mode", "walk",
	    "--capacity", "4", "--hours", "Mo-Fr 08:00-18:00", "--webhook",
	    "http://localhost:9/hooks", NULL), 0);
	assert_contains(out, "whsec_");
	assert_contains(out, "store the webhook secret");
	assert_contains(out, "housekeeping,meal");
	free(out);
	/* --json: the answer as it is, the warning still on stderr. */
	assert_int_equal(ctl(&out, admin, "--json", "provider", "add",
	    "--name", "Night Owl Care", "--services", "companionship",
	    "--lat", "27.87", "--lon", "113.18", "--mode", "car",
	    "--capacity", "2", "--hours", "Mo-Su 20:00-02:00", "--webhook",
	    "http://localhost:9/hooks", NULL), 0);
	assert_non_null(j = json_from(out));
	assert_true(strncmp(json_string_value(json_object_get(j,
	    "webhook_secret")), "whsec_", 6) == 0);
	snprintf(id, sizeof id, "%lld", id_of(j));
	json_decref(j);
	free(out);

	assert_int_equal(ctl(&out, admin, "provider", "add", "--name", "x",
	    "--services", "meal", "--lat", "27.8", "--lon", "113.1", "--mode",
	    "walk", "--capacity", "1", "--hours", "whenever", NULL), 1);
	assert_contains(out, "(opening_hours)");
	free(out);

	assert_int_equal(ctl(&out, admin, "provider", "list", "--service",
	    "companionship", NULL), 0);
	assert_contains(out, "Night Owl Care");
	free(out);
	assert_int_equal(ctl(&out, admin, "provider", "deactivate", id, NULL),
	    0);
	assert_contains(out, "inactive");
	free(out);
	assert_int_equal(ctl(&out, admin, "provider", "list", NULL), 0);
	assert_lacks(out, "Night Owl Care");
	assert_contains(out, "荷塘助餐点");
	free(out);
	assert_int_equal(ctl(&out, admin, "provider", "list", "--all", NULL),
	    0);
	assert_contains(out, "Night Owl Care");
	assert_contains(out, "inactive");
	free(out);
	assert_int_equal(ctl(&out, admin, "provider", "deactivate", "999999",
	    NULL), 1);
	assert_contains(out, "404 provider_not_found");
	free(out);
}

/* Every row's services cell starts where the SERVICES heading does. */
static void
check_alignment(const char *locale)
{
	char	*out, *line, *next, *p;
	int	 col = -1, rows = 0;

	setenv("LC_ALL", locale, 1);
	assert_int_equal(ctl(&out, admin, "provider", "list", "--all", NULL),
	    0);
	setenv("LC_ALL", "C.UTF-8", 1);
	for (line = out; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		assert_true(next - line < 2 || next[-2] != ' ');
		if (col == -1) {
			assert_non_null(p = strstr(line, "SERVICES"));
			col = display_col(line, p);
			continue;
		}
		if ((p = strstr(line, "  meal")) == NULL &&
		    (p = strstr(line, "  housekeeping")) == NULL &&
		    (p = strstr(line, "  companionship")) == NULL)
			fail_msg("no services in \"%s\"", line);
		p += strspn(p, " ");
		if (display_col(line, p) != col)
			fail_msg("LC_ALL=%s: column %d, not %d: \"%s\"\n%s",
			    locale, display_col(line, p), col, line, out);
		rows++;
	}
	assert_true(rows >= 3);
	free(out);
}

static void
test_table_aligns_chinese_names(void **state)
{
	(void)state;
	check_alignment("C.UTF-8");	/* wcwidth */
	check_alignment("C");		/* the built-in width table */
}

static void
test_deliveries(void **state)
{
	json_t	*j;
	char	*out;

	(void)state;
	assert_int_equal(ctl(&out, oper, "deliveries", NULL), 0);
	free(out);
	assert_int_equal(ctl(&out, oper, "deliveries", "--status", "dead",
	    NULL), 0);
	free(out);
	assert_int_equal(ctl(&out, oper, "--json", "deliveries", "--limit",
	    "5", NULL), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_true(json_is_array(json_object_get(j, "items")));
	json_decref(j);
	free(out);
	assert_int_equal(ctl(&out, oper, "deliveries", "--status", "lost",
	    NULL), 1);
	assert_contains(out, "(status)");
	free(out);
}

static void
test_config_file(void **state)
{
	char	*dir, *xdg, *path, *xpath, *text, *out;

	(void)state;
	xasprintf(&dir, "%s/ctl-home-conf", th_tmp());
	xasprintf(&path, "%s/.config/careline", dir);
	mkdirs(path);
	free(path);
	xasprintf(&path, "%s/.config/careline/carelinectl.yaml", dir);
	xasprintf(&text, "# written by the test\nurl: \"%s\"\ntoken: %s\n",
	    d.url, oper);
	write_file(path, text, 0600);
	setenv("HOME", dir, 1);

	assert_int_equal(ctl_bare(&out, "calls", NULL), 0);
	assert_contains(out, "STATUS");
	free(out);

	/* Readable by others: refused like ssh refuses a key, token unread. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 4);
	assert_contains(out, "0644");
	assert_contains(out, "chmod 600");
	assert_lacks(out, oper);
	free(out);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 4);
	free(out);
	/* Options and environment need no file, so it is not read. */
	assert_int_equal(ctl(&out, oper, "calls", NULL), 0);
	free(out);

	/* $XDG_CONFIG_HOME comes first; CARELINE_TOKEN over the file. */
	xasprintf(&xdg, "%s/xdg", dir);
	xasprintf(&xpath, "%s/careline", xdg);
	mkdirs(xpath);
	free(xpath);
	xasprintf(&xpath, "%s/careline/carelinectl.yaml", xdg);
	free(text);
	xasprintf(&text, "url: %s\ntoken: %s\n", d.url, BOGUS_TOKEN);
	write_file(xpath, text, 0600);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 4);
	assert_contains(out, "401");
	free(out);
	setenv("CARELINE_TOKEN", oper, 1);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 0);
	free(out);
	unsetenv("CARELINE_TOKEN");

	write_file(xpath, "url: http://127.0.0.1:1\ntokn: x\n", 0600);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 2);
	assert_contains(out, ":2: unknown key 'tokn'");
	free(out);
	write_file(xpath, "url: [1, 2\n", 0600);
	assert_int_equal(ctl_bare(&out, "calls", NULL), 2);
	free(out);

	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", home, 1);
	free(xpath);
	free(xdg);
	free(text);
	free(path);
	free(dir);
}

/*
 * carelinectl in the background, its output read as it comes, for
 * commands that do not end by themselves (watch).
 */
struct bg {
	pid_t	 pid;
	int	 fd;
	char	 buf[65536];
	size_t	 len;
};

static void
bg_start(struct bg *b, const char *url, const char *token, int json)
{
	int	p[2];

	memset(b, 0, sizeof *b);
	assert_int_equal(pipe(p), 0);
	if ((b->pid = fork()) == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		if (json)
			execl(bin, bin, "--url", url, "--token", token,
			    "watch", "--json", (char *)NULL);
		else
			execl(bin, bin, "--url", url, "--token", token,
			    "watch", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	b->fd = p[0];
	fcntl(b->fd, F_SETFL, O_NONBLOCK);
}

/* Reads for up to ms; 0 once needle has been seen (NULL: until EOF). */
static int
bg_read(struct bg *b, const char *needle, int ms)
{
	struct pollfd	pfd;
	long		deadline = th_now_ms() + ms;
	ssize_t		n;

	for (;;) {
		if (needle != NULL && strstr(b->buf, needle) != NULL)
			return (0);
		if (th_now_ms() >= deadline)
			return (-1);
		pfd.fd = b->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		poll(&pfd, 1, 50);
		n = read(b->fd, b->buf + b->len, sizeof b->buf - 1 - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			b->buf[b->len] = '\0';
		} else if (n == 0)
			return (needle == NULL ? 0 : -1);
	}
}

/*
 * Waits up to ms for it to end (after sig, when not 0); killed if it does
 * not. Returns its exit status, -1 when it had to be killed.
 */
static int
bg_end(struct bg *b, int sig, int ms)
{
	long	deadline = th_now_ms() + ms;
	int	status, rc = -1;

	if (sig != 0)
		kill(b->pid, sig);
	for (;;) {
		bg_read(b, NULL, 50);
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
			break;
		}
		if (th_now_ms() >= deadline) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
			break;
		}
	}
	bg_read(b, NULL, 200);
	close(b->fd);
	check_sanitizer(b->buf);
	return (rc);
}

/*
 * A stand-in for GET /v1/events: one scripted answer per connection, each
 * request head appended to log. It tries what carelined cannot be made to
 * do on demand: a byte-order mark, CR and CRLF line ends, a multi-line
 * data field, an event cut short, a retry: field, a 503, and the 204 that
 * tells a client to stop.
 */
static const char *const sse_script[] = {
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	"Cache-Control: no-store\r\n\r\n"
	"\xef\xbb\xbf: a byte-order mark, then a comment\n"
	"retry: 50\n\n"
	"id: 1\nevent: call.created\ndata: {\"call_id\": 7, \"status\": "
	"\"new\"}\n\n"
	"id: 2\r\nevent: call.updated\r\ndata: {\"call_id\": 7,\r\ndata: "
	"\"status\": \"offered\"}\r\n\r\n"
	"data: cut short, never dispatched\n",

	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
	"event: note\rdata: 你好\r\r"
	"id: 3\ndata: plain text\n\n",

	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
	"application/json\r\nContent-Length: 59\r\nConnection: close\r\n\r\n"
	"{\"error\": {\"code\": \"shutting_down\", \"message\": \"draining\"}}",

	"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
};

static void
sse_serve(int lfd, const char *log, int hold)
{
	char	 buf[8192];
	size_t	 i, len;
	ssize_t	 n;
	FILE	*f;
	int	 fd;

	alarm(20);
	for (i = 0; i < sizeof sse_script / sizeof *sse_script; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		len = 0;
		while (len < sizeof buf - 1 && (n = read(fd, buf + len,
		    sizeof buf - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		buf[len] = '\0';
		if ((f = fopen(log, "a")) != NULL) {
			fprintf(f, "%s----\n", buf);
			fclose(f);
		}
		if (write(fd, sse_script[i], strlen(sse_script[i])) < 0)
			_exit(1);
		if (hold) {
			pause();	/* until killed */
			_exit(0);
		}
		close(fd);
	}
	_exit(0);
}

/* Starts the stand-in; returns its pid, its URL in url. */
static pid_t
sse_start(char *url, size_t len, char **log, int hold)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof sin;
	pid_t			pid;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, len, "http://127.0.0.1:%d", ntohs(sin.sin_port));
	xasprintf(log, "%s/sse-%d-%d.log", th_tmp(), (int)getpid(),
	    ntohs(sin.sin_port));
	unlink(*log);
	if ((pid = fork()) == 0)
		sse_serve(fd, *log, hold);
	close(fd);
	return (pid);
}

static void
sse_stop(pid_t pid, char *log)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(log);
	free(log);
}

/* The request heads the stand-in logged. */
static char **
sse_requests(const char *log, int *n)
{
	FILE	*f;
	char	*all, *p, *sep, **out = NULL;
	long	 len;

	*n = 0;
	assert_non_null(f = fopen(log, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	all = xmalloc((size_t)len + 1);
	all[fread(all, 1, (size_t)len, f)] = '\0';
	fclose(f);
	for (p = all; (sep = strstr(p, "----\n")) != NULL; p = sep + 5) {
		out = xrealloc(out, sizeof *out * (size_t)(*n + 1));
		out[(*n)++] = xstrndup(p, (size_t)(sep - p));
	}
	free(all);
	return (out);
}

static void
free_requests(char **reqs, int n)
{
	while (n-- > 0)
		free(reqs[n]);
	free(reqs);
}

/* watch against the stand-in, to the 204; its output and the requests. */
static void
sse_watch(int json, struct bg *b, char ***reqs, int *n)
{
	char	 url[64], *log;
	pid_t	 srv;
	int	 rc;

	srv = sse_start(url, sizeof url, &log, 0);
	bg_start(b, url, oper, json);
	rc = bg_end(b, 0, 10000);
	*reqs = sse_requests(log, n);
	sse_stop(srv, log);
	if (rc != 0)
		fail_msg("watch exited %d:\n%s", rc, b->buf);
}

static void
test_watch_follows_the_stream(void **state)
{
	static struct bg	 b;
	const char		*want[] = { "call.created", "call.updated",
				    "note", "message" };
	char			**reqs, *a, *u, *c, *e, *line, *next;
	json_t			*j;
	int			 n, i;

	(void)state;
	sse_watch(0, &b, &reqs, &n);
	a = strstr(b.buf, "call.created");
	u = strstr(b.buf, "call.updated");
	c = strstr(b.buf, "你好");
	e = strstr(b.buf, "plain text");
	if (a == NULL || u == NULL || c == NULL || e == NULL || a > u ||
	    u > c || c > e)
		fail_msg("events missing or out of order:\n%s", b.buf);
	assert_contains(b.buf, "call.created     #1  call 7 status=new\n");
	assert_contains(b.buf, "call.updated     #2  call 7 status=offered");
	/* An event without an id keeps the last one, as the standard says. */
	assert_contains(b.buf, "note             #2  你好\n");
	assert_contains(b.buf, "message          #3  plain text\n");
	assert_lacks(b.buf, "cut short");
	assert_contains(b.buf, "reconnecting in 0.");
	assert_contains(b.buf, "ended the event stream");

	/* Each reconnection says where it stopped, and who asks. */
	assert_int_equal(n, 4);
	assert_lacks(reqs[0], "Last-Event-ID");
	assert_contains(reqs[1], "Last-Event-ID: 2\r\n");
	assert_contains(reqs[2], "Last-Event-ID: 3\r\n");
	assert_contains(reqs[3], "Last-Event-ID: 3\r\n");
	for (i = 0; i < n; i++) {
		assert_contains(reqs[i], "GET /v1/events HTTP/1.1\r\n");
		assert_contains(reqs[i], "Accept: text/event-stream\r\n");
		assert_contains(reqs[i], oper);
	}
	free_requests(reqs, n);

	/* --json: one object per event, on a line of its own. */
	sse_watch(1, &b, &reqs, &n);
	i = 0;
	for (line = b.buf; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		if (strncmp(line, "carelinectl: ", 13) == 0)
			continue;
		if ((j = json_loads(line, 0, NULL)) == NULL)
			fail_msg("not JSON: \"%s\"", line);
		assert_true(i < 4);
		assert_string_equal(json_string_value(json_object_get(j,
		    "event")), want[i]);
		if (i == 1)
			assert_string_equal(json_string_value(
			    json_object_get(json_object_get(j, "data"),
			    "status")), "offered");
		if (i == 3) {
			assert_string_equal(json_string_value(
			    json_object_get(j, "id")), "3");
			assert_string_equal(json_string_value(
			    json_object_get(j, "data")), "plain text");
		}
		json_decref(j);
		i++;
	}
	assert_int_equal(i, 4);
	free_requests(reqs, n);
}

/* SIGTERM while the stream is open: a clean exit 0 (and no leak). */
static void
test_watch_stops_on_signal(void **state)
{
	static struct bg	 b;
	char			 url[64], *log;
	pid_t			 srv;

	(void)state;
	srv = sse_start(url, sizeof url, &log, 1);
	bg_start(&b, url, oper, 0);
	if (bg_read(&b, "call.updated", 10000) != 0)
		fail_msg("no event:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGTERM, 5000), 0);
	sse_stop(srv, log);
}

/*
 * watch against carelined: a call.ringing (the PBX hook, harmless to
 * repeat) shows up on the stream. Rung until seen, as the stream may not
 * be subscribed yet when the first one happens.
 */
static void
test_watch_carelined(void **state)
{
	static struct bg	 b;
	json_t			*j, *data;
	char			*line, *end;
	int			 tries;

	(void)state;
	bg_start(&b, d.url, oper, 1);
	for (tries = 0; tries < 25; tries++) {
		assert_int_equal(th_api(d.url, oper, "POST", "/v1/ringing",
		    "{\"phone\": \"139 0000 0001\"}", NULL), 202);
		if (bg_read(&b, "\"call.ringing\"", 200) == 0)
			break;
	}
	if (bg_read(&b, "}\n", 1000) != 0)
		fail_msg("no call.ringing from carelined:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGINT, 5000), 0);
	assert_non_null(line = strstr(b.buf, "{\"id\":"));
	assert_non_null(end = strchr(line, '\n'));
	*end = '\0';
	if ((j = json_loads(line, 0, NULL)) == NULL)
		fail_msg("not JSON: %s", line);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "call.ringing");
	assert_non_null(json_string_value(json_object_get(j, "id")));
	data = json_object_get(j, "data");
	assert_string_equal(json_string_value(json_object_get(data, "type")),
	    "call.ringing");
	/* Ids only: the stream carries no person (GET /v1/ringing/{id}). */
	assert_non_null(strstr(line, "\"ringing_id\""));
	assert_null(strstr(line, "王秀英"));
	json_decref(j);

	/* For people: the event's own time, type and id, then its data. */
	bg_start(&b, d.url, oper, 0);
	for (tries = 0; tries < 25; tries++) {
		assert_int_equal(th_api(d.url, oper, "POST", "/v1/ringing",
		    "{\"phone\": \"13900000001\"}", NULL), 202);
		if (bg_read(&b, "call.ringing", 200) == 0)
			break;
	}
	if (bg_read(&b, "ringing_id=", 1000) != 0)
		fail_msg("no call.ringing from carelined:\n%s", b.buf);
	assert_int_equal(bg_end(&b, SIGTERM, 5000), 0);
}

/* Errors of watch: unreachable (3), a refused token (4). */
static void
test_watch_errors(void **state)
{
	char	*out, url[64];

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d", th_free_port());
	assert_int_equal(ctl_bare(&out, "--url", url, "--token", oper,
	    "watch", NULL), 3);
	assert_contains(out, "cannot reach carelined");
	free(out);
	assert_int_equal(ctl(&out, BOGUS_TOKEN, "watch", NULL), 4);
	assert_contains(out, "401 unauthorized");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_auth_errors),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_call_lifecycle),
		cmocka_unit_test(test_bad_phone),
		cmocka_unit_test(test_resident_find),
		cmocka_unit_test(test_provider_add_list_deactivate),
		cmocka_unit_test(test_table_aligns_chinese_names),
		cmocka_unit_test(test_deliveries),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_watch_follows_the_stream),
		cmocka_unit_test(test_watch_stops_on_signal),
		cmocka_unit_test(test_watch_carelined),
		cmocka_unit_test(test_watch_errors),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
