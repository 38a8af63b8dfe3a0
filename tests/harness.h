/*
 * What integration tests share: the throwaway PostgreSQL cluster that
 * tests/run.sh started (its socket dir and port come from the
 * environment), databases made per test group, a real carelined run as a
 * child process, and plain blocking HTTP over loopback with libcurl.
 */
#ifndef CARELINE_TEST_HARNESS_H
#define CARELINE_TEST_HARNESS_H

#include <sys/types.h>

#include <pthread.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>

struct th_daemon {
	pid_t	 pid;
	int	 port;
	char	*config;	/* path of the config file written */
	char	*log;		/* its stderr */
	char	 url[64];	/* http://127.0.0.1:PORT */
};

struct th_response {
	long	 status;
	char	*body;		/* NUL-terminated; "" when empty */
	char	*headers;	/* raw header block */
};

void	 th_init(void);
const char *th_root(void);	/* the repository */
const char *th_bin(void);	/* carelined */
const char *th_tmp(void);	/* scratch dir, removed by run.sh */
const char *th_build_dir(void);	/* where carelined was built */

/* A new database (dropped first if it exists), PostGIS created by the
 * superuser; returns the application's conninfo (caller frees). */
char	*th_db_create(const char *name);
/* th_init, then a new database migrated: its conninfo (caller frees), or
 * NULL when either step failed. */
char	*th_db_ready(const char *name);
/* Apply sql/schema and sql/functions with carelined --migrate: exit status. */
int	 th_migrate(const char *dburl, char **out);
PGconn	*th_pg(const char *dburl);	/* aborts on failure */
/* First value of the first row, or NULL; caller frees. */
char	*th_pg_value(const char *dburl, const char *sql);
int	 th_pg_exec(const char *dburl, const char *sql);

/*
 * SQL as tests write it, on dburl. th_sql fails the test when the
 * statement fails; th_val is the first value of the first row of a
 * printf-style query, or NULL (caller frees); th_num is that value as a
 * number and fails the test when there is none; th_wait_val polls until
 * the first value is want (0), else says what it had on stderr (-1);
 * th_expect_val fails the test unless the first value is want now.
 */
