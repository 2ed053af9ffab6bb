/* notify-webhook's delivery logic (addons/notify-webhook/deliver.c, linked
 * from the addon's logic library): the address filter every connection
 * passes (so a webhook URL cannot reach the host's own services, a
 * redirect or a rebinding name included) and the URL as it is logged. The
 * deliveries themselves are tested against real HTTP servers in
 * test_notify_webhook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "deliver.h"

static int ok_addr(const char *text, const char *const *allowed, size_t n, char *why, size_t whysize)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return nw_address_ok((const struct sockaddr *)&ss, allowed, n, why, whysize);
}

static void test_refused_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *what;
	} refused[] = {
		{ "127.0.0.1", "loopback" },     { "127.255.0.9", "loopback" },  { "10.1.2.3", "private" },
		{ "172.16.0.1", "private" },     { "172.31.255.255", "private" }, { "192.168.1.1", "private" },
		{ "169.254.169.254", "link-local" }, { "100.64.0.1", "shared" }, { "0.0.0.0", "unspecified" },
		{ "224.0.0.1", "multicast" },    { "255.255.255.255", "reserved" }, { "::1", "loopback" },
		{ "::", "unspecified" },         { "fe80::1", "link-local" },    { "fd00::1", "unique-local" },
		{ "fc12::1", "unique-local" },   { "ff02::1", "multicast" },
		/* IPv4 in IPv6 clothes is judged as IPv4 */
		{ "::ffff:127.0.0.1", "loopback" }, { "::ffff:10.0.0.1", "private" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char why[160] = "";
		if (ok_addr(refused[i].addr, NULL, 0, why, sizeof(why)))
			fail_msg("%s was let through", refused[i].addr);
		if (!strstr(why, refused[i].what) || !strstr(why, "is "))
			fail_msg("%s: '%s' does not say %s", refused[i].addr, why, refused[i].what);
	}
}

static void test_public_and_allowed(void **state)
{
	(void)state;
	char why[160];
	assert_true(ok_addr("93.184.216.34", NULL, 0, why, sizeof(why)));
	assert_true(ok_addr("172.32.0.1", NULL, 0, why, sizeof(why))); /* just past 172.16/12 */
	assert_true(ok_addr("2606:2800:220:1::1", NULL, 0, why, sizeof(why)));
	assert_true(ok_addr("::ffff:93.184.216.34", NULL, 0, why, sizeof(why)));
	static const char *const allowed[] = { "127.0.0.1", "10.0.0.0/8", "fd00::/8" };
	assert_true(ok_addr("127.0.0.1", allowed, 3, why, sizeof(why)));
	assert_false(ok_addr("127.0.0.2", allowed, 3, why, sizeof(why)));
	assert_true(ok_addr("10.200.1.1", allowed, 3, why, sizeof(why)));
	assert_false(ok_addr("192.168.0.1", allowed, 3, why, sizeof(why)));
	assert_true(ok_addr("fd12::1", allowed, 3, why, sizeof(why)));
	assert_false(ok_addr("fc00::1", allowed, 3, why, sizeof(why)));
	assert_true(ok_addr("::ffff:10.0.0.1", allowed, 3, why, sizeof(why)));
}

static void test_url_shown(void **state)
{
	(void)state;
	char out[512];
	nw_url_shown(out, sizeof(out), "https://user:s3cret@hooks.example/T0/B0/xyz?token=abc#frag");
	assert_string_equal(out, "https://hooks.example/T0/B0/xyz?...");
	nw_url_shown(out, sizeof(out), "https://a@b@hooks.example/p");
	assert_string_equal(out, "https://hooks.example/p");
	nw_url_shown(out, sizeof(out), "http://hooks.example:8080/x");
	assert_string_equal(out, "http://hooks.example:8080/x");
	nw_url_shown(out, sizeof(out), "https://hooks.example/a?x=1");
	assert_null(strstr(out, "x=1"));
	/* a too small buffer is cut, never overrun */
	char tiny[8];
	nw_url_shown(tiny, sizeof(tiny), "https://hooks.example/long/path");
	assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_addresses),
		cmocka_unit_test(test_public_and_allowed),
		cmocka_unit_test(test_url_shown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
