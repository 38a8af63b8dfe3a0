/*
 * What most integration test groups set up and tear down (harness.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "xmalloc.h"

int
th_group_up(const char *name, char **db, char **admin, char **oper)
{
	char	*dbname, *who;

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

void
th_group_down(char *db, char *admin, char *oper, struct th_daemon *d)
{
	if (d != NULL)
		th_daemon_stop(d);
	free(db);
	free(admin);
	free(oper);
}
