/*
 * carelined --migrate on a copy of sql/schema and sql/functions that the
 * tests edit: a fresh install, a changed function file re-applied (and
 * only it), an edited applied schema file refused with nothing applied, a
 * new schema file applied, and the daemon refusing to start while a
 * function file is not applied as it is on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "xmalloc.h"

static char	*db;		/* the database these tests migrate */
static char	*sqldir;	/* their copy of sql/ */
static char	*config;	/* a config naming both */

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return (NULL);
	}
	buf = xmalloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[len] = '\0';
	fclose(f);
	return (buf);
}

static void
spew(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (fputs(text, f) == EOF || fclose(f) != 0)
		abort();
}

static char *
sqlpath(const char *rel)
{
	return (xprintf("%s/%s", sqldir, rel));
}

/*
 * carelined -c config [arg] under timeout(1), so that a daemon which
 * should have refused to start cannot hang the suite: its exit status and
 * output. arg "token" is --create-token, which checks the database the
 * way the daemon does before it starts.
 */
static int
carelined(char **out, const char *arg)
{
	const char	*argv[12];
	int		 n = 0;

	argv[n++] = "/usr/bin/timeout";
	argv[n++] = "60";
	argv[n++] = th_bin();
	argv[n++] = "-c";
	argv[n++] = config;
	if (arg != NULL && strcmp(arg, "token") == 0) {
		argv[n++] = "--create-token";
		argv[n++] = "--role";
		argv[n++] = "admin";
		argv[n++] = "--name";
		argv[n++] = "migrate";
	} else if (arg != NULL)
		argv[n++] = arg;
	argv[n] = NULL;
	return (th_run(out, argv, NULL));
}

static int
group_setup(void **state)
{
	char	*cmd;
	FILE	*f;
	int	 rc;

	(void)state;
	th_init();
	db = th_db_create("t_migrate_files");
	sqldir = xprintf("%s/migrate-sql", th_tmp());
	cmd = xprintf("rm -rf '%s' && mkdir -p '%s' && cp -R '%s/sql/schema' "
	    "'%s/sql/functions' '%s/'", sqldir, sqldir, th_root(), th_root(),
	    sqldir);
	rc = system(cmd);
	free(cmd);
	if (rc != 0)
		return (-1);
	config = xprintf("%s/carelined-migrate.yaml", th_tmp());
	if ((f = fopen(config, "w")) == NULL)
		return (-1);
	fprintf(f, "listen:\n  address: 127.0.0.1\n  port: %d\n"
	    "database:\n  url: \"%s\"\n"
	    "paths:\n  sql_dir: %s\n"
	    "static:\n  dir: %s/client/www\n",
	    th_free_port(), db, sqldir, th_root());
	return (fclose(f) == 0 ? 0 : -1);
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink(config);
	free(config);
	free(sqldir);
	free(db);
	return (0);
}

/* The .sql files of sql/<sub>. */
static int
count_sql_files(const char *sub)
{
	struct dirent	*de;
	DIR		*d;
	char		*dir = sqlpath(sub);
	size_t		 len;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	free(dir);
	return (n);
}

