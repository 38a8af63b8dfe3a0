/* Signing, outcome classification and target checks (common/webhook.c). */
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
	inet_pton(AF_INET, ip, &sin.sin_addr);
	return (webhook_addr_private((struct sockaddr *)&sin));
}

static int
private6(const char *ip)
{
	struct sockaddr_in6	sin6;

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_webhooks_reference_signature),
		cmocka_unit_test(test_signature_depends_on_every_part),
		cmocka_unit_test(test_malformed_secret),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_private_targets),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
