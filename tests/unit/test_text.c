/*
 * What people may type (common/text.c) and how request fields are held
 * to it (common/jsonv.c): controls, bidi overrides, invisible-only
 * values, account names folded with NFKC, times within range.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonv.h"
#include "text.h"

static int
ok(const char *s, int flags)
{
	const char	*why = NULL;

	return (text_check(s, flags, &why) == 0);
}

static void
test_text_refuses_controls(void **state)
{
	(void)state;
	assert_true(ok("王秀英", 0));
	assert_true(ok("Zhang San", 0));
	assert_true(ok("", 0));
	assert_false(ok("bell\a", 0));
	assert_false(ok("nul\x1f", 0));
	assert_false(ok("del\x7f", 0));
	assert_false(ok("c1\xc2\x85", 0));		/* U+0085 NEL */
	assert_false(ok("ls\xe2\x80\xa8", 0));		/* U+2028 */
	assert_false(ok("two\nlines", 0));
	assert_true(ok("two\nlines\tand a tab", TEXT_MULTILINE));
	assert_false(ok("esc\x1b[31m", TEXT_MULTILINE));
}

static void
test_text_refuses_bidi_overrides(void **state)
{
	(void)state;
	assert_false(ok("invoice\xe2\x80\xaegpj.exe", 0));	/* RLO */
	assert_false(ok("a\xe2\x80\xaa" "b", 0));		/* LRE */
	assert_false(ok("a\xe2\x80\xac", 0));			/* PDF */
	assert_false(ok("a\xe2\x81\xa6" "b", 0));		/* LRI */
	assert_false(ok("a\xe2\x81\xa9", TEXT_MULTILINE));	/* PDI */
	/* Marks that only hint direction are harmless. */
	assert_true(ok("a\xe2\x80\x8e" "b", 0));		/* LRM */
}

static void
test_text_refuses_invisible_only(void **state)
{
	(void)state;
	assert_false(ok("\xe2\x80\x8b", 0));			/* ZWSP */
	assert_false(ok("\xe2\x80\x8c\xe2\x80\x8d", 0));	/* ZWNJ ZWJ */
	assert_false(ok("\xef\xbb\xbf", 0));			/* BOM */
	assert_false(ok("\xe3\x80\x80 ", 0));		/* U+3000, space */
	assert_false(ok("\xe3\x85\xa4", 0));		/* HANGUL FILLER */
	assert_false(ok("\xc2\xad", 0));			/* soft hyphen */
	assert_false(ok("   ", 0));
	assert_true(text_is_blank("\xe2\x81\xa0\xc2\xa0"));
	assert_false(text_is_blank("\xe2\x80\x8b" "a"));
	/* One visible character among them is a value. */
	assert_true(ok("\xe2\x80\x8b" "x", 0));
}

static void
fold_is(const char *in, const char *want)
{
	const char	*why = NULL;
	char		*out;

	out = text_fold_name(in, 64, &why);
	if (want == NULL) {
		assert_null(out);
		assert_non_null(why);
	} else {
		assert_non_null(out);
		assert_string_equal(out, want);
	}
	free(out);
}

static void
test_names_fold_nfkc(void **state)
{
	(void)state;
	fold_is("alice", "alice");
	fold_is("Alice", "alice");
	fold_is("\xef\xbc\xa1\xef\xbc\xac\xef\xbc\xa9\xef\xbc\xa3\xef\xbc\xa5",
	    "alice");					/* ＡＬＩＣＥ */
	fold_is("\xe2\x84\xaa" "elvin", "kelvin");	/* KELVIN SIGN */
	fold_is("chen.li_2-b", "chen.li_2-b");
	fold_is("李华", "李华");
	fold_is("Cafe\xcc\x81", "caf\xc3\xa9");		/* e + U+0301 */
	fold_is("\xe2\x91\xa0", "1");			/* circled one */
}

static void
test_names_refuse_spaces_and_invisibles(void **state)
{
	(void)state;
	fold_is("", NULL);
	fold_is("alice smith", NULL);
	fold_is("alice\xc2\xa0smith", NULL);		/* NBSP */
	fold_is("alice\xe3\x80\x80", NULL);		/* ideographic space */
	fold_is("al\xe2\x80\x8bice", NULL);		/* ZWSP */
	fold_is("alice\xe2\x80\xae", NULL);		/* RLO */
	fold_is("alice\t", NULL);
	fold_is("ali'ce", NULL);
	fold_is("al/ice", NULL);
	fold_is("\xcc\x81" "a", NULL);			/* mark first */
	fold_is("\xe3\x85\xa4", NULL);			/* HANGUL FILLER */
	fold_is("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaa", NULL);				/* 65 */
}

static void
test_jv_strings_follow_text_rules(void **state)
{
	static const struct jv_field fields[] = {
		{ "name", JV_STRING, JV_REQUIRED, 1, 100, NULL },
		{ "notes", JV_STRING, JV_MULTILINE, 0, 2000, NULL },
		{ "password", JV_STRING, JV_SECRET, 1, 256, NULL },
		{ NULL, 0, 0, 0, 0, NULL }
	};
	struct jv_error	 e;
	json_t		*j;

	(void)state;
	j = json_pack("{s:s, s:s, s:s}", "name", "王秀英", "notes",
	    "少放辣\n门铃坏了", "password", "pass\x01" "word");
	assert_int_equal(jv_check(j, fields, 1, &e), 0);
	json_decref(j);

	j = json_pack("{s:s}", "name", "\xe2\x80\x8b\xe2\x80\x8b");
	assert_int_equal(jv_check(j, fields, 1, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "name");
	json_decref(j);

	j = json_pack("{s:s, s:s}", "name", "x", "notes",
	    "\xe2\x80\xae" "evil");
	assert_int_equal(jv_check(j, fields, 1, &e), -1);
	assert_string_equal(e.field, "notes");
	assert_string_equal(e.code, "invalid_text");
	json_decref(j);
}

static void
test_rfc3339_time(void **state)
{
	long long	t;

	(void)state;
	assert_int_equal(jv_rfc3339_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(jv_rfc3339_time("1970-01-01T08:00:00+08:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(jv_rfc3339_time("1969-12-31T23:30:00.5-00:30", &t),
	    0);
	assert_int_equal(t, 0);
	assert_int_equal(jv_rfc3339_time("2026-11-29T17:30:00+08:00", &t), 0);
	assert_int_equal(t, 1795944600);
	assert_int_equal(jv_rfc3339_time("2026-02-30T10:00:00Z", &t), -1);
	assert_int_equal(jv_rfc3339_time("tomorrow", &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_refuses_controls),
		cmocka_unit_test(test_text_refuses_bidi_overrides),
		cmocka_unit_test(test_text_refuses_invisible_only),
		cmocka_unit_test(test_names_fold_nfkc),
		cmocka_unit_test(test_names_refuse_spaces_and_invisibles),
		cmocka_unit_test(test_jv_strings_follow_text_rules),
		cmocka_unit_test(test_rfc3339_time),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
