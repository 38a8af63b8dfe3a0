/*
 * The text rules (common/text.c): what a name or a note may hold, and the
 * account-name folding that decides which names are the same account.
 */
#include "fuzz/fuzz.h"
#include "text.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, *folded, *twice;
	const char	*why;
	int		 one, multi, blank;

	s = fuzz_str(data, size);
	why = NULL;
	one = text_check(s, 0, &why);
	if (one != 0 && (one != -1 || why == NULL))
		fuzz_fail("text_check returned %d", one);
	why = NULL;
	multi = text_check(s, TEXT_MULTILINE, &why);
	if (multi != 0 && (multi != -1 || why == NULL))
		fuzz_fail("text_check (multiline) returned %d", multi);
	/* A multi-line field allows more, never less. */
	if (one == 0 && multi != 0)
		fuzz_fail("accepted on one line, refused on several: %s", why);
	blank = text_is_blank(s);
	if (one == 0 && *s != '\0' && blank)
		fuzz_fail("a blank value accepted");
	/*
	 * A stored name is folded; signing in folds what was typed. If
	 * folding a folded name changed it, its owner could not sign in
	 * with the name shown to them.
	 */
	why = NULL;
	if ((folded = text_fold_name(s, 64, &why)) == NULL) {
		if (why == NULL)
			fuzz_fail("text_fold_name refused without a reason");
	} else {
		if ((twice = text_fold_name(folded, 64, &why)) == NULL)
			fuzz_fail("folded \"%s\" is refused: %s", folded, why);
		if (strcmp(folded, twice) != 0)
			fuzz_fail("\"%s\" folds again to \"%s\"", folded,
			    twice);
		if (text_check(folded, 0, &why) != 0)
			fuzz_fail("folded \"%s\" breaks the text rules: %s",
			    folded, why);
		free(twice);
		free(folded);
	}
	free(s);
	return (0);
}
