#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"
#include "xmalloc.h"

void
crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int	n = CRYPTO_SHA256_LEN;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
		abort();
}

void
crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[32])
{
	unsigned int	n = CRYPTO_SHA256_LEN;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) == NULL)
		abort();
}

void
crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

char *
crypto_base64(const unsigned char *in, size_t len)
{
	char	*out;

	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return (out);
}

int
crypto_unbase64(const char *in, unsigned char *out)
{
	size_t	len = strlen(in), body;
	int	n, pad;

	if (len == 0)
		return (0);
	if (len % 4 != 0)
		return (-1);
	/* Padding only at the very end, at most two. */
	pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	body = len - (size_t)pad;
	if (strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/") != body)
		return (-1);
	/* EVP_DecodeBlock counts padding as data: take it back off. */
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len)) < 0)
		return (-1);
	return (n - pad);
}

void
crypto_random(void *buf, size_t len)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "<2>getrandom: %s\n", strerror(errno));
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

int
crypto_equal(const void *a, const void *b, size_t len)
{
	return (CRYPTO_memcmp(a, b, len) == 0);
}
