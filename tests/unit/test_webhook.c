/*
 * common/webhook.c: signing, outcome classification, and where a webhook
 * may go (the address classifier's ranges, and receiver URLs as libcurl
 * parses them).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "webhook.h"

static void
test_standard_webhooks_reference_signature(void **state)
{
	const char	*body = "{\"test\": 2432232314}";
	char		 sig[WEBHOOK_SIG_MAX];

	(void)state;
	assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
	    sig), 0);
	assert_string_equal(sig,
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void
test_signature_depends_on_every_part(void **state)
{
	const char	*secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	char		 a[WEBHOOK_SIG_MAX], b[WEBHOOK_SIG_MAX];

	(void)state;
	assert_int_equal(webhook_sign(secret, "msg_1", 1, "{}", 2, a), 0);
	assert_int_equal(webhook_sign(secret, "msg_2", 1, "{}", 2, b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(webhook_sign(secret, "msg_1", 2, "{}", 2, b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(webhook_sign(secret, "msg_1", 1, "[]", 2, b), 0);
	assert_string_not_equal(a, b);
}

static void
test_malformed_secret(void **state)
{
	char	sig[WEBHOOK_SIG_MAX];

	(void)state;
	assert_int_equal(webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m",
	    1, "{}", 2, sig), -1);
	assert_int_equal(webhook_sign("whsec_", "m", 1, "{}", 2, sig), -1);
	assert_int_equal(webhook_sign("whsec_!!!!", "m", 1, "{}", 2, sig), -1);
}

static void
test_classify(void **state)
{
	(void)state;
	assert_int_equal(webhook_classify(200), WEBHOOK_DELIVERED);
	assert_int_equal(webhook_classify(204), WEBHOOK_DELIVERED);
	assert_int_equal(webhook_classify(0), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(301), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(408), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(429), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(500), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(503), WEBHOOK_RETRY);
	assert_int_equal(webhook_classify(400), WEBHOOK_DEAD);
	assert_int_equal(webhook_classify(401), WEBHOOK_DEAD);
	assert_int_equal(webhook_classify(404), WEBHOOK_DEAD);
	assert_int_equal(webhook_classify(410), WEBHOOK_GONE);
	assert_true(webhook_honours_retry_after(429));
	assert_true(webhook_honours_retry_after(503));
	assert_false(webhook_honours_retry_after(500));
	assert_string_equal(webhook_outcome_name(WEBHOOK_GONE), "gone");
}

static int
private4(const char *ip)
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return (webhook_addr_private((struct sockaddr *)&sin));
}

static int
private6(const char *ip)
{
	struct sockaddr_in6	sin6;

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return (webhook_addr_private((struct sockaddr *)&sin6));
}

static void
test_private_targets(void **state)
{
	(void)state;
	assert_true(private4("127.0.0.1"));
	assert_true(private4("10.1.2.3"));
	assert_true(private4("172.16.0.1"));
	assert_true(private4("172.31.255.255"));
	assert_true(private4("192.168.1.1"));
	assert_true(private4("169.254.169.254"));
	assert_true(private4("0.0.0.0"));
	assert_true(private4("100.64.0.1"));
	assert_true(private4("224.0.0.1"));
	assert_false(private4("172.32.0.1"));
	assert_false(private4("8.8.8.8"));
	assert_false(private4("113.240.1.1"));
	assert_true(private6("::1"));
	assert_true(private6("::"));
	assert_true(private6("fe80::1"));
	assert_true(private6("fd00::1"));
	assert_true(private6("::ffff:127.0.0.1"));
	assert_true(private6("::ffff:10.0.0.1"));
	assert_false(private6("2400:3200::1"));
	/* IPv4 inside IPv6 by NAT64 and 6to4. */
	assert_true(private6("64:ff9b::a00:1"));
	assert_true(private6("64:ff9b::7f00:1"));
	assert_false(private6("64:ff9b::808:808"));
	assert_true(private6("2002:c0a8:101::1"));
	assert_false(private6("2002:808:808::1"));
	assert_false(private6("::ffff:8.8.8.8"));
}

