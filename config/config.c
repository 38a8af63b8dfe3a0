#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,
	CONFIG_DOUBLE,
	CONFIG_BOOL,
	CONFIG_DURATION,	/* stored as int milliseconds */
	CONFIG_SIZE,		/* stored as int bytes */
	CONFIG_ENUM,		/* stored as int index into choices */
	CONFIG_DURATION_LIST,	/* webhook_retry_ms + webhook_retry_count */
};

#define CONFIG_RELOAD	0x1	/* SIGHUP may change it */
#define CONFIG_EMPTY_OK	0x2	/* an empty string is a valid value */

struct config_option {
	const char		 *key;
	enum config_type	  type;
	size_t			  offset;
	double			  min, max;
	const char		 *def;
	int			  flags;
	const char *const	 *choices;
};

static const char *const config_log_levels[] = {
	"debug", "info", "warn", "error", NULL
};
static const char *const config_log_formats[] = { "text", "json", NULL };
static const char *const config_strategies[] = {
	"cascade", "broadcast", NULL
};

#define OFF(f)	offsetof(struct config, f)
#define DAY	(86400.0 * 1000)

/*
 * Every key carelined knows. Defaults are written as they would be in the
 * file and go through the same parser, so a default can never be invalid
 * without a test noticing. config/careline.yaml documents each key.
 */
