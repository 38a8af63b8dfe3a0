/* Opening hours as admins type them (common/hours.c). */
#include "fuzz/fuzz.h"
#include "hours.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hours_span	 spans[HOURS_MAX_SPANS];
	char			*s, why[128];
	int			 n, i;

	s = fuzz_str(data, size);
	why[0] = '\0';
	n = hours_parse(s, spans, why, sizeof why);
	if (n < 0 && (n != -1 || why[0] == '\0'))
		fuzz_fail("refused without a reason (%d)", n);
	if (n > HOURS_MAX_SPANS)
		fuzz_fail("%d spans", n);
	/* What SQL stores must be a valid span of one day of the week. */
	for (i = 0; i < n; i++) {
		if (spans[i].dow < 1 || spans[i].dow > 7 ||
		    spans[i].opens < 0 || spans[i].opens >= spans[i].closes ||
		    spans[i].closes > 1440)
			fuzz_fail("span %d: %d %d-%d", i, spans[i].dow,
			    spans[i].opens, spans[i].closes);
	}
	free(s);
	return (0);
}
