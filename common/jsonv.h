/*
 * Strict JSON input: a request body is parsed with limits (depth, no
 * duplicate keys, valid UTF-8) and checked against a table of its fields
 * (type, range, required), so every handler refuses bad input the same way
 * and every error names the field. Strings follow common/text.h unless
 * JV_SECRET.
 */
#ifndef CARELINE_JSONV_H
#define CARELINE_JSONV_H

#include <stddef.h>

#include <jansson.h>

#define JSONV_MAX_DEPTH	16

enum jv_kind {
	JV_STRING,	/* min..max characters (code points) */
	JV_INT,		/* min..max */
	JV_NUMBER,	/* finite, min..max */
	JV_BOOL,
	JV_ENUM,	/* one of choices */
	JV_ENUM_SET,	/* non-empty array of distinct choices */
	JV_TIME,	/* RFC 3339 with an offset */
	JV_PHONE,	/* normalised in place (common/phone.h) */
	JV_URL,		/* an http:// or https:// URL that parses whole */
};

#define JV_REQUIRED	0x1	/* must be present when creating */
#define JV_NULLABLE	0x2	/* null is accepted */
#define JV_MULTILINE	0x4	/* JV_STRING: tab and line breaks allowed */
#define JV_SECRET	0x8	/* JV_STRING: a password, taken as it is */

struct jv_field {
	const char		 *name;
	enum jv_kind		  kind;
	int			  flags;
	double			  min, max;
	const char *const	 *choices;	/* JV_ENUM, JV_ENUM_SET */
};

struct jv_error {
	int	status;		/* 400, 413, 415, 422 */
	char	code[32];
	char	field[64];	/* "" when no single field is at fault */
	char	message[256];
};

/* Parse a body: must be one JSON object. */
int	jv_parse(const char *body, size_t len, json_t **out,
	    struct jv_error *);
/*
 * Check obj against fields (NULL-name terminated). create: enforce
 * JV_REQUIRED. Unknown keys are refused. Phones are rewritten normalised.
 */
int	jv_check(json_t *obj, const struct jv_field *fields, int create,
	    struct jv_error *);
/* An RFC 3339 timestamp with a date, a time and an offset or Z. */
int	jv_is_rfc3339(const char *);
/* The same as seconds since the epoch; -1 if it is not one. */
int	jv_rfc3339_time(const char *, long long *);
/* Characters (code points) of valid UTF-8. */
size_t	jv_utf8_len(const char *);

#endif
