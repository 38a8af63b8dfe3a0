/*
 * The database's schema and functions, from <sql_dir>:
 *   schema/NNNN_words.sql  forward-only DDL, each applied once in its own
 *                          transaction and recorded with its SHA-256 in
 *                          schema_migrations; an applied file that changed
 *                          is refused (nothing is applied then);
 *   functions/words.sql    functions, trigger functions with their
 *                          triggers, views: after the schema, every file
 *                          whose SHA-256 is not the one recorded in
 *                          schema_functions is re-applied, in name order,
 *                          one transaction each.
 * Everything runs under one advisory lock. These run before the event loop
 * (or instead of it), so they block.
 */
#ifndef CARELINE_DB_MIGRATE_H
#define CARELINE_DB_MIGRATE_H

struct config;

/* The newest schema file this build was made with (from the Makefile). */
int	migrate_required_version(void);
/* Apply what is pending; prints one line per file to stdout. */
int	migrate_run(const struct config *, char **cause);
/*
 * 0 when the database is at least at the required schema version and has
 * every function file of sql_dir as it is on disk.
 */
int	migrate_check(const struct config *, char **cause);

#endif
