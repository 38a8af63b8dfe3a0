/*
 * The webhook signer (common/webhook.c): the input is "secret\nid\nbody";
 * the timestamp follows from the input's length.
 */
#include "fuzz/fuzz.h"
#include "webhook.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, *secret, *id, *body, sig[WEBHOOK_SIG_MAX];
	char		 again[WEBHOOK_SIG_MAX];
	long long	 ts;
	size_t		 blen;
	int		 rc;

	s = fuzz_str(data, size);
	secret = s;
	if ((id = strchr(secret, '\n')) == NULL) {
		free(s);
		return (0);
	}
	*id++ = '\0';
	if ((body = strchr(id, '\n')) == NULL)
		body = id + strlen(id);
	else
		*body++ = '\0';
	/* The body may hold NULs: it is signed by length. */
	blen = size - (size_t)(body - s);
	ts = (long long)size * 1000003LL - 1700000000LL;
	rc = webhook_sign(secret, id, ts, body, blen, sig);
	if (rc != 0 && rc != -1)
		fuzz_fail("webhook_sign returned %d", rc);
	if (rc == 0) {
		/* "v1," and 44 base64 characters of an HMAC-SHA256. */
		if (strncmp(sig, "v1,", 3) != 0 || strlen(sig) != 47)
			fuzz_fail("signature \"%s\"", sig);
		if (webhook_sign(secret, id, ts, body, blen, again) != 0 ||
		    strcmp(sig, again) != 0)
			fuzz_fail("the same message signed differently");
	}
	free(s);
	return (0);
}
