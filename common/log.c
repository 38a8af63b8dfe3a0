#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
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

/* One line being followed by the repeat limiter. */
struct log_repeat {
	char		*msg;		/* NULL: a free slot */
	uint64_t	 hash;
	enum log_level	 level;
	long long	 first_ms;	/* when it was printed */
	long long	 last_ms;	/* its last repeat */
	int		 repeats;	/* held back since */
};

static struct {
	struct log_repeat	 slot[LOG_REPEAT_SLOTS];
	int			 window_ms;
	long long		(*clock_ms)(void);
	int			 atexit_done;
} log_repeat = { .window_ms = LOG_REPEAT_WINDOW_MS };

/* Password threads may log too. */
static pthread_mutex_t	log_repeat_lock = PTHREAD_MUTEX_INITIALIZER;

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

static void	log_write(enum log_level, const char *);

static long long
log_now_ms(void)
{
	struct timespec	now;

	if (log_repeat.clock_ms != NULL)
		return (log_repeat.clock_ms());
	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

/* Say how many repeats were held back, and free the slot. */
static void
log_repeat_end(struct log_repeat *r)
{
	char		 line[2200];
	long long	 s;

	if (r->repeats > 0) {
		s = (r->last_ms - r->first_ms + 999) / 1000;
		snprintf(line, sizeof line, "%s (repeated %d more time%s in "
		    "%lld s)", r->msg, r->repeats, r->repeats == 1 ? "" : "s",
		    s > 0 ? s : 1);
		log_write(r->level, line);
	}
	free(r->msg);
	memset(r, 0, sizeof *r);
}

static void
log_repeat_expire(long long now, int all)
{
	int	i;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		if (log_repeat.slot[i].msg != NULL && (all ||
		    now - log_repeat.slot[i].first_ms >= log_repeat.window_ms))
			log_repeat_end(&log_repeat.slot[i]);
	}
}

static uint64_t
log_hash(enum log_level level, const char *s)
{
	uint64_t	h = 1469598103934665603ULL ^ (uint64_t)level;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h);
}

/* 1 when msg is a repeat within its window: count it, print nothing. */
static int
log_repeat_held(enum log_level level, const char *msg)
{
	struct log_repeat	*r, *free_slot = NULL, *oldest = NULL;
	uint64_t		 h;
	long long		 now;
	int			 i;

	if (log_repeat.window_ms <= 0)
		return (0);
	now = log_now_ms();
	log_repeat_expire(now, 0);
	h = log_hash(level, msg);
	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		r = &log_repeat.slot[i];
		if (r->msg == NULL) {
			if (free_slot == NULL)
				free_slot = r;
			continue;
		}
		if (r->hash == h && r->level == level &&
		    strcmp(r->msg, msg) == 0) {
			r->repeats++;
			r->last_ms = now;
			return (1);
		}
		if (oldest == NULL || r->first_ms < oldest->first_ms)
			oldest = r;
	}
	if ((r = free_slot) == NULL) {
		/* Too many distinct lines at once: end the oldest early. */
		r = oldest;
		log_repeat_end(r);
	}
	if ((r->msg = strdup(msg)) == NULL)
		return (0);	/* not followed, but still printed */
	r->hash = h;
	r->level = level;
	r->first_ms = r->last_ms = now;
	r->repeats = 0;
	return (0);
}

void
log_tick(void)
{
	pthread_mutex_lock(&log_repeat_lock);
	log_repeat_expire(log_now_ms(), 0);
	pthread_mutex_unlock(&log_repeat_lock);
}

void
log_flush(void)
{
	pthread_mutex_lock(&log_repeat_lock);
	log_repeat_expire(0, 1);
	pthread_mutex_unlock(&log_repeat_lock);
}

void
log_set_repeat(int window_ms, long long (*clock_ms)(void))
{
	pthread_mutex_lock(&log_repeat_lock);
	log_repeat.window_ms = window_ms;
	log_repeat.clock_ms = clock_ms;
	pthread_mutex_unlock(&log_repeat_lock);
}

void
log_init(const char *progname)
{
	int	i;

	log_state.progname = progname;
	log_state.journal = log_stderr_is_journal();
	pthread_mutex_lock(&log_repeat_lock);
	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		free(log_repeat.slot[i].msg);
		memset(&log_repeat.slot[i], 0, sizeof log_repeat.slot[i]);
	}
	/* Whatever ends the process, held-back counts are not lost. */
	if (!log_repeat.atexit_done) {
		log_repeat.atexit_done = 1;
		atexit(log_flush);
	}
	pthread_mutex_unlock(&log_repeat_lock);
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
	char		 msg[2048];
	char		*nl;
	int		 held;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One event, one line: never let a message break the line. */
	while ((nl = strpbrk(msg, "\r\n")) != NULL)
		*nl = ' ';

	pthread_mutex_lock(&log_repeat_lock);
	held = log_repeat_held(level, msg);
	if (!held)
		log_write(level, msg);
	pthread_mutex_unlock(&log_repeat_lock);
}

static void
log_write(enum log_level level, const char *msg)
{
	char		 ts[40];
	struct timespec	 now;
	struct tm	 tm;

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
