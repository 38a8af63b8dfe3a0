/*
 * carelinectl: carelined from a terminal or a script.
 *
 *	carelinectl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]
 *
 * One HTTP/JSON request per command (libcurl's easy interface: a command
 * line tool has nothing else to wait for), an aligned table for people,
 * the API's own JSON with --json, and `watch`, which follows
 * GET /v1/events (Server-Sent Events) and reconnects with Last-Event-ID.
 *
 * The URL and the token come from --url and --token, else CARELINE_URL and
 * CARELINE_TOKEN, else ~/.config/careline/carelinectl.yaml (keys url: and
 * token:; $XDG_CONFIG_HOME is respected), which must be its owner's and
 * readable by nobody else, as ssh wants of a private key. The token is
 * never printed.
 *
 * Exit status, for scripts:
 *	0	done
 *	1	carelined refused the request (4xx other than 401 and 403);
 *		its error code, field and message are on stderr
 *	2	usage: an unknown command or option, a missing or malformed
 *		argument, a configuration file that cannot be read
 *	3	carelined cannot be reached, or failed (5xx, an answer that is
 *		not JSON)
 *	4	authentication: no token, a token file others may read, or 401
 *		or 403 from carelined
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <curl/curl.h>
#include <jansson.h>
#include <yaml.h>

#include "xmalloc.h"

#ifndef CTL_VERSION
#define CTL_VERSION		"0.1.0"	/* the Makefile passes VERSION's */
#endif
#define CTL_DEFAULT_URL		"http://127.0.0.1:8080"
#define CTL_CONF_NAME		"careline/carelinectl.yaml"
#define CTL_CONNECT_TIMEOUT_MS	5000L
#define CTL_TIMEOUT_MS		30000L
#define CTL_BODY_MAX		(16 * 1024 * 1024)	/* largest answer */
#define CTL_CELL_MAX		40	/* display columns of a list cell */
#define CTL_SSE_LINE_MAX	(1024 * 1024)
#define CTL_SSE_RETRY_MS	1000L	/* until the stream sends retry: */
#define CTL_SSE_BACKOFF_MAX_MS	30000L

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,
	CTL_EXIT_AUTH = 4,
	CTL_CONTINUE = -1	/* not an exit: go on */
};

/* Every option of every command; the globals come first. */
enum ctl_opt {
	OPT_URL,
	OPT_TOKEN,
	OPT_JSON,
	OPT_HELP,
	OPT_VERSION,
	OPT_PHONE,
	OPT_SERVICE,
	OPT_RESIDENT,
	OPT_NOTES,
	OPT_URGENT,
	OPT_WHEN,
	OPT_DUPLICATE_OK,
	OPT_REASON,
	OPT_STATUS,
	OPT_LIMIT,
	OPT_CURSOR,
	OPT_NAME,
	OPT_ALL,
	OPT_SERVICES,
	OPT_LAT,
	OPT_LON,
	OPT_MODE,
	OPT_CAPACITY,
	OPT_HOURS,
	OPT_WEBHOOK,
	OPT_END
};
#define OPT_LAST_GLOBAL	OPT_VERSION

/* What a value must look like, checked before anything is sent. */
enum ctl_type {
	CTL_FLAG,	/* no value */
	CTL_TEXT,	/* carelined checks it */
	CTL_ID,		/* a positive integer */
	CTL_NUMBER	/* a finite decimal number */
};

struct ctl_option {
	const char	*name;
	char		 letter;	/* -h; 0 for none */
	enum ctl_type	 type;
	const char	*arg;		/* the value's name; NULL for a flag */
	const char	*help;
};

static const struct ctl_option ctl_options[OPT_END] = {
	[OPT_URL] = { "url", 0, CTL_TEXT, "URL",
	    "carelined's address (else $CARELINE_URL, the config file, "
	    CTL_DEFAULT_URL ")" },
	[OPT_TOKEN] = { "token", 0, CTL_TEXT, "TOKEN",
	    "API token (else $CARELINE_TOKEN, the config file); others "
	    "can see it in ps: prefer those" },
	[OPT_JSON] = { "json", 0, CTL_FLAG, NULL,
	    "print the API's JSON as it is, for scripts" },
	[OPT_HELP] = { "help", 'h', CTL_FLAG, NULL,
	    "this help; after a command, its help" },
	[OPT_VERSION] = { "version", 0, CTL_FLAG, NULL,
	    "print the version" },
	[OPT_PHONE] = { "phone", 0, CTL_TEXT, "PHONE",
	    "the caller's number, as dialled" },
	[OPT_SERVICE] = { "service", 0, CTL_TEXT, "SERVICE",
	    "meal, housekeeping, daycare or companionship" },
	[OPT_RESIDENT] = { "resident", 0, CTL_ID, "ID",
	    "the resident, when the number is shared or the caller calls "
	    "for someone else" },
	[OPT_NOTES] = { "notes", 0, CTL_TEXT, "TEXT",
	    "notes for the provider" },
	[OPT_URGENT] = { "urgent", 0, CTL_FLAG, NULL,
	    "mark the call urgent" },
	[OPT_WHEN] = { "when", 0, CTL_TEXT, "TIME",
	    "when the service is wanted: RFC 3339, or local "
	    "'YYYY-MM-DD HH:MM' or 'HH:MM' (today); default now" },
	[OPT_DUPLICATE_OK] = { "duplicate-ok", 0, CTL_FLAG, NULL,
	    "log it even if the resident has an open call for this "
	    "service" },
	[OPT_REASON] = { "reason", 0, CTL_TEXT, "TEXT",
	    "why, kept in the audit log" },
	[OPT_STATUS] = { "status", 0, CTL_TEXT, "STATUS",
	    "only in this status" },
	[OPT_LIMIT] = { "limit", 0, CTL_ID, "N",
	    "at most N per page" },
	[OPT_CURSOR] = { "cursor", 0, CTL_TEXT, "CURSOR",
	    "the next page, as the previous one said" },
	[OPT_NAME] = { "name", 0, CTL_TEXT, "NAME",
	    "the name (to find: its start)" },
	[OPT_ALL] = { "all", 0, CTL_FLAG, NULL,
	    "inactive providers too" },
	[OPT_SERVICES] = { "services", 0, CTL_TEXT, "LIST",
	    "comma-separated: meal,housekeeping,daycare,companionship" },
	[OPT_LAT] = { "lat", 0, CTL_NUMBER, "DEG",
	    "latitude" },
	[OPT_LON] = { "lon", 0, CTL_NUMBER, "DEG",
	    "longitude" },
	[OPT_MODE] = { "mode", 0, CTL_TEXT, "MODE",
	    "travel mode: walk, ebike, car or shuttle" },
	[OPT_CAPACITY] = { "capacity", 0, CTL_ID, "N",
	    "calls it can have accepted at once" },
	[OPT_HOURS] = { "hours", 0, CTL_TEXT, "HOURS",
	    "opening hours, e.g. 'Mo-Fr 08:00-18:00; Sa 09:00-12:00' or "
	    "24/7" },
	[OPT_WEBHOOK] = { "webhook", 0, CTL_TEXT, "URL",
	    "where offers are sent; a signing secret is made and shown "
	    "once" },
};

struct ctl_cmdopt {
	enum ctl_opt	 opt;
	int		 required;
};

struct ctl;

struct ctl_command {
	const char		*name;
	const char		*args;		/* positional, for the usage */
	int			 minargs;
	int			 maxargs;
	const struct ctl_cmdopt	*opts;		/* ends with OPT_END */
	int			(*run)(struct ctl *);
	const char		*help;
};

/* One run: what was asked and how to reach carelined. */
struct ctl {
	const struct ctl_command *cmd;
	const char	*opt[OPT_END];	/* as given; "" for a flag; NULL */
	char		**args;		/* the command's positional words */
	int		 nargs;
	char		**words;	/* every non-option word; owned */
	int		 json;
	char		*url;		/* no trailing slash */
	char		*auth;		/* the Authorization header line */
	char		*confpath;
	CURL		*curl;
};

static int	ctl_locale_utf8;

static int	ctl_cmd_call_new(struct ctl *);
static int	ctl_cmd_call_show(struct ctl *);
static int	ctl_cmd_call_cancel(struct ctl *);
static int	ctl_cmd_call_complete(struct ctl *);
static int	ctl_cmd_calls(struct ctl *);
static int	ctl_cmd_resident_find(struct ctl *);
static int	ctl_cmd_provider_list(struct ctl *);
static int	ctl_cmd_provider_add(struct ctl *);
static int	ctl_cmd_provider_deactivate(struct ctl *);
static int	ctl_cmd_deliveries(struct ctl *);
static int	ctl_cmd_watch(struct ctl *);

