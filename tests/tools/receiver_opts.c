/* The demo receiver's options: one table parses, checks and documents them. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiver.h"
#include "xmalloc.h"

struct recv_config cfg = {
	.status = 0,
	.retry_after = -1,
	.seed = -1,
};

enum opt_type {
	OPT_INT,
	OPT_RATE,
	OPT_DURATION,
	OPT_STRING,
	OPT_FLAG,
};

struct opt_entry {
	const char	*name;
	enum opt_type	 type;
	const char	*arg;		/* shown in --help */
	long long	 min;
	long long	 max;
	const char	*def;		/* parsed like an argument; NULL: unset */
	void		*var;
	const char	*help;
};

static const struct opt_entry opt_table[] = {
	{ "port", OPT_INT, "N", 1, 65535, "8089", &cfg.port,
	  "listen on " RECV_ADDRESS ":N" },
	{ "accept-after", OPT_DURATION, "DURATION", 0, RECV_DURATION_MAX, "2s",
	  &cfg.accept_after,
	  "wait this long after offer.created before\n"
	  "answering it: 500ms, 2s, 1.5s, 1m; a bare\n"
	  "number is seconds" },
	{ "decline-rate", OPT_RATE, "P", 0, 0, "0", &cfg.decline_rate,
	  "share of offers declined, {\"reason\": \"busy\"}" },
	{ "ignore-rate", OPT_RATE, "P", 0, 0, "0", &cfg.ignore_rate,
	  "share of offers neither accepted nor declined:\n"
	  "they expire" },
	{ "fail-rate", OPT_RATE, "P", 0, 0, "0", &cfg.fail_rate,
	  "share of webhook deliveries answered 500" },
	{ "fail-first", OPT_INT, "N", 0, INT_MAX, "0", &cfg.fail_first,
	  "answer the first N deliveries of each webhook-id\n"
	  "with 500" },
	{ "status", OPT_INT, "CODE", 100, 599, NULL, &cfg.status,
	  "answer every webhook with CODE; only a 2xx CODE\n"
	  "still acts on it" },
	{ "retry-after", OPT_INT, "SECONDS", 0, 86400, NULL, &cfg.retry_after,
	  "with --status 429 or 503, send Retry-After: SECONDS" },
	{ "hang-rate", OPT_RATE, "P", 0, 0, "0", &cfg.hang_rate,
	  "share of deliveries never answered: held open\n"
	  "until the client gives up" },
	{ "seed", OPT_INT, "N", 0, LLONG_MAX, NULL, &cfg.seed,
	  "random seed, for reproducible runs (default: from\n"
	  "the kernel, printed at start)" },
	{ "secret", OPT_STRING, "whsec_...", 0, 0, NULL, &cfg.secret,
	  "one signing secret for every provider (default:\n"
	  "each demo provider's own, which is\n"
	  "whsec_ + base64(sha256(\"demo-\" + id)))" },
	{ "log", OPT_STRING, "FILE", 0, 0, NULL, &cfg.log_path,
	  "append one JSON line per received webhook to\n"
	  "FILE" },
	{ "quiet", OPT_FLAG, NULL, 0, 0, NULL, &cfg.quiet,
	  "print only warnings and errors" },
};
#define OPT_COUNT	(sizeof opt_table / sizeof opt_table[0])
#define OPT_HELP	256	/* getopt value of --help; options follow */

static int
opt_parse_int(const struct opt_entry *o, const char *s, char **cause)
{
	long long	 v;
	char		*end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0) {
		xasprintf(cause, "--%s: %s is not a number", o->name, s);
		return (-1);
	}
	if (v < o->min || v > o->max) {
		xasprintf(cause, "--%s: %s is not in %lld..%lld", o->name, s,
		    o->min, o->max);
		return (-1);
	}
	*(long long *)o->var = v;
	return (0);
}

