#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "xmalloc.h"

static struct {
	const char	*root, *bin, *tmp, *pghost, *pgport, *pgdir;
	int		 ready;
} th;

static const char *
th_env(const char *name)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "harness: %s is not set; run the tests through "
		    "tests/run.sh (make test)\n", name);
		exit(1);
	}
	return (v);
}

void
th_init(void)
{
	if (th.ready)
		return;
	th.root = th_env("CARELINE_TEST_ROOT");
	th.bin = th_env("CARELINE_TEST_BIN");
	th.tmp = th_env("CARELINE_TEST_TMP");
	th.pghost = th_env("CARELINE_TEST_PGHOST");
	th.pgport = th_env("CARELINE_TEST_PGPORT");
	th.pgdir = th_env("CARELINE_TEST_PGDIR");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	th.ready = 1;
}

const char *th_root(void) { return (th.root); }
const char *th_bin(void) { return (th.bin); }
const char *th_tmp(void) { return (th.tmp); }

long
th_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000);
}

static void
th_sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

PGconn *
th_pg(const char *dburl)
{
	PGconn	*pg = PQconnectdb(dburl);

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "harness: connect %s: %s", dburl,
		    PQerrorMessage(pg));
		abort();
	}
	return (pg);
}

int
th_pg_exec(const char *dburl, const char *sql)
{
	PGconn		*pg = th_pg(dburl);
	PGresult	*res = PQexec(pg, sql);
	int		 st = PQresultStatus(res), rc;

	rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "harness: %s: %s", sql,
		    PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(pg);
	return (rc);
}