static const struct config_option config_options[] = {
	{ "listen.address", CONFIG_STRING, OFF(listen_address), 0, 255,
	  "127.0.0.1", 0, NULL },
	{ "listen.port", CONFIG_INT, OFF(listen_port), 1, 65535,
	  "8080", 0, NULL },
	{ "listen.backlog", CONFIG_INT, OFF(listen_backlog), 1, 65535,
	  "511", 0, NULL },

	{ "database.url", CONFIG_STRING, OFF(db_url), 1, 4096,
	  "dbname=careline", 0, NULL },
	{ "database.pool_size", CONFIG_INT, OFF(db_pool_size), 1, 64,
	  "4", 0, NULL },
	{ "database.dispatcher_connections", CONFIG_INT,
	  OFF(db_dispatcher_connections), 1, 16, "2", 0, NULL },
	{ "database.queue_max", CONFIG_INT, OFF(db_queue_max), 1, 100000,
	  "1024", 0, NULL },
	{ "database.queue_timeout", CONFIG_DURATION, OFF(db_queue_timeout_ms),
	  1, 60000, "5s", CONFIG_RELOAD, NULL },
	{ "database.connect_timeout", CONFIG_DURATION,
	  OFF(db_connect_timeout_ms), 100, 60000, "5s", CONFIG_RELOAD, NULL },
	{ "database.statement_timeout", CONFIG_DURATION,
	  OFF(db_statement_timeout_ms), 100, 600000, "10s", 0, NULL },
	{ "database.reconnect_min", CONFIG_DURATION, OFF(db_reconnect_min_ms),
	  10, 60000, "100ms", CONFIG_RELOAD, NULL },
	{ "database.reconnect_max", CONFIG_DURATION, OFF(db_reconnect_max_ms),
	  10, 300000, "2s", CONFIG_RELOAD, NULL },

	{ "http.max_body", CONFIG_SIZE, OFF(http_max_body), 1024,
	  16 * 1024 * 1024, "64KiB", 0, NULL },
	{ "http.max_headers", CONFIG_SIZE, OFF(http_max_headers), 1024,
	  1024 * 1024, "16KiB", 0, NULL },
	{ "http.timeout", CONFIG_DURATION, OFF(http_timeout_ms), 1000,
	  3600000, "30s", 0, NULL },
	{ "http.shutdown_grace", CONFIG_DURATION, OFF(http_shutdown_grace_ms),
	  0, 600000, "10s", CONFIG_RELOAD, NULL },
	{ "http.head_timeout", CONFIG_DURATION, OFF(http_head_timeout_ms),
	  100, 600000, "10s", 0, NULL },
	{ "http.body_timeout", CONFIG_DURATION, OFF(http_body_timeout_ms),
	  100, 3600000, "30s", 0, NULL },
	{ "metrics.token", CONFIG_STRING, OFF(metrics_token), 0, 256, "",
	  CONFIG_EMPTY_OK, NULL },

	{ "auth.token_cache_ttl", CONFIG_DURATION, OFF(auth_cache_ttl_ms), 0,
	  60000, "10s", CONFIG_RELOAD, NULL },
	{ "auth.session_idle", CONFIG_DURATION, OFF(auth_session_idle_ms),
	  1000, DAY, "30m", CONFIG_RELOAD, NULL },
	{ "auth.signin_rate", CONFIG_INT, OFF(auth_signin_rate), 1, 6000,
	  "30", CONFIG_RELOAD, NULL },
	{ "auth.signin_burst", CONFIG_INT, OFF(auth_signin_burst), 1, 1000,
	  "10", CONFIG_RELOAD, NULL },

	{ "events.recheck", CONFIG_DURATION, OFF(events_recheck_ms), 100,
	  60000, "2s", CONFIG_RELOAD, NULL },
	{ "events.max_streams", CONFIG_INT, OFF(events_max_streams), 1,
	  100000, "512", CONFIG_RELOAD, NULL },
	{ "events.max_per_credential", CONFIG_INT,
	  OFF(events_max_per_credential), 1, 1000, "4", CONFIG_RELOAD, NULL },
	{ "events.replay_max", CONFIG_INT, OFF(events_replay_max), 0, 100000,
	  "500", CONFIG_RELOAD, NULL },
	{ "events.replay_age", CONFIG_DURATION, OFF(events_replay_age_ms), 0,
	  DAY, "15m", CONFIG_RELOAD, NULL },

	{ "log.level", CONFIG_ENUM, OFF(log_level), 0, 0, "info",
	  CONFIG_RELOAD, config_log_levels },
	{ "log.format", CONFIG_ENUM, OFF(log_format), 0, 0, "text",
	  CONFIG_RELOAD, config_log_formats },

	{ "district.timezone", CONFIG_STRING, OFF(district_timezone), 1, 64,
	  "Asia/Shanghai", 0, NULL },

	{ "matching.max_minutes", CONFIG_DOUBLE, OFF(match_max_minutes), 1,
	  240, "15", CONFIG_RELOAD, NULL },
	{ "matching.detour_factor", CONFIG_DOUBLE, OFF(match_detour_factor),
	  1, 5, "1.3", CONFIG_RELOAD, NULL },
	{ "matching.speed_kmh.walk", CONFIG_DOUBLE, OFF(match_speed_walk),
	  0.5, 200, "4", CONFIG_RELOAD, NULL },
	{ "matching.speed_kmh.ebike", CONFIG_DOUBLE, OFF(match_speed_ebike),
	  0.5, 200, "15", CONFIG_RELOAD, NULL },
	{ "matching.speed_kmh.car", CONFIG_DOUBLE, OFF(match_speed_car),
	  0.5, 200, "25", CONFIG_RELOAD, NULL },
	{ "matching.speed_kmh.shuttle", CONFIG_DOUBLE, OFF(match_speed_shuttle),
	  0.5, 200, "20", CONFIG_RELOAD, NULL },
	{ "matching.speed_kmh.wheelchair", CONFIG_DOUBLE,
	  OFF(match_speed_wheelchair), 0.5, 200, "2.5", CONFIG_RELOAD, NULL },
	{ "matching.max_candidates", CONFIG_INT, OFF(match_max_candidates), 1,
	  50, "5", CONFIG_RELOAD, NULL },

	{ "offers.strategy", CONFIG_ENUM, OFF(offer_strategy), 0, 0,
	  "cascade", CONFIG_RELOAD, config_strategies },
	{ "offers.timeout", CONFIG_DURATION, OFF(offer_timeout_ms), 1000, DAY,
	  "120s", CONFIG_RELOAD, NULL },
	{ "offers.broadcast_k", CONFIG_INT, OFF(offer_broadcast_k), 1, 50,
	  "3", CONFIG_RELOAD, NULL },

	{ "webhooks.public_url", CONFIG_STRING, OFF(webhook_public_url), 1,
	  1024, "http://127.0.0.1:8080", CONFIG_RELOAD, NULL },
	{ "webhooks.timeout", CONFIG_DURATION, OFF(webhook_timeout_ms), 100,
	  300000, "10s", CONFIG_RELOAD, NULL },
	{ "webhooks.connect_timeout", CONFIG_DURATION,
	  OFF(webhook_connect_timeout_ms), 100, 60000, "3s", CONFIG_RELOAD,
	  NULL },
	{ "webhooks.retry_schedule", CONFIG_DURATION_LIST,
	  OFF(webhook_retry_ms), 100, DAY, "[5s, 30s, 2m, 10m, 30m]",
	  CONFIG_RELOAD, NULL },
	{ "webhooks.max_in_flight", CONFIG_INT, OFF(webhook_max_in_flight), 1,
	  4096, "256", CONFIG_RELOAD, NULL },
	{ "webhooks.max_response_bytes", CONFIG_SIZE,
	  OFF(webhook_max_response_bytes), 0, 1024 * 1024, "16KiB",
	  CONFIG_RELOAD, NULL },
	{ "webhooks.lease", CONFIG_DURATION, OFF(webhook_lease_ms), 1000,
	  3600000, "60s", CONFIG_RELOAD, NULL },
	{ "webhooks.poll_interval", CONFIG_DURATION, OFF(webhook_poll_ms), 100,
	  600000, "5s", CONFIG_RELOAD, NULL },
	{ "webhooks.allow_private_targets", CONFIG_BOOL,
	  OFF(webhook_allow_private), 0, 1, "false", CONFIG_RELOAD, NULL },

	{ "static.dir", CONFIG_STRING, OFF(static_dir), 1, 4096,
	  "/usr/share/careline/www", 0, NULL },
	{ "paths.sql_dir", CONFIG_STRING, OFF(sql_dir), 1, 4096,
	  "/usr/share/careline/sql", 0, NULL },
};

