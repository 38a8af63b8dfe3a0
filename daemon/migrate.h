/*
 * Schema migrations: numbered files under <sql_dir>/migrations, each
 * applied once in its own transaction and recorded in schema_migrations.
 * These run before the event loop (or instead of it), so they block.
 */
#ifndef CARELINE_MIGRATE_H
#define CARELINE_MIGRATE_H

struct config;

/* The newest migration this build was made with (from the Makefile). */
int	migrate_required_version(void);
/* Apply what is pending; prints one line per migration to stdout. */
int	migrate_run(const struct config *, char **cause);
/* 0 when the database is at least at the required version. */
int	migrate_check(const struct config *, char **cause);

#endif
