#include <stddef.h>

#include "id.h"

int
id_parse(const char *s, size_t n, long long *out)
{
	long long	v = 0;
	size_t		i;

	if (n == 0 || n > ID_MAX_DIGITS || s[0] == '0')
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}
