#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "crypto.h"
#include "log.h"
#include "migrate.h"
#include "xmalloc.h"

#ifndef CARELINE_SCHEMA_VERSION
#error "CARELINE_SCHEMA_VERSION must come from the Makefile"
#endif

#define MIGRATE_MAX_FILE	(8 * 1024 * 1024)
/* pg_advisory_lock key: two migrators never run at once. */
#define MIGRATE_LOCK_KEY	"7420250001"

struct migration {
	int	 version;
	char	*name;		/* file name */
	char	*path;
};

int
migrate_required_version(void)
{
	return (CARELINE_SCHEMA_VERSION);
}

static int
migrate_cmp(const void *a, const void *b)
{
	const struct migration	*ma = a, *mb = b;

	return (ma->version - mb->version);
}

static void
migrate_list_free(struct migration *m, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].path);
	}
	free(m);
}

/* "NNNN_words.sql", sorted by NNNN; a repeated number is an error. */
static int
migrate_list(const char *sqldir, struct migration **out, int *count,
    char **cause)
{
	struct migration	*m = NULL;
	struct dirent		*de;
	DIR			*d;
	char			*dir;
	size_t			 len;
	int			 n = 0, i;

	xasprintf(&dir, "%s/migrations", sqldir);
	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s (paths.sql_dir)", dir,
		    strerror(errno));
		free(dir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 10 || strspn(de->d_name, "0123456789") != 4 ||
		    de->d_name[4] != '_' ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		m = xrealloc(m, (n + 1) * sizeof *m);
		m[n].version = atoi(de->d_name);
		m[n].name = xstrdup(de->d_name);
		xasprintf(&m[n].path, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	free(dir);
	qsort(m, n, sizeof *m, migrate_cmp);
	for (i = 1; i < n; i++) {
		if (m[i].version == m[i - 1].version) {
			xasprintf(cause, "migrations %s and %s share a number",
			    m[i - 1].name, m[i].name);
			migrate_list_free(m, n);
			return (-1);
		}
	}
	*out = m;
	*count = n;
	return (0);
}

static char *
migrate_read(const char *path, size_t *lenp, char **cause)
{
	FILE		*f;
	struct stat	 sb;
	char		*buf;

	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fileno(f), &sb) != 0 || sb.st_size > MIGRATE_MAX_FILE) {
		xasprintf(cause, "%s: unreadable or too large", path);
		fclose(f);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		xasprintf(cause, "%s: short read", path);
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[sb.st_size] = '\0';
	*lenp = (size_t)sb.st_size;
	fclose(f);
	return (buf);
}

static PGconn *
migrate_connect(const struct config *cfg, char **cause)
{
	PGconn	*pg;

	pg = PQconnectdb(cfg->db_url);
	if (PQstatus(pg) != CONNECTION_OK) {
		xasprintf(cause, "cannot connect to the database: %s",
		    PQerrorMessage(pg));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQfinish(pg);
		return (NULL);
	}
	return (pg);
}

/* Run one command; on failure fill cause with what and why. */
static int
migrate_exec(PGconn *pg, const char *sql, const char *what, char **cause)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexec(pg, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		xasprintf(cause, "%s: %s", what, PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

/* The applied version: 0 for none (no table yet), -1 on error. */
static int
migrate_current(PGconn *pg, char **cause)
{
	PGresult	*res;
	int		 v;

	/* Two steps: a query naming a missing table fails at parse time. */
	res = PQexec(pg, "SELECT to_regclass('schema_migrations') IS NULL");
	if (PQresultStatus(res) == PGRES_TUPLES_OK &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		return (0);
	}
	PQclear(res);
	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM "
	    "schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		xasprintf(cause, "reading schema_migrations: %s",
		    PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return (-1);
	}
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (v);
}

/* 1 if this version is recorded, 0 if not, -1 on error. */
static int
migrate_applied(PGconn *pg, int version, char **cause)
{
	PGresult	*res;
	char		 v[16];
	const char	*params[1] = { v };
	int		 found;

	snprintf(v, sizeof v, "%d", version);
	res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version "
	    "= $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		xasprintf(cause, "reading schema_migrations: %s",
		    PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return (-1);
	}
	found = PQntuples(res) > 0;
	PQclear(res);
	return (found);
}

