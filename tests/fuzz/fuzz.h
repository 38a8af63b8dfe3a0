/*
 * What the libFuzzer targets share. Each target checks properties that
 * must hold for any input and calls fuzz_fail (abort, so libFuzzer keeps
 * the input) when one does not; memory errors, undefined behaviour and
 * leaks are the sanitizers' to report.
 */
#ifndef CARELINE_FUZZ_H
#define CARELINE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
/* Optional: a target with nothing to set up does not define it. */
int	LLVMFuzzerInitialize(int *, char ***);

#define fuzz_fail(...) do {						\
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);			\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

/* The input as a C string (up to its first NUL); the caller frees. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return (s);
}

#endif