#define CONFIG_NOPTIONS	(sizeof config_options / sizeof *config_options)
#define CONFIG_MAX_SECTIONS	32

const char *
config_key(int idx)
{
	if (idx < 0 || (size_t)idx >= CONFIG_NOPTIONS)
		return (NULL);
	return (config_options[idx].key);
}

static const struct config_option *
config_find(const char *key)
{
	size_t	i;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (strcmp(config_options[i].key, key) == 0)
			return (&config_options[i]);
	}
	return (NULL);
}

/* Is key a section: the prefix of some option followed by a dot? */
static int
config_is_section(const char *key)
{
	size_t	i, n = strlen(key);

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (strncmp(config_options[i].key, key, n) == 0 &&
		    config_options[i].key[n] == '.')
			return (1);
	}
	return (0);
}

/* "500ms", "30s", "2m", "1h" to milliseconds. */
static int
config_parse_duration(const char *s, double *out)
{
	char	*end;
	double	 v, mult;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0)
		return (-1);
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return (-1);
	*out = v * mult;
	return (0);
}

/* "65536", "64KiB", "64k", "1MiB", "1M" to bytes. */
static int
config_parse_size(const char *s, double *out)
{
	char		*end;
	unsigned long	 v;
	double		 mult;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0)
		return (-1);
	if (*end == '\0' || strcmp(end, "B") == 0)
		mult = 1;
	else if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0 ||
	    strcmp(end, "KiB") == 0)
		mult = 1024;
	else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0)
		mult = 1024 * 1024;
	else
		return (-1);
	*out = (double)v * mult;
	return (0);
}

static const char *
config_type_name(const struct config_option *o)
{
	switch (o->type) {
	case CONFIG_STRING:
		return ("a string");
	case CONFIG_INT:
		return ("an integer");
	case CONFIG_DOUBLE:
		return ("a number");
	case CONFIG_BOOL:
		return ("true or false");
	case CONFIG_DURATION:
		return ("a duration such as 500ms, 30s or 2m");
	case CONFIG_SIZE:
		return ("a size such as 65536, 64KiB or 1MiB");
	case CONFIG_ENUM:
		return ("one of the listed words");
	case CONFIG_DURATION_LIST:
		return ("a list of durations such as [5s, 30s, 2m]");
	}
	return ("?");
}