static void
test_ipv4_translated_refused(void **state)
{
	(void)state;
	/* ::ffff:0:a.b.c.d, public or not: a translator's range. */
	assert_true(private6("::ffff:0:7f00:1"));
	assert_true(private6("::ffff:0:808:808"));
	assert_true(private6("::ffff:0:0"));
	/* Its neighbours are what they were. */
	assert_false(private6("::ffff:8.8.8.8"));
	assert_false(private6("0:1:ffff:0:808:808::"));
}

static void
test_local_nat64_refused(void **state)
{
	(void)state;
	assert_true(private6("64:ff9b:1::808:808"));
	assert_true(private6("64:ff9b:1:ffff:ffff:ffff:ffff:ffff"));
	assert_false(private6("64:ff9b:2::808:808"));
	/* The well-known prefix still unwraps its IPv4 address. */
	assert_false(private6("64:ff9b::808:808"));
	assert_true(private6("64:ff9b::c000:201"));	/* 192.0.2.1 */
}

static void
test_documentation_ranges_refused(void **state)
{
	(void)state;
	assert_true(private4("192.0.2.1"));
	assert_true(private4("192.0.2.255"));
	assert_true(private4("198.51.100.7"));
	assert_true(private4("203.0.113.200"));
	assert_false(private4("192.0.3.1"));
	assert_false(private4("198.51.101.1"));
	assert_false(private4("203.0.114.1"));
	assert_true(private6("2001:db8::1"));
	assert_true(private6("2001:db8:ffff::1"));
	assert_false(private6("2001:db9::1"));
	assert_true(private6("3fff::1"));
	assert_true(private6("3fff:fff::1"));
	assert_false(private6("3fff:1000::1"));
	assert_true(private6("::ffff:203.0.113.9"));
	assert_true(private6("2002:c000:0201::1"));	/* 6to4 of 192.0.2.1 */
}

static int
url(const char *u, int allow_private)
{
	const char	*why = NULL;
	int		 rc;

	rc = webhook_url_check(u, allow_private, &why);
	if (rc != 0)
		assert_non_null(why);
	return (rc);
}

static void
test_url_parses_whole(void **state)
{
	(void)state;
	assert_int_equal(url("https://hooks.example.com/careline", 0), 0);
	assert_int_equal(url("http://113.240.1.1:8089/x?y=1", 0), 0);
	assert_int_equal(url("http://[::1", 1), -1);
	assert_int_equal(url("http://[::1]:99999/", 1), -1);
	assert_int_equal(url("http://", 1), -1);
	assert_int_equal(url("ftp://example.com/", 1), -1);
	assert_int_equal(url("example.com/hooks", 1), -1);
	assert_int_equal(url("http://exa mple.com/", 1), -1);
	assert_int_equal(url("http://[::1]:8089/hooks", 1), 0);
}

static void
test_url_literal_targets_checked(void **state)
{
	(void)state;
	assert_int_equal(url("http://127.0.0.1:8089/hooks", 0), -2);
	assert_int_equal(url("http://127.0.0.1:8089/hooks", 1), 0);
	assert_int_equal(url("http://10.0.0.5/", 0), -2);
	assert_int_equal(url("http://[::1]/", 0), -2);
	assert_int_equal(url("http://[::ffff:0:7f00:1]/", 0), -2);
	assert_int_equal(url("http://[64:ff9b:1::a00:1]/", 0), -2);
	assert_int_equal(url("http://192.0.2.10/", 0), -2);
	assert_int_equal(url("http://[2001:db8::5]/", 0), -2);
	assert_int_equal(url("http://[3fff::5]/", 0), -2);
	assert_int_equal(url("http://[fe80::1%25eth0]/", 0), -2);
	/* Numbers curl reads as 127.0.0.1 are 127.0.0.1. */
	assert_int_equal(url("http://2130706433/", 0), -2);
	assert_int_equal(url("http://0x7f.1/", 0), -2);
	/* A name is checked when it is resolved, at connect. */
	assert_int_equal(url("http://localhost.example/", 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_webhooks_reference_signature),
		cmocka_unit_test(test_signature_depends_on_every_part),
		cmocka_unit_test(test_malformed_secret),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_private_targets),
		cmocka_unit_test(test_ipv4_translated_refused),
		cmocka_unit_test(test_local_nat64_refused),
		cmocka_unit_test(test_documentation_ranges_refused),
		cmocka_unit_test(test_url_parses_whole),
		cmocka_unit_test(test_url_literal_targets_checked),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
