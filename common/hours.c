#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hours.h"

static const char *hours_days[] = { "Mo", "Tu", "We", "Th", "Fr", "Sa", "Su" };

struct hours_parser {
	const char		*s;	/* cursor */
	const char		*start;
	struct hours_span	*spans;
	int			 n;
	char			*why;
	size_t			 whylen;
};

static int
hours_fail(struct hours_parser *hp, const char *what)
{
	snprintf(hp->why, hp->whylen, "%s at character %d", what,
	    (int)(hp->s - hp->start) + 1);
	return (-1);
}

static void
hours_skip_spaces(struct hours_parser *hp)
{
	while (*hp->s == ' ')
		hp->s++;
}

/* "Mo".."Su" to 1..7, or 0. */
static int
hours_day(struct hours_parser *hp)
{
	int	i;

	for (i = 0; i < 7; i++) {
		if (strncmp(hp->s, hours_days[i], 2) == 0) {
			hp->s += 2;
			return (i + 1);
		}
	}
	return (0);
}

/* "HH:MM" to minutes; 24:00 only as a closing time. */
static int
hours_time(struct hours_parser *hp, int closing)
{
	const char	*s = hp->s;
	int		 h, m;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return (hours_fail(hp, "expected a time like 08:30"));
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !closing)))
		return (hours_fail(hp, "no such time of day"));
	hp->s += 5;
	return (h * 60 + m);
}

static int
hours_add(struct hours_parser *hp, int dow, int opens, int closes)
{
	if (hp->n == HOURS_MAX_SPANS)
		return (hours_fail(hp, "too many opening spans"));
	hp->spans[hp->n].dow = dow;
	hp->spans[hp->n].opens = opens;
	hp->spans[hp->n].closes = closes;
	hp->n++;
	return (0);
}

/* One rule: days, a space, one or more time ranges. */
static int
hours_rule(struct hours_parser *hp)
{
	int	days[8] = { 0 }, d1, d2, d, opens, closes, i;

	for (;;) {
		if ((d1 = hours_day(hp)) == 0)
			return (hours_fail(hp, "expected a day (Mo Tu We Th Fr "
			    "Sa Su)"));
		d2 = d1;
		if (*hp->s == '-') {
			hp->s++;
			if ((d2 = hours_day(hp)) == 0)
				return (hours_fail(hp, "expected a day after "
				    "'-'"));
		}
		/* Sa-Mo wraps over the weekend. */
		for (d = d1;; d = d % 7 + 1) {
			days[d] = 1;
			if (d == d2)
				break;
		}
		if (*hp->s != ',')
			break;
		hp->s++;
	}
	if (*hp->s != ' ')
		return (hours_fail(hp, "expected a space between days and "
		    "times"));
	hours_skip_spaces(hp);
	for (;;) {
		if ((opens = hours_time(hp, 0)) < 0)
			return (-1);
		if (*hp->s != '-')
			return (hours_fail(hp, "expected '-' between times"));
		hp->s++;
		if ((closes = hours_time(hp, 1)) < 0)
			return (-1);
		if (closes == opens)
			return (hours_fail(hp, "a span must not be empty"));
		for (i = 1; i <= 7; i++) {
			if (!days[i])
				continue;
			if (closes > opens) {
				if (hours_add(hp, i, opens, closes) != 0)
					return (-1);
				continue;
			}
			/* Past midnight: the rest belongs to the next day. */
			if (hours_add(hp, i, opens, 1440) != 0 ||
			    (closes > 0 && hours_add(hp, i % 7 + 1, 0,
			    closes) != 0))
				return (-1);
		}
		if (*hp->s != ',')
			break;
		hp->s++;
	}
	return (0);
}

int
hours_parse(const char *spec, struct hours_span *spans, char *why,
    size_t whylen)
{
	struct hours_parser	hp;
	int			i;

	memset(&hp, 0, sizeof hp);
	hp.s = hp.start = spec;
	hp.spans = spans;
	hp.why = why;
	hp.whylen = whylen;
	if (strlen(spec) > HOURS_MAX_LEN)
		return (hours_fail(&hp, "opening hours are too long"));
	hours_skip_spaces(&hp);
	if (strncmp(hp.s, "24/7", 4) == 0) {
		hp.s += 4;
		hours_skip_spaces(&hp);
		if (*hp.s != '\0')
			return (hours_fail(&hp, "nothing may follow 24/7"));
		for (i = 1; i <= 7; i++)
			hours_add(&hp, i, 0, 1440);
		return (hp.n);
	}
	if (*hp.s == '\0')
		return (hours_fail(&hp, "opening hours are empty"));
	for (;;) {
		if (hours_rule(&hp) != 0)
			return (-1);
		hours_skip_spaces(&hp);
		if (*hp.s == '\0')
			break;
		if (*hp.s != ';')
			return (hours_fail(&hp, "expected ';' between rules"));
		hp.s++;
		hours_skip_spaces(&hp);
	}
	return (hp.n);
}