char *
th_pg_value(const char *dburl, const char *sql)
{
	PGconn		*pg = th_pg(dburl);
	PGresult	*res = PQexec(pg, sql);
	char		*v = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		v = xstrdup(PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "harness: %s: %s", sql,
		    PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(pg);
	return (v);
}

char *
th_db_create(const char *name)
{
	char	*admin, *db, *sql;

	xasprintf(&admin, "host=%s port=%s dbname=postgres user=postgres",
	    th.pghost, th.pgport);
	xasprintf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	th_pg_exec(admin, sql);
	free(sql);
	xasprintf(&sql, "CREATE DATABASE %s OWNER careline", name);
	if (th_pg_exec(admin, sql) != 0)
		abort();
	free(sql);
	free(admin);
	xasprintf(&admin, "host=%s port=%s dbname=%s user=postgres",
	    th.pghost, th.pgport, name);
	if (th_pg_exec(admin, "CREATE EXTENSION postgis; "
	    "ALTER SCHEMA public OWNER TO careline") != 0)
		abort();
	free(admin);
	xasprintf(&db, "host=%s port=%s dbname=%s user=careline", th.pghost,
	    th.pgport, name);
	return (db);
}

static char *
th_slurp_fd(int fd)
{
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (cap - len < 4096)
			buf = xrealloc(buf, cap += 65536);
		if ((n = read(fd, buf + len, cap - len - 1)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
	}
	if (buf == NULL)
		buf = xmalloc(1);
	buf[len] = '\0';
	return (buf);
}

char *
th_slurp(const char *path)
{
	char	*buf;
	int	 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (NULL);
	buf = th_slurp_fd(fd);
	close(fd);
	return (buf);
}

void
th_file_replace(const char *path, const char *from, const char *to)
{
	char	*text, *at;
	FILE	*f;

	assert_non_null(text = th_slurp(path));
	assert_non_null(at = strstr(text, from));
	*at = '\0';
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s%s%s", text, to, at + strlen(from));
	assert_int_equal(fclose(f), 0);
	free(text);
}

int
th_file_contains(const char *path, const char *needle)
{
	char	*buf;
	int	 found;

	if ((buf = th_slurp(path)) == NULL)
		return (0);
	found = strstr(buf, needle) != NULL;
	free(buf);
	return (found);
}

int
th_run(char **out, const char *const *argv, const char *envkv)
{
	int	 p[2], status;
	pid_t	 pid;

	if (pipe(p) != 0)
		abort();
	if ((pid = fork()) == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		if (envkv != NULL)
			putenv((char *)envkv);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*out = th_slurp_fd(p[0]);
	close(p[0]);
	waitpid(pid, &status, 0);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

/* "@PORT@" in a config snippet becomes the daemon's own port. */
static const char *
th_subst_port(const char *extra, int port)
{
	static char	 buf[8192];
	const char	*at;
	size_t		 n;

	if (extra == NULL || (at = strstr(extra, "@PORT@")) == NULL)
		return (extra);
	n = (size_t)(at - extra);
	snprintf(buf, sizeof buf, "%.*s%d%s", (int)n, extra, port, at + 6);
	return (buf);
}

static char *
th_write_config(int port, const char *dburl, const char *extra)
{
	static int	 n;
	char		*path;
	FILE		*f;

	xasprintf(&path, "%s/carelined-%d-%d.yaml", th.tmp, (int)getpid(),
	    n++);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f,
	    "listen:\n  address: 127.0.0.1\n  port: %d\n"
	    "database:\n  url: \"%s\"\n  pool_size: 4\n"
	    "  reconnect_min: 50ms\n  reconnect_max: 500ms\n"
	    "log:\n  level: info\n"
	    "paths:\n  sql_dir: %s/sql\n",
	    port, dburl, th.root);
	/* A test may bring its own console files. */
	if (extra == NULL || strstr(extra, "static:") == NULL)
		fprintf(f, "static:\n  dir: %s/client/www\n", th.root);
	fputs(extra != NULL ? extra : "", f);
	fclose(f);
	return (path);
}

int
th_migrate(const char *dburl, char **out)
{
	const char	*argv[5];
	char		*cfg, *ignored = NULL;
	int		 rc;

	cfg = th_write_config(th_free_port(), dburl, NULL);
	argv[0] = th.bin;
	argv[1] = "-c";
	argv[2] = cfg;
	argv[3] = "--migrate";
	argv[4] = NULL;
	rc = th_run(out != NULL ? out : &ignored, argv, NULL);
	free(ignored);
	unlink(cfg);
	free(cfg);
	return (rc);
}

int
th_psql_file(const char *dburl, const char *file, const char *vars)
{
	char	*cmd;
	int	 rc;

	xasprintf(&cmd, "psql '%s' -q -v ON_ERROR_STOP=1 %s -f '%s/%s' "
	    ">/dev/null 2>'%s/psql.err'", dburl, vars, th.root, file, th.tmp);
	rc = system(cmd);
	free(cmd);
	rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	if (rc != 0) {
		xasprintf(&cmd, "cat '%s/psql.err' >&2", th.tmp);
		if (system(cmd) != 0)
			rc = -1;
		free(cmd);
	}
	return (rc);
}

static int
th_pg_script(const char *verb)
{
	char	*cmd;
	int	 rc;

	xasprintf(&cmd, "PG_FAST=1 '%s/scripts/pg.sh' %s '%s' %s >/dev/null "
	    "2>&1", th.root, verb, th.pgdir,
	    strcmp(verb, "start") == 0 ? th.pgport : "");
	rc = system(cmd);
	free(cmd);
	return (WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

int th_cluster_stop(void) { return (th_pg_script("stop")); }
int th_cluster_start(void) { return (th_pg_script("start")); }

int
th_free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		abort();
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/* Fork carelined on d->config, its output to d->log. */
static int
th_daemon_fork(struct th_daemon *d, const char *notify)
{
	int	fd;

	if ((d->pid = fork()) == 0) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		close(fd);
		if (notify != NULL)
			setenv("NOTIFY_SOCKET", notify, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		execl(th.bin, th.bin, "-c", d->config, (char *)NULL);
		_exit(127);
	}
	return (d->pid > 0 ? 0 : -1);
}

int
th_daemon_start(struct th_daemon *d, const char *dburl, const char *extra,
    int wait, const char *notify)
{
	char	*url;
	int	 rc = 0;

	memset(d, 0, sizeof *d);
	d->port = th_free_port();
	d->config = th_write_config(d->port, dburl, th_subst_port(extra,
	    d->port));
	xasprintf(&d->log, "%s.log", d->config);
	snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", d->port);
	if (th_daemon_fork(d, notify) != 0)
		return (-1);
	if (wait == 0)
		return (0);
	xasprintf(&url, "%s/%s", d->url, wait == 1 ? "healthz" : "readyz");
	rc = th_wait_status(url, 200, 10000);
	free(url);
	return (rc);
}

void
th_daemon_prepare(struct th_daemon *d, const char *name)
{
	static int	n;

	memset(d, 0, sizeof *d);
	d->port = th_free_port();
	xasprintf(&d->config, "%s/carelined-%s-%d-%d.yaml", th.tmp, name,
	    (int)getpid(), n++);
	xasprintf(&d->log, "%s.log", d->config);
	snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", d->port);
}

int
th_daemon_exec(struct th_daemon *d)
{
	return (th_daemon_fork(d, NULL));
}

int
th_daemon_signal_wait(struct th_daemon *d, int sig, int timeout_ms)
{
	long	deadline = th_now_ms() + timeout_ms;
	int	status;
	pid_t	r;

	if (d->pid <= 0)
		return (-1);
	if (sig != 0)
		kill(d->pid, sig);
	for (;;) {
		r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status))
				return (WEXITSTATUS(status));
			return (128 + (WIFSIGNALED(status) ?
			    WTERMSIG(status) : 0));
		}
		if (th_now_ms() >= deadline)
			return (-1);
		th_sleep_ms(10);
	}
}

void
th_daemon_cleanup(struct th_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	if (d->config != NULL)
		unlink(d->config);
	free(d->config);
	free(d->log);
	d->config = d->log = NULL;
}

size_t
th_collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct th_buf	*b = arg;

	b->data = xrealloc(b->data, b->len + size * n + 1);
	memcpy(b->data + b->len, ptr, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return (size * n);
}

void
th_collect_both(CURL *c, struct th_buf *body, struct th_buf *head)
{
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, head);
}

int
th_http(struct th_response *resp, const char *method, const char *url,
    const char *body, const char *const *headers)
{
	CURL			*c;
	struct curl_slist	*hl = NULL;
	struct th_buf		 b = { NULL, 0 }, h = { NULL, 0 };
	int			 rc, i;

	memset(resp, 0, sizeof *resp);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	th_collect_both(c, &b, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* Send paths as written: traversal tests need the dots. */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	resp->body = b.data != NULL ? b.data : xstrdup("");
	resp->headers = h.data != NULL ? h.data : xstrdup("");
	return (rc);
}

void
th_response_free(struct th_response *r)
{
	free(r->body);
	free(r->headers);
	r->body = r->headers = NULL;
}

long long
th_metric(const char *base, const char *name)
{
	struct th_response	 r;
	char			*u, *want, *p;
	long long		 v = -1;

	memset(&r, 0, sizeof r);
	u = xprintf("%s/metrics", base);
	want = xprintf("\n%s ", name);
	if (th_http(&r, "GET", u, NULL, NULL) == 0 && r.status == 200 &&
	    (p = strstr(r.body, want)) != NULL)
		v = atoll(p + strlen(want));
	th_response_free(&r);
	free(want);
	free(u);
	return (v);
}

int
th_wait_status(const char *url, long status, int timeout_ms)
{
	struct th_response	r;
	long			deadline = th_now_ms() + timeout_ms;
	int			rc;

	for (;;) {
		rc = th_http(&r, "GET", url, NULL, NULL);
		th_response_free(&r);
		if (rc == 0 && r.status == status)
			return (0);
		if (th_now_ms() >= deadline)
			return (-1);
		th_sleep_ms(20);
	}
}

char *
th_token(const char *dburl, const char *role, const char *name)
{
	const char	*argv[9];
	char		*cfg, *out, *nl, *tok;
	int		 rc;

	cfg = th_write_config(th_free_port(), dburl, NULL);
	argv[0] = th.bin;
	argv[1] = "-c";
	argv[2] = cfg;
	argv[3] = "--create-token";
	argv[4] = "--role";
	argv[5] = role;
	argv[6] = "--name";
	argv[7] = name;
	argv[8] = NULL;
	rc = th_run(&out, argv, NULL);
	unlink(cfg);
	free(cfg);
	/* stdout and stderr are merged: the token is the line of its own. */
	for (tok = out; tok != NULL && *tok != '\0'; tok = nl) {
		nl = strchr(tok, '\n');
		if (strncmp(tok, "clt_", 4) == 0 && nl != NULL &&
		    nl - tok == 47) {
			tok = xstrndup(tok, 47);
			free(out);
			return (tok);
		}
		if (nl != NULL)
			nl++;
	}
	fprintf(stderr, "harness: --create-token failed (%d): %s\n", rc, out);
	abort();
}

int
th_operator(const char *dburl, const char *name, const char *role,
    const char *password)
{
	const char	*argv[8];
	char		*cfg, *out, *env;
	int		 rc, i = 0;

	cfg = th_write_config(th_free_port(), dburl, NULL);
	argv[i++] = th.bin;
	argv[i++] = "-c";
	argv[i++] = cfg;
	argv[i++] = "--create-operator";
	argv[i++] = name;
	if (role != NULL) {
		argv[i++] = "--role";
		argv[i++] = role;
	}
	argv[i] = NULL;
	env = xprintf("CARELINE_PASSWORD=%s", password);
	rc = th_run(&out, argv, env);
	free(out);
	free(env);
	unlink(cfg);
	free(cfg);
	return (rc);
}

long
th_api(const char *base, const char *token, const char *method,
    const char *path, const char *body, json_t **out)
{
	struct th_response	 r;
	const char		*headers[3];
	char			*auth = NULL, *url;
	int			 n = 0;

	if (token != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	if (body != NULL)
		headers[n++] = "Content-Type: application/json";
	headers[n] = NULL;
	xasprintf(&url, "%s%s", base, path);
	if (th_http(&r, method, url, body, headers) != 0)
		r.status = -1;
	if (out != NULL)
		*out = json_loads(r.body, 0, NULL);
	th_response_free(&r);
	free(url);
	free(auth);
	return (r.status);
}

const char *
th_err_code(json_t *j)
{
	const char	*s = json_string_value(json_object_get(
			    json_object_get(j, "error"), "code"));

	return (s != NULL ? s : "");
}

const char *
th_err_field(json_t *j)
{
	const char	*s = json_string_value(json_object_get(
			    json_object_get(j, "error"), "field"));

	return (s != NULL ? s : "");
}

int
th_file_count(const char *path, const char *needle)
{
	FILE	*f;
	char	 line[8192];
	int	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, needle) != NULL)
			n++;
	}
	fclose(f);
	return (n);
}

