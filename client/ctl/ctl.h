/*
 * carelinectl's parts (client/ctl/): what every file shares. One file
 * per command group (cmd-*.c, each with its commands' entries), the
 * command line (parse.c, usage.c, conf.c), and what commands share: one
 * HTTP/JSON request (http.c), tables (table.c), text for a terminal
 * (text.c) and the Server-Sent Events parser (stream.c).
 */
#ifndef CARELINE_CTL_H
#define CARELINE_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#ifndef CTL_VERSION
#error "CTL_VERSION: the Makefile passes the file VERSION's"
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

struct ctl_cmdopt {
	enum ctl_opt	 opt;
	int		 required;
};

struct ctl;

/* A command: its entry lives in its cmd-*.c, the list in main.c. */
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

/* A body as it arrives, NUL-terminated; data is the owner's to free. */
struct ctl_buf {
	char	*data;
	size_t	 len;
};

struct ctl_table;

/* One event stream being read (stream.c); its strings are its own. */
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
	/* Each event dispatched: its type ("message" if none) and data. */
	void		(*onevent)(struct ctl_sse *, const char *,
			    const char *);
};

/* main.c */
extern const struct ctl_command *const ctl_commands[];	/* ends with NULL */

extern const struct ctl_command ctl_call_new_entry;
extern const struct ctl_command ctl_call_show_entry;
extern const struct ctl_command ctl_call_cancel_entry;
extern const struct ctl_command ctl_call_complete_entry;
extern const struct ctl_command ctl_calls_entry;
extern const struct ctl_command ctl_resident_find_entry;
extern const struct ctl_command ctl_provider_list_entry;
extern const struct ctl_command ctl_provider_add_entry;
extern const struct ctl_command ctl_provider_deactivate_entry;
extern const struct ctl_command ctl_deliveries_entry;
extern const struct ctl_command ctl_watch_entry;

/* parse.c */
extern const struct ctl_option ctl_options[OPT_END];
extern const struct ctl_cmdopt ctl_opts_none[];
int		 ctl_parse(struct ctl *, int, char **);
long long	 ctl_idval(const char *);
int		 ctl_set_string(struct ctl *, json_t *, const char *,
		    enum ctl_opt);

/* usage.c */
void		 ctl_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 ctl_usage(const struct ctl_command *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 ctl_help(const struct ctl_command *, FILE *);

/* conf.c */
int		 ctl_conf_resolve(struct ctl *);
void		 ctl_secret_free(char *);

/* text.c */
extern int	 ctl_locale_utf8;
int		 ctl_width(const char *);
char		*ctl_clean(const char *, int);
const char	*ctl_jtext(json_t *, const char *, char *, size_t);
long long	 ctl_jint(json_t *, const char *);
const char	*ctl_time_fmt(const char *, const char *, char *, size_t);
const char	*ctl_jtime(json_t *, const char *, char *, size_t);

/* table.c */
struct ctl_table *ctl_table_new(int, int, unsigned);
void		 ctl_table_row(struct ctl_table *, ...);
void		 ctl_table_print(const struct ctl_table *, FILE *);
void		 ctl_table_free(struct ctl_table *);

/* http.c */
size_t		 ctl_buf_write(char *, size_t, size_t, void *);
struct curl_slist *ctl_http_setup(struct ctl *, const char *, const char *,
		    char *);
void		 ctl_unreachable(struct ctl *, CURLcode, const char *);
int		 ctl_api_fail(struct ctl *, long, json_t *);
int		 ctl_api(struct ctl *, const char *, const char *, json_t *,
		    json_t **);
void		 ctl_query(struct ctl *, char **, const char *, const char *);
int		 ctl_list_get(struct ctl *, const char *, char *, json_t **);
int		 ctl_list_done(struct ctl *, json_t *);

/* stream.c: curl's write function for a struct ctl_sse. */
size_t		 ctl_sse_write(char *, size_t, size_t, void *);

#endif
