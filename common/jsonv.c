#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonv.h"
#include "phone.h"
#include "text.h"
#include "webhook.h"

static int
jv_fail(struct jv_error *e, int status, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
jv_fail(struct jv_error *e, int status, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	ap;

	e->status = status;
	snprintf(e->code, sizeof e->code, "%s", code);
	snprintf(e->field, sizeof e->field, "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Nesting depth outside strings: refuse deep bodies before parsing. */
static int
jv_depth_ok(const char *s, size_t len)
{
	size_t	i;
	int	depth = 0, in_string = 0;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = 0;
			continue;
		}
		if (s[i] == '"')
			in_string = 1;
		else if (s[i] == '{' || s[i] == '[') {
			if (++depth > JSONV_MAX_DEPTH)
				return (0);
		} else if (s[i] == '}' || s[i] == ']')
			depth--;
	}
	return (1);
}

int
jv_parse(const char *body, size_t len, json_t **out, struct jv_error *e)
{
	json_error_t	 err;
	json_t		*j;

	*out = NULL;
	if (len == 0)
		return (jv_fail(e, 400, "invalid_json", NULL,
		    "the request body is empty; send a JSON object"));
	if (!jv_depth_ok(body, len))
		return (jv_fail(e, 400, "invalid_json", NULL,
		    "JSON nested deeper than %d levels", JSONV_MAX_DEPTH));
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		return (jv_fail(e, 400, "invalid_json", NULL,
		    "not valid JSON: %s (at character %d)", err.text,
		    err.position));
	if (!json_is_object(j)) {
		json_decref(j);
		return (jv_fail(e, 400, "invalid_json", NULL,
		    "the body must be a JSON object"));
	}
	*out = j;
	return (0);
}

size_t
jv_utf8_len(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return (n);
}

static int
jv_digits(const char *s, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

int
jv_is_rfc3339(const char *s)
{
	int	mo, d, h, mi, sec;

	/* 2026-11-29T17:50:00[.123]+08:00 or ...Z */
	if (strlen(s) < 20 || !jv_digits(s, 4) || s[4] != '-' ||
	    !jv_digits(s + 5, 2) || s[7] != '-' || !jv_digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != 't') || !jv_digits(s + 11, 2) ||
	    s[13] != ':' || !jv_digits(s + 14, 2) || s[16] != ':' ||
	    !jv_digits(s + 17, 2))
		return (0);
	mo = atoi(s + 5);
	d = atoi(s + 8);
	h = atoi(s + 11);
	mi = atoi(s + 14);
	sec = atoi(s + 17);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return (0);
	s += 19;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return (0);
		while (isdigit((unsigned char)*s))
			s++;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return (1);
	if ((*s == '+' || *s == '-') && jv_digits(s + 1, 2) && s[3] == ':' &&
	    jv_digits(s + 4, 2) && s[6] == '\0')
		return (atoi(s + 1) <= 23 && atoi(s + 4) <= 59);
	return (0);
}

int
jv_rfc3339_time(const char *s, long long *out)
{
	struct tm	tm;
	long long	t;
	const char	*z;

	if (!jv_is_rfc3339(s))
		return (-1);
	memset(&tm, 0, sizeof tm);
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17) > 59 ? 59 : atoi(s + 17);
	/* timegm normalises 31 February into March: refuse that instead. */
	t = (long long)timegm(&tm);
	if (tm.tm_mday != atoi(s + 8))
		return (-1);
	z = s + 19;
	while (*z != '\0' && *z != 'Z' && *z != 'z' && *z != '+' && *z != '-')
		z++;
	if (*z == '+' || *z == '-')
		t -= (*z == '+' ? 1 : -1) * (atoi(z + 1) * 3600LL +
		    atoi(z + 4) * 60LL);
	*out = t;
	return (0);
}

static int
jv_in_choices(const char *s, const char *const *choices)
{
	int	i;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(s, choices[i]) == 0)
			return (1);
	}
	return (0);
}

static void
jv_choices_text(const char *const *choices, char *buf, size_t len)
{
	size_t	n = 0;
	int	i;

	buf[0] = '\0';
	for (i = 0; choices[i] != NULL && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i > 0 ? ", " : "",
		    choices[i]);
}

