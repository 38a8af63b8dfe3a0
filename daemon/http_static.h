/*
 * The web console's files, read once at start into memory and served by
 * exact path: nothing outside static.dir can be named, whatever a request
 * says. Every page goes out with a strict Content-Security-Policy.
 */
#ifndef CARELINE_HTTP_STATIC_H
#define CARELINE_HTTP_STATIC_H

#include <stddef.h>

#define STATIC_MAX_FILES	256
#define STATIC_MAX_BYTES	(16 * 1024 * 1024)	/* all files together */

struct static_files;
struct request;

/* Load dir; a missing dir gives an empty set (the API still runs). */
struct static_files *static_load(const char *dir, char **cause);
void		 static_free(struct static_files *);
size_t		 static_count(const struct static_files *);
/* Serve path ("/" is index.html); 0 if served, -1 when unknown. */
/* Whether a file is served at path (for 405 rather than 404). */
int		 static_exists(const struct static_files *, const char *);
int		 static_serve(struct request *, const struct static_files *,
		    const char *path);

#endif
