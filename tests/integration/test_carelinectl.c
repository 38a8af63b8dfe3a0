/*
 * carelinectl against a real carelined: every command, the exit status
 * that each kind of failure means (1 refused, 2 usage, 3 unreachable, 4
 * auth), --json that parses, tables that stay aligned with Chinese
 * names, and the configuration file and the permissions it must have.
 * watch: test_carelinectl_watch.c.
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
#include "harness_ctl.h"
#include "xmalloc.h"

static char		*db, *admin, *oper;
static struct th_daemon	 d;
static long long	 resident_wang;

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

static int
group_setup(void **state)
{
	json_t	*j;
	long	 st;

	(void)state;
	if (th_group_up("ctl", &db, &admin, &oper, &d) != 0)
		return (-1);
	if (th_daemon_start(&d, db, "auth:\n  token_cache_ttl: 0s\n", 2,
	    NULL) != 0)
		return (-1);
	if (ctl_setup(d.url) != 0)
		return (-1);

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
	th_group_teardown(state);
	ctl_teardown();
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
	setenv("HOME", ctl_home(), 1);
	free(xpath);
	free(xdg);
	free(text);
	free(path);
	free(dir);
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
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
