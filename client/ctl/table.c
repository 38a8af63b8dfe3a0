/* carelinectl: aligned tables for people. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "ctl.h"

/*
 * Tables: every cell is kept until the widths are known.
 */

struct ctl_table {
	int	  ncols;
	int	  nrows;
	int	  clip;		/* display columns a cell may take; 0: any */
	unsigned  right;	/* bit per column: aligned right */
	char	**cells;	/* row-major, clean */
	int	 *width;
};

struct ctl_table *
ctl_table_new(int ncols, int clip, unsigned right)
{
	struct ctl_table	*t = xcalloc(1, sizeof *t);

	t->ncols = ncols;
	t->clip = clip;
	t->right = right;
	t->width = xcalloc((size_t)ncols, sizeof *t->width);
	return (t);
}

/* ncols strings; NULL is shown as an empty cell. */
void
ctl_table_row(struct ctl_table *t, ...)
{
	va_list		 ap;
	const char	*s;
	char		*cell;
	int		 i, w;

	t->cells = xrealloc(t->cells, sizeof *t->cells * (size_t)t->ncols *
	    (size_t)(t->nrows + 1));
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		s = va_arg(ap, const char *);
		cell = ctl_clean(s, t->clip);
		if ((w = ctl_width(cell)) > t->width[i])
			t->width[i] = w;
		t->cells[t->nrows * t->ncols + i] = cell;
	}
	va_end(ap);
	t->nrows++;
}

void
ctl_table_print(const struct ctl_table *t, FILE *f)
{
	const char	*cell;
	char		*line;
	size_t		 len, cap;
	int		 r, i, pad;

	cap = 256;
	line = xmalloc(cap);
	for (r = 0; r < t->nrows; r++) {
		len = 0;
		for (i = 0; i < t->ncols; i++) {
			cell = t->cells[r * t->ncols + i];
			pad = t->width[i] - ctl_width(cell);
			if (cap < len + strlen(cell) + (size_t)pad + 3)
				line = xrealloc(line, cap = 2 * (len +
				    strlen(cell) + (size_t)pad + 3));
			if (i > 0) {
				memcpy(line + len, "  ", 2);
				len += 2;
			}
			if (t->right & (1u << i)) {
				memset(line + len, ' ', (size_t)pad);
				len += (size_t)pad;
			}
			memcpy(line + len, cell, strlen(cell));
			len += strlen(cell);
			if (!(t->right & (1u << i))) {
				memset(line + len, ' ', (size_t)pad);
				len += (size_t)pad;
			}
		}
		/* Empty or short last cells leave no trailing blanks. */
		while (len > 0 && line[len - 1] == ' ')
			len--;
		line[len] = '\0';
		fprintf(f, "%s\n", line);
	}
	free(line);
}

void
ctl_table_free(struct ctl_table *t)
{
	int	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}
