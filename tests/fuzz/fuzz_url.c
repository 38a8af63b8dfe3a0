/*
 * Where a webhook may go (common/webhook.c): receiver URLs as libcurl
 * parses them, and the address classifier. The first byte chooses what
 * the rest is: a URL, or raw IPv4/IPv6 addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz/fuzz.h"
#include "webhook.h"

static int
fuzz_private4(const uint8_t b[4])
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	memcpy(&sin.sin_addr, b, 4);
	return (webhook_addr_private((struct sockaddr *)&sin));
}

static int
fuzz_private6(const uint8_t b[16])
{
	struct sockaddr_in6	sin6;

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	memcpy(&sin6.sin6_addr, b, 16);
	return (webhook_addr_private((struct sockaddr *)&sin6));
}

/* An IPv4 address is as private inside IPv6 (mapped, NAT64) as outside. */
static void
fuzz_addresses(const uint8_t *data, size_t size)
{
	uint8_t	mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint8_t	nat64[16] = { 0x00, 0x64, 0xff, 0x9b };
	int	v4;

	if (size >= 16)
		(void)fuzz_private6(data);
	if (size < 4)
		return;
	v4 = fuzz_private4(data);
	memcpy(mapped + 12, data, 4);
	memcpy(nat64 + 12, data, 4);
	if (fuzz_private6(mapped) != v4 || fuzz_private6(nat64) != v4)
		fuzz_fail("%u.%u.%u.%u: private %d, not so inside IPv6",
		    data[0], data[1], data[2], data[3], v4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*why;
	char		*url;
	int		 open, strict;

	if (size < 1)
		return (0);
	if (data[0] & 1) {
		fuzz_addresses(data + 1, size - 1);
		return (0);
	}
	url = fuzz_str(data + 1, size - 1);
	why = NULL;
	open = webhook_url_check(url, 1, &why);
	if ((open != 0 && open != -1) || (open != 0 && why == NULL))
		fuzz_fail("allow_private: %d", open);
	why = NULL;
	strict = webhook_url_check(url, 0, &why);
	/* Refusing private targets refuses more, and says why. */
	if ((open == -1 && strict != -1) ||
	    (open == 0 && strict != 0 && strict != -2) ||
	    (strict != 0 && why == NULL))
		fuzz_fail("%s: %d with private targets, %d without", url, open,
		    strict);
	free(url);
	return (0);
}
