/* Phone numbers as the district dials them (common/phone.c). */
#include "fuzz/fuzz.h"
#include "phone.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, out[PHONE_MAX], again[PHONE_MAX];
	const char	*why;
	size_t		 i, n;

	s = fuzz_str(data, size);
	memset(out, 'x', sizeof out);
	if (phone_normalize(s, out, &why) != 0) {
		if (why == NULL || *why == '\0')
			fuzz_fail("refused without a reason");
		free(s);
		return (0);
	}
	n = strnlen(out, sizeof out);
	if (n == sizeof out || n < 7 || n > 12)
		fuzz_fail("normalised to %zu characters", n);
	for (i = 0; i < n; i++) {
		if (out[i] < '0' || out[i] > '9')
			fuzz_fail("normalised to a non-digit");
	}
	/* Stored numbers are looked up normalised again: one fixed point. */
	if (phone_normalize(out, again, &why) != 0)
		fuzz_fail("%s is refused once normalised: %s", out, why);
	if (strcmp(out, again) != 0)
		fuzz_fail("%s normalises to %s", out, again);
	free(s);
	return (0);
}
