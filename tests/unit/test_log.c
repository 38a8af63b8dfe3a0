/*
 * common/log: the parsers config uses, the level gate, and the lines
 * themselves, read back by pointing stderr at a temporary file. One event
 * must stay one line, whatever the message holds, or journald and any
 * JSON reader downstream split it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

struct capture {
	FILE	*f;
	int	 saved;
};

static void
capture_begin(struct capture *cap)
{
	fflush(stderr);
	cap->f = tmpfile();
	assert_non_null(cap->f);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved != -1);
	assert_true(dup2(fileno(cap->f), STDERR_FILENO) != -1);
	/* Decides journald prefixes from what stderr now is: not journald. */
	log_init("testlog");
}

/* Restore stderr and return what was written; caller frees. */
static char *
capture_end(struct capture *cap)
{
	char	*buf;
	long	 len;

	fflush(stderr);
	dup2(cap->saved, STDERR_FILENO);
	close(cap->saved);
	len = ftell(cap->f);
	assert_true(len >= 0);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	rewind(cap->f);
	assert_int_equal(fread(buf, 1, (size_t)len, cap->f), (size_t)len);
	buf[len] = '\0';
	fclose(cap->f);
	return (buf);
}

static size_t
count_char(const char *s, int c)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		if (*s == c)
			n++;
	}
	return (n);
}

/* The limiter's clock, moved by hand: windows end exactly when told. */
static long long	fake_now_ms;

static long long
fake_clock(void)
{
	return (fake_now_ms);
}

static int
reset(void **state)
{
	(void)state;
	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_set_repeat(LOG_REPEAT_WINDOW_MS, NULL);
	return (0);
}

/* Lines of out holding needle. */
static int
count_lines(const char *out, const char *needle)
{
	const char	*p, *nl;
	int		 n = 0;

	for (p = out; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (memmem(p, (size_t)(nl - p), needle, strlen(needle)) != NULL)
			n++;
	}
	return (n);
}

static void
test_level_parse(void **state)
{
	static const char *const bad[] = {
		"", "INFO", "Info", "warning", "err", "trace", "info ", "debugx",
	};
	enum log_level	l;
	size_t		i;

	(void)state;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("info", &l), 0);
	assert_int_equal(l, LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		l = LOG_LEVEL_WARN;
		if (log_level_parse(bad[i], &l) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		/* A refusal leaves the output alone. */
		assert_int_equal(l, LOG_LEVEL_WARN);
	}
}

static void
test_format_parse(void **state)
{
	static const char *const bad[] = { "", "TEXT", "Json", "xml", "jsonl" };
	enum log_format	f;
	size_t		i;

	(void)state;
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		f = LOG_FORMAT_JSON;
		if (log_format_parse(bad[i], &f) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(f, LOG_FORMAT_JSON);
	}
}

static void
test_level_name(void **state)
{
	enum log_level	l, back;

	(void)state;
	for (l = LOG_LEVEL_DEBUG; l <= LOG_LEVEL_ERROR; l++) {
		assert_int_equal(log_level_parse(log_level_name(l), &back), 0);
		assert_int_equal(back, l);
	}
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
}

static void
test_enabled_follows_configure(void **state)
{
	(void)state;
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	assert_true(log_enabled(LOG_LEVEL_DEBUG));
	assert_true(log_enabled(LOG_LEVEL_ERROR));

	log_configure(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	assert_false(log_enabled(LOG_LEVEL_DEBUG));
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_true(log_enabled(LOG_LEVEL_WARN));
	assert_true(log_enabled(LOG_LEVEL_ERROR));

	log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_JSON);
	assert_false(log_enabled(LOG_LEVEL_WARN));
	assert_true(log_enabled(LOG_LEVEL_ERROR));
}

static int	bumps;

static int
bump(void)
{
	return (++bumps);
}

