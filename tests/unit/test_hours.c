/*
 * Opening hours (common/hours.c): the spans SQL matches against, and the
 * reasons an admin reads when a spec is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hours.h"

static struct hours_span	spans[HOURS_MAX_SPANS];
static char			why[128];

static int
parse(const char *spec)
{
	memset(spans, 0xff, sizeof spans);
	why[0] = '\0';
	return (hours_parse(spec, spans, why, sizeof why));
}

static void
span_is(int i, int dow, int opens, int closes)
{
	assert_int_equal(spans[i].dow, dow);
	assert_int_equal(spans[i].opens, opens);
	assert_int_equal(spans[i].closes, closes);
}

/* Refused, with a reason that starts with what and names the place. */
static void
refused(const char *spec, const char *what, int at)
{
	char	where[32];

	assert_int_equal(parse(spec), -1);
	assert_true(strncmp(why, what, strlen(what)) == 0);
	snprintf(where, sizeof where, " at character %d", at);
	assert_non_null(strstr(why, where));
}

static void
test_week_and_saturday(void **state)
{
	(void)state;
	assert_int_equal(parse("Mo-Fr 08:00-18:00; Sa 09:00-12:00"), 6);
	span_is(0, 1, 480, 1080);
	span_is(4, 5, 480, 1080);
	span_is(5, 6, 540, 720);
}

static void
test_day_lists_and_several_ranges(void **state)
{
	(void)state;
	assert_int_equal(parse("Mo,We 07:30-11:00,16:00-19:00"), 4);
	span_is(0, 1, 450, 660);
	span_is(1, 3, 450, 660);
	span_is(2, 1, 960, 1140);
	span_is(3, 3, 960, 1140);
	/* Spaces around rules and after the days are allowed. */
	assert_int_equal(parse("  Tu   10:00-11:00 ;  Th 10:00-11:00  "), 2);
	span_is(1, 4, 600, 660);
}

static void
test_day_range_wraps_over_the_weekend(void **state)
{
	(void)state;
	assert_int_equal(parse("Sa-Mo 10:00-11:00"), 3);
	/* Spans come out by day of the week. */
	span_is(0, 1, 600, 660);
	span_is(1, 6, 600, 660);
	span_is(2, 7, 600, 660);
	assert_int_equal(parse("Mo-Mo 10:00-11:00"), 1);
}

static void
test_past_midnight_continues_next_day(void **state)
{
	(void)state;
	assert_int_equal(parse("Su 22:00-02:00"), 2);
	span_is(0, 7, 1320, 1440);
	span_is(1, 1, 0, 120);
	/* The grammar the SQL side refused (issue 10). */
	assert_int_equal(parse("Su 22:00-02:00; Mo 00:00-08:00"), 3);
	span_is(2, 1, 0, 480);
	/* Closing at midnight adds no empty span on the next day. */
	assert_int_equal(parse("Mo 20:00-00:00"), 1);
	span_is(0, 1, 1200, 1440);
	assert_int_equal(parse("Mo 20:00-24:00"), 1);
	span_is(0, 1, 1200, 1440);
}

static void
test_always_open(void **state)
{
	int	i;

	(void)state;
	assert_int_equal(parse(" 24/7 "), 7);
	for (i = 0; i < 7; i++)
		span_is(i, i + 1, 0, 1440);
	refused("24/7 Mo 08:00-09:00", "nothing may follow 24/7", 6);
}

static void
test_times_refused(void **state)
{
	(void)state;
	refused("Mo 24:00-08:00", "no such time of day", 4);
	refused("Mo 08:00-24:01", "no such time of day", 10);
	refused("Mo 08:60-09:00", "no such time of day", 4);
	refused("Mo 25:00-26:00", "no such time of day", 4);
	refused("Mo 8:00-09:00", "expected a time like 08:30", 4);
	refused("Mo 08:00", "expected '-' between times", 9);
	refused("Mo 08:00-", "expected a time like 08:30", 10);
	refused("Mo 08:00-08:00", "a span must not be empty", 15);
}

static void
test_structure_refused(void **state)
{
	(void)state;
	refused("", "opening hours are empty", 1);
	refused("   ", "opening hours are empty", 4);
	refused("Xx 08:00-09:00", "expected a day", 1);
	refused("mo 08:00-09:00", "expected a day", 1);
	refused("Mo- 08:00-09:00", "expected a day after '-'", 4);
	refused("Mo08:00-09:00", "expected a space between days and times", 3);
	refused("Mo 08:00-09:00 Tu 10:00-11:00", "expected ';' between rules",
	    16);
	refused("Mo 08:00-09:00;", "expected a day", 16);
	refused("Mo 08:00-09:00; Xx", "expected a day", 17);
}

static void
test_span_and_length_limits(void **state)
{
	char	spec[HOURS_MAX_LEN + 2];
	size_t	n;

	(void)state;
	/* Nine ranges on seven days, and one more: exactly the limit. */
	snprintf(spec, sizeof spec, "Mo-Su 00:00-01:00,01:00-02:00,"
	    "02:00-03:00,03:00-04:00,04:00-05:00,05:00-06:00,06:00-07:00,"
	    "07:00-08:00,08:00-09:00; Mo 23:00-23:30");
	assert_int_equal(parse(spec), HOURS_MAX_SPANS);
	span_is(HOURS_MAX_SPANS - 1, 1, 1380, 1410);
	/* One span more is refused, not written past the array. */
	snprintf(spec, sizeof spec, "Mo-Su 00:00-01:00,01:00-02:00,"
	    "02:00-03:00,03:00-04:00,04:00-05:00,05:00-06:00,06:00-07:00,"
	    "07:00-08:00,08:00-09:00; Mo 23:00-23:30,23:30-23:45");
	assert_int_equal(parse(spec), -1);
	assert_non_null(strstr(why, "too many opening spans"));
	/* HOURS_MAX_LEN characters pass, one more does not. */
	n = strlen("Mo 08:00-09:00");
	memcpy(spec, "Mo 08:00-09:00", n);
	memset(spec + n, ' ', HOURS_MAX_LEN - n);
	spec[HOURS_MAX_LEN] = '\0';
	assert_int_equal(parse(spec), 1);
	spec[HOURS_MAX_LEN] = ' ';
	spec[HOURS_MAX_LEN + 1] = '\0';
	refused(spec, "opening hours are too long", 1);
}

static void
test_reason_fits_a_small_buffer(void **state)
{
	char	small[8];

	(void)state;
	memset(small, 'x', sizeof small);
	assert_int_equal(hours_parse("", spans, small, sizeof small), -1);
	assert_string_equal(small, "opening");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_week_and_saturday),
		cmocka_unit_test(test_day_lists_and_several_ranges),
		cmocka_unit_test(test_day_range_wraps_over_the_weekend),
		cmocka_unit_test(test_past_midnight_continues_next_day),
		cmocka_unit_test(test_always_open),
		cmocka_unit_test(test_times_refused),
		cmocka_unit_test(test_structure_refused),
		cmocka_unit_test(test_span_and_length_limits),
		cmocka_unit_test(test_reason_fits_a_small_buffer),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
