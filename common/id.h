/*
 * A row id as carelined takes one, in a path ("{id}") or as carelinectl
 * checks one before sending it: 1 to 18 decimal digits with no leading
 * 0, so that it always fits a bigint and has one spelling.
 */
#ifndef CARELINE_ID_H
#define CARELINE_ID_H

#include <stddef.h>

#define ID_MAX_DIGITS	18

/* The n bytes at s as an id in *out: 0, or -1 (and *out untouched). */
int	id_parse(const char *s, size_t n, long long *out);

#endif