int
th_pg_wait(const char *dburl, const char *sql, const char *want,
    int timeout_ms)
{
	long	 deadline = th_now_ms() + timeout_ms;
	char	*v;
	int	 same;

	for (;;) {
		v = th_pg_value(dburl, sql);
		same = v != NULL && strcmp(v, want) == 0;
		free(v);
		if (same)
			return (0);
		if (th_now_ms() >= deadline)
			return (-1);
		th_sleep_ms(25);
	}
}

const char *
th_build_dir(void)
{
	static char	 dir[4096];
	char		*slash;

	/* carelined lives in the build directory: so does the receiver. */
	snprintf(dir, sizeof dir, "%s", th.bin);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	return (dir);
}

void
th_sql(const char *dburl, const char *sql)
{
	if (th_pg_exec(dburl, sql) != 0)
		fail_msg("%s", sql);
}

static char *
th_vquery(const char *fmt, va_list ap)
{
	char	*q;

	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	return (q);
}

char *
th_val(const char *dburl, const char *fmt, ...)
{
	va_list	 ap;
	char	*q, *v;

	va_start(ap, fmt);
	q = th_vquery(fmt, ap);
	va_end(ap);
	v = th_pg_value(dburl, q);
	free(q);
	return (v);
}

long long
th_num(const char *dburl, const char *fmt, ...)
{
	va_list		 ap;
	char		*q, *v;
	long long	 n;

	va_start(ap, fmt);
	q = th_vquery(fmt, ap);
	va_end(ap);
	v = th_pg_value(dburl, q);
	if (v == NULL)
		fail_msg("no value: %s", q);
	free(q);
	n = atoll(v);
	free(v);
	return (n);
}