/* Format a limit for a message: whole numbers without decimals. */
static void
config_fmt_num(char *buf, size_t len, double v, enum config_type type)
{
	if (type == CONFIG_DURATION || type == CONFIG_DURATION_LIST) {
		if (fmod(v, 1000) == 0)
			snprintf(buf, len, "%.0fs", v / 1000);
		else
			snprintf(buf, len, "%.0fms", v);
	} else if (v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%g", v);
}

static int
config_range_error(const struct config_option *o, char **why)
{
	char	lo[32], hi[32];

	config_fmt_num(lo, sizeof lo, o->min, o->type);
	config_fmt_num(hi, sizeof hi, o->max, o->type);
	if (o->type == CONFIG_STRING)
		xasprintf(why, "must be %s..%s characters long", lo, hi);
	else
		xasprintf(why, "must be %s..%s", lo, hi);
	return (-1);
}

/*
 * Parse one scalar into the option's slot. quoted: the YAML scalar was
 * quoted, which makes it a string and so the wrong type for numbers.
 */
static int
config_set(struct config *c, const struct config_option *o, const char *s,
    int quoted, char **why)
{
	char		*p = (char *)c + o->offset;
	char		*end;
	double		 v;
	long		 l;
	size_t		 i;

	if (*s == '\0' && !(o->flags & CONFIG_EMPTY_OK) && !quoted) {
		xasprintf(why, "must be %s, not empty", config_type_name(o));
		return (-1);
	}
	switch (o->type) {
	case CONFIG_STRING:
		if (strlen(s) < o->min || strlen(s) > o->max)
			return (config_range_error(o, why));
		free(*(char **)p);
		*(char **)p = xstrdup(s);
		return (0);
	case CONFIG_INT:
		errno = 0;
		l = strtol(s, &end, 10);
		if (quoted || *end != '\0' || errno != 0) {
			xasprintf(why, "must be %s", config_type_name(o));
			return (-1);
		}
		if (l < o->min || l > o->max)
			return (config_range_error(o, why));
		*(int *)p = (int)l;
		return (0);
	case CONFIG_DOUBLE:
		errno = 0;
		v = strtod(s, &end);
		if (quoted || *end != '\0' || errno != 0 || !isfinite(v)) {
			xasprintf(why, "must be %s", config_type_name(o));
			return (-1);
		}
		if (v < o->min || v > o->max)
			return (config_range_error(o, why));
		*(double *)p = v;
		return (0);
	case CONFIG_BOOL:
		if (!quoted && strcmp(s, "true") == 0)
			*(int *)p = 1;
		else if (!quoted && strcmp(s, "false") == 0)
			*(int *)p = 0;
		else {
			xasprintf(why, "must be %s", config_type_name(o));
			return (-1);
		}
		return (0);
	case CONFIG_DURATION:
	case CONFIG_SIZE:
		if ((o->type == CONFIG_DURATION ?
		    config_parse_duration(s, &v) : config_parse_size(s, &v)) != 0) {
			xasprintf(why, "must be %s", config_type_name(o));
			return (-1);
		}
		if (v < o->min || v > o->max)
			return (config_range_error(o, why));
		*(int *)p = (int)v;
		return (0);
	case CONFIG_ENUM:
		for (i = 0; o->choices[i] != NULL; i++) {
			if (strcmp(s, o->choices[i]) == 0) {
				*(int *)p = (int)i;
				return (0);
			}
		}
		{
			char	list[256];
			size_t	len = 0;

			list[0] = '\0';
			for (i = 0; o->choices[i] != NULL; i++) {
				len += snprintf(list + len, sizeof list - len,
				    "%s%s", i > 0 ? ", " : "", o->choices[i]);
				if (len >= sizeof list)
					break;
			}
			xasprintf(why, "must be one of: %s", list);
		}
		return (-1);
	case CONFIG_DURATION_LIST:
		xasprintf(why, "must be %s", config_type_name(o));
		return (-1);
	}
	return (-1);
}

/* One entry of a duration list. */
static int
config_set_list_item(struct config *c, const struct config_option *o,
    const char *s, char **why)
{
	double	v;

	if (c->webhook_retry_count >= CONFIG_MAX_RETRIES) {
		xasprintf(why, "at most %d entries", CONFIG_MAX_RETRIES);
		return (-1);
	}
	if (config_parse_duration(s, &v) != 0) {
		xasprintf(why, "must be %s", config_type_name(o));
		return (-1);
	}
	if (v < o->min || v > o->max)
		return (config_range_error(o, why));
	c->webhook_retry_ms[c->webhook_retry_count++] = (int)v;
	return (0);
}

struct config_parser {
	yaml_parser_t	 yp;
	const char	*file;
	struct config	*c;
	char		*cause;
	size_t		 line[CONFIG_NOPTIONS];	/* where each key was set */
	char		*sections[CONFIG_MAX_SECTIONS];
	size_t		 section_line[CONFIG_MAX_SECTIONS];
	int		 nsections;
};

static int
config_fail(struct config_parser *cp, size_t line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
config_fail(struct config_parser *cp, size_t line, const char *key,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (key != NULL && *key != '\0')
		xasprintf(&cp->cause, "%s:%zu: %s: %s", cp->file, line, key,
		    msg);
	else
		xasprintf(&cp->cause, "%s:%zu: %s", cp->file, line, msg);
	free(msg);
	return (-1);
}

static int
config_next(struct config_parser *cp, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&cp->yp, ev)) {
		const char *what = cp->yp.problem != NULL ?
		    cp->yp.problem : "invalid YAML";

		return (config_fail(cp, cp->yp.problem_mark.line + 1, NULL,
		    "YAML syntax error: %s", what));
	}
	if (ev->type == YAML_ALIAS_EVENT) {
		size_t line = ev->start_mark.line + 1;

		yaml_event_delete(ev);
		return (config_fail(cp, line, NULL,
		    "YAML aliases are not supported here"));
	}
	return (0);
}