static int
opt_parse_rate(const struct opt_entry *o, const char *s, char **cause)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < 0 || v > 1) {
		xasprintf(cause, "--%s: %s is not a share from 0 to 1",
		    o->name, s);
		return (-1);
	}
	*(double *)o->var = v;
	return (0);
}

static int
opt_parse_duration(const struct opt_entry *o, const char *s, char **cause)
{
	double	 v, unit;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0)
		goto bad;
	if (*end == '\0' || strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60000;
	else
		goto bad;
	v *= unit;
	if (v > (double)o->max)
		goto bad;
	/* Rounded by hand: the Makefile links no libm. */
	*(long long *)o->var = (long long)(v + 0.5);
	return (0);
bad:
	xasprintf(cause, "--%s: %s is not a duration from 0 to %llds",
	    o->name, s, o->max / 1000);
	return (-1);
}

static int
opt_parse(const struct opt_entry *o, const char *s, char **cause)
{
	switch (o->type) {
	case OPT_INT:
		return (opt_parse_int(o, s, cause));
	case OPT_RATE:
		return (opt_parse_rate(o, s, cause));
	case OPT_DURATION:
		return (opt_parse_duration(o, s, cause));
	case OPT_STRING:
		*(const char **)o->var = s;
		return (0);
	case OPT_FLAG:
		*(int *)o->var = 1;
		return (0);
	}
	return (-1);
}

static void
opt_usage(FILE *f)
{
	const struct opt_entry	*o;
	const char		*p, *nl;
	char			 left[64];
	size_t			 i;

	fprintf(f, "usage: %s [options]\n\n"
	    "Answers careline's signed webhooks on POST /hooks/<provider_id>\n"
	    "and accepts or declines the offers they bring.\n\n", RECV_NAME);
	for (i = 0; i < OPT_COUNT; i++) {
		o = &opt_table[i];
		if (o->arg != NULL)
			snprintf(left, sizeof left, "--%s %s", o->name, o->arg);
		else
			snprintf(left, sizeof left, "--%s", o->name);
		fprintf(f, "  %-26s", left);
		for (p = o->help; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			fprintf(f, "%.*s\n  %-26s", (int)(nl - p), p, "");
		fputs(p, f);
		if (o->def != NULL && strcmp(o->def, "0") != 0)
			fprintf(f, " (default %s)", o->def);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s%s\n", "--help", "show this and exit");
}

/* Fills cfg from the defaults in the table, then from argv. */
int
opt_load(int argc, char **argv, char **cause)
{
	struct option	 longopts[OPT_COUNT + 2];
	size_t		 i;
	int		 ch;

	for (i = 0; i < OPT_COUNT; i++) {
		if (opt_table[i].def != NULL &&
		    opt_parse(&opt_table[i], opt_table[i].def, cause) != 0)
			return (-1);
		longopts[i].name = opt_table[i].name;
		longopts[i].has_arg = opt_table[i].type == OPT_FLAG ?
		    no_argument : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = OPT_HELP + 1 + (int)i;
	}
	longopts[i++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h' || ch == OPT_HELP) {
			opt_usage(stdout);
			exit(0);
		}
		if (ch <= OPT_HELP || ch > OPT_HELP + (int)OPT_COUNT) {
			xasprintf(cause, "try --help");
			return (-1);
		}
		if (opt_parse(&opt_table[ch - OPT_HELP - 1], optarg, cause) != 0)
			return (-1);
	}
	if (optind != argc) {
		xasprintf(cause, "unexpected argument %s", argv[optind]);
		return (-1);
	}
	if (cfg.decline_rate + cfg.ignore_rate > 1) {
		xasprintf(cause, "--decline-rate and --ignore-rate add up to "
		    "more than 1");
		return (-1);
	}
	if (cfg.retry_after >= 0 && cfg.status != 429 && cfg.status != 503) {
		xasprintf(cause, "--retry-after needs --status 429 or 503");
		return (-1);
	}
	return (0);
}
