/*
 * carelinectl: text for a terminal, and carelined's JSON values as text.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include <jansson.h>

#include "xmalloc.h"

#include "ctl.h"

int	ctl_locale_utf8;	/* main sets it from the locale */

/*
 * Text for a terminal: what carelined sends is people's data, so control
 * characters never reach the terminal, and widths count columns (a Chinese
 * character takes two), not bytes.
 */

/* The next code point of UTF-8 text; -1 for a malformed byte, skipped. */
static int32_t
ctl_utf8_next(const unsigned char **sp)
{
	const unsigned char	*s = *sp;
	int32_t			 cp;
	int			 n, i;

	if (s[0] < 0x80) {
		*sp = s + 1;
		return (s[0]);
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 3;
		cp = s[0] & 0x07;
	} else {
		*sp = s + 1;
		return (-1);
	}
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*sp = s + 1;
			return (-1);
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		*sp = s + 1;
		return (-1);
	}
	*sp = s + n + 1;
	return (cp);
}

/*
 * East Asian Wide and Fullwidth ranges, and the common zero-width marks:
 * what a terminal does when the locale cannot tell us (LANG=C, or a
 * wcwidth that does not know the character).
 */
static int
ctl_cp_width_table(int32_t cp)
{
	static const int32_t	 zero[][2] = {
		{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
		{ 0x0610, 0x061a }, { 0x064b, 0x065f }, { 0x200b, 0x200f },
		{ 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x20d0, 0x20ff },
		{ 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }, { 0xfeff, 0xfeff },
	};
	static const int32_t	 wide[][2] = {
		{ 0x1100, 0x115f }, { 0x231a, 0x231b }, { 0x2329, 0x232a },
		{ 0x23e9, 0x23ec }, { 0x25fd, 0x25fe }, { 0x2614, 0x2615 },
		{ 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
		{ 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xa960, 0xa97f },
		{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 },
		{ 0xfe30, 0xfe6f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 },
		{ 0x1f300, 0x1f64f }, { 0x1f900, 0x1f9ff },
		{ 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
	};
	size_t			 i;

	for (i = 0; i < sizeof zero / sizeof *zero; i++) {
		if (cp >= zero[i][0] && cp <= zero[i][1])
			return (0);
	}
	for (i = 0; i < sizeof wide / sizeof *wide; i++) {
		if (cp >= wide[i][0] && cp <= wide[i][1])
			return (2);
	}
	return (1);
}

static int
ctl_cp_width(int32_t cp)
{
	int	w;

	if (ctl_locale_utf8 && (w = wcwidth((wchar_t)cp)) >= 0)
		return (w);
	return (ctl_cp_width_table(cp));
}

/* Display columns of clean text (as ctl_clean makes it). */
int
ctl_width(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	int			 w = 0;
	int32_t			 cp;

	while (*p != '\0') {
		if ((cp = ctl_utf8_next(&p)) >= 0)
			w += ctl_cp_width(cp);
	}
	return (w);
}

/*
 * A copy fit for a terminal: line breaks and tabs become spaces, other
 * control characters and malformed UTF-8 a '?'; cut to max columns with
 * an ellipsis when max > 0. Caller frees.
 */
char *
ctl_clean(const char *s, int max)
{
	const unsigned char	*p, *prev;
	char			*out, *o;
	int32_t			 cp;
	int			 w, total = 0, cut = 0;

	p = (const unsigned char *)(s != NULL ? s : "");
	/* The ellipsis takes one column, so a cut text keeps max - 1. */
	if (max > 0) {
		for (prev = p; *prev != '\0';) {
			cp = ctl_utf8_next(&prev);
			total += cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 1 :
			    ctl_cp_width(cp);
		}
		cut = total > max;
	}
	o = out = xmalloc(strlen((const char *)p) + 4);
	total = 0;
	while (*p != '\0') {
		prev = p;
		cp = ctl_utf8_next(&p);
		if (cp == '\n' || cp == '\t' || cp == '\r')
			cp = ' ';
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			cp = '?';
		w = ctl_cp_width(cp);
		if (cut && total + w > max - 1) {
			memcpy(o, "\xe2\x80\xa6", 3);
			o += 3;
			break;
		}
		total += w;
		if (cp == ' ' || cp == '?')
			*o++ = (char)cp;
		else {
			memcpy(o, prev, (size_t)(p - prev));
			o += p - prev;
		}
	}
	*o = '\0';
	return (out);
}


/*
 * Values out of carelined's JSON, as text.
 */

/* A scalar as text in buf (strings as they are); "" for null or absent. */
const char *
ctl_jtext(json_t *o, const char *key, char *buf, size_t len)
{
	json_t	*v = json_object_get(o, key);

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (json_string_value(v));
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (buf);
	case JSON_REAL:
		snprintf(buf, len, "%.2f", json_real_value(v));
		return (buf);
	case JSON_TRUE:
		return ("yes");
	case JSON_FALSE:
		return ("no");
	default:
		return ("");
	}
}

long long
ctl_jint(json_t *o, const char *key)
{
	return ((long long)json_integer_value(json_object_get(o, key)));
}

/*
 * An RFC 3339 time from carelined (rendered in the district's zone) shown
 * in the local zone with strftime's fmt; anything else as it came.
 */
const char *
ctl_time_fmt(const char *s, const char *fmt, char *buf, size_t len)
{
	struct tm	 tm;
	const char	*p;
	time_t		 t;
	long		 off = 0;
	int		 y, mo, d, h, mi, sec, oh, om, n = 0;

	if (s == NULL || *s == '\0')
		return ("");
	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h,
	    &mi, &sec, &n) != 6 || n == 0)
		return (s);
	p = s + n;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++)
			;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh,
	    &om) == 2 && strlen(p) == 6) {
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else
		return (s);
	if (*p != '\0')
		return (s);
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm) - off;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, fmt, &tm) == 0)
		return (s);
	return (buf);
}

/* To the minute, for tables. */
static const char *
ctl_time(const char *s, char *buf, size_t len)
{
	return (ctl_time_fmt(s, "%Y-%m-%d %H:%M", buf, len));
}

const char *
ctl_jtime(json_t *o, const char *key, char *buf, size_t len)
{
	return (ctl_time(json_string_value(json_object_get(o, key)), buf,
	    len));
}