static void
assert_value(const char *sql, const char *want)
{
	char	*v = th_pg_value(db, sql);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void
test_fresh_install(void **state)
{
	char	*out, *want;

	(void)state;
	/* Nothing applied: the daemon's own check refuses. */
	assert_int_equal(carelined(&out, "token"), 1);
	free(out);

	assert_int_equal(carelined(&out, "--migrate"), 0);
	assert_non_null(strstr(out, "applied schema/0001_baseline.sql"));
	assert_non_null(strstr(out, "applied functions/calls.sql"));
	assert_non_null(strstr(out, "applied functions/util.sql"));
	free(out);
	want = xprintf("%d", count_sql_files("functions"));
	assert_value("SELECT count(*) FROM schema_functions", want);
	free(want);
	want = xprintf("%d", count_sql_files("schema"));
	assert_value("SELECT count(*) FROM schema_migrations", want);
	free(want);
	assert_value("SELECT to_regproc('careline_call_create') IS NOT NULL",
	    "t");

	/* Again: nothing to do. */
	assert_int_equal(carelined(&out, "--migrate"), 0);
	assert_null(strstr(out, "applied"));
	assert_non_null(strstr(out, "nothing to apply"));
	free(out);
}

static void
test_changed_function_file(void **state)
{
	char	*path = sqlpath("functions/reports.sql"), *text, *edited, *at;
	char	*out, *util_at;
	const char *body = "THEN round(p_part * 100 / p_whole, p_digits) END";

	(void)state;
	assert_value("SELECT prosrc LIKE '%changed by test_migrate%' FROM "
	    "pg_proc WHERE proname = 'careline_pct'", "f");
	util_at = th_pg_value(db, "SELECT applied_at FROM schema_functions "
	    "WHERE name = 'util.sql'");
	assert_non_null(util_at);

	text = slurp(path);
	assert_non_null(text);
	at = strstr(text, body);
	assert_non_null(at);
	edited = xprintf("%.*s%s /* changed by test_migrate */%s",
	    (int)(at - text), text, body, at + strlen(body));
	spew(path, edited);

	/* The daemon will not start on a function file it does not have. */
	assert_int_equal(carelined(&out, NULL), 1);
	assert_non_null(strstr(out, "sql/functions/reports.sql differs"));
	assert_non_null(strstr(out, "--migrate"));
	free(out);

	assert_int_equal(carelined(&out, "--migrate"), 0);
	assert_non_null(strstr(out, "applied functions/reports.sql"));
	assert_null(strstr(out, "util.sql"));
	assert_null(strstr(out, "schema/"));
	free(out);
	assert_value("SELECT prosrc LIKE '%changed by test_migrate%' FROM "
	    "pg_proc WHERE proname = 'careline_pct'", "t");
	/* The function still works as it did. */
	assert_value("SELECT careline_pct(1, 4, 1)", "25.0");
	/* An unchanged file was not applied again. */
	{
		char *again = th_pg_value(db, "SELECT applied_at FROM "
		    "schema_functions WHERE name = 'util.sql'");

		assert_non_null(again);
		assert_string_equal(again, util_at);
		free(again);
	}
	/* And now the daemon's check passes. */
	assert_int_equal(carelined(&out, "token"), 0);
	free(out);
	free(util_at);
	free(edited);
	free(text);
	free(path);
}

static void
test_edited_schema_file_refused(void **state)
{
	char	*schema = sqlpath("schema/0001_baseline.sql");
	char	*func = sqlpath("functions/util.sql");
	char	*text, *ftext, *edited, *out, *sum, *want;

	(void)state;
	text = slurp(schema);
	ftext = slurp(func);
	assert_non_null(text);
	assert_non_null(ftext);
	sum = th_pg_value(db, "SELECT checksum FROM schema_functions WHERE "
	    "name = 'util.sql'");
	assert_non_null(sum);
	edited = xprintf("%s\nCREATE TABLE test_migrate_intruder (id int);\n",
	    text);
	spew(schema, edited);
	free(edited);
	/* A function change waiting too: it must not be applied either. */
	edited = xprintf("%s\n-- touched by test_migrate\n", ftext);
	spew(func, edited);
	free(edited);

	assert_int_equal(carelined(&out, "--migrate"), 1);
	assert_non_null(strstr(out, "sql/schema/0001_baseline.sql was changed "
	    "after it was applied"));
	assert_null(strstr(out, "applied functions/"));
	free(out);
	assert_value("SELECT to_regclass('test_migrate_intruder') IS NULL",
	    "t");
	want = xprintf("%d", count_sql_files("schema"));
	assert_value("SELECT count(*) FROM schema_migrations", want);
	free(want);
	{
		char *again = th_pg_value(db, "SELECT checksum FROM "
		    "schema_functions WHERE name = 'util.sql'");

		assert_non_null(again);
		assert_string_equal(again, sum);
		free(again);
	}
	free(sum);

	/* Restored, it passes; the waiting function file goes in. */
	spew(schema, text);
	assert_int_equal(carelined(&out, "--migrate"), 0);
	assert_non_null(strstr(out, "applied functions/util.sql"));
	assert_null(strstr(out, "schema/"));
	free(out);
	free(ftext);
	free(text);
	free(func);
	free(schema);
}

static void
test_new_schema_file(void **state)
{
	char	*path = sqlpath("schema/9000_test_migrate.sql"), *out;

	(void)state;
	spew(path, "CREATE TABLE test_migrate_added (id int PRIMARY KEY);\n");
	assert_int_equal(carelined(&out, "--migrate"), 0);
	assert_non_null(strstr(out, "applied schema/9000_test_migrate.sql"));
	assert_null(strstr(out, "functions/"));
	free(out);
	assert_value("SELECT to_regclass('test_migrate_added') IS NOT NULL",
	    "t");
	assert_value("SELECT max(version) FROM schema_migrations", "9000");
	assert_value("SELECT name FROM schema_migrations WHERE version = 9000",
	    "9000_test_migrate.sql");

	/* A second file with the same number is refused before anything. */
	free(path);
	path = sqlpath("schema/9000_again.sql");
	spew(path, "CREATE TABLE test_migrate_again (id int);\n");
	assert_int_equal(carelined(&out, "--migrate"), 1);
	assert_non_null(strstr(out, "share a number"));
	free(out);
	assert_value("SELECT to_regclass('test_migrate_again') IS NULL", "t");
	unlink(path);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_install),
		cmocka_unit_test(test_changed_function_file),
		cmocka_unit_test(test_edited_schema_file_refused),
		cmocka_unit_test(test_new_schema_file),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
