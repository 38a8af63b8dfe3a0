/* The routes' field tables, collected by tests/fuzz/jv_tables.sh. */
#ifndef CARELINE_FUZZ_JV_TABLES_H
#define CARELINE_FUZZ_JV_TABLES_H

#include "jsonv.h"

struct fuzz_jv_table {
	const char		*name;		/* "daemon/x.c: table" */
	const struct jv_field	*fields;
};

/* NULL-name terminated. */
extern const struct fuzz_jv_table	fuzz_jv_tables[];

#endif
