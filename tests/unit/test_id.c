/*
 * id_parse: the one rule for an id, used by carelined's "{id}" routes and
 * carelinectl's ID arguments alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "id.h"

static void
test_accepted(void **state)
{
	static const struct {
		const char	*in;
		long long	 want;
	} ok[] = {
		{ "1", 1 },
		{ "42", 42 },
		{ "900719925474099", 900719925474099LL },
		{ "999999999999999999", 999999999999999999LL },
	};
	long long	v;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof ok / sizeof *ok; i++) {
		v = -1;
		assert_int_equal(id_parse(ok[i].in, strlen(ok[i].in), &v), 0);
		assert_true(v == ok[i].want);
	}
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"", "0", "007", "-1", "+1", " 1", "1 ", "1a", "0x10", "1e3",
		"1.0", "٣",	/* an Arabic-Indic three: not ASCII */
		"1000000000000000000",	/* 19 digits */
	};
	long long	v;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		v = -7;
		if (id_parse(bad[i], strlen(bad[i]), &v) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(v == -7);	/* untouched */
	}
}

/* Only the n bytes count: a path segment is not NUL-terminated. */
static void
test_length_bounds_the_id(void **state)
{
	long long	v;

	(void)state;
	assert_int_equal(id_parse("12/accept", 2, &v), 0);
	assert_true(v == 12);
	assert_int_equal(id_parse("12/accept", 3, &v), -1);
	assert_int_equal(id_parse("5", 0, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_length_bounds_the_id),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
