/*
 * What integration tests share: the throwaway PostgreSQL cluster that
 * tests/run.sh started (its socket dir and port come from the
 * environment), databases made per test group, a real carelined run as a
 * child process, and plain blocking HTTP over loopback with libcurl.
 */
#ifndef CARELINE_TEST_HARNESS_H
#define CARELINE_TEST_HARNESS_H

#include <sys/types.h>

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
/* Apply sql/schema and sql/functions with carelined --migrate: exit status. */
int	 th_migrate(const char *dburl, char **out);
PGconn	*th_pg(const char *dburl);	/* aborts on failure */
/* First value of the first row, or NULL; caller frees. */
char	*th_pg_value(const char *dburl, const char *sql);
int	 th_pg_exec(const char *dburl, const char *sql);

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
/* Kill if alive and free. */
void	 th_daemon_cleanup(struct th_daemon *);
/* Run carelined with args to completion, capturing stdout+stderr. */
int	 th_run(char **out, const char *const *argv, const char *envkv);
int	 th_file_contains(const char *path, const char *needle);

/* headers: NULL-terminated "Name: value" strings, or NULL. Returns the
 * curl code (0 = got a response). */
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

/* A token made by carelined --create-token (caller frees). */
char	*th_token(const char *dburl, const char *role, const char *name);
/*
 * A JSON API call: token may be NULL; body is sent as application/json.
 * Returns the status; *out gets the parsed body (NULL if not JSON).
 */
long	 th_api(const char *base, const char *token, const char *method,
	    const char *path, const char *body, json_t **out);
/* The error code / field of an error body, or "" */
const char *th_err_code(json_t *);
const char *th_err_field(json_t *);

/* Poll a URL until it answers status or timeout_ms passes: 0 or -1. */
int	 th_wait_status(const char *url, long status, int timeout_ms);
long	 th_now_ms(void);

#endif