static int
jv_check_value(json_t *obj, const char *key, json_t *v,
    const struct jv_field *f, struct jv_error *e)
{
	char		 list[256], norm[PHONE_MAX];
	const char	*s, *why;
	json_int_t	 i;
	double		 d;
	size_t		 idx, n, k;
	json_t		*item;

	switch (f->kind) {
	case JV_STRING:
	case JV_URL:
		if (!json_is_string(v))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a string", key));
		s = json_string_value(v);
		n = jv_utf8_len(s);
		if (n < f->min || n > f->max)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be %.0f to %.0f characters long", key,
			    f->min, f->max));
		if (f->min > 0 && (f->flags & JV_SECRET ?
		    strspn(s, " \t\r\n") == strlen(s) : text_is_blank(s)))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must not be blank", key));
		if (!(f->flags & JV_SECRET) && text_check(s, f->flags &
		    JV_MULTILINE ? TEXT_MULTILINE : 0, &why) != 0)
			return (jv_fail(e, 422, "invalid_text", key, "%s %s",
			    key, why));
		if (f->kind == JV_URL && strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be an http:// or https:// URL", key));
		if (f->kind == JV_URL && strpbrk(s, " \t\r\n\"<>\\") != NULL)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a URL without spaces or quotes", key));
		/* Private targets are the caller's business (config). */
		if (f->kind == JV_URL && webhook_url_check(s, 1, &why) != 0)
			return (jv_fail(e, 422, "invalid_url", key, "%s %s",
			    key, why));
		return (0);
	case JV_INT:
		if (!json_is_integer(v))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be an integer", key));
		i = json_integer_value(v);
		if (i < f->min || i > f->max)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be %.0f to %.0f", key, f->min, f->max));
		return (0);
	case JV_NUMBER:
		if (!json_is_number(v))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a number", key));
		d = json_number_value(v);
		if (!isfinite(d) || d < f->min || d > f->max)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a number from %g to %g", key, f->min,
			    f->max));
		return (0);
	case JV_BOOL:
		if (!json_is_boolean(v))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be true or false", key));
		return (0);
	case JV_ENUM:
		if (!json_is_string(v) ||
		    !jv_in_choices(json_string_value(v), f->choices)) {
			jv_choices_text(f->choices, list, sizeof list);
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be one of: %s", key, list));
		}
		return (0);
	case JV_ENUM_SET:
		jv_choices_text(f->choices, list, sizeof list);
		if (!json_is_array(v) || json_array_size(v) == 0)
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a non-empty list of: %s", key, list));
		json_array_foreach(v, idx, item) {
			if (!json_is_string(item) || !jv_in_choices(
			    json_string_value(item), f->choices))
				return (jv_fail(e, 422, "invalid_field", key,
				    "%s may only hold: %s", key, list));
			for (k = 0; k < idx; k++) {
				if (json_equal(item, json_array_get(v, k)))
					return (jv_fail(e, 422,
					    "invalid_field", key,
					    "%s lists %s twice", key,
					    json_string_value(item)));
			}
		}
		return (0);
	case JV_TIME:
		if (!json_is_string(v) || !jv_is_rfc3339(json_string_value(v)))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be an RFC 3339 time with an offset, such "
			    "as 2026-11-29T17:30:00+08:00", key));
		return (0);
	case JV_PHONE:
		if (!json_is_string(v))
			return (jv_fail(e, 422, "invalid_field", key,
			    "%s must be a string", key));
		if (phone_normalize(json_string_value(v), norm, &why) != 0)
			return (jv_fail(e, 422, "invalid_phone", key, "%s: %s",
			    key, why));
		json_object_set_new(obj, key, json_string(norm));
		return (0);
	}
	return (jv_fail(e, 500, "internal", key, "unknown field kind"));
}

int
jv_check(json_t *obj, const struct jv_field *fields, int create,
    struct jv_error *e)
{
	const struct jv_field	*f;
	const char		*key;
	json_t			*v;
	void			*it;

	for (it = json_object_iter(obj); it != NULL;
	    it = json_object_iter_next(obj, it)) {
		key = json_object_iter_key(it);
		for (f = fields; f->name != NULL; f++) {
			if (strcmp(f->name, key) == 0)
				break;
		}
		if (f->name == NULL)
			return (jv_fail(e, 422, "unknown_field", key,
			    "unknown field: %s", key));
	}
	for (f = fields; f->name != NULL; f++) {
		v = json_object_get(obj, f->name);
		if (v == NULL) {
			if (create && (f->flags & JV_REQUIRED))
				return (jv_fail(e, 422, "missing_field",
				    f->name, "%s is required", f->name));
			continue;
		}
		if (json_is_null(v)) {
			if (f->flags & JV_NULLABLE)
				continue;
			return (jv_fail(e, 422, "invalid_field", f->name,
			    "%s must not be null", f->name));
		}
		if (jv_check_value(obj, f->name, v, f, e) != 0)
			return (-1);
	}
	return (0);
}
