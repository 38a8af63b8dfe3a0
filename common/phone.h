/*
 * Phone numbers as the district dials them, stored one way: spaces, dashes
 * and brackets dropped, +86/0086 removed, and a Zhuzhou landline (area code
 * 0731, eight digits like the hotline's 22222099) without its area code.
 */
#ifndef CARELINE_PHONE_H
#define CARELINE_PHONE_H

#include <stddef.h>

#define PHONE_MAX	16	/* normalised digits, with the NUL */

/* 0 and the digits in out, or -1 with a reason for the operator. */
int	phone_normalize(const char *in, char out[PHONE_MAX], const char **why);

#endif
