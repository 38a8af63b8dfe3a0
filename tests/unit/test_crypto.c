/*
 * common/crypto against published vectors: FIPS 180-2 (SHA-256), RFC 4231
 * (HMAC-SHA256), RFC 4648 (base64) and the Standard Webhooks reference
 * signature, which is what receivers of our webhooks will check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static void
test_sha256(void **state)
{
	unsigned char	md[CRYPTO_SHA256_LEN];
	char		hex[2 * CRYPTO_SHA256_LEN + 1];

	(void)state;
	crypto_sha256("abc", 3, md);
	crypto_hex(md, sizeof md, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");

	crypto_sha256("", 0, md);
	crypto_hex(md, sizeof md, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

static void
test_hmac_sha256_rfc4231(void **state)
{
	const char	*data = "what do ya want for nothing?";
	unsigned char	 mac[CRYPTO_SHA256_LEN];
	char		 hex[2 * CRYPTO_SHA256_LEN + 1];

	(void)state;
	/* RFC 4231 test case 2. */
	crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac);
	crypto_hex(mac, sizeof mac, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
}

static void
test_standard_webhooks_signature(void **state)
{
	const char	*secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	const char	*content = "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."
			    "{\"test\": 2432232314}";
	unsigned char	 key[64], mac[CRYPTO_SHA256_LEN];
	char		*sig;
	int		 keylen;

	(void)state;
	assert_int_equal(strncmp(secret, "whsec_", 6), 0);
	keylen = crypto_unbase64(secret + 6, key);
	assert_int_equal(keylen, 24);
	crypto_hmac_sha256(key, (size_t)keylen, content, strlen(content), mac);
	sig = crypto_base64(mac, sizeof mac);
	assert_string_equal(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	free(sig);
}

static void
test_base64_vectors(void **state)
{
	static const struct {
		const char	*plain, *coded;
	} v[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	unsigned char	 out[16];
	char		*s;
	size_t		 i;
	int		 n;

	(void)state;
	for (i = 0; i < sizeof v / sizeof *v; i++) {
		s = crypto_base64((const unsigned char *)v[i].plain,
		    strlen(v[i].plain));
		assert_string_equal(s, v[i].coded);
		free(s);
		n = crypto_unbase64(v[i].coded, out);
		assert_int_equal(n, (int)strlen(v[i].plain));
		assert_memory_equal(out, v[i].plain, (size_t)n);
	}
}

static void
test_base64_round_trip(void **state)
{
	unsigned char	 in[256], out[3 * 344 / 4 + 3];
	char		*s;
	size_t		 len;
	int		 n;

	(void)state;
	/* Every length up to 10 covers each padding case more than once. */
	for (len = 1; len <= 10; len++) {
		crypto_random(in, len);
		s = crypto_base64(in, len);
		assert_int_equal(strlen(s), 4 * ((len + 2) / 3));
		n = crypto_unbase64(s, out);
		free(s);
		assert_int_equal(n, (int)len);
		assert_memory_equal(out, in, len);
	}
	/* And every byte value. */
	for (len = 0; len < sizeof in; len++)
		in[len] = (unsigned char)len;
	s = crypto_base64(in, sizeof in);
	n = crypto_unbase64(s, out);
	free(s);
	assert_int_equal(n, (int)sizeof in);
	assert_memory_equal(out, in, sizeof in);
}

/*
 * RFC 4648 section 10: BASE64("") = "". The encoder agrees, but the
 * decoder refuses "", so a zero-length value cannot round-trip.
 */
static void
test_unbase64_empty_round_trip(void **state)
{
	unsigned char	 out[4];
	char		*s;

	(void)state;
	s = crypto_base64((const unsigned char *)"", 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(crypto_unbase64("", out), 0);
}

static void
test_unbase64_rejects_bad_input(void **state)
{
	static const char *const bad[] = {
		"Z",		/* lengths not a multiple of four */
		"Zg",
		"Zg=",
		"Zm9vY",
		"Zm9vYmF",
		"Zm9!",		/* characters outside the alphabet */
		"Zm-v",		/* base64url is not base64 */
		"Zm_v",
		"Zm9\n",
		" Zm9",
		"Zm 9",
		"Zm9v\tYmE",
		"Zm\xc3\xa9",
	};
	unsigned char	out[16];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (crypto_unbase64(bad[i], out) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/*
 * '=' is only padding, and only at the end: "AA=A", "=AAA", "A===" and
 * "====" are not base64. The decoder checks the alphabet but not where
 * the '=' stand, and returns a length for each.
 */
static void
test_unbase64_refuses_misplaced_padding(void **state)
{
	static const char *const bad[] = {
		"AA=A", "=AAA", "A===", "====", "Zg==Zg==", "Z=g=",
	};
	unsigned char	out[16];
	char		msg[256];
	size_t		i, len = 0;
	int		n;

	(void)state;
	msg[0] = '\0';
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		if ((n = crypto_unbase64(bad[i], out)) != -1)
			len += (size_t)snprintf(msg + len, sizeof msg - len,
			    " \"%s\"->%d", bad[i], n);
	}
	if (msg[0] != '\0')
		fail_msg("accepted:%s", msg);
}

static void
test_hex(void **state)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab,
		0xff };
	char	out[2 * sizeof in + 1];

	(void)state;
	memset(out, 'x', sizeof out);
	crypto_hex(in, sizeof in, out);
	assert_string_equal(out, "00017f80abff");

	memset(out, 'x', sizeof out);
	crypto_hex(in, 0, out);
	assert_string_equal(out, "");
}

static void
test_equal(void **state)
{
	unsigned char	a[32], b[32];

	(void)state;
	memset(a, 0x5a, sizeof a);
	memcpy(b, a, sizeof b);
	assert_int_equal(crypto_equal(a, b, sizeof a), 1);
	b[31] ^= 0x01;
	assert_int_equal(crypto_equal(a, b, sizeof a), 0);
	/* Only len bytes count. */
	assert_int_equal(crypto_equal(a, b, sizeof a - 1), 1);
	b[0] ^= 0x80;
	assert_int_equal(crypto_equal(a, b, sizeof a), 0);
	assert_int_equal(crypto_equal(a, b, 0), 1);
}

static void
test_random(void **state)
{
	unsigned char	a[32], b[32], zero[32];

	(void)state;
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	memset(zero, 0, sizeof zero);
	crypto_random(a, sizeof a);
	crypto_random(b, sizeof b);
	/* 2^-256 odds of a false failure. */
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
	crypto_random(a, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac_sha256_rfc4231),
		cmocka_unit_test(test_standard_webhooks_signature),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_unbase64_empty_round_trip),
		cmocka_unit_test(test_unbase64_rejects_bad_input),
		cmocka_unit_test(test_unbase64_refuses_misplaced_padding),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_random),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