int
th_wait_val(const char *dburl, const char *want, int timeout_ms,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*q, *v;
	int	 rc;

	va_start(ap, fmt);
	q = th_vquery(fmt, ap);
	va_end(ap);
	if ((rc = th_pg_wait(dburl, q, want, timeout_ms)) != 0) {
		v = th_pg_value(dburl, q);
		fprintf(stderr, "waited for %s, have %s: %s\n", want,
		    v != NULL ? v : "NULL", q);
		free(v);
	}
	free(q);
	return (rc);
}

void
th_expect_val(const char *dburl, const char *want, const char *fmt, ...)
{
	va_list	 ap;
	char	*q, *v;
	int	 same;

	va_start(ap, fmt);
	q = th_vquery(fmt, ap);
	va_end(ap);
	v = th_pg_value(dburl, q);
	if (!(same = v != NULL && strcmp(v, want) == 0))
		fprintf(stderr, "want %s, have %s: %s\n", want,
		    v != NULL ? v : "NULL", q);
	free(v);
	free(q);
	assert_true(same);
}

char *
th_db_ready(const char *name)
{
	char	*db;

	th_init();
	db = th_db_create(name);
	if (th_migrate(db, NULL) != 0) {
		free(db);
		return (NULL);
	}
	return (db);
}

void
th_daemon_stop(struct th_daemon *d)
{
	if (d->pid > 0 && th_daemon_signal_wait(d, SIGTERM, 10000) != 0)
		fprintf(stderr, "carelined did not exit 0 on SIGTERM\n");
	th_daemon_cleanup(d);
}

long long
th_api_create(const char *base, const char *token, const char *path,
    const char *body)
{
	json_t		*j;
	long long	 id;

	assert_int_equal(th_api(base, token, "POST", path, body, &j), 201);
	id = (long long)json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	return (id);
}