static int	config_parse_mapping(struct config_parser *, const char *);

/* Skip nothing: every value is either known or an error. */
static int
config_parse_value(struct config_parser *cp, const char *key, size_t keyline)
{
	const struct config_option	*o;
	yaml_event_t			 ev;
	char				*why = NULL;
	int				 rc = 0, quoted;
	size_t				 line, idx;

	if (config_next(cp, &ev) != 0)
		return (-1);
	line = ev.start_mark.line + 1;
	o = config_find(key);

	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		if (o != NULL)
			return (config_fail(cp, line, key, "must be %s, not a "
			    "mapping", config_type_name(o)));
		if (!config_is_section(key))
			return (config_fail(cp, keyline, key, "unknown key"));
		return (config_parse_mapping(cp, key));
	}
	if (o == NULL) {
		yaml_event_delete(&ev);
		if (config_is_section(key))
			return (config_fail(cp, line, key,
			    "must be a mapping of keys"));
		return (config_fail(cp, keyline, key, "unknown key"));
	}
	idx = (size_t)(o - config_options);
	if (cp->line[idx] != 0) {
		yaml_event_delete(&ev);
		return (config_fail(cp, keyline, key, "given twice (first on "
		    "line %zu)", cp->line[idx]));
	}
	cp->line[idx] = keyline;

	if (ev.type == YAML_SEQUENCE_START_EVENT) {
		yaml_event_delete(&ev);
		if (o->type != CONFIG_DURATION_LIST)
			return (config_fail(cp, line, key, "must be %s, not a "
			    "list", config_type_name(o)));
		cp->c->webhook_retry_count = 0;
		for (;;) {
			if (config_next(cp, &ev) != 0)
				return (-1);
			line = ev.start_mark.line + 1;
			if (ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (ev.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&ev);
				return (config_fail(cp, line, key, "must be %s",
				    config_type_name(o)));
			}
			rc = config_set_list_item(cp->c, o,
			    (const char *)ev.data.scalar.value, &why);
			yaml_event_delete(&ev);
			if (rc != 0) {
				config_fail(cp, line, key, "%s", why);
				free(why);
				return (-1);
			}
		}
		yaml_event_delete(&ev);
		if (cp->c->webhook_retry_count == 0)
			return (config_fail(cp, line, key,
			    "needs at least one entry"));
		return (0);
	}
	if (ev.type != YAML_SCALAR_EVENT) {
		yaml_event_delete(&ev);
		return (config_fail(cp, line, key, "must be %s",
		    config_type_name(o)));
	}
	quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	if (ev.data.scalar.length != strlen((char *)ev.data.scalar.value))
		rc = config_fail(cp, line, key, "contains a NUL byte");
	else if (config_set(cp->c, o, (const char *)ev.data.scalar.value,
	    quoted, &why) != 0) {
		rc = config_fail(cp, line, key, "%s", why);
		free(why);
	}
	yaml_event_delete(&ev);
	return (rc);
}

/* A section given twice would silently merge: refuse it. */
static int
config_section_seen(struct config_parser *cp, const char *key, size_t line)
{
	int	i;

	for (i = 0; i < cp->nsections; i++) {
		if (strcmp(cp->sections[i], key) == 0)
			return (config_fail(cp, line, key, "section given "
			    "twice (first on line %zu)", cp->section_line[i]));
	}
	if (cp->nsections < CONFIG_MAX_SECTIONS) {
		cp->sections[cp->nsections] = xstrdup(key);
		cp->section_line[cp->nsections++] = line;
	}
	return (0);
}

