#include <string.h>

#include "phone.h"

#define PHONE_LOCAL_AREA	"0731"	/* Zhuzhou */

int
phone_normalize(const char *in, char out[PHONE_MAX], const char **why)
{
	char		 digits[64];
	const char	*p = in, *d;
	size_t		 n = 0, len;

	*why = NULL;
	while (*p == ' ')
		p++;
	if (strncmp(p, "+86", 3) == 0)
		p += 3;
	else if (*p == '+') {
		*why = "only Chinese numbers (+86) are accepted";
		return (-1);
	}
	for (; *p != '\0'; p++) {
		if (*p == ' ' || *p == '-' || *p == '(' || *p == ')')
			continue;
		if (*p < '0' || *p > '9') {
			*why = "a phone number has digits, spaces and dashes only";
			return (-1);
		}
		if (n == sizeof digits - 1) {
			*why = "too many digits for a phone number";
			return (-1);
		}
		digits[n++] = *p;
	}
	digits[n] = '\0';
	d = digits;
	if (strncmp(d, "0086", 4) == 0)
		d += 4;
	len = strlen(d);
	/* 0731 + eight digits is the same line as the eight digits alone. */
	if (len == 12 && strncmp(d, PHONE_LOCAL_AREA, 4) == 0) {
		d += 4;
		len -= 4;
	}
	if (len == 11 && d[0] == '1' && d[1] >= '3')
		;	/* mobile */
	else if ((len == 7 || len == 8) && d[0] != '0' && d[0] != '1')
		;	/* local landline */
	else if (len >= 10 && len <= 12 && d[0] == '0' && d[1] != '0')
		;	/* landline with another area code */
	else {
		*why = len == 0 ? "the phone number is empty" :
		    "not a valid mobile (11 digits) or landline number";
		return (-1);
	}
	memcpy(out, d, len + 1);
	return (0);
}
