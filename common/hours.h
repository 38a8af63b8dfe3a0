/*
 * Weekly opening hours in the readable form admins type, e.g.
 * "Mo-Fr 08:00-18:00; Sa 09:00-12:00" or "Mo,We 07:30-11:00,16:00-19:00".
 * Days Mo Tu We Th Fr Sa Su, ranges may wrap (Sa-Mo); a span past midnight
 * ("20:00-02:00") continues on the next day; "24/7" is always open.
 */
#ifndef CARELINE_HOURS_H
#define CARELINE_HOURS_H

#include <stddef.h>

#define HOURS_MAX_SPANS	64
#define HOURS_MAX_LEN	256

struct hours_span {
	int	dow;		/* ISO: 1 = Monday .. 7 = Sunday */
	int	opens;		/* minutes after local midnight */
	int	closes;		/* opens < closes <= 1440 */
};

/*
 * Parse spec into spans (at most HOURS_MAX_SPANS). Returns the count, or
 * -1 with a reason in why (of whylen bytes) naming where it went wrong.
 */
int	hours_parse(const char *spec, struct hours_span *spans, char *why,
	    size_t whylen);

#endif