/* Called after MAPPING_START; consumes up to and with MAPPING_END. */
static int
config_parse_mapping(struct config_parser *cp, const char *prefix)
{
	yaml_event_t	 ev;
	char		*key;
	size_t		 line;
	int		 rc;

	for (;;) {
		if (config_next(cp, &ev) != 0)
			return (-1);
		line = ev.start_mark.line + 1;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			return (config_fail(cp, line, prefix,
			    "keys must be plain words"));
		}
		if (strchr((char *)ev.data.scalar.value, '.') != NULL ||
		    ev.data.scalar.length == 0) {
			rc = config_fail(cp, line, (char *)ev.data.scalar.value,
			    "keys are single words: nest sections instead of "
			    "using dots");
			yaml_event_delete(&ev);
			return (rc);
		}
		if (*prefix != '\0')
			xasprintf(&key, "%s.%s", prefix,
			    (char *)ev.data.scalar.value);
		else
			key = xstrdup((char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (config_is_section(key)) {
			if (config_section_seen(cp, key, line) != 0) {
				free(key);
				return (-1);
			}
		}
		rc = config_parse_value(cp, key, line);
		free(key);
		if (rc != 0)
			return (-1);
	}
}

static int
config_parse_document(struct config_parser *cp)
{
	yaml_event_t	ev;
	size_t		line;

	if (config_next(cp, &ev) != 0)
		return (-1);
	yaml_event_delete(&ev);		/* STREAM_START */
	if (config_next(cp, &ev) != 0)
		return (-1);
	line = ev.start_mark.line + 1;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		return (config_fail(cp, line, NULL, "the file is empty: "
		    "expected a mapping of settings"));
	}
	yaml_event_delete(&ev);
	if (config_next(cp, &ev) != 0)
		return (-1);
	line = ev.start_mark.line + 1;
	if (ev.type != YAML_MAPPING_START_EVENT) {
		int empty = ev.type == YAML_SCALAR_EVENT &&
		    ev.data.scalar.length == 0;

		yaml_event_delete(&ev);
		return (config_fail(cp, line, NULL, empty ?
		    "the file is empty: expected a mapping of settings" :
		    "the top level must be a mapping of settings"));
	}
	yaml_event_delete(&ev);
	if (config_parse_mapping(cp, "") != 0)
		return (-1);
	if (config_next(cp, &ev) != 0)
		return (-1);
	line = ev.start_mark.line + 1;
	if (ev.type != YAML_DOCUMENT_END_EVENT) {
		yaml_event_delete(&ev);
		return (config_fail(cp, line, NULL, "unexpected content"));
	}
	yaml_event_delete(&ev);
	if (config_next(cp, &ev) != 0)
		return (-1);
	line = ev.start_mark.line + 1;
	if (ev.type != YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return (config_fail(cp, line, NULL,
		    "only one YAML document is allowed"));
	}
	yaml_event_delete(&ev);
	return (0);
}

/* Defaults go through the parser too: one way in for every value. */
static void
config_apply_defaults(struct config *c)
{
	const struct config_option	*o;
	char				*why = NULL;
	char				 item[32];
	const char			*p;
	size_t				 i, n;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		o = &config_options[i];
		if (o->type != CONFIG_DURATION_LIST) {
			if (config_set(c, o, o->def, 0, &why) != 0)
				abort();
			continue;
		}
		c->webhook_retry_count = 0;
		for (p = o->def + 1; *p != '\0' && *p != ']'; p += n) {
			p += strspn(p, " ,");
			n = strcspn(p, " ,]");
			snprintf(item, sizeof item, "%.*s", (int)n, p);
			if (n > 0 && config_set_list_item(c, o, item, &why) != 0)
				abort();
		}
	}
}

/* The line a key was set on, or 1 when it kept its default. */
static size_t
config_line(struct config_parser *cp, const char *key)
{
	const struct config_option	*o = config_find(key);
	size_t				 line;

	line = o != NULL ? cp->line[o - config_options] : 0;
	return (line != 0 ? line : 1);
}