void	 th_sql(const char *dburl, const char *sql);
char	*th_val(const char *dburl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
long long th_num(const char *dburl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 th_wait_val(const char *dburl, const char *want, int timeout_ms,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 th_expect_val(const char *dburl, const char *want,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * What most test groups share (harness_group.c): th_db_ready("t_NAME")
 * in *db, and tokens "NAME admin" and "NAME operator" in *admin and
 * *oper (either NULL: not made); 0, or -1 when the database is not
 * there. th_group_teardown, a cmocka group teardown, stops d (when not
 * NULL; the caller starts it) and frees the rest.
 */
int	 th_group_up(const char *name, char **db, char **admin, char **oper,
	    struct th_daemon *d);
int	 th_group_teardown(void **state);

/* Run an SQL file with psql (vars: "-v a=b" options or ""): exit status. */
int	 th_psql_file(const char *dburl, const char *file, const char *vars);
/* Stop or start the cluster under the daemons' feet (scripts/pg.sh). */
int	 th_cluster_stop(void);
int	 th_cluster_start(void);

int	 th_free_port(void);
/*
 * Write a config (base sections listen, database, log, paths, static plus
 * extra_yaml, which must name other sections) and start carelined on it.
 * wait: 0 none, 1 until /healthz answers, 2 until /readyz is 200.
 * notify: a NOTIFY_SOCKET path or NULL. Returns 0 when it got there.
 */
int	 th_daemon_start(struct th_daemon *, const char *dburl,
	    const char *extra_yaml, int wait, const char *notify);
/* Signal and wait up to timeout_ms; exit status, or -1 if still alive. */
int	 th_daemon_signal_wait(struct th_daemon *, int sig, int timeout_ms);
/*
 * For a test that writes the whole config itself: th_daemon_prepare picks
 * the port and names the config file (TMP/name-PID-N.yaml), its log and
 * the url; th_daemon_exec runs carelined on it (NOTIFY_SOCKET unset) and
 * returns at once. th_daemon_cleanup frees what they made.
 */
void	 th_daemon_prepare(struct th_daemon *, const char *name);
int	 th_daemon_exec(struct th_daemon *);
/* SIGTERM, up to 10 s for it to exit (else a note on stderr), then
 * th_daemon_cleanup. */
void	 th_daemon_stop(struct th_daemon *);
/* Kill if alive and free. */
void	 th_daemon_cleanup(struct th_daemon *);
/* Run carelined with args to completion, capturing stdout+stderr. */
int	 th_run(char **out, const char *const *argv, const char *envkv);
int	 th_file_contains(const char *path, const char *needle);
/* Lines of the file holding needle (0 when there is no file). */
int	 th_file_count(const char *path, const char *needle);
/* Replace the first from in the file by to; fails the test if none. */
void	 th_file_replace(const char *path, const char *from, const char *to);
/* The whole file, NUL-terminated (caller frees), or NULL. */
char	*th_slurp(const char *path);

/* What curl writes, kept whole and NUL-terminated; data is the caller's. */
struct th_buf {
	char	*data;
	size_t	 len;
};
/* A CURLOPT_WRITEFUNCTION (or HEADERFUNCTION) appending to a th_buf. */
size_t	 th_collect(char *, size_t, size_t, void *);
/* The body into body and the header block into head, on c. */
void	 th_collect_both(CURL *c, struct th_buf *body, struct th_buf *head);

/* headers: NULL-terminated "Name: value" strings, or NULL. Returns the
 * curl code (0 = got a response). */
/* A value of base's GET /metrics (loopback needs no token), or -1. */
long long th_metric(const char *base, const char *name);
int	 th_http(struct th_response *, const char *method, const char *url,
	    const char *body, const char *const *headers);
void	 th_response_free(struct th_response *);
/* The demo receiver as a fault-injecting provider endpoint. */
struct th_receiver {
	pid_t	 pid;
	int	 port;
	char	*log;		/* one JSON line per webhook received */
	char	*stderr_log;
	char	 url[64];	/* http://127.0.0.1:PORT/hooks */
};

/* args: extra options, space-separated (e.g. "--fail-first 2"). */
int	 th_receiver_start(struct th_receiver *, const char *args);
void	 th_receiver_stop(struct th_receiver *);
/* Lines of the receiver's log containing needle. */
int	 th_receiver_count(const struct th_receiver *, const char *needle);
/* Wait until count(needle) >= n; 0 when it got there. */
int	 th_receiver_wait(const struct th_receiver *, const char *needle,
	    int n, int timeout_ms);
/* Poll SQL until its first value equals want; 0 when it did. */
int	 th_pg_wait(const char *dburl, const char *sql, const char *want,
	    int timeout_ms);

/* An operator made by carelined --create-operator (role NULL: the
 * default); the exit status. */
int	 th_operator(const char *dburl, const char *name, const char *role,
	    const char *password);
/* A token made by carelined --create-token (caller frees). */
char	*th_token(const char *dburl, const char *role, const char *name);
/*
 * A JSON API call: token may be NULL; body is sent as application/json.
 * Returns the status; *out gets the parsed body (NULL if not JSON).
 */
long	 th_api(const char *base, const char *token, const char *method,
	    const char *path, const char *body, json_t **out);
/* POST body to path, which must answer 201: the new "id". */
long long th_api_create(const char *base, const char *token,
	    const char *path, const char *body);
/* The error code / field of an error body, or "" */
const char *th_err_code(json_t *);
const char *th_err_field(json_t *);

/* Poll a URL until it answers status or timeout_ms passes: 0 or -1. */
int	 th_wait_status(const char *url, long status, int timeout_ms);
long	 th_now_ms(void);

/*
 * A datagram socket standing in for systemd's NOTIFY_SOCKET, at
 * TMP/name-notify-PID.sock (*path, caller frees); fails the test when it
 * cannot bind. th_notify_expect: the first datagram containing want within
 * timeout_ms (caller frees), or NULL.
 */
int	 th_notify_open(const char *name, char **path);
char	*th_notify_expect(int fd, const char *want, int timeout_ms);
/* th_daemon_start with NOTIFY_SOCKET sock, until READY=1 came on fd: 0. */
int	 th_daemon_start_notified(struct th_daemon *, const char *dburl,
	    const char *extra_yaml, int fd, const char *sock);

/*
 * GET /v1/events read on a thread of its own until the server ends it or
 * th_stream_close aborts it. The fields under lock are the thread's while
 * it runs; read them through th_stream_has, or after it is done.
 */
struct th_stream {
	char		*url;		/* BASE/v1/events */
	char		*token;
	char		*last_id;	/* Last-Event-ID or NULL */
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	char		*text;		/* all read so far, NUL-terminated */
	size_t		 len;
	int		 done;		/* the transfer ended */
	int		 abort;
	CURLcode	 rc;		/* once done */
	long		 status;	/* once done */
};

/*
 * Open a stream and wait up to timeout_ms until the server has it (its
 * first comment). On the heap: when it does not come the test fails with
 * its thread still running on it, so it is returned all the same.
 */
struct th_stream *th_stream_open(const char *base, const char *token,
	    const char *last_id, int timeout_ms);
/* Has the stream got needle (or, with needle NULL, ended)? */
int	 th_stream_has(struct th_stream *, const char *needle);
/* Wait until it has: 0, or -1 after timeout_ms. */
int	 th_stream_wait(struct th_stream *, const char *needle,
	    int timeout_ms);
void	 th_stream_close(struct th_stream *);

#endif
