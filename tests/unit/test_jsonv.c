/*
 * Strict JSON input (common/jsonv.c): what a body may be, and how each
 * kind of field is checked, with the status, code and field a client
 * reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jsonv.h"

static const char *const colours[] = { "red", "green", "blue", NULL };

static const struct jv_field fields[] = {
	{ "name", JV_STRING, JV_REQUIRED, 1, 4, NULL },
	{ "note", JV_STRING, JV_MULTILINE | JV_NULLABLE, 0, 20, NULL },
	{ "password", JV_STRING, JV_SECRET, 1, 20, NULL },
	{ "count", JV_INT, 0, 1, 1e15, NULL },
	{ "lat", JV_NUMBER, 0, -90, 90, NULL },
	{ "on", JV_BOOL, 0, 0, 0, NULL },
	{ "colour", JV_ENUM, 0, 0, 0, colours },
	{ "colours", JV_ENUM_SET, 0, 0, 0, colours },
	{ "at", JV_TIME, 0, 0, 0, NULL },
	{ "phone", JV_PHONE, 0, 0, 0, NULL },
	{ "url", JV_URL, 0, 1, 200, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static struct jv_error	err;

/* Parse s (which must parse) and check it as an update, or a create. */
static int
check(const char *s, int create)
{
	json_t	*o;
	int	 rc;

	memset(&err, 0, sizeof err);
	assert_int_equal(jv_parse(s, strlen(s), &o, &err), 0);
	rc = jv_check(o, fields, create, &err);
	json_decref(o);
	return (rc);
}

static void
refused(const char *s, int status, const char *code, const char *field)
{
	assert_int_equal(check(s, 0), -1);
	assert_int_equal(err.status, status);
	assert_string_equal(err.code, code);
	assert_string_equal(err.field, field);
	assert_true(err.message[0] != '\0');
}

static int
parse(const char *s, size_t len)
{
	json_t	*o = (json_t *)&o;
	int	 rc;

	memset(&err, 0, sizeof err);
	rc = jv_parse(s, len, &o, &err);
	if (rc != 0) {
		assert_null(o);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.code, "invalid_json");
	} else
		assert_true(json_is_object(o));
	json_decref(o);
	return (rc);
}

static void
test_parse_body(void **state)
{
	const char	*s;
	char		 deep[64];

	(void)state;
	assert_int_equal(parse("{}", 2), 0);
	assert_int_equal(parse("", 0), -1);
	assert_non_null(strstr(err.message, "empty"));
	assert_int_equal(parse("[]", 2), -1);
	assert_non_null(strstr(err.message, "JSON object"));
	assert_int_equal(parse("{} x", 4), -1);
	assert_int_equal(parse("{\"a\":1,\"a\":2}", 13), -1);
	assert_int_equal(parse("{\"a\":\"\xff\"}", 8), -1);
	/* The length, not a NUL, ends the body. */
	assert_int_equal(parse("{}garbage", 2), 0);
	/* Sixteen levels pass, seventeen do not. */
	memset(deep, 0, sizeof deep);
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', 15);
	memset(deep + 20, ']', 15);
	deep[35] = '}';
	assert_int_equal(parse(deep, strlen(deep)), 0);
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', 16);
	memset(deep + 21, ']', 16);
	deep[37] = '}';
	assert_int_equal(parse(deep, strlen(deep)), -1);
	assert_non_null(strstr(err.message, "deeper than 16"));
	/* Brackets inside strings, escaped quotes too, are not depth. */
	s = "{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[\"}";
	assert_int_equal(parse(s, strlen(s)), 0);
}

static void
test_unknown_missing_null(void **state)
{
	(void)state;
	refused("{\"nmae\":\"x\"}", 422, "unknown_field", "nmae");
	/* Required only when creating. */
	assert_int_equal(check("{}", 0), 0);
	assert_int_equal(check("{}", 1), -1);
	assert_string_equal(err.code, "missing_field");
	assert_string_equal(err.field, "name");
	refused("{\"name\":null}", 422, "invalid_field", "name");
	assert_int_equal(check("{\"note\":null}", 0), 0);
}

static void
test_strings(void **state)
{
	(void)state;
	/* Lengths count characters, not bytes. */
	assert_int_equal(check("{\"name\":\"张三李四\"}", 0), 0);
	refused("{\"name\":\"张三李四王\"}", 422, "invalid_field", "name");
	refused("{\"name\":\"\"}", 422, "invalid_field", "name");
	refused("{\"name\":\"  \"}", 422, "invalid_field", "name");
	refused("{\"name\":\"\\u200b\"}", 422, "invalid_field", "name");
	refused("{\"name\":1}", 422, "invalid_field", "name");
	refused("{\"name\":\"a\\u0007\"}", 422, "invalid_text", "name");
	refused("{\"name\":\"a\\u202eb\"}", 422, "invalid_text", "name");
	refused("{\"name\":\"a\\nb\"}", 422, "invalid_text", "name");
	assert_int_equal(check("{\"note\":\"a\\r\\n\\tb\"}", 0), 0);
	assert_int_equal(check("{\"note\":\"\"}", 0), 0);
	/* A secret is taken as typed, but not blank. */
	assert_int_equal(check("{\"password\":\" a\\u0007 \"}", 0), 0);
	refused("{\"password\":\" \\t \"}", 422, "invalid_field", "password");
}