static void
test_debug_skips_arguments(void **state)
{
	struct capture	 cap;
	char		*out;

	(void)state;
	bumps = 0;
	capture_begin(&cap);
	log_debug("value %d", bump());
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	log_debug("value %d", bump());
	out = capture_end(&cap);

	/* Disabled, the arguments are not even evaluated. */
	assert_int_equal(bumps, 1);
	assert_non_null(strstr(out, " debug value 1\n"));
	assert_int_equal(count_char(out, '\n'), 1);
	free(out);
}

static void
test_text_line(void **state)
{
	struct capture	 cap;
	char		*out, pid[32];

	(void)state;
	capture_begin(&cap);
	log_info("call %d assigned", 42);
	log_debug("not shown");
	out = capture_end(&cap);

	/* "2024-01-02T03:04:05.678Z testlog[PID] info  call 42 assigned" */
	assert_int_equal(count_char(out, '\n'), 1);
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
	snprintf(pid, sizeof pid, " testlog[%d] ", (int)getpid());
	assert_non_null(strstr(out, pid));
	assert_non_null(strstr(out, "] info  call 42 assigned\n"));
	assert_null(strstr(out, "not shown"));
	free(out);
}

static void
test_text_newlines_stay_one_line(void **state)
{
	struct capture	 cap;
	char		*out;

	(void)state;
	capture_begin(&cap);
	log_warn("first\nsecond\r\nthird");
	out = capture_end(&cap);

	assert_int_equal(count_char(out, '\n'), 1);
	assert_null(strchr(out, '\r'));
	assert_non_null(strstr(out, " warn  first second  third\n"));
	free(out);
}

static void
test_json_escapes(void **state)
{
	struct capture	 cap;
	json_t		*j;
	json_error_t	 err;
	char		*out;

	(void)state;
	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	capture_begin(&cap);
	log_error("say \"hi\" \\ tab\there\nnext");
	out = capture_end(&cap);

	assert_int_equal(count_char(out, '\n'), 1);
	assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
	assert_non_null(strstr(out, "\"level\":\"error\",\"msg\":\"say \\\"hi\\\" "
	    "\\\\ tab\\u0009here next\"}\n"));

	/* And a JSON reader agrees. */
	j = json_loads(out, 0, &err);
	if (j == NULL) {
		fail_msg("not JSON: %s: %s", err.text, out);
		free(out);
	}
	assert_string_equal(json_string_value(json_object_get(j, "level")),
	    "error");
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	    "say \"hi\" \\ tab\there next");
	assert_true(json_is_string(json_object_get(j, "ts")));
	json_decref(j);
	free(out);
}

static void
test_long_message_truncated_to_one_line(void **state)
{
	struct capture	 cap;
	char		 big[4096], *out;

	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	capture_begin(&cap);
	log_info("%s", big);
	out = capture_end(&cap);

	assert_int_equal(count_char(out, '\n'), 1);
	assert_true(strlen(out) < sizeof big);
	free(out);
}

/*
 * An outage refuses every request with the same line: 320 of them in one
 * window print one line and one summary that counts the other 319.
 */
static void
test_repeats_summarised(void **state)
{
	struct capture	 cap;
	char		*out;
	int		 i;

	(void)state;
	fake_now_ms = 1000000;
	log_set_repeat(LOG_REPEAT_WINDOW_MS, fake_clock);
	capture_begin(&cap);
	for (i = 0; i < 320; i++) {
		log_warn("http: GET /readyz: 503 database_unavailable");
		fake_now_ms += 25;	/* 320 lines in 8 s */
	}
	/* Not over yet: nothing more is said. */
	log_tick();
	fake_now_ms = 1000000 + LOG_REPEAT_WINDOW_MS;
	log_tick();
	out = capture_end(&cap);

	assert_int_equal(count_char(out, '\n'), 2);
	assert_int_equal(count_lines(out, "503 database_unavailable"), 2);
	assert_int_equal(count_lines(out, "warn  http: GET /readyz: 503 "
	    "database_unavailable (repeated 319 more times in 8 s)"), 1);
	free(out);
}