/* Rules that join two keys. */
static int
config_check(struct config_parser *cp)
{
	struct config	*c = cp->c;

	if (c->db_reconnect_min_ms > c->db_reconnect_max_ms)
		return (config_fail(cp, config_line(cp,
		    "database.reconnect_min"), "database.reconnect_min",
		    "must not exceed database.reconnect_max"));
	/* A lease must outlast an attempt, or two could run at once. */
	if (c->webhook_lease_ms <= c->webhook_timeout_ms +
	    c->webhook_connect_timeout_ms)
		return (config_fail(cp, config_line(cp, "webhooks.lease"),
		    "webhooks.lease", "must be longer than webhooks.timeout "
		    "plus webhooks.connect_timeout"));
	if (strncmp(c->webhook_public_url, "http://", 7) != 0 &&
	    strncmp(c->webhook_public_url, "https://", 8) != 0)
		return (config_fail(cp, config_line(cp, "webhooks.public_url"),
		    "webhooks.public_url", "must start with http:// or "
		    "https://"));
	return (0);
}

struct config *
config_defaults(void)
{
	struct config	*c;

	c = xcalloc(1, sizeof *c);
	config_apply_defaults(c);
	config_dispatch_params(c);
	return (c);
}

struct config *
config_load(const char *path, char **cause)
{
	struct config_parser	 cp;
	FILE			*f;
	int			 rc;

	*cause = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	memset(&cp, 0, sizeof cp);
	cp.file = path;
	cp.c = config_defaults();
	cp.c->path = xstrdup(path);
	if (!yaml_parser_initialize(&cp.yp)) {
		fclose(f);
		config_free(cp.c);
		xasprintf(cause, "%s: cannot initialise the YAML parser", path);
		return (NULL);
	}
	yaml_parser_set_input_file(&cp.yp, f);
	rc = config_parse_document(&cp);
	if (rc == 0)
		rc = config_check(&cp);
	yaml_parser_delete(&cp.yp);
	fclose(f);
	while (cp.nsections > 0)
		free(cp.sections[--cp.nsections]);
	if (rc != 0) {
		*cause = cp.cause;
		config_free(cp.c);
		return (NULL);
	}
	if (config_db_url(cp.c, config_line(&cp, "database.url"), cause) != 0) {
		config_free(cp.c);
		return (NULL);
	}
	config_dispatch_params(cp.c);
	return (cp.c);
}

void
config_free(struct config *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (config_options[i].type == CONFIG_STRING)
			free(*(char **)((char *)c + config_options[i].offset));
	}
	free(c->path);
	free(c->dispatch_params);
	free(c);
}

static int
config_value_equal(const struct config_option *o, const struct config *a,
    const struct config *b)
{
	const char	*pa = (const char *)a + o->offset;
	const char	*pb = (const char *)b + o->offset;

	switch (o->type) {
	case CONFIG_STRING:
		return (strcmp(*(char *const *)pa, *(char *const *)pb) == 0);
	case CONFIG_DOUBLE:
		return (*(const double *)pa == *(const double *)pb);
	case CONFIG_DURATION_LIST:
		return (a->webhook_retry_count == b->webhook_retry_count &&
		    memcmp(a->webhook_retry_ms, b->webhook_retry_ms,
		    sizeof a->webhook_retry_ms) == 0);
	default:
		return (*(const int *)pa == *(const int *)pb);
	}
}

int
config_reload(struct config *cur, const struct config *next)
{
	const struct config_option	*o;
	char				*pc;
	const char			*pn;
	size_t				 i;
	int				 applied = 0;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		o = &config_options[i];
		if (config_value_equal(o, cur, next))
			continue;
		if (!(o->flags & CONFIG_RELOAD)) {
			log_warn("config: %s changed; it takes effect after a "
			    "restart", o->key);
			continue;
		}
		pc = (char *)cur + o->offset;
		pn = (const char *)next + o->offset;
		switch (o->type) {
		case CONFIG_STRING:
			free(*(char **)pc);
			*(char **)pc = xstrdup(*(char *const *)pn);
			break;
		case CONFIG_DOUBLE:
			*(double *)pc = *(const double *)pn;
			break;
		case CONFIG_DURATION_LIST:
			memcpy(cur->webhook_retry_ms, next->webhook_retry_ms,
			    sizeof cur->webhook_retry_ms);
			cur->webhook_retry_count = next->webhook_retry_count;
			break;
		default:
			*(int *)pc = *(const int *)pn;
			break;
		}
		log_info("config: %s reloaded", o->key);
		applied++;
	}
	if (applied > 0)
		config_dispatch_params(cur);
	return (applied);
}
