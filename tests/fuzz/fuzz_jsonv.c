/*
 * A request body against each route's field table (common/jsonv.c): the
 * first byte picks the table, the second whether it is a create (required
 * fields enforced), the rest is the body as a client would send it.
 */
#include <jansson.h>

#include "fuzz/fuzz.h"
#include "fuzz/fuzz_jv_tables.h"
#include "jsonv.h"

static int	fuzz_ntables;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	while (fuzz_jv_tables[fuzz_ntables].name != NULL)
		fuzz_ntables++;
	fprintf(stderr, "fuzz_jsonv: %d field tables\n", fuzz_ntables);
	return (0);
}

/* An error must say what is wrong, as the client will read it. */
static void
fuzz_check_error(const struct jv_error *e)
{
	if (e->status != 400 && e->status != 413 && e->status != 415 &&
	    e->status != 422)
		fuzz_fail("status %d", e->status);
	if (e->code[0] == '\0' || e->message[0] == '\0')
		fuzz_fail("an error without a code or message");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_jv_table	*t;
	struct jv_error			 e;
	json_t				*obj, *v;
	const char			*key;
	long long			 when;
	int				 create;

	if (size < 2)
		return (0);
	t = &fuzz_jv_tables[data[0] % fuzz_ntables];
	create = data[1] & 1;
	memset(&e, 0, sizeof e);
	if (jv_parse((const char *)data + 2, size - 2, &obj, &e) != 0) {
		if (obj != NULL)
			fuzz_fail("jv_parse failed but returned an object");
		fuzz_check_error(&e);
		return (0);
	}
	if (!json_is_object(obj))
		fuzz_fail("jv_parse returned a non-object");
	if (jv_check(obj, t->fields, create, &e) != 0)
		fuzz_check_error(&e);
	/* Strings of any field, as times: the parser must hold on its own. */
	json_object_foreach(obj, key, v) {
		if (!json_is_string(v))
			continue;
		if (jv_rfc3339_time(json_string_value(v), &when) == 0 &&
		    !jv_is_rfc3339(json_string_value(v)))
			fuzz_fail("%s: a time that is not RFC 3339", key);
		(void)jv_utf8_len(json_string_value(v));
	}
	json_decref(obj);
	return (0);
}