static void
test_numbers_and_bools(void **state)
{
	(void)state;
	assert_int_equal(check("{\"count\":1000000000000000}", 0), 0);
	refused("{\"count\":1000000000000001}", 422, "invalid_field", "count");
	refused("{\"count\":0}", 422, "invalid_field", "count");
	refused("{\"count\":1.0}", 422, "invalid_field", "count");
	refused("{\"count\":\"1\"}", 422, "invalid_field", "count");
	assert_int_equal(check("{\"lat\":-90}", 0), 0);
	assert_int_equal(check("{\"lat\":89.999}", 0), 0);
	refused("{\"lat\":90.0001}", 422, "invalid_field", "lat");
	refused("{\"lat\":\"1\"}", 422, "invalid_field", "lat");
	assert_int_equal(check("{\"on\":false}", 0), 0);
	refused("{\"on\":\"true\"}", 422, "invalid_field", "on");
	refused("{\"on\":1}", 422, "invalid_field", "on");
}

static void
test_enums(void **state)
{
	(void)state;
	assert_int_equal(check("{\"colour\":\"green\"}", 0), 0);
	refused("{\"colour\":\"Green\"}", 422, "invalid_field", "colour");
	assert_non_null(strstr(err.message, "red, green, blue"));
	assert_int_equal(check("{\"colours\":[\"blue\",\"red\"]}", 0), 0);
	refused("{\"colours\":[]}", 422, "invalid_field", "colours");
	refused("{\"colours\":\"red\"}", 422, "invalid_field", "colours");
	refused("{\"colours\":[\"red\",\"pink\"]}", 422, "invalid_field",
	    "colours");
	refused("{\"colours\":[\"red\",\"blue\",\"red\"]}", 422,
	    "invalid_field", "colours");
	assert_non_null(strstr(err.message, "red twice"));
}

static void
test_time_phone_url_fields(void **state)
{
	const char	*s;
	json_t		*o;

	(void)state;
	assert_int_equal(check("{\"at\":\"2026-11-29T17:30:00+08:00\"}", 0),
	    0);
	refused("{\"at\":\"2026-11-29T17:30:00\"}", 422, "invalid_field", "at");
	refused("{\"at\":1795944600}", 422, "invalid_field", "at");
	/* A phone is stored normalised. */
	s = "{\"phone\":\"+86 138-0013-8000\"}";
	assert_int_equal(jv_parse(s, strlen(s), &o, &err), 0);
	assert_int_equal(jv_check(o, fields, 0, &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "phone")),
	    "13800138000");
	json_decref(o);
	refused("{\"phone\":\"138 0013 800a\"}", 422, "invalid_phone",
	    "phone");
	refused("{\"phone\":13800138000}", 422, "invalid_field", "phone");
	assert_int_equal(check("{\"url\":\"https://example.org/a?b=1\"}", 0),
	    0);
	/* Private targets are the config's to refuse, not the body's. */
	assert_int_equal(check("{\"url\":\"http://127.0.0.1:8089/\"}", 0), 0);
	refused("{\"url\":\"ftp://example.org/\"}", 422, "invalid_field",
	    "url");
	refused("{\"url\":\"https://example.org/a b\"}", 422,
	    "invalid_field", "url");
	refused("{\"url\":\"http://\"}", 422, "invalid_url", "url");
}

static void
test_rfc3339(void **state)
{
	(void)state;
	assert_true(jv_is_rfc3339("2026-11-29T17:30:00Z"));
	assert_true(jv_is_rfc3339("2026-11-29t17:30:00z"));
	assert_true(jv_is_rfc3339("2026-11-29T17:30:00.123456-05:30"));
	assert_true(jv_is_rfc3339("2026-12-31T23:59:60+23:59"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:00"));
	assert_false(jv_is_rfc3339("2026-11-29 17:30:00Z"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:00.Z"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:00Zjunk"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:00+24:00"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:00+0800"));
	assert_false(jv_is_rfc3339("2026-13-29T17:30:00Z"));
	assert_false(jv_is_rfc3339("2026-11-00T17:30:00Z"));
	assert_false(jv_is_rfc3339("2026-11-29T24:00:00Z"));
	assert_false(jv_is_rfc3339("2026-11-29T17:60:00Z"));
	assert_false(jv_is_rfc3339("2026-11-29T17:30:61Z"));
	assert_false(jv_is_rfc3339("２026-11-29T17:30:00Z"));
	assert_false(jv_is_rfc3339(""));
}

static void
test_rfc3339_time(void **state)
{
	long long	t = 12345;

	(void)state;
	assert_int_equal(jv_rfc3339_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(jv_rfc3339_time("1970-01-01T08:00:00+08:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(jv_rfc3339_time("1970-01-01T00:00:00-01:30", &t), 0);
	assert_int_equal(t, 5400);
	assert_int_equal(jv_rfc3339_time("2026-11-29T09:30:00.999Z", &t), 0);
	assert_int_equal(t, 1795944600);
	/* A leap second is the second before. */
	assert_int_equal(jv_rfc3339_time("1970-01-01T00:00:60Z", &t), 0);
	assert_int_equal(t, 59);
	/* 31 February is refused, not read as 3 March. */
	t = 7;
	assert_int_equal(jv_rfc3339_time("2026-02-31T00:00:00Z", &t), -1);
	assert_int_equal(t, 7);
	assert_int_equal(jv_rfc3339_time("2023-02-29T00:00:00Z", &t), -1);
	assert_int_equal(jv_rfc3339_time("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(jv_rfc3339_time("2026-11-29T17:30:00", &t), -1);
}

static void
test_utf8_len(void **state)
{
	(void)state;
	assert_int_equal(jv_utf8_len(""), 0);
	assert_int_equal(jv_utf8_len("abc"), 3);
	assert_int_equal(jv_utf8_len("é"), 1);
	assert_int_equal(jv_utf8_len("张三"), 2);
	assert_int_equal(jv_utf8_len("a😀b"), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_body),
		cmocka_unit_test(test_unknown_missing_null),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers_and_bools),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_time_phone_url_fields),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_rfc3339_time),
		cmocka_unit_test(test_utf8_len),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
