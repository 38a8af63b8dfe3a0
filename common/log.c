#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	enum log_level	 level;
	enum log_format	 format;
	int		 journal;	/* stderr is journald: use <N> prefixes */
	const char	*progname;
} log_state = { LOG_LEVEL_INFO, LOG_FORMAT_TEXT, 0, "careline" };

static const char *log_level_names[] = { "debug", "info", "warn", "error" };
/* syslog priorities journald understands as a "<N>" line prefix. */
static const int log_level_prio[] = { 7, 6, 4, 3 };

/*
 * journald sets JOURNAL_STREAM to "dev:ino" of the stream it gave us; only
 * then are "<N>" prefixes understood rather than printed.
 */
static int
log_stderr_is_journal(void)
{
	const char		*js;
	unsigned long long	 dev, ino;
	struct stat		 sb;

	if ((js = getenv("JOURNAL_STREAM")) == NULL)
		return (0);
	if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &sb) != 0)
		return (0);
	return ((unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino);
}

void
log_init(const char *progname)
{
	log_state.progname = progname;
	log_state.journal = log_stderr_is_journal();
}

void
log_configure(enum log_level level, enum log_format format)
{
	log_state.level = level;
	log_state.format = format;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof log_level_names / sizeof *log_level_names; i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

int
log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return (-1);
	return (0);
}

const char *
log_level_name(enum log_level level)
{
	return (log_level_names[level]);
}

int
log_enabled(enum log_level level)
{
	return (level >= log_state.level);
}

/* Escape for a JSON string; the message is ours, but may quote input. */
static void
log_json_escape(FILE *f, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[2048], ts[40];
	struct timespec	 now;
	struct tm	 tm;
	char		*nl;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One event, one line: never let a message break the line. */
	while ((nl = strpbrk(msg, "\r\n")) != NULL)
		*nl = ' ';

	if (log_state.format == LOG_FORMAT_JSON) {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		flockfile(stderr);
		if (log_state.journal)
			fprintf(stderr, "<%d>", log_level_prio[level]);
		fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\","
		    "\"msg\":\"", ts, now.tv_nsec / 1000000,
		    log_level_names[level]);
		log_json_escape(stderr, msg);
		fputs("\"}\n", stderr);
		funlockfile(stderr);
	} else if (log_state.journal) {
		/* journald stamps the time itself. */
		fprintf(stderr, "<%d>%s\n", log_level_prio[level], msg);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%d] %-5s %s\n", ts,
		    now.tv_nsec / 1000000, log_state.progname, (int)getpid(),
		    log_level_names[level], msg);
	}
}
