#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "crypto.h"
#include "db_migrate.h"
#include "log.h"
#include "xmalloc.h"

#ifndef CARELINE_SCHEMA_VERSION
#error "CARELINE_SCHEMA_VERSION must come from the Makefile"
#endif

#define MIGRATE_MAX_FILE	(8 * 1024 * 1024)
/* pg_advisory_lock key: two migrators never run at once. */
#define MIGRATE_LOCK_KEY	"7420250001"

/* One file of sql/schema or sql/functions, read whole. */
struct sqlfile {
	int	 version;	/* NNNN of a schema file; 0 for functions */
	char	*name;		/* file name */
	char	*sql;		/* its contents, NUL-terminated */
	char	 sum[2 * CRYPTO_SHA256_LEN + 1];	/* hex SHA-256 */
};

struct sqlset {
	struct sqlfile	*f;
	int		 n;
};

int
migrate_required_version(void)
{
	return (CARELINE_SCHEMA_VERSION);
}

static int
migrate_cmp(const void *a, const void *b)
{
	const struct sqlfile	*fa = a, *fb = b;

	if (fa->version != fb->version)
		return (fa->version < fb->version ? -1 : 1);
	return (strcmp(fa->name, fb->name));
}

static void
migrate_set_free(struct sqlset *set)
{
	int	i;

	for (i = 0; i < set->n; i++) {
		free(set->f[i].name);
		free(set->f[i].sql);
	}
	free(set->f);
	set->f = NULL;
	set->n = 0;
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

/* A schema file is "NNNN_words.sql"; a function file any "words.sql". */
static int
migrate_wanted(const char *name, int numbered)
{
	size_t	len = strlen(name);

	if (len < 5 || name[0] == '.' || strcmp(name + len - 4, ".sql") != 0)
		return (0);
	if (numbered && (len < 10 || strspn(name, "0123456789") != 4 ||
	    name[4] != '_'))
		return (0);
	return (1);
}

/*
 * Read the .sql files of <sqldir>/<sub> whole, with their checksums:
 * schema files sorted by number (a repeated number is an error), function
 * files by name (strcmp: the C locale's order whatever the environment).
 */
static int
migrate_list(const char *sqldir, const char *sub, int numbered,
    struct sqlset *set, char **cause)
{
	unsigned char	 sum[CRYPTO_SHA256_LEN];
	struct sqlfile	*f;
	struct dirent	*de;
	DIR		*d;
	char		*dir, *path;
	size_t		 len;
	int		 i;

	set->f = NULL;
	set->n = 0;
	xasprintf(&dir, "%s/%s", sqldir, sub);
	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s (paths.sql_dir)", dir,
		    strerror(errno));
		free(dir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (!migrate_wanted(de->d_name, numbered))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		set->f = xrealloc(set->f, (set->n + 1) * sizeof *set->f);
		f = &set->f[set->n];
		if ((f->sql = migrate_read(path, &len, cause)) == NULL) {
			free(path);
			closedir(d);
			free(dir);
			migrate_set_free(set);
			return (-1);
		}
		free(path);
		f->version = numbered ? atoi(de->d_name) : 0;
		f->name = xstrdup(de->d_name);
		crypto_sha256(f->sql, len, sum);
		crypto_hex(sum, sizeof sum, f->sum);
		set->n++;
	}
	closedir(d);
	free(dir);
	if (set->n > 0)
		qsort(set->f, set->n, sizeof *set->f, migrate_cmp);
	for (i = 1; numbered && i < set->n; i++) {
		if (set->f[i].version == set->f[i - 1].version) {
			xasprintf(cause, "sql/%s: %s and %s share a number",
			    sub, set->f[i - 1].name, set->f[i].name);
			migrate_set_free(set);
			return (-1);
		}
	}
	return (0);
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

/* 1 if the table exists, 0 if not, -1 on error. */
static int
migrate_has_table(PGconn *pg, const char *table, char **cause)
{
	const char	*params[1] = { table };
	PGresult	*res;
	int		 has;

	res = PQexecParams(pg, "SELECT to_regclass($1) IS NOT NULL", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		xasprintf(cause, "looking for %s: %s", table,
		    PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return (-1);
	}
	has = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (has);
}

/* The applied version: 0 for none (no table yet), -1 on error. */
static int
migrate_current(PGconn *pg, char **cause)
{
	PGresult	*res;
	int		 v;

	/* Two steps: a query naming a missing table fails at parse time. */
	if ((v = migrate_has_table(pg, "schema_migrations", cause)) <= 0)
		return (v);
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

/*
 * The checksum recorded for one file (query takes its key as $1): *sum is
 * a copy, NULL when none is recorded. 0, or -1 on error.
 */
static int
migrate_recorded(PGconn *pg, const char *query, const char *key,
    char **sum, char **cause)
{
	const char	*params[1] = { key };
	PGresult	*res;

	*sum = NULL;
	res = PQexecParams(pg, query, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		xasprintf(cause, "reading the applied checksums: %s",
		    PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return (-1);
	}
	if (PQntuples(res) > 0)
		*sum = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (0);
}

#define Q_SCHEMA_SUM	"SELECT checksum FROM schema_migrations WHERE " \
			"version = $1::integer"
#define Q_FUNCTION_SUM	"SELECT checksum FROM schema_functions WHERE " \
			"name = $1"

/*
 * One file in one transaction, recorded with its checksum. Function files
 * run with check_function_bodies off: a LANGUAGE sql body may name a
 * function of a file that comes later in name order.
 */
static int
migrate_apply(PGconn *pg, const char *sub, const struct sqlfile *f,
    char **cause)
{
	char		 vbuf[16], *what, *why = NULL;
	const char	*params[3], *record;
	PGresult	*res;
	int		 functions = f->version == 0;

	xasprintf(&what, "sql/%s/%s", sub, f->name);
	if (migrate_exec(pg, "BEGIN", what, cause) != 0)
		goto fail;
	if (functions && migrate_exec(pg, "SET LOCAL check_function_bodies "
	    "= off", what, cause) != 0)
		goto rollback;
	if (migrate_exec(pg, f->sql, what, cause) != 0)
		goto rollback;
	snprintf(vbuf, sizeof vbuf, "%d", f->version);
	if (functions) {
		params[0] = f->name;
		params[1] = f->sum;
		record = "INSERT INTO schema_functions (name, checksum) VALUES "
		    "($1, $2) ON CONFLICT (name) DO UPDATE SET checksum = "
		    "EXCLUDED.checksum, applied_at = now()";
	} else {
		params[0] = vbuf;
		params[1] = f->name;
		params[2] = f->sum;
		record = "INSERT INTO schema_migrations (version, name, "
		    "checksum) VALUES ($1, $2, $3)";
	}
	res = PQexecParams(pg, record, functions ? 2 : 3, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		xasprintf(cause, "%s: recording it: %s", what,
		    PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (migrate_exec(pg, "COMMIT", what, cause) != 0)
		goto fail;
	free(what);
	return (0);
rollback:
	if (migrate_exec(pg, "ROLLBACK", what, &why) != 0)
		free(why);
fail:
	free(what);
	return (-1);
}

/*
 * Every applied schema file must still be what was applied: a changed one
 * stops everything before anything runs.
 */
static int
migrate_verify_schema(PGconn *pg, const struct sqlset *schema, char **cause)
{
	const struct sqlfile	*f;
	const char		*params[1];
	PGresult		*res;
	char			 vbuf[16];
	int			 i, rc = 0;

	for (i = 0; i < schema->n && rc == 0; i++) {
		f = &schema->f[i];
		snprintf(vbuf, sizeof vbuf, "%d", f->version);
		params[0] = vbuf;
		res = PQexecParams(pg, "SELECT checksum, name FROM "
		    "schema_migrations WHERE version = $1::integer", 1, NULL,
		    params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			xasprintf(cause, "reading schema_migrations: %s",
			    PQresultErrorMessage(res));
			(*cause)[strcspn(*cause, "\n")] = '\0';
			rc = -1;
		} else if (PQntuples(res) > 0 &&
		    strcmp(PQgetvalue(res, 0, 0), f->sum) != 0) {
			xasprintf(cause, "sql/schema/%s was changed after it "
			    "was applied (checksum %.12s, applied %.12s as "
			    "%s): an applied schema file is never edited; "
			    "restore it and put the change in a new file. "
			    "Nothing was applied", f->name, f->sum,
			    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
			rc = -1;
		}
		PQclear(res);
	}
	return (rc);
}

int
migrate_run(const struct config *cfg, char **cause)
{
	struct sqlset	 schema = { NULL, 0 }, funcs = { NULL, 0 };
	PGconn		*pg = NULL;
	char		 vbuf[16], *sum;
	int		 i, current, applied = 0, rc = -1;

	if (migrate_list(cfg->sql_dir, "schema", 1, &schema, cause) != 0 ||
	    migrate_list(cfg->sql_dir, "functions", 0, &funcs, cause) != 0)
		goto out;
	if ((pg = migrate_connect(cfg, cause)) == NULL)
		goto out;
	if (migrate_exec(pg, "SET client_min_messages = warning", "set",
	    cause) != 0 ||
	    migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	    "taking the migration lock", cause) != 0 ||
	    migrate_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version integer PRIMARY KEY CHECK (version > 0), "
	    "name text NOT NULL, checksum text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_migrations", cause) != 0 ||
	    migrate_exec(pg, "CREATE TABLE IF NOT EXISTS schema_functions ("
	    "name text PRIMARY KEY, checksum text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_functions", cause) != 0)
		goto out;
	if ((current = migrate_current(pg, cause)) < 0 ||
	    migrate_verify_schema(pg, &schema, cause) != 0)
		goto out;
	/*
	 * Every schema file not yet recorded, in order: one merged after a
	 * higher-numbered one was applied still runs.
	 */
	for (i = 0; i < schema.n; i++) {
		snprintf(vbuf, sizeof vbuf, "%d", schema.f[i].version);
		if (migrate_recorded(pg, Q_SCHEMA_SUM, vbuf, &sum, cause) != 0)
			goto out;
		if (sum != NULL) {
			free(sum);
			continue;
		}
		if (migrate_apply(pg, "schema", &schema.f[i], cause) != 0)
			goto out;
		printf("applied schema/%s\n", schema.f[i].name);
		applied++;
		if (schema.f[i].version > current)
			current = schema.f[i].version;
	}
	/* Then every function file whose checksum is not the recorded one. */
	for (i = 0; i < funcs.n; i++) {
		if (migrate_recorded(pg, Q_FUNCTION_SUM, funcs.f[i].name, &sum,
		    cause) != 0)
			goto out;
		if (sum != NULL && strcmp(sum, funcs.f[i].sum) == 0) {
			free(sum);
			continue;
		}
		free(sum);
		if (migrate_apply(pg, "functions", &funcs.f[i], cause) != 0)
			goto out;
		printf("applied functions/%s\n", funcs.f[i].name);
		applied++;
	}
	if (applied == 0)
		printf("nothing to apply: the schema is at version %d and "
		    "the functions are up to date\n", current);
	rc = 0;
out:
	if (pg != NULL)
		PQfinish(pg);
	migrate_set_free(&schema);
	migrate_set_free(&funcs);
	return (rc);
}

/* 0 when every function file on disk is applied as it is now. */
static int
migrate_check_functions(const struct config *cfg, PGconn *pg, char **cause)
{
	struct sqlset	 funcs;
	char		*sum;
	int		 i, has, rc = -1;

	if (migrate_list(cfg->sql_dir, "functions", 0, &funcs, cause) != 0)
		return (-1);
	if ((has = migrate_has_table(pg, "schema_functions", cause)) < 0)
		goto out;
	for (i = 0; i < funcs.n; i++) {
		sum = NULL;
		if (has && migrate_recorded(pg, Q_FUNCTION_SUM,
		    funcs.f[i].name, &sum, cause) != 0)
			goto out;
		if (sum == NULL || strcmp(sum, funcs.f[i].sum) != 0) {
			xasprintf(cause, "sql/functions/%s %s: run "
			    "'carelined --migrate' (with the same --config) "
			    "first", funcs.f[i].name, sum == NULL ?
			    "was never applied to this database" :
			    "differs from what this database has");
			free(sum);
			goto out;
		}
		free(sum);
	}
	rc = 0;
out:
	migrate_set_free(&funcs);
	return (rc);
}

int
migrate_check(const struct config *cfg, char **cause)
{
	PGconn	*pg;
	int	 current, need = migrate_required_version(), rc = -1;

	if ((pg = migrate_connect(cfg, cause)) == NULL)
		return (-1);
	if ((current = migrate_current(pg, cause)) < 0)
		goto out;
	if (current < need) {
		xasprintf(cause, "the database schema is at version %d and "
		    "this carelined needs %d: run 'carelined --migrate' "
		    "(with the same --config) first", current, need);
		goto out;
	}
	if (current > need)
		log_warn("database: schema version %d is newer than this "
		    "carelined's %d", current, need);
	rc = migrate_check_functions(cfg, pg, cause);
out:
	PQfinish(pg);
	return (rc);
}
