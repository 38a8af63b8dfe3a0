/*
 * One line per event on stderr, which journald captures. Never pass a
 * secret, a token or a person's name, phone or address: ids only.
 */
#ifndef CARELINE_LOG_H
#define CARELINE_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/*
 * The same line (same level, same text) again within the window of its
 * first showing is counted, not printed; once the window is over, one
 * line says how many were held back, so an outage that refuses every
 * request costs two lines per window instead of one per request.
 */
#define LOG_REPEAT_WINDOW_MS	10000
#define LOG_REPEAT_SLOTS	32	/* distinct lines followed at once */

/* Also forgets every line followed (nothing is printed). */
void	log_init(const char *progname);
/* Print the summaries whose window is over: call it about once a second. */
void	log_tick(void);
/* Print every summary still held, window over or not (at exit). */
void	log_flush(void);
/*
 * Tests: the window (0 turns the limiter off) and the clock it reads, in
 * milliseconds (NULL: CLOCK_MONOTONIC).
 */
void	log_set_repeat(int window_ms, long long (*clock_ms)(void));
void	log_configure(enum log_level, enum log_format);
int	log_level_parse(const char *, enum log_level *);
int	log_format_parse(const char *, enum log_format *);
const char *log_level_name(enum log_level);
int	log_enabled(enum log_level);
void	log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_debug(...) do {					\
	if (log_enabled(LOG_LEVEL_DEBUG))				\
		log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);			\
} while (0)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
