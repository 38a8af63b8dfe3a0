/*
 * Text rules with GNU libunistring: Unicode's own categories and its
 * Default_Ignorable_Code_Point property rather than a hand-kept list, so
 * a new invisible character is caught when the library's tables are.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "text.h"
#include "xmalloc.h"

/* LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI: they reorder text. */
static int
text_is_bidi_control(ucs4_t c)
{
	return ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069));
}

/* Nothing a reader sees: spaces, controls, format and ignorable ones. */
static int
text_is_invisible(ucs4_t c)
{
	return (uc_is_general_category(c, UC_CATEGORY_Z) ||
	    uc_is_general_category(c, UC_CATEGORY_Cc) ||
	    uc_is_general_category(c, UC_CATEGORY_Cf) ||
	    uc_is_property_default_ignorable_code_point(c) ||
	    c == 0x2800);	/* BRAILLE PATTERN BLANK, a favourite filler */
}

int
text_is_blank(const char *s)
{
	const uint8_t	*p = (const uint8_t *)s, *end = p + strlen(s);
	ucs4_t		 c;
	int		 n;

	while (p < end) {
		if ((n = u8_mbtouc(&c, p, end - p)) <= 0)
			return (0);
		if (!text_is_invisible(c))
			return (0);
		p += n;
	}
	return (1);
}

int
text_check(const char *s, int flags, const char **why)
{
	const uint8_t	*p = (const uint8_t *)s, *end = p + strlen(s);
	ucs4_t		 c;
	int		 n;

	if (u8_check(p, end - p) != NULL) {
		*why = "is not valid UTF-8";
		return (-1);
	}
	while (p < end) {
		n = u8_mbtouc(&c, p, end - p);
		p += n;
		if ((flags & TEXT_MULTILINE) &&
		    (c == '\t' || c == '\n' || c == '\r'))
			continue;
		/* C0, DEL and C1; also the line and paragraph separators. */
		if (uc_is_general_category(c, UC_CATEGORY_Cc) ||
		    c == 0x2028 || c == 0x2029) {
			*why = "must not contain control characters";
			return (-1);
		}
		if (text_is_bidi_control(c)) {
			*why = "must not contain bidirectional override or "
			    "isolate characters";
			return (-1);
		}
	}
	if (*s != '\0' && text_is_blank(s)) {
		*why = "must contain a visible character";
		return (-1);
	}
	return (0);
}

static int
text_name_char_ok(ucs4_t c, int first)
{
	/* Hangul fillers are letters that show nothing. */
	if (text_is_invisible(c))
		return (0);
	if (uc_is_general_category(c, UC_CATEGORY_L) ||
	    uc_is_general_category(c, UC_CATEGORY_N))
		return (1);
	/* Combining marks belong to the letter before them. */
	if (uc_is_general_category(c, UC_CATEGORY_M))
		return (!first);
	return (c == '.' || c == '_' || c == '-');
}

char *
text_fold_name(const char *s, size_t max, const char **why)
{
	uint8_t		*nfkc, *low;
	const uint8_t	*p, *end;
	size_t		 nlen, llen, count = 0;
	ucs4_t		 c;
	char		*out;
	int		 n;

	if (u8_check((const uint8_t *)s, strlen(s)) != NULL) {
		*why = "is not valid UTF-8";
		return (NULL);
	}
	nfkc = u8_normalize(UNINORM_NFKC, (const uint8_t *)s, strlen(s), NULL,
	    &nlen);
	if (nfkc == NULL) {
		*why = "cannot be normalised";
		return (NULL);
	}
	/* Lower case can un-normalise (U+0130): NFKC once more after it. */
	low = u8_tolower(nfkc, nlen, NULL, UNINORM_NFKC, NULL, &llen);
	free(nfkc);
	if (low == NULL) {
		*why = "cannot be normalised";
		return (NULL);
	}
	for (p = low, end = low + llen; p < end; p += n) {
		n = u8_mbtouc(&c, p, end - p);
		if (!text_name_char_ok(c, p == low)) {
			free(low);
			*why = "may hold only letters, digits, '.', '_' and '-' "
			    "(no spaces, control or invisible characters)";
			return (NULL);
		}
		count++;
	}
	if (count == 0 || count > max) {
		free(low);
		*why = "is empty or too long";
		return (NULL);
	}
	out = xmalloc(llen + 1);
	memcpy(out, low, llen);
	out[llen] = '\0';
	free(low);
	return (out);
}
