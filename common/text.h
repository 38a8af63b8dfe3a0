/*
 * What text people type may hold. Names and notes end up on consoles, in
 * CSV exports and in providers' messages: a control character, a bidi
 * override (U+202E turns "gpj.exe" around) or a value made only of
 * zero-width characters looks like something else, or like nothing, to
 * the person reading it. Account names are also folded (NFKC, lower
 * case), so the full-width ＡＬＩＣＥ is the account alice, not a twin.
 * Input must be valid UTF-8 (jansson guarantees it for JSON strings).
 */
#ifndef CARELINE_TEXT_H
#define CARELINE_TEXT_H

#include <stddef.h>

#define TEXT_MULTILINE	0x1	/* tab, CR and LF allowed (notes, reasons) */

/*
 * 0 when s may be stored: valid UTF-8, no control characters, no bidi
 * embedding, override or isolate, and (when not empty) at least one
 * visible character. Otherwise -1 and *why says what is wrong.
 */
int	 text_check(const char *s, int flags, const char **why);
/* 1 when s holds no visible character (spaces and invisible ones only). */
int	 text_is_blank(const char *s);
/*
 * An account name as stored and compared: NFKC, lower case; letters,
 * digits, combining marks and . _ - only; 1 to max characters after
 * folding. A new string (caller frees), or NULL and *why.
 */
char	*text_fold_name(const char *s, size_t max, const char **why);

#endif
