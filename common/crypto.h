/* Hashes, MACs, encodings and randomness, on OpenSSL's libcrypto. */
#ifndef CARELINE_CRYPTO_H
#define CARELINE_CRYPTO_H

#include <stddef.h>

#define CRYPTO_SHA256_LEN	32

void	crypto_sha256(const void *, size_t, unsigned char out[32]);
void	crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
	    size_t len, unsigned char out[32]);
/* Lower-case hex; out holds 2 * len + 1. */
void	crypto_hex(const unsigned char *, size_t len, char *out);
/* Standard base64 with padding; returns a new string. */
char	*crypto_base64(const unsigned char *, size_t);
/* Returns the decoded length, or -1; out holds 3 * strlen(in) / 4 + 3. */
int	crypto_unbase64(const char *in, unsigned char *out);
/* Fills buf from the kernel's generator; aborts if it cannot. */
void	crypto_random(void *buf, size_t);
/* Constant-time comparison of equal-length buffers: 1 if equal. */
int	crypto_equal(const void *, const void *, size_t);

#endif