/* Other lines pass between repeats; each line is counted on its own. */
static void
test_repeats_per_line(void **state)
{
	struct capture	 cap;
	char		*out;
	int		 i;

	(void)state;
	fake_now_ms = 5000;
	log_set_repeat(LOG_REPEAT_WINDOW_MS, fake_clock);
	capture_begin(&cap);
	for (i = 0; i < 10; i++) {
		log_warn("database: connection lost");
		log_info("call %d logged", i);	/* all different */
		log_info("database: connection lost");	/* another level */
		fake_now_ms += 100;
	}
	fake_now_ms += LOG_REPEAT_WINDOW_MS;
	/* After its window, the line shows again: a new window begins. */
	log_warn("database: connection lost");
	out = capture_end(&cap);

	assert_int_equal(count_lines(out, "logged"), 10);
	assert_int_equal(count_lines(out, "warn  database: connection lost "
	    "(repeated 9 more times in 1 s)"), 1);
	assert_int_equal(count_lines(out, "info  database: connection lost "
	    "(repeated 9 more times in 1 s)"), 1);
	assert_int_equal(count_lines(out, "warn  database: connection lost"),
	    3);
	/* The new window's first line comes after both summaries. */
	assert_non_null(strstr(out, "repeated 9 more times in 1 s)\n"));
	assert_true(strlen(out) > 32);
	assert_string_equal(out + strlen(out) - 32,
	    "warn  database: connection lost\n");
	free(out);
}

/* At exit (log_flush, also run by atexit) nothing held back is lost. */
static void
test_repeats_flushed(void **state)
{
	struct capture	 cap;
	char		*out;

	(void)state;
	fake_now_ms = 0;
	log_set_repeat(LOG_REPEAT_WINDOW_MS, fake_clock);
	capture_begin(&cap);
	log_error("dispatcher: claim failed");
	log_error("dispatcher: claim failed");
	log_flush();
	log_flush();	/* said once only */
	out = capture_end(&cap);

	assert_int_equal(count_char(out, '\n'), 2);
	assert_int_equal(count_lines(out, "error dispatcher: claim failed "
	    "(repeated 1 more time in 1 s)"), 1);
	free(out);
}

/* More distinct lines than slots: the oldest is summarised early. */
static void
test_repeats_slots_bounded(void **state)
{
	struct capture	 cap;
	char		*out;
	int		 i;

	(void)state;
	fake_now_ms = 0;
	log_set_repeat(LOG_REPEAT_WINDOW_MS, fake_clock);
	capture_begin(&cap);
	log_warn("first");
	log_warn("first");
	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		fake_now_ms++;
		log_warn("line %d", i);
	}
	out = capture_end(&cap);
	assert_int_equal(count_lines(out, "first (repeated 1 more time"), 1);
	assert_int_equal(count_lines(out, "line "), LOG_REPEAT_SLOTS);
	free(out);
}

/* A window of 0 prints everything. */
static void
test_repeats_off(void **state)
{
	struct capture	 cap;
	char		*out;
	int		 i;

	(void)state;
	log_set_repeat(0, NULL);
	capture_begin(&cap);
	for (i = 0; i < 5; i++)
		log_warn("same");
	log_flush();
	out = capture_end(&cap);
	assert_int_equal(count_char(out, '\n'), 5);
	free(out);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, reset, reset)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_level_parse),
		T(test_format_parse),
		T(test_level_name),
		T(test_enabled_follows_configure),
		T(test_debug_skips_arguments),
		T(test_text_line),
		T(test_text_newlines_stay_one_line),
		T(test_json_escapes),
		T(test_long_message_truncated_to_one_line),
		T(test_repeats_summarised),
		T(test_repeats_per_line),
		T(test_repeats_flushed),
		T(test_repeats_slots_bounded),
		T(test_repeats_off),
	};

	unsetenv("JOURNAL_STREAM");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