static int
migrate_apply(PGconn *pg, const struct migration *m, char **cause)
{
	unsigned char	 sum[CRYPTO_SHA256_LEN];
	char		 hex[2 * CRYPTO_SHA256_LEN + 1], vbuf[16];
	const char	*params[3];
	PGresult	*res;
	char		*sql, *why = NULL;
	size_t		 len;

	if ((sql = migrate_read(m->path, &len, cause)) == NULL)
		return (-1);
	crypto_sha256(sql, len, sum);
	crypto_hex(sum, sizeof sum, hex);
	snprintf(vbuf, sizeof vbuf, "%d", m->version);

	if (migrate_exec(pg, "BEGIN", m->name, cause) != 0) {
		free(sql);
		return (-1);
	}
	if (migrate_exec(pg, sql, m->name, &why) != 0) {
		free(sql);
		*cause = why;
		migrate_exec(pg, "ROLLBACK", m->name, &why);
		return (-1);
	}
	free(sql);
	params[0] = vbuf;
	params[1] = m->name;
	params[2] = hex;
	res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name, "
	    "checksum) VALUES ($1, $2, $3)", 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		xasprintf(cause, "%s: recording it: %s", m->name,
		    PQresultErrorMessage(res));
		PQclear(res);
		migrate_exec(pg, "ROLLBACK", m->name, &why);
		free(why);
		return (-1);
	}
	PQclear(res);
	return (migrate_exec(pg, "COMMIT", m->name, cause));
}

int
migrate_run(const struct config *cfg, char **cause)
{
	struct migration	*m = NULL;
	PGconn			*pg;
	int			 n = 0, i, current, applied = 0, rc = -1;
	int			 done;

	if (migrate_list(cfg->sql_dir, &m, &n, cause) != 0)
		return (-1);
	if ((pg = migrate_connect(cfg, cause)) == NULL) {
		migrate_list_free(m, n);
		return (-1);
	}
	if (migrate_exec(pg, "SET client_min_messages = warning", "set",
	    cause) != 0 ||
	    migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	    "taking the migration lock", cause) != 0 ||
	    migrate_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version integer PRIMARY KEY CHECK (version > 0), "
	    "name text NOT NULL, checksum text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_migrations", cause) != 0)
		goto out;
	if ((current = migrate_current(pg, cause)) < 0)
		goto out;
	/*
	 * Every file not yet recorded, in order: a migration merged after a
	 * higher-numbered one was applied still runs.
	 */
	for (i = 0; i < n; i++) {
		if ((done = migrate_applied(pg, m[i].version, cause)) < 0)
			goto out;
		if (done)
			continue;
		if (migrate_apply(pg, &m[i], cause) != 0)
			goto out;
		printf("applied %s\n", m[i].name);
		applied++;
		if (m[i].version > current)
			current = m[i].version;
	}
	if (applied == 0)
		printf("nothing to apply: the schema is at version %d\n",
		    current);
	rc = 0;
out:
	PQfinish(pg);
	migrate_list_free(m, n);
	return (rc);
}

int
migrate_check(const struct config *cfg, char **cause)
{
	PGconn	*pg;
	int	 current, need = migrate_required_version();

	if ((pg = migrate_connect(cfg, cause)) == NULL)
		return (-1);
	current = migrate_current(pg, cause);
	PQfinish(pg);
	if (current < 0)
		return (-1);
	if (current < need) {
		xasprintf(cause, "the database schema is at version %d and "
		    "this carelined needs %d: run 'carelined --migrate' "
		    "(with the same --config) first", current, need);
		return (-1);
	}
	if (current > need)
		log_warn("database: schema version %d is newer than this "
		    "carelined's %d", current, need);
	return (0);
}
