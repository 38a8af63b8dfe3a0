/*
 * Phone numbers as the district dials them (common/phone.c): one stored
 * form per line, so that a caller is found whichever way it was typed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "phone.h"

/* The normalised number, or NULL with the reason in *why. */
static const char *
norm(const char *in, const char **why)
{
	static char	out[PHONE_MAX];
	const char	*w = "unset";

	memset(out, 'x', sizeof out);
	if (phone_normalize(in, out, &w) != 0) {
		assert_non_null(w);
		*why = w;
		return (NULL);
	}
	assert_null(w);
	*why = NULL;
	return (out);
}

static void
test_mobile_forms(void **state)
{
	const char	*why;

	(void)state;
	assert_string_equal(norm("13800138000", &why), "13800138000");
	assert_string_equal(norm("+86 138 0013 8000", &why), "13800138000");
	assert_string_equal(norm("+8613800138000", &why), "13800138000");
	assert_string_equal(norm("  +86 138 0013 8000", &why), "13800138000");
	assert_string_equal(norm("0086-138-0013-8000", &why), "13800138000");
	assert_string_equal(norm("  (138) 0013-8000", &why), "13800138000");
	/* 1 then 0..2 is no mobile prefix. */
	assert_null(norm("12800138000", &why));
	assert_null(norm("10800138000", &why));
	/* One digit short or long. */
	assert_null(norm("1380013800", &why));
	assert_null(norm("138001380001", &why));
}

static void
test_zhuzhou_landline_without_area_code(void **state)
{
	const char	*why;

	(void)state;
	/* The hotline's own number, however it is written. */
	assert_string_equal(norm("22222099", &why), "22222099");
	assert_string_equal(norm("0731-22222099", &why), "22222099");
	assert_string_equal(norm("(0731) 2222 2099", &why), "22222099");
	assert_string_equal(norm("0086 0731 22222099", &why), "22222099");
	/* Seven-digit local numbers still exist in the county. */
	assert_string_equal(norm("2222209", &why), "2222209");
	/* A local number cannot start with 0 or 1. */
	assert_null(norm("02222099", &why));
	assert_null(norm("12222099", &why));
	/* 0731 and a local part that is not one stays refused. */
	assert_null(norm("073101234567", &why));
}

static void
test_other_area_codes_kept(void **state)
{
	const char	*why;

	(void)state;
	assert_string_equal(norm("010-12345678", &why), "01012345678");
	assert_string_equal(norm("0086 010 12345678", &why), "01012345678");
	assert_string_equal(norm("0755 1234 5678", &why), "075512345678");
	/* 00 is an international prefix, not an area code. */
	assert_null(norm("0012345678", &why));
	/* Thirteen digits is no number of ours. */
	assert_null(norm("0755123456789", &why));
}

static void
test_refusals_say_why(void **state)
{
	const char	*why;
	char		 many[80];

	(void)state;
	assert_null(norm("+44 20 7946 0000", &why));
	assert_non_null(strstr(why, "+86"));
	assert_null(norm("", &why));
	assert_string_equal(why, "the phone number is empty");
	assert_null(norm("   ", &why));
	assert_string_equal(why, "the phone number is empty");
	assert_null(norm("0086", &why));
	assert_string_equal(why, "the phone number is empty");
	assert_null(norm("138 0013 800a", &why));
	assert_non_null(strstr(why, "digits"));
	assert_null(norm("\t13800138000", &why));
	assert_non_null(strstr(why, "digits"));
	assert_null(norm("138+8613800", &why));
	assert_non_null(strstr(why, "digits"));
	/* 63 digits fill the buffer: refused as a number, not as too long. */
	memset(many, '1', 63);
	many[63] = '\0';
	assert_null(norm(many, &why));
	assert_non_null(strstr(why, "not a valid"));
	memset(many, '1', 64);
	many[64] = '\0';
	assert_null(norm(many, &why));
	assert_string_equal(why, "too many digits for a phone number");
}

static void
test_normalised_is_a_fixed_point(void **state)
{
	static const char *const in[] = {
		"+86 138 0013 8000", "0731-22222099", "2222209",
		"010-12345678", "0755 1234 5678", NULL,
	};
	const char	*why;
	char		 once[PHONE_MAX];
	int		 i;

	(void)state;
	for (i = 0; in[i] != NULL; i++) {
		snprintf(once, sizeof once, "%s", norm(in[i], &why));
		assert_string_equal(norm(once, &why), once);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mobile_forms),
		cmocka_unit_test(test_zhuzhou_landline_without_area_code),
		cmocka_unit_test(test_other_area_codes_kept),
		cmocka_unit_test(test_refusals_say_why),
		cmocka_unit_test(test_normalised_is_a_fixed_point),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
