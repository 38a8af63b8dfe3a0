/*
 * Allocation wrappers that never return NULL: running out of memory in a
 * daemon this size is not a state we can recover from, and checking at
 * every call site hides the real error paths.
 */
#ifndef CARELINE_XMALLOC_H
#define CARELINE_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
char	*xprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * Route libevent's and jansson's allocations through xmalloc, so that
 * running out of memory inside them aborts with a message instead of
 * handing a NULL to code that does not check. Call first thing in main:
 * before any other libevent call (event_set_mem_functions requires it)
 * and before any thread or JSON value exists.
 */
void	 xmalloc_libraries(void);

#endif
