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

void	log_init(const char *progname);
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