static const struct ctl_cmdopt ctl_opts_call_new[] = {
	{ OPT_PHONE, 1 }, { OPT_SERVICE, 1 }, { OPT_RESIDENT, 0 },
	{ OPT_NOTES, 0 }, { OPT_URGENT, 0 }, { OPT_WHEN, 0 },
	{ OPT_DUPLICATE_OK, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_reason[] = {
	{ OPT_REASON, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_none[] = { { OPT_END, 0 } };
static const struct ctl_cmdopt ctl_opts_calls[] = {
	{ OPT_STATUS, 0 }, { OPT_SERVICE, 0 }, { OPT_RESIDENT, 0 },
	{ OPT_LIMIT, 0 }, { OPT_CURSOR, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_resident_find[] = {
	{ OPT_NAME, 0 }, { OPT_LIMIT, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_provider_list[] = {
	{ OPT_SERVICE, 0 }, { OPT_ALL, 0 }, { OPT_LIMIT, 0 },
	{ OPT_CURSOR, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_provider_add[] = {
	{ OPT_NAME, 1 }, { OPT_SERVICES, 1 }, { OPT_LAT, 1 },
	{ OPT_LON, 1 }, { OPT_MODE, 1 }, { OPT_CAPACITY, 1 },
	{ OPT_HOURS, 1 }, { OPT_WEBHOOK, 0 }, { OPT_END, 0 }
};
static const struct ctl_cmdopt ctl_opts_deliveries[] = {
	{ OPT_STATUS, 0 }, { OPT_LIMIT, 0 }, { OPT_CURSOR, 0 },
	{ OPT_END, 0 }
};

static const struct ctl_command ctl_commands[] = {
	{ "call new", "", 0, 0, ctl_opts_call_new, ctl_cmd_call_new,
	  "log a call; it is matched and offered at once" },
	{ "call show", "ID", 1, 1, ctl_opts_none, ctl_cmd_call_show,
	  "a call with its ranked candidates" },
	{ "call cancel", "ID", 1, 1, ctl_opts_reason, ctl_cmd_call_cancel,
	  "cancel an open call" },
	{ "call complete", "ID", 1, 1, ctl_opts_reason,
	  ctl_cmd_call_complete, "mark a call completed" },
	{ "calls", "", 0, 0, ctl_opts_calls, ctl_cmd_calls,
	  "calls, newest first (--status new|offered|accepted|completed|"
	  "cancelled|unmatched)" },
	{ "resident find", "[PHONE]", 0, 1, ctl_opts_resident_find,
	  ctl_cmd_resident_find,
	  "residents by phone number, or by the start of --name" },
	{ "provider list", "", 0, 0, ctl_opts_provider_list,
	  ctl_cmd_provider_list, "active providers (--all: every one)" },
	{ "provider add", "", 0, 0, ctl_opts_provider_add,
	  ctl_cmd_provider_add, "register a provider (admin token)" },
	{ "provider deactivate", "ID", 1, 1, ctl_opts_none,
	  ctl_cmd_provider_deactivate, "stop matching a provider" },
	{ "deliveries", "", 0, 0, ctl_opts_deliveries, ctl_cmd_deliveries,
	  "webhook deliveries, newest first (--status pending|delivered|"
	  "dead)" },
	{ "watch", "", 0, 0, ctl_opts_none, ctl_cmd_watch,
	  "follow carelined's events as they happen, until Ctrl-C" },
};
#define CTL_NCOMMANDS	((int)(sizeof ctl_commands / sizeof *ctl_commands))

/* ---------------------------------------------------------------------
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
static int
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
static char *
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

/* ---------------------------------------------------------------------
 * Tables: every cell is kept until the widths are known.
 */

struct ctl_table {
	int	  ncols;
	int	  nrows;
	int	  clip;		/* display columns a cell may take; 0: any */
	unsigned  right;	/* bit per column: aligned right */
	char	**cells;	/* row-major, clean */
	int	 *width;
};

static struct ctl_table *
ctl_table_new(int ncols, int clip, unsigned right)
{
	struct ctl_table	*t = xcalloc(1, sizeof *t);

	t->ncols = ncols;
	t->clip = clip;
	t->right = right;
	t->width = xcalloc((size_t)ncols, sizeof *t->width);
	return (t);
}

/* ncols strings; NULL is shown as an empty cell. */
static void
ctl_table_row(struct ctl_table *t, ...)
{
	va_list		 ap;
	const char	*s;
	char		*cell;
	int		 i, w;

	t->cells = xrealloc(t->cells, sizeof *t->cells * (size_t)t->ncols *
	    (size_t)(t->nrows + 1));
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		s = va_arg(ap, const char *);
		cell = ctl_clean(s, t->clip);
		if ((w = ctl_width(cell)) > t->width[i])
			t->width[i] = w;
		t->cells[t->nrows * t->ncols + i] = cell;
	}
	va_end(ap);
	t->nrows++;
}

static void
ctl_table_print(const struct ctl_table *t, FILE *f)
{
	const char	*cell;
	char		*line;
	size_t		 len, cap;
	int		 r, i, pad;

	cap = 256;
	line = xmalloc(cap);
	for (r = 0; r < t->nrows; r++) {
		len = 0;
		for (i = 0; i < t->ncols; i++) {
			cell = t->cells[r * t->ncols + i];
			pad = t->width[i] - ctl_width(cell);
			if (cap < len + strlen(cell) + (size_t)pad + 3)
				line = xrealloc(line, cap = 2 * (len +
				    strlen(cell) + (size_t)pad + 3));
			if (i > 0) {
				memcpy(line + len, "  ", 2);
				len += 2;
			}
			if (t->right & (1u << i)) {
				memset(line + len, ' ', (size_t)pad);
				len += (size_t)pad;
			}
			memcpy(line + len, cell, strlen(cell));
			len += strlen(cell);
			if (!(t->right & (1u << i))) {
				memset(line + len, ' ', (size_t)pad);
				len += (size_t)pad;
			}
		}
		/* Empty or short last cells leave no trailing blanks. */
		while (len > 0 && line[len - 1] == ' ')
			len--;
		line[len] = '\0';
		fprintf(f, "%s\n", line);
	}
	free(line);
}

static void
ctl_table_free(struct ctl_table *t)
{
	int	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* ---------------------------------------------------------------------
 * Values out of carelined's JSON, as text.
 */

/* A scalar as text in buf (strings as they are); "" for null or absent. */
static const char *
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

static long long
ctl_jint(json_t *o, const char *key)
{
	return ((long long)json_integer_value(json_object_get(o, key)));
}

/*
 * An RFC 3339 time from carelined (rendered in the district's zone) shown
 * in the local zone with strftime's fmt; anything else as it came.
 */
static const char *
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

static const char *
ctl_jtime(json_t *o, const char *key, char *buf, size_t len)
{
	return (ctl_time(json_string_value(json_object_get(o, key)), buf,
	    len));
}

/* ---------------------------------------------------------------------
 * Messages and usage.
 */

static void __attribute__((format(printf, 1, 2)))
ctl_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *clean;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	clean = ctl_clean(msg != NULL ? msg : fmt, 0);
	fprintf(stderr, "carelinectl: %s\n", clean);
	free(clean);
	free(msg);
}

static void
ctl_usage_line(const struct ctl_command *cmd, FILE *f)
{
	const struct ctl_cmdopt	*o;
	const struct ctl_option	*opt;

	fprintf(f, "  carelinectl %s", cmd->name);
	if (*cmd->args != '\0')
		fprintf(f, " %s", cmd->args);
	for (o = cmd->opts; o->opt != OPT_END; o++) {
		opt = &ctl_options[o->opt];
		fprintf(f, " %s--%s%s%s%s", o->required ? "" : "[",
		    opt->name, opt->arg != NULL ? " " : "",
		    opt->arg != NULL ? opt->arg : "", o->required ? "" : "]");
	}
	fputc('\n', f);
}

static void
ctl_help_option(enum ctl_opt id, FILE *f)
{
	const struct ctl_option	*o = &ctl_options[id];
	char			 head[64], letter[8] = "";

	if (o->letter != 0)
		snprintf(letter, sizeof letter, "-%c, ", o->letter);
	snprintf(head, sizeof head, "%s--%s%s%s", letter, o->name,
	    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
	fprintf(f, "  %-22s %s\n", head, o->help);
}

static void
ctl_help(const struct ctl_command *cmd, FILE *f)
{
	const struct ctl_cmdopt	*o;
	int			 i;

	if (cmd != NULL) {
		fprintf(f, "usage:\n");
		ctl_usage_line(cmd, f);
		fprintf(f, "\n%s.\n", cmd->help);
		if (cmd->opts[0].opt != OPT_END)
			fprintf(f, "\nOptions:\n");
		for (o = cmd->opts; o->opt != OPT_END; o++)
			ctl_help_option(o->opt, f);
		fprintf(f, "\nGlobal options (carelinectl --help): --url, "
		    "--token, --json.\n");
		return;
	}
	fprintf(f, "usage: carelinectl [--url URL] [--token TOKEN] [--json] "
	    "COMMAND [ARGS]\n\ncarelined's API from a terminal or a script."
	    "\n\nCommands:\n");
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		ctl_usage_line(&ctl_commands[i], f);
		fprintf(f, "      %s\n", ctl_commands[i].help);
	}
	fprintf(f, "\nGlobal options (before or after the command):\n");
	for (i = 0; i <= OPT_LAST_GLOBAL; i++)
		ctl_help_option((enum ctl_opt)i, f);
	fprintf(f,
	    "\nThe URL and token come from --url and --token, else\n"
	    "CARELINE_URL and CARELINE_TOKEN, else\n"
	    "$XDG_CONFIG_HOME/" CTL_CONF_NAME " (default ~/.config/...)\n"
	    "with the keys url: and token:. That file must be yours and "
	    "readable\nby you only (chmod 600), or it is refused.\n"
	    "\nTables show times in the local time zone; --json prints what\n"
	    "carelined answered, untouched (watch: one JSON object per "
	    "event,\n{\"id\", \"event\", \"data\"}).\n"
	    "\nExit status:\n"
	    "  0  done\n"
	    "  1  carelined refused the request (4xx other than 401/403);\n"
	    "     the error code, field and message are on stderr\n"
	    "  2  usage error (command, option, argument, config file)\n"
	    "  3  carelined cannot be reached, or failed (5xx)\n"
	    "  4  authentication: no token, a token file others can read,\n"
	    "     or 401/403 from carelined\n");
}

static int __attribute__((format(printf, 2, 3)))
ctl_usage(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "carelinectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL) {
		fprintf(stderr, "\nusage:\n");
		ctl_usage_line(cmd, stderr);
	} else
		fprintf(stderr, "\nsee carelinectl --help\n");
	return (CTL_EXIT_USAGE);
}

/* ---------------------------------------------------------------------
 * The command line: options anywhere, then the longest command that the
 * words spell.
 */

/* A positive id as carelined accepts one: 1 to 18 digits, no 0 first. */
static int
ctl_parse_id(const char *s, long long *out)
{
	long long	v = 0;
	size_t		i, n = strlen(s);

	if (n == 0 || n > 18 || s[0] == '0')
		return (-1);
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

static int
ctl_parse_number(const char *s, double *out)
{
	char	*end;

	errno = 0;
	*out = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(*out))
		return (-1);
	return (0);
}

/* A value ctl_parse checked already. */
static long long
ctl_idval(const char *s)
{
	return (strtoll(s, NULL, 10));
}

static int
ctl_parse_option(struct ctl *c, int argc, char **argv, int *i)
{
	const char	*a = argv[*i], *eq = NULL, *value;
	size_t		 n;
	int		 id;

	if (a[1] != '-') {
		for (id = 0; id < OPT_END; id++) {
			if (ctl_options[id].letter != 0 &&
			    a[1] == ctl_options[id].letter && a[2] == '\0')
				break;
		}
	} else {
		eq = strchr(a + 2, '=');
		n = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (id = 0; id < OPT_END; id++) {
			if (strlen(ctl_options[id].name) == n &&
			    strncmp(ctl_options[id].name, a + 2, n) == 0)
				break;
		}
	}
	if (id == OPT_END)
		return (ctl_usage(NULL, "unknown option %s", a));
	if (ctl_options[id].arg == NULL) {
		if (eq != NULL)
			return (ctl_usage(NULL, "--%s takes no value",
			    ctl_options[id].name));
		value = "";
	} else if (eq != NULL)
		value = eq + 1;
	else if (*i + 1 < argc)
		value = argv[++*i];
	else
		return (ctl_usage(NULL, "--%s needs a value (%s)",
		    ctl_options[id].name, ctl_options[id].arg));
	if (c->opt[id] != NULL)
		return (ctl_usage(NULL, "--%s given twice",
		    ctl_options[id].name));
	c->opt[id] = value;
	return (CTL_CONTINUE);
}

/* Words of cmd's name that words[] starts with, or 0. */
static int
ctl_command_words(const struct ctl_command *cmd, char **words, int nwords)
{
	const char	*p = cmd->name;
	size_t		 n;
	int		 k = 0;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (k >= nwords || strlen(words[k]) != n ||
		    strncmp(words[k], p, n) != 0)
			return (0);
		k++;
		p += n;
		p += *p == ' ';
	}
	return (k);
}

static int
ctl_parse(struct ctl *c, int argc, char **argv)
{
	const struct ctl_command	*cmd = NULL;
	const struct ctl_cmdopt		*o;
	long long			 id;
	double				 num;
	char				*subs = NULL, *n;
	int				 i, k, best = 0, nwords = 0, rest = 0;
	int				 rc;

	c->words = xcalloc((size_t)argc + 1, sizeof *c->words);
	for (i = 1; i < argc; i++) {
		if (!rest && strcmp(argv[i], "--") == 0)
			rest = 1;
		else if (!rest && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((rc = ctl_parse_option(c, argc, argv, &i)) !=
			    CTL_CONTINUE)
				return (rc);
		} else
			c->words[nwords++] = argv[i];
	}
	c->json = c->opt[OPT_JSON] != NULL;
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		if ((k = ctl_command_words(&ctl_commands[i], c->words,
		    nwords)) > best) {
			best = k;
			cmd = &ctl_commands[i];
		}
	}
	if (c->opt[OPT_VERSION] != NULL) {
		printf("carelinectl %s\n", CTL_VERSION);
		return (CTL_EXIT_OK);
	}
	if (c->opt[OPT_HELP] != NULL && (cmd != NULL || nwords == 0)) {
		ctl_help(cmd, stdout);
		return (CTL_EXIT_OK);
	}
	if (nwords == 0)
		return (ctl_usage(NULL, "no command given"));
	if (cmd == NULL) {
		k = (int)strlen(c->words[0]);
		for (i = 0; i < CTL_NCOMMANDS; i++) {
			if (strncmp(ctl_commands[i].name, c->words[0],
			    (size_t)k) != 0 || ctl_commands[i].name[k] != ' ')
				continue;
			xasprintf(&n, "%s%s%s", subs != NULL ? subs : "",
			    subs != NULL ? ", " : "",
			    ctl_commands[i].name + k + 1);
			free(subs);
			subs = n;
		}
		if (subs == NULL)
			return (ctl_usage(NULL, "unknown command '%s'",
			    c->words[0]));
		rc = ctl_usage(NULL, "%s %s: which one? %s", c->words[0],
		    nwords > 1 ? c->words[1] : "", subs);
		free(subs);
		return (rc);
	}
	c->cmd = cmd;
	c->args = c->words + best;
	c->nargs = nwords - best;
	if (c->nargs < cmd->minargs)
		return (ctl_usage(cmd, "%s: %s missing", cmd->name,
		    cmd->args));
	if (c->nargs > cmd->maxargs)
		return (ctl_usage(cmd, "%s: unexpected '%s'", cmd->name,
		    c->args[cmd->maxargs]));
	if (c->nargs > 0 && strcmp(cmd->args, "ID") == 0 &&
	    ctl_parse_id(c->args[0], &id) != 0)
		return (ctl_usage(cmd, "%s: the ID must be a positive whole "
		    "number, not '%s'", cmd->name, c->args[0]));
	for (i = OPT_LAST_GLOBAL + 1; i < OPT_END; i++) {
		if (c->opt[i] == NULL)
			continue;
		for (o = cmd->opts; o->opt != OPT_END; o++) {
			if ((int)o->opt == i)
				break;
		}
		if (o->opt == OPT_END)
			return (ctl_usage(cmd, "%s has no option --%s",
			    cmd->name, ctl_options[i].name));
		if ((ctl_options[i].type == CTL_ID &&
		    ctl_parse_id(c->opt[i], &id) != 0) ||
		    (ctl_options[i].type == CTL_NUMBER &&
		    ctl_parse_number(c->opt[i], &num) != 0))
			return (ctl_usage(cmd, "--%s must be a %s, not '%s'",
			    ctl_options[i].name, ctl_options[i].type ==
			    CTL_ID ? "positive whole number" : "number",
			    c->opt[i]));
	}
	for (o = cmd->opts; o->opt != OPT_END; o++) {
		if (o->required && c->opt[o->opt] == NULL)
			return (ctl_usage(cmd, "%s needs --%s", cmd->name,
			    ctl_options[o->opt].name));
	}
	return (CTL_CONTINUE);
}

/* ---------------------------------------------------------------------
 * Where and who: options, environment, configuration file.
 */

static const char *
ctl_getenv(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

static char *
ctl_conf_path(void)
{
	const char	*xdg = getenv("XDG_CONFIG_HOME"), *home;
	struct passwd	*pw;

	/* The XDG spec: a relative XDG_CONFIG_HOME is to be ignored. */
	if (xdg != NULL && xdg[0] == '/')
		return (xprintf("%s/%s", xdg, CTL_CONF_NAME));
	if ((home = ctl_getenv("HOME")) == NULL) {
		if ((pw = getpwuid(getuid())) == NULL)
			return (NULL);
		home = pw->pw_dir;
	}
	return (xprintf("%s/.config/%s", home, CTL_CONF_NAME));
}

/* The url: and token: of the configuration file, if there is one. */
static int
ctl_conf_read(struct ctl *c, char **url, char **token)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	yaml_node_t	*root, *k, *v;
	yaml_node_pair_t *pair;
	struct stat	 st;
	FILE		*f;
	char		**dst;
	const char	*key;
	int		 fd, rc = CTL_CONTINUE;

	if ((c->confpath = ctl_conf_path()) == NULL)
		return (CTL_CONTINUE);
	if ((fd = open(c->confpath, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return (CTL_CONTINUE);
		ctl_warn("%s: %s", c->confpath, strerror(errno));
		return (CTL_EXIT_USAGE);
	}
	/* Checked on the open file, so it cannot be swapped in between. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		ctl_warn("%s: not a regular file", c->confpath);
		close(fd);
		return (CTL_EXIT_USAGE);
	}
	if (st.st_uid != geteuid()) {
		ctl_warn("%s: owned by uid %u, not by you: refusing a token "
		    "from it", c->confpath, (unsigned)st.st_uid);
		close(fd);
		return (CTL_EXIT_AUTH);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ctl_warn("%s: permissions %04o are too open: it may hold an "
		    "API token, so only you may read it (chmod 600 %s)",
		    c->confpath, (unsigned)(st.st_mode & 07777), c->confpath);
		close(fd);
		return (CTL_EXIT_AUTH);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (CTL_EXIT_USAGE);
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		ctl_warn("%s:%zu: %s", c->confpath,
		    parser.problem_mark.line + 1, parser.problem != NULL ?
		    parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return (CTL_EXIT_USAGE);
	}
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && root->type != YAML_MAPPING_NODE) {
		ctl_warn("%s:%zu: expected the keys url: and token:",
		    c->confpath, root->start_mark.line + 1);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	for (pair = root != NULL ? root->data.mapping.pairs.start : NULL;
	    pair != NULL && pair < root->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&doc, pair->key);
		v = yaml_document_get_node(&doc, pair->value);
		key = k->type == YAML_SCALAR_NODE ?
		    (const char *)k->data.scalar.value : "";
		if (strcmp(key, "url") == 0)
			dst = url;
		else if (strcmp(key, "token") == 0)
			dst = token;
		else {
			ctl_warn("%s:%zu: unknown key '%s' (url and token "
			    "are known)", c->confpath, k->start_mark.line + 1,
			    key);
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (*dst != NULL || v->type != YAML_SCALAR_NODE) {
			ctl_warn("%s:%zu: %s: %s", c->confpath,
			    k->start_mark.line + 1, key, *dst != NULL ?
			    "given twice" : "expected a string");
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		*dst = xstrdup((const char *)v->data.scalar.value);
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return (rc);
}

static void
ctl_secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int
ctl_conf_resolve(struct ctl *c)
{
	const char	*url, *token, *p;
	char		*furl = NULL, *ftoken = NULL;
	size_t		 n;
	int		 rc = CTL_CONTINUE;

	if ((url = c->opt[OPT_URL]) == NULL)
		url = ctl_getenv("CARELINE_URL");
	if ((token = c->opt[OPT_TOKEN]) == NULL)
		token = ctl_getenv("CARELINE_TOKEN");
	if ((url == NULL || token == NULL) &&
	    (rc = ctl_conf_read(c, &furl, &ftoken)) != CTL_CONTINUE)
		goto out;
	if (url == NULL)
		url = furl != NULL ? furl : CTL_DEFAULT_URL;
	if (token == NULL)
		token = ftoken;
	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) {
		rc = ctl_usage(NULL, "the URL must start with http:// or "
		    "https://, not '%s'", url);
		goto out;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	c->url = xstrndup(url, n);
	if (token == NULL) {
		ctl_warn("no API token: give --token, set CARELINE_TOKEN, or "
		    "put token: in %s (chmod 600)", c->confpath != NULL ?
		    c->confpath : "~/.config/" CTL_CONF_NAME);
		rc = CTL_EXIT_AUTH;
		goto out;
	}
	/* It goes into a header line: nothing that could end one. */
	for (p = token; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			ctl_warn("the API token holds a character no token "
			    "has (a space or a line break?)");
			rc = CTL_EXIT_AUTH;
			goto out;
		}
	}
	xasprintf(&c->auth, "Authorization: Bearer %s", token);
out:
	free(furl);
	ctl_secret_free(ftoken);
	return (rc);
}

/* ---------------------------------------------------------------------
 * HTTP.
 */

struct ctl_buf {
	char	*data;
	size_t	 len;
};

static size_t
ctl_buf_write(char *p, size_t size, size_t n, void *arg)
{
	struct ctl_buf	*b = arg;

	if (b->len + size * n > CTL_BODY_MAX)
		return (0);	/* curl fails the transfer */
	b->data = xrealloc(b->data, b->len + size * n + 1);
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return (size * n);
}

/* What every request shares; returns the header list to free. */
static struct curl_slist *
ctl_http_setup(struct ctl *c, const char *url, const char *accept,
    char *errbuf)
{
	struct curl_slist	*h = NULL;
	char			*line;

	curl_easy_reset(c->curl);
	errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	/* The token goes to carelined only: no redirects, no file://. */
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    CTL_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "carelinectl/"
	    CTL_VERSION);
	h = curl_slist_append(h, c->auth);
	xasprintf(&line, "Accept: %s", accept);
	h = curl_slist_append(h, line);
	free(line);
	h = curl_slist_append(h, "Expect:");
	return (h);
}

static void
ctl_unreachable(struct ctl *c, CURLcode cc, const char *errbuf)
{
	ctl_warn("cannot reach carelined at %s: %s", c->url,
	    *errbuf != '\0' ? errbuf : curl_easy_strerror(cc));
}

/* Prints carelined's error; returns the exit status it means. */
static int
ctl_api_fail(struct ctl *c, long status, json_t *j)
{
	json_t		*e = json_object_get(j, "error"), *x, *v;
	struct ctl_table *t;
	const char	*code, *msg, *field;
	char		 b1[32], b2[32], b3[64];
	size_t		 i;
	int		 rc;

	if (status == 401 || status == 403)
		rc = CTL_EXIT_AUTH;
	else if (status >= 400 && status < 500)
		rc = CTL_EXIT_REFUSED;
	else
		rc = CTL_EXIT_UNREACHABLE;
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	field = json_string_value(json_object_get(e, "field"));
	if (code == NULL) {
		ctl_warn("%ld from %s, which is not a careline error (is "
		    "this carelined?)", status, c->url);
		return (rc);
	}
	if (field != NULL)
		ctl_warn("%ld %s (%s): %s", status, code, field,
		    msg != NULL ? msg : "");
	else
		ctl_warn("%ld %s: %s", status, code, msg != NULL ? msg : "");
	if (strcmp(code, "ambiguous_resident") == 0 &&
	    json_array_size(x = json_object_get(j, "candidates")) > 0) {
		fprintf(stderr, "choose one with --resident ID:\n");
		t = ctl_table_new(3, CTL_CELL_MAX, 1);
		ctl_table_row(t, "ID", "NAME", "ADDRESS");
		json_array_foreach(x, i, v) {
			ctl_table_row(t, ctl_jtext(v, "id", b1, sizeof b1),
			    ctl_jtext(v, "name", b2, sizeof b2),
			    ctl_jtext(v, "address", b3, sizeof b3));
		}
		ctl_table_print(t, stderr);
		ctl_table_free(t);
	} else if (strcmp(code, "duplicate_call") == 0 &&
	    (x = json_object_get(j, "open_call")) != NULL)
		ctl_warn("the open call is %lld (%s, logged %s); add "
		    "--duplicate-ok to log another", ctl_jint(x, "id"),
		    ctl_jtext(x, "status", b1, sizeof b1),
		    ctl_jtime(x, "created_at", b3, sizeof b3));
	else if (strcmp(code, "invalid_transition") == 0 &&
	    (x = json_object_get(j, "call")) != NULL)
		ctl_warn("call %lld is %s", ctl_jint(x, "id"),
		    ctl_jtext(x, "status", b1, sizeof b1));
	else if (status == 401)
		ctl_warn("check the token (--token, CARELINE_TOKEN or the "
		    "config file)");
	return (rc);
}

/*
 * One request. body, when not NULL, is sent as JSON. On success *out is
 * the answer (caller decrefs), printed as it is under --json; otherwise
 * the error is printed and the exit status returned.
 */
static int
ctl_api(struct ctl *c, const char *method, const char *path, json_t *body,
    json_t **out)
{
	struct curl_slist	*h;
	struct ctl_buf		 b = { NULL, 0 };
	char			 errbuf[CURL_ERROR_SIZE], *url, *text = NULL;
	json_t			*j = NULL;
	long			 status = 0;
	CURLcode		 cc;
	int			 rc;

	*out = NULL;
	url = xprintf("%s%s", c->url, path);
	h = ctl_http_setup(c, url, "application/json", errbuf);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, CTL_TIMEOUT_MS);
	if (strcmp(method, "POST") == 0) {
		if (body != NULL)
			text = json_dumps(body, JSON_COMPACT);
		/* No body: no Content-Type, or curl claims a form. */
		h = curl_slist_append(h, text != NULL ?
		    "Content-Type: application/json" : "Content-Type:");
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    text != NULL ? text : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		    (long)(text != NULL ? strlen(text) : 0));
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, ctl_buf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	free(text);
	free(url);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR)
			ctl_warn("the answer from %s is over %d bytes", c->url,
			    CTL_BODY_MAX);
		else
			ctl_unreachable(c, cc, errbuf);
		free(b.data);
		return (CTL_EXIT_UNREACHABLE);
	}
	if (b.data != NULL)
		j = json_loadb(b.data, b.len, 0, NULL);
	if (status >= 200 && status < 300 && j == NULL) {
		ctl_warn("%ld from %s, but not JSON (is this carelined?)",
		    status, c->url);
		rc = CTL_EXIT_UNREACHABLE;
	} else if (status >= 200 && status < 300) {
		rc = CTL_EXIT_OK;
		*out = j;
		j = NULL;
	} else
		rc = ctl_api_fail(c, status, j);
	/* For scripts the answer stands as it is, error or not. */
	if (c->json && (rc == CTL_EXIT_OK || j != NULL) && b.data != NULL) {
		fwrite(b.data, 1, b.len, stdout);
		if (b.len == 0 || b.data[b.len - 1] != '\n')
			putchar('\n');
	}
	json_decref(j);
	free(b.data);
	return (rc);
}

/* Appends key=value, escaped, to a query string (NULL value: nothing). */
static void
ctl_query(struct ctl *c, char **q, const char *key, const char *value)
{
	char	*e, *n;

	if (value == NULL)
		return;
	e = curl_easy_escape(c->curl, value, 0);
	xasprintf(&n, "%s%c%s=%s", *q != NULL ? *q : "", *q != NULL ? '&' :
	    '?', key, e);
	curl_free(e);
	free(*q);
	*q = n;
}

static void
ctl_more(struct ctl *c, json_t *j)
{
	const char	*next;

	next = json_string_value(json_object_get(j, "next_cursor"));
	if (next != NULL && !c->json)
		ctl_warn("more: carelinectl %s ... --cursor %s", c->cmd->name,
		    next);
}

/*
 * GET a list: base plus the query built in q (freed here). Under --json
 * the answer is already printed and *out is NULL; otherwise *out holds it
 * for a table and ctl_list_done ends the command.
 */
static int
ctl_list_get(struct ctl *c, const char *base, char *q, json_t **out)
{
	char	*path;
	int	 rc;

	path = xprintf("%s%s", base, q != NULL ? q : "");
	free(q);
	rc = ctl_api(c, "GET", path, NULL, out);
	free(path);
	if (rc != CTL_EXIT_OK || c->json) {
		json_decref(*out);
		*out = NULL;
	}
	return (rc);
}

static int
ctl_list_done(struct ctl *c, json_t *j)
{
	ctl_more(c, j);
	json_decref(j);
	return (CTL_EXIT_OK);
}

/* ---------------------------------------------------------------------
 * Calls.
 */

static void
ctl_print_call(json_t *call)
{
	struct ctl_table	*t;
	json_t			*res, *cands, *o;
	const char		*urg, *community;
	char			 b1[64], b2[64], b3[64], *who, *status;
	size_t			 i;

	res = json_object_get(call, "resident");
	community = json_string_value(json_object_get(res, "community"));
	xasprintf(&who, "%s (resident %lld%s%s)", ctl_jtext(res, "name", b1,
	    sizeof b1), ctl_jint(res, "id"), community != NULL ? ", " : "",
	    community != NULL ? community : "");
	urg = ctl_jtext(call, "urgency", b2, sizeof b2);
	xasprintf(&status, "%s%s", ctl_jtext(call, "status", b1, sizeof b1),
	    strcmp(urg, "urgent") == 0 ? ", urgent" : "");
	t = ctl_table_new(2, 0, 0);
	ctl_table_row(t, "call", ctl_jtext(call, "id", b3, sizeof b3));
	ctl_table_row(t, "status", status);
	ctl_table_row(t, "service", ctl_jtext(call, "service", b1,
	    sizeof b1));
	ctl_table_row(t, "resident", who);
	ctl_table_row(t, "caller", ctl_jtext(call, "caller_phone", b1,
	    sizeof b1));
	ctl_table_row(t, "wanted", ctl_jtime(call, "wanted_at", b1,
	    sizeof b1));
	ctl_table_row(t, "logged", ctl_jtime(call, "created_at", b1,
	    sizeof b1));
	if (json_is_string(json_object_get(call, "closed_at")))
		ctl_table_row(t, "closed", ctl_jtime(call, "closed_at", b1,
		    sizeof b1));
	if (*ctl_jtext(call, "notes", b1, sizeof b1) != '\0')
		ctl_table_row(t, "notes", ctl_jtext(call, "notes", b1,
		    sizeof b1));
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	free(who);
	free(status);

	cands = json_object_get(call, "candidates");
	if (json_array_size(cands) == 0) {
		printf("\nno provider in reach\n");
		return;
	}
	printf("\n");
	t = ctl_table_new(6, CTL_CELL_MAX, 1u << 0 | 1u << 2 | 1u << 3);
	ctl_table_row(t, "RANK", "PROVIDER", "ID", "MINUTES", "OFFER",
	    "ANSWER BY");
	json_array_foreach(cands, i, o) {
		char	r[32], id[32], m[32], st[32], by[64];

		ctl_table_row(t, ctl_jtext(o, "rank", r, sizeof r),
		    ctl_jtext(o, "provider_name", b1, sizeof b1),
		    ctl_jtext(o, "provider_id", id, sizeof id),
		    ctl_jtext(o, "travel_minutes", m, sizeof m),
		    ctl_jtext(o, "status", st, sizeof st),
		    ctl_jtime(o, "respond_by", by, sizeof by));
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

/* A JSON string from the command line, else a usage error. */
static int
ctl_set_string(struct ctl *c, json_t *o, const char *key, enum ctl_opt opt)
{
	json_t	*s;

	if (c->opt[opt] == NULL)
		return (CTL_CONTINUE);
	if ((s = json_string(c->opt[opt])) == NULL)
		return (ctl_usage(c->cmd, "--%s is not UTF-8 text",
		    ctl_options[opt].name));
	json_object_set_new(o, key, s);
	return (CTL_CONTINUE);
}

/*
 * --when: RFC 3339 goes as it is (carelined checks it); a local date and
 * time, or a time today, gets the local offset.
 */
static int
ctl_when(struct ctl *c, char *out, size_t len)
{
	const char	*in = c->opt[OPT_WHEN];
	struct tm	 tm, want;
	time_t		 t;
	int		 y, mo, d, h, mi, sec = 0, n = 0, m = 0;

	t = time(NULL);
	localtime_r(&t, &tm);
	if (sscanf(in, "%4d-%2d-%2d%*1[Tt ]%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &n) == 5 && n > 0) {
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
	} else if (sscanf(in, "%2d:%2d%n", &h, &mi, &n) != 2 || n == 0) {
		snprintf(out, len, "%s", in);
		return (CTL_CONTINUE);
	}
	if (in[n] == ':' && sscanf(in + n, ":%2d%n", &sec, &m) == 1 && m == 3)
		n += m;
	if (in[n] != '\0') {
		/* An offset or fractional seconds: RFC 3339 to pass on. */
		snprintf(out, len, "%s", in);
		return (CTL_CONTINUE);
	}
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	want = tm;
	/* mktime makes 30 February into March: such a time does not exist. */
	if ((t = mktime(&tm)) == (time_t)-1 || tm.tm_mday != want.tm_mday ||
	    tm.tm_mon != want.tm_mon || tm.tm_min != want.tm_min ||
	    tm.tm_sec != want.tm_sec ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		return (ctl_usage(c->cmd, "--when: there is no such time as "
		    "'%s'", in));
	/* strftime's +0800 is RFC 3339's +08:00. */
	n = (int)strlen(out);
	memmove(out + n - 1, out + n - 2, 3);
	out[n - 2] = ':';
	return (CTL_CONTINUE);
}

static int
ctl_cmd_call_new(struct ctl *c)
{
	json_t		*b, *j;
	char		 when[64];
	int		 rc;

	b = json_object();
	if ((rc = ctl_set_string(c, b, "caller_phone", OPT_PHONE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "service", OPT_SERVICE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "notes", OPT_NOTES)) != CTL_CONTINUE)
		goto out;
	if (c->opt[OPT_RESIDENT] != NULL)
		json_object_set_new(b, "resident_id",
		    json_integer(ctl_idval(c->opt[OPT_RESIDENT])));
	if (c->opt[OPT_WHEN] != NULL) {
		if ((rc = ctl_when(c, when, sizeof when)) != CTL_CONTINUE)
			goto out;
		if ((j = json_string(when)) == NULL) {
			rc = ctl_usage(c->cmd, "--when is not UTF-8 text");
			goto out;
		}
		json_object_set_new(b, "wanted_at", j);
	}
	if (c->opt[OPT_URGENT] != NULL)
		json_object_set_new(b, "urgency", json_string("urgent"));
	if (c->opt[OPT_DUPLICATE_OK] != NULL)
		json_object_set_new(b, "duplicate_ok", json_true());
	if ((rc = ctl_api(c, "POST", "/v1/calls", b, &j)) == CTL_EXIT_OK &&
	    !c->json)
		ctl_print_call(j);
	json_decref(j);
out:
	json_decref(b);
	return (rc);
}

/* GET or POST /v1/calls/ID[/verb] and show the call. */
static int
ctl_call_request(struct ctl *c, const char *verb)
{
	json_t		*b = NULL, *j;
	long long	 id;
	char		*path;
	int		 rc;

	id = ctl_idval(c->args[0]);
	if (verb != NULL && c->opt[OPT_REASON] != NULL) {
		b = json_object();
		if ((rc = ctl_set_string(c, b, "reason", OPT_REASON)) !=
		    CTL_CONTINUE) {
			json_decref(b);
			return (rc);
		}
	}
	path = xprintf("/v1/calls/%lld%s%s", id, verb != NULL ? "/" : "",
	    verb != NULL ? verb : "");
	rc = ctl_api(c, verb != NULL ? "POST" : "GET", path, b, &j);
	if (rc == CTL_EXIT_OK && !c->json)
		ctl_print_call(j);
	json_decref(j);
	json_decref(b);
	free(path);
	return (rc);
}

static int
ctl_cmd_call_show(struct ctl *c)
{
	return (ctl_call_request(c, NULL));
}

static int
ctl_cmd_call_cancel(struct ctl *c)
{
	return (ctl_call_request(c, "cancel"));
}

static int
ctl_cmd_call_complete(struct ctl *c)
{
	return (ctl_call_request(c, "complete"));
}

static int
ctl_cmd_calls(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o, *res;
	char			*q = NULL;
	char			 b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
	char			 w[64], l[64];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "status", c->opt[OPT_STATUS]);
	ctl_query(c, &q, "service", c->opt[OPT_SERVICE]);
	ctl_query(c, &q, "resident_id", c->opt[OPT_RESIDENT]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/calls", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no calls\n");
	else {
		t = ctl_table_new(8, CTL_CELL_MAX, 1u << 0);
		ctl_table_row(t, "ID", "STATUS", "SERVICE", "URGENCY",
		    "RESIDENT", "COMMUNITY", "WANTED", "LOGGED");
		json_array_foreach(items, i, o) {
			res = json_object_get(o, "resident");
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "status", b2, sizeof b2),
			    ctl_jtext(o, "service", b3, sizeof b3),
			    ctl_jtext(o, "urgency", b4, sizeof b4),
			    ctl_jtext(res, "name", b5, sizeof b5),
			    ctl_jtext(res, "community", b6, sizeof b6),
			    ctl_jtime(o, "wanted_at", w, sizeof w),
			    ctl_jtime(o, "created_at", l, sizeof l));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

/* ---------------------------------------------------------------------
 * Residents.
 */

static int
ctl_cmd_resident_find(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	const char		*flags[3];
	char			*q = NULL, fl[64];
	char			 b1[32], b2[32], b3[32], b4[32], b5[32];
	char			 b6[32];
	size_t			 i, k;
	int			 rc;

	if ((c->nargs == 1) == (c->opt[OPT_NAME] != NULL))
		return (ctl_usage(c->cmd, "resident find: a PHONE or --name "
		    "NAME (one of them)"));
	ctl_query(c, &q, "phone", c->nargs == 1 ? c->args[0] : NULL);
	ctl_query(c, &q, "name", c->opt[OPT_NAME]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/residents", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no resident found\n");
	else {
		t = ctl_table_new(7, CTL_CELL_MAX, 1u << 0);
		ctl_table_row(t, "ID", "NAME", "PHONE", "COMMUNITY",
		    "MOBILITY", "NEEDS", "ADDRESS");
		json_array_foreach(items, i, o) {
			k = 0;
			if (json_is_true(json_object_get(o, "lives_alone")))
				flags[k++] = "alone";
			if (json_is_true(json_object_get(o, "disabled")))
				flags[k++] = "disabled";
			if (json_is_true(json_object_get(o, "low_income")))
				flags[k++] = "low income";
			snprintf(fl, sizeof fl, "%s%s%s%s%s",
			    k > 0 ? flags[0] : "", k > 1 ? ", " : "",
			    k > 1 ? flags[1] : "", k > 2 ? ", " : "",
			    k > 2 ? flags[2] : "");
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "name", b2, sizeof b2),
			    ctl_jtext(o, "phone", b3, sizeof b3),
			    ctl_jtext(o, "community", b4, sizeof b4),
			    ctl_jtext(o, "mobility", b5, sizeof b5), fl,
			    ctl_jtext(o, "address", b6, sizeof b6));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	json_decref(j);
	return (CTL_EXIT_OK);
}

/* ---------------------------------------------------------------------
 * Providers.
 */

/* "meal, daycare" from the services array. */
static char *
ctl_services(json_t *o)
{
	json_t	*v;
	char	*s = xstrdup(""), *n;
	size_t	 i;

	json_array_foreach(json_object_get(o, "services"), i, v) {
		xasprintf(&n, "%s%s%s", s, i > 0 ? "," : "",
		    json_string_value(v) != NULL ? json_string_value(v) : "");
		free(s);
		s = n;
	}
	return (s);
}

static const char *
ctl_provider_state(json_t *o, char *buf, size_t len)
{
	char	t[64];

	if (!json_is_true(json_object_get(o, "active")))
		return ("inactive");
	if (json_is_string(json_object_get(o, "endpoint_disabled_at"))) {
		snprintf(buf, len, "webhook off since %s", ctl_jtime(o,
		    "endpoint_disabled_at", t, sizeof t));
		return (buf);
	}
	if (json_is_string(json_object_get(o, "endpoint_failing_since"))) {
		snprintf(buf, len, "webhook failing since %s", ctl_jtime(o,
		    "endpoint_failing_since", t, sizeof t));
		return (buf);
	}
	return ("active");
}

static void
ctl_print_provider(json_t *p)
{
	struct ctl_table	*t;
	char			 b1[64], b2[64], b3[96], *sv, *where;

	sv = ctl_services(p);
	xasprintf(&where, "%.6f, %.6f", json_number_value(json_object_get(p,
	    "lat")), json_number_value(json_object_get(p, "lon")));
	t = ctl_table_new(2, 0, 0);
	ctl_table_row(t, "provider", ctl_jtext(p, "id", b1, sizeof b1));
	ctl_table_row(t, "name", ctl_jtext(p, "name", b2, sizeof b2));
	ctl_table_row(t, "state", ctl_provider_state(p, b3, sizeof b3));
	ctl_table_row(t, "services", sv);
	ctl_table_row(t, "travel", ctl_jtext(p, "travel_mode", b1,
	    sizeof b1));
	ctl_table_row(t, "capacity", ctl_jtext(p, "capacity", b1,
	    sizeof b1));
	ctl_table_row(t, "hours", ctl_jtext(p, "opening_hours", b1,
	    sizeof b1));
	ctl_table_row(t, "at", where);
	ctl_table_row(t, "webhook", ctl_jtext(p, "webhook_url", b1,
	    sizeof b1));
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	free(where);
	free(sv);
}

static int
ctl_cmd_provider_list(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	char			*q = NULL, *sv;
	char			 b1[32], b2[32], b3[32], b4[32], b5[96];
	char			 b6[32];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "service", c->opt[OPT_SERVICE]);
	ctl_query(c, &q, "active", c->opt[OPT_ALL] != NULL ? NULL : "true");
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/providers", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no providers\n");
	else {
		t = ctl_table_new(7, CTL_CELL_MAX, 1u << 0 | 1u << 4);
		ctl_table_row(t, "ID", "NAME", "SERVICES", "MODE", "CAP",
		    "HOURS", "STATE");
		json_array_foreach(items, i, o) {
			sv = ctl_services(o);
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "name", b2, sizeof b2), sv,
			    ctl_jtext(o, "travel_mode", b3, sizeof b3),
			    ctl_jtext(o, "capacity", b4, sizeof b4),
			    ctl_jtext(o, "opening_hours", b6, sizeof b6),
			    ctl_provider_state(o, b5, sizeof b5));
			free(sv);
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

static int
ctl_cmd_provider_add(struct ctl *c)
{
	json_t		*b, *services, *j = NULL;
	const char	*p, *secret;
	char		*one;
	size_t		 n, len;
	int		 rc;

	b = json_object();
	services = json_array();
	json_object_set_new(b, "services", services);
	for (p = c->opt[OPT_SERVICES]; *p != '\0'; p += n + (p[n] == ',')) {
		p += strspn(p, " ");
		n = strcspn(p, ",");
		for (len = n; len > 0 && p[len - 1] == ' '; len--)
			;
		one = xstrndup(p, len);
		if (*one != '\0' && json_array_append_new(services,
		    json_string(one)) != 0) {
			free(one);
			rc = ctl_usage(c->cmd, "--services is not UTF-8 text");
			goto out;
		}
		free(one);
	}
	if (json_array_size(services) == 0) {
		rc = ctl_usage(c->cmd, "--services: name at least one");
		goto out;
	}
	if ((rc = ctl_set_string(c, b, "name", OPT_NAME)) != CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "travel_mode", OPT_MODE)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "opening_hours", OPT_HOURS)) !=
	    CTL_CONTINUE ||
	    (rc = ctl_set_string(c, b, "webhook_url", OPT_WEBHOOK)) !=
	    CTL_CONTINUE)
		goto out;
	json_object_set_new(b, "lat", json_real(strtod(c->opt[OPT_LAT],
	    NULL)));
	json_object_set_new(b, "lon", json_real(strtod(c->opt[OPT_LON],
	    NULL)));
	json_object_set_new(b, "capacity",
	    json_integer(ctl_idval(c->opt[OPT_CAPACITY])));
	if ((rc = ctl_api(c, "POST", "/v1/providers", b, &j)) != CTL_EXIT_OK)
		goto out;
	if (!c->json)
		ctl_print_provider(j);
	secret = json_string_value(json_object_get(j, "webhook_secret"));
	if (secret != NULL) {
		if (!c->json)
			printf("webhook secret  %s\n", secret);
		ctl_warn("store the webhook secret now, somewhere safe: "
		    "carelined shows it this once and cannot show it again "
		    "(a lost secret must be rotated)");
	}
out:
	json_decref(j);
	json_decref(b);
	return (rc);
}

static int
ctl_cmd_provider_deactivate(struct ctl *c)
{
	json_t		*j;
	char		*path;
	int		 rc;

	path = xprintf("/v1/providers/%lld/deactivate",
	    ctl_idval(c->args[0]));
	rc = ctl_api(c, "POST", path, NULL, &j);
	if (rc == CTL_EXIT_OK && !c->json)
		ctl_print_provider(j);
	json_decref(j);
	free(path);
	return (rc);
}

/* ---------------------------------------------------------------------
 * Webhook deliveries.
 */

static int
ctl_cmd_deliveries(struct ctl *c)
{
	struct ctl_table	*t;
	json_t			*j, *items, *o;
	const char		*when;
	char			*q = NULL, last[160];
	char			 b1[32], b2[32], b3[64], b4[32], b5[32];
	char			 b6[32], b7[64], b8[64], b9[64], b10[64];
	size_t			 i;
	int			 rc;

	ctl_query(c, &q, "status", c->opt[OPT_STATUS]);
	ctl_query(c, &q, "limit", c->opt[OPT_LIMIT]);
	ctl_query(c, &q, "cursor", c->opt[OPT_CURSOR]);
	if ((rc = ctl_list_get(c, "/v1/deliveries", q, &j)) != CTL_EXIT_OK ||
	    j == NULL)
		return (rc);
	items = json_object_get(j, "items");
	if (json_array_size(items) == 0)
		printf("no deliveries\n");
	else {
		t = ctl_table_new(9, CTL_CELL_MAX, 1u << 0 | 1u << 4 |
		    1u << 5);
		ctl_table_row(t, "ID", "STATUS", "EVENT", "PROVIDER", "CALL",
		    "TRIES", "LAST ANSWER", "NEXT/DONE", "CREATED");
		json_array_foreach(items, i, o) {
			snprintf(last, sizeof last, "%s%s%s",
			    ctl_jtext(o, "last_http_status", b7, sizeof b7),
			    json_is_string(json_object_get(o, "last_error")) &&
			    json_is_integer(json_object_get(o,
			    "last_http_status")) ? " " : "",
			    ctl_jtext(o, "last_error", b8, sizeof b8));
			when = json_is_string(json_object_get(o,
			    "delivered_at")) ? "delivered_at" :
			    "next_attempt_at";
			ctl_table_row(t, ctl_jtext(o, "id", b1, sizeof b1),
			    ctl_jtext(o, "status", b2, sizeof b2),
			    ctl_jtext(o, "event_type", b3, sizeof b3),
			    ctl_jtext(o, "provider_name", b9, sizeof b9),
			    ctl_jtext(o, "call_id", b4, sizeof b4),
			    ctl_jtext(o, "attempts", b5, sizeof b5), last,
			    strcmp(ctl_jtext(o, "status", b6, sizeof b6),
			    "dead") == 0 ? "" : ctl_jtime(o, when, b7,
			    sizeof b7), ctl_jtime(o, "created_at", b10,
			    sizeof b10));
		}
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return (ctl_list_done(c, j));
}

/* ---------------------------------------------------------------------
 * watch: GET /v1/events as Server-Sent Events (the WHATWG HTML standard,
 * "Server-sent events"): lines end with CRLF, LF or CR; "field: value";
 * a blank line dispatches the event; a line starting with ':' is a
 * comment; retry: sets the reconnection delay; the last id goes back in
 * Last-Event-ID when we reconnect, so nothing is missed in between.
 */

static volatile sig_atomic_t	ctl_stop;

struct ctl_sse {
	struct ctl	*c;
	int		 mode;		/* 0 not yet, 1 a stream, 2 other */
	struct ctl_buf	 other;		/* the answer, when not a stream */
	char		*line;
	size_t		 linelen;
	size_t		 linecap;
	int		 cr;		/* the last byte was CR */
	int		 bom;		/* bytes of a BOM seen; 3: past it */
	int		 toolong;
	char		*idbuf;		/* the last id: field */
	char		*lastid;	/* of the last event dispatched */
	char		*event;
	char		*data;
	size_t		 datalen;
	long		 retry_ms;
	int		 events;	/* dispatched on this connection */
};

static void
ctl_watch_signal(int sig)
{
	(void)sig;
	ctl_stop = 1;
}

/* curl calls it at least once a second: a signal ends the transfer. */
static int
ctl_watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return (ctl_stop ? 1 : 0);
}

/*
 * " key=value" for a line of text: times in the local zone, strings with
 * blanks quoted, nulls left out.
 */
static void
ctl_watch_pair(char **line, const char *key, json_t *v)
{
	char		 buf[64], *n;
	const char	*text, *q;
	json_t		*o;

	if (json_is_null(v))
		return;
	o = json_object();
	json_object_set(o, "v", v);
	if (json_is_object(v))
		text = "{...}";
	else if (json_is_array(v))
		text = "[...]";
	else if (json_is_string(v))
		text = ctl_time_fmt(json_string_value(v), "%Y-%m-%d %H:%M:%S",
		    buf, sizeof buf);
	else
		text = ctl_jtext(o, "v", buf, sizeof buf);
	q = json_is_string(v) && (*text == '\0' || strpbrk(text, " =\"") !=
	    NULL) ? "\"" : "";
	xasprintf(&n, "%s %s=%s%s%s", *line, key, q, text, q);
	free(*line);
	*line = n;
	json_decref(o);
}

/*
 * One event for people: its time, type and id, then what it says. An
 * event of carelined's is {"id", "type", "at", "call_id", "data"}: the
 * time is "at", the call is named, data's fields are shown flat.
 */
static void
ctl_watch_print(struct ctl_sse *s, const char *type, const char *data)
{
	json_t		*d, *v, *v2, *out;
	const char	*key, *key2, *at;
	char		 when[32], *clean, *line = NULL, *head;
	struct tm	 tm;
	time_t		 t;

	d = json_loads(data, JSON_DECODE_ANY, NULL);
	if (s->c->json) {
		v = d != NULL ? json_incref(d) : json_string(data);
		if (v == NULL)
			v = json_null();	/* not UTF-8: not JSON either */
		out = json_pack("{s:s?, s:s, s:o}", "id", s->lastid, "event",
		    type, "data", v);
		if (out != NULL && (line = json_dumps(out, JSON_COMPACT |
		    JSON_ENCODE_ANY)) != NULL)
			printf("%s\n", line);
		free(line);
		json_decref(out);
		json_decref(d);
		fflush(stdout);
		return;
	}
	t = time(NULL);
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	at = json_string_value(json_object_get(d, "at"));
	if (at != NULL)
		at = ctl_time_fmt(at, "%H:%M:%S", when, sizeof when);
	if (json_is_object(d)) {
		/* The call first, whatever order the keys came in. */
		if (json_is_integer(v = json_object_get(d, "call_id")))
			xasprintf(&line, " call %" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		else
			line = xstrdup("");
		json_object_foreach(d, key, v) {
			if (strcmp(key, "id") == 0 ||
			    strcmp(key, "type") == 0 ||
			    strcmp(key, "at") == 0 ||
			    (strcmp(key, "call_id") == 0 && json_is_integer(v)))
				continue;
			if (strcmp(key, "data") == 0 && json_is_object(v)) {
				json_object_foreach(v, key2, v2)
					ctl_watch_pair(&line, key2, v2);
			} else
				ctl_watch_pair(&line, key, v);
		}
	} else
		xasprintf(&line, " %s", data);
	xasprintf(&head, "%s  %-16s%s%s", at != NULL ? at : when, type,
	    s->lastid != NULL ? " #" : "", s->lastid != NULL ? s->lastid : "");
	clean = ctl_clean(head, 0);
	free(head);
	head = ctl_clean(line, 0);
	printf("%s %s\n", clean, head);
	fflush(stdout);
	free(head);
	free(clean);
	free(line);
	json_decref(d);
}

static void
ctl_sse_dispatch(struct ctl_sse *s)
{
	if (s->idbuf != NULL) {
		free(s->lastid);
		s->lastid = xstrdup(s->idbuf);
	}
	if (s->datalen > 0) {
		s->data[--s->datalen] = '\0';	/* the last line's \n */
		ctl_watch_print(s, s->event != NULL && *s->event != '\0' ?
		    s->event : "message", s->data);
		s->events++;
	}
	free(s->event);
	free(s->data);
	s->event = s->data = NULL;
	s->datalen = 0;
}

static void
ctl_sse_line(struct ctl_sse *s, const char *line, size_t len)
{
	const char	*colon, *val;
	size_t		 flen, vlen, i;

	if (len == 0) {
		ctl_sse_dispatch(s);
		return;
	}
	if (line[0] == ':')
		return;
	if ((colon = memchr(line, ':', len)) != NULL) {
		flen = (size_t)(colon - line);
		val = colon + 1;
		vlen = len - flen - 1;
		if (vlen > 0 && *val == ' ') {
			val++;
			vlen--;
		}
	} else {
		flen = len;
		val = "";
		vlen = 0;
	}
	if (flen == 5 && memcmp(line, "event", 5) == 0) {
		free(s->event);
		s->event = xstrndup(val, vlen);
	} else if (flen == 4 && memcmp(line, "data", 4) == 0) {
		s->data = xrealloc(s->data, s->datalen + vlen + 2);
		memcpy(s->data + s->datalen, val, vlen);
		s->datalen += vlen;
		s->data[s->datalen++] = '\n';
		s->data[s->datalen] = '\0';
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(val, '\0', vlen) == NULL) {
			free(s->idbuf);
			s->idbuf = xstrndup(val, vlen);
		}
	} else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
		for (i = 0; i < vlen && isdigit((unsigned char)val[i]); i++)
			;
		if (vlen > 0 && i == vlen && vlen < 9)
			s->retry_ms = strtol(val, NULL, 10);
	}
}

/* One byte of the stream; -1 when a line is too long to keep. */
static int
ctl_sse_byte(struct ctl_sse *s, char ch)
{
	if (ch == '\n' && s->cr) {
		s->cr = 0;
		return (0);
	}
	s->cr = ch == '\r';
	if (ch == '\r' || ch == '\n') {
		ctl_sse_line(s, s->line, s->linelen);
		s->linelen = 0;
		return (0);
	}
	if (s->linelen + 1 >= s->linecap) {
		if (s->linecap >= CTL_SSE_LINE_MAX)
			return (-1);
		s->line = xrealloc(s->line, s->linecap = s->linecap != 0 ?
		    2 * s->linecap : 256);
	}
	s->line[s->linelen++] = ch;
	return (0);
}

static size_t
ctl_sse_write(char *p, size_t size, size_t n, void *arg)
{
	static const char	 bom[] = "\xef\xbb\xbf";
	struct ctl_sse		*s = arg;
	size_t			 len = size * n, i, k;
	long			 status = 0;
	char			*ct = NULL;

	if (s->mode == 0) {
		curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(s->c->curl, CURLINFO_CONTENT_TYPE, &ct);
		s->mode = status == 200 && ct != NULL &&
		    strncasecmp(ct, "text/event-stream", 17) == 0 ? 1 : 2;
	}
	if (s->mode == 2)
		return (ctl_buf_write(p, size, n, &s->other));
	for (i = 0; i < len; i++) {
		/* A byte-order mark may open the stream; it is not text. */
		if (s->bom < 3) {
			if (p[i] == bom[s->bom]) {
				s->bom++;
				continue;
			}
			for (k = 0; k < (size_t)s->bom; k++) {
				if (ctl_sse_byte(s, bom[k]) != 0)
					goto toolong;
			}
			s->bom = 3;
		}
		if (ctl_sse_byte(s, p[i]) != 0)
			goto toolong;
	}
	return (len);
toolong:
	s->toolong = 1;
	return (0);	/* curl ends the transfer */
}

/* Waits ms, or less when a signal comes. */
static void
ctl_sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!ctl_stop && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
ctl_cmd_watch(struct ctl *c)
{
	struct ctl_sse		 s;
	struct sigaction	 sa;
	struct curl_slist	*h;
	json_t			*j;
	const char		*code;
	char			 errbuf[CURL_ERROR_SIZE], *url, *hdr, *why;
	char			*ct;
	long			 status, delay;
	int			 connected = 0, failures = 0, stream, k;
	int			 rc = CTL_EXIT_OK;
	CURLcode		 cc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_watch_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&s, 0, sizeof s);
	s.c = c;
	s.retry_ms = CTL_SSE_RETRY_MS;
	url = xprintf("%s/v1/events", c->url);
	while (!ctl_stop) {
		h = ctl_http_setup(c, url, "text/event-stream", errbuf);
		h = curl_slist_append(h, "Cache-Control: no-cache");
		if (s.lastid != NULL && *s.lastid != '\0') {
			xasprintf(&hdr, "Last-Event-ID: %s", s.lastid);
			h = curl_slist_append(h, hdr);
			free(hdr);
		}
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION,
		    ctl_sse_write);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION,
		    ctl_watch_progress);
		/* A stream may be quiet for long: let TCP find a dead peer. */
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPIDLE, 30L);
		curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPINTVL, 10L);
		s.mode = s.cr = s.bom = s.events = s.toolong = 0;
		s.linelen = 0;
		free(s.other.data);
		s.other.data = NULL;
		s.other.len = 0;
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(h);
		status = 0;
		ct = NULL;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
		/* An event cut short by the end of the stream is dropped. */
		free(s.event);
		free(s.data);
		s.event = s.data = NULL;
		s.datalen = 0;
		if (ctl_stop)
			break;
		stream = status == 200 && ct != NULL &&
		    strncasecmp(ct, "text/event-stream", 17) == 0;
		if (s.toolong) {
			ctl_warn("an event line from %s is over %d bytes", url,
			    CTL_SSE_LINE_MAX);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		if (status == 204) {
			/* The standard's way to say: do not come back. */
			ctl_warn("carelined ended the event stream");
			break;
		}
		if (status != 0 && !stream && (status < 500 || !connected)) {
			if (status == 200) {
				ctl_warn("%s answered %s, not an event stream",
				    url, ct != NULL ? ct : "no content type");
				rc = CTL_EXIT_UNREACHABLE;
				break;
			}
			j = s.other.data != NULL ? json_loadb(s.other.data,
			    s.other.len, 0, NULL) : NULL;
			if (c->json && j != NULL)
				printf("%s\n", s.other.data);
			rc = ctl_api_fail(c, status, j);
			code = json_string_value(json_object_get(
			    json_object_get(j, "error"), "code"));
			if (status == 404 && code != NULL &&
			    strcmp(code, "not_found") == 0)
				ctl_warn("this carelined has no event stream "
				    "(GET /v1/events): it is older than this "
				    "carelinectl");
			json_decref(j);
			break;
		}
		if (status == 0 && !connected) {
			ctl_unreachable(c, cc, errbuf);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		/*
		 * The stream ended, or went away: back after the delay the
		 * server asked for, doubling while attempts fail.
		 */
		if (stream) {
			connected = 1;
			failures = 0;
			why = xstrdup("the event stream ended");
		} else {
			failures++;
			if (status != 0)
				why = xprintf("carelined answered %ld", status);
			else
				why = xprintf("cannot reach carelined (%s)",
				    *errbuf != '\0' ? errbuf :
				    curl_easy_strerror(cc));
		}
		delay = s.retry_ms;
		for (k = 1; k < failures && delay < CTL_SSE_BACKOFF_MAX_MS; k++)
			delay *= 2;
		if (delay > CTL_SSE_BACKOFF_MAX_MS)
			delay = CTL_SSE_BACKOFF_MAX_MS;
		/* Jitter: clients cut off together do not return together. */
		delay += delay > 0 ? random() % (delay / 5 + 1) : 0;
		ctl_warn("%s; reconnecting in %.1fs", why, delay / 1000.0);
		free(why);
		ctl_sleep_ms(delay);
	}
	free(url);
	free(s.other.data);
	free(s.line);
	free(s.idbuf);
	free(s.lastid);
	return (rc);
}

int
main(int argc, char **argv)
{
	struct ctl	c;
	int		rc;

	memset(&c, 0, sizeof c);
	setlocale(LC_ALL, "");
	/* Numbers are read and written the C way whatever the language. */
	setlocale(LC_NUMERIC, "C");
	ctl_locale_utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if ((rc = ctl_parse(&c, argc, argv)) != CTL_CONTINUE ||
	    (rc = ctl_conf_resolve(&c)) != CTL_CONTINUE)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c.curl = curl_easy_init()) == NULL) {
		ctl_warn("cannot start libcurl");
		rc = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	rc = c.cmd->run(&c);
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
out:
	if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
		ctl_warn("stdout: %s", strerror(errno));
		rc = CTL_EXIT_USAGE;
	}
	ctl_secret_free(c.auth);
	free(c.url);
	free(c.confpath);
	free(c.words);
	return (rc);
}
