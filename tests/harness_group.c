/*
 * What most integration test groups set up and tear down (harness.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "xmalloc.h"

/* The caller's variables th_group_up filled, for th_group_teardown. */
static struct {
	char			**db, **admin, **oper;
	struct th_daemon	 *d;
} group;

int
th_group_up(const char *name, char **db, char **admin, char **oper,
    struct th_daemon *d)
{
	char	*dbname, *who;

	group.db = db;
	group.admin = admin;
	group.oper = oper;
	group.d = d;
	dbname = xprintf("t_%s", name);
	*db = th_db_ready(dbname);
	free(dbname);
	if (*db == NULL)
		return (-1);
	if (admin != NULL) {
		who = xprintf("%s admin", name);
		*admin = th_token(*db, "admin", who);
		free(who);
	}
	if (oper != NULL) {
		who = xprintf("%s operator", name);
		*oper = th_token(*db, "operator", who);
		free(who);
	}
	return (0);
}

int
th_group_teardown(void **state)
{
	(void)state;
	if (group.d != NULL)
		th_daemon_stop(group.d);
	if (group.db != NULL) {
		free(*group.db);
		*group.db = NULL;
	}
	if (group.admin != NULL) {
		free(*group.admin);
		*group.admin = NULL;
	}
	if (group.oper != NULL) {
		free(*group.oper);
		*group.oper = NULL;
	}
	return (0);
}
