/* Address parsing and formatting: the accepted forms and the garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "addr.h"

static void
check_ok(const char *text, uint16_t defport, int family, uint16_t port, const char *fmt)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	if (addr_parse(text, defport, &a) != 0)
		fail_msg("rejected \"%s\"", text);
	assert_int_equal(a.family, family);
	assert_int_equal(a.port, port);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), fmt);
}

static void
test_parse_ok(void **state)
{
	check_ok("192.0.2.1", 53, AF_INET, 53, "192.0.2.1:53");
	check_ok("192.0.2.1:5353", 53, AF_INET, 5353, "192.0.2.1:5353");
	check_ok("192.0.2.1:65535", 53, AF_INET, 65535, "192.0.2.1:65535");
	check_ok("192.0.2.1", 0, AF_INET, 0, "192.0.2.1");
	check_ok("2001:db8::1", 53, AF_INET6, 53, "[2001:db8::1]:53");
	check_ok("[2001:db8::1]:853", 53, AF_INET6, 853, "[2001:db8::1]:853");
	check_ok("[::1]", 53, AF_INET6, 53, "[::1]:53");
	check_ok("::1", 0, AF_INET6, 0, "::1");
	check_ok("2001:DB8::A", 1, AF_INET6, 1, "[2001:db8::a]:1");
}

static void
test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    " ",
	    "192.0.2.1 ",
	    " 192.0.2.1",
	    "192.0.2",
	    "192.0.2.256",
	    "192.0.2.1.",
	    "192.0.2.01",
	    "192.0.2.1:",
	    "192.0.2.1:0",
	    "192.0.2.1:65536",
	    "192.0.2.1:99999999999",
	    "192.0.2.1:+53",
	    "192.0.2.1:-1",
	    "192.0.2.1:53x",
	    "192.0.2.1:53:53",
	    "[192.0.2.1]:53",
	    "[192.0.2.1]",
	    "[2001:db8::1]:",
	    "[2001:db8::1]:0",
	    "[2001:db8::1]53",
	    "[2001:db8::1",
	    "2001:db8::1]:53",
	    "[2001:db8::1]:53 ",
	    "2001:db8::1:53:",
	    "fe80::1%eth0",
	    "[fe80::1%eth0]:53",
	    "2001:db8:::1",
	    "localhost",
	    "localhost:53",
	    "0x7f.0.0.1",
	    "1.2.3.4/32",
	    "[[::1]]:53",
	    "[]:53",
	    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	};
	struct addr a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_parse(bad[i], 53, &a) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
check_net(const char *text, int family, uint8_t prefix, const char *ip)
{
	char buf[ADDR_STRLEN];
	struct addr a;
	uint8_t p;

	if (addr_parse_net(text, &a, &p) != 0)
		fail_msg("rejected \"%s\"", text);
	assert_int_equal(a.family, family);
	assert_int_equal(p, prefix);
	assert_int_equal(a.port, 0);
	assert_string_equal(addr_ntop(&a, buf, sizeof(buf)), ip);
}

static void
test_net(void **state)
{
	static const char *const bad[] = {
	    "192.0.2.1/24",    "192.0.2.0/33",    "192.0.2.0/", "192.0.2.0/-1",
	    "192.0.2.0/24x",   "192.0.2.0 /24",   "/24",        "2001:db8::1/64",
	    "2001:db8::/129",  "2001:db8::/32/1", "11.0.0.0/7", "192.0.2.128/24",
	    "[2001:db8::]/32", "192.0.2.0:53/24", "",
	};
	struct addr a;
	uint8_t p;
	size_t i;

	check_net("192.0.2.0/24", AF_INET, 24, "192.0.2.0");
	check_net("192.0.2.1", AF_INET, 32, "192.0.2.1");
	check_net("192.0.2.1/32", AF_INET, 32, "192.0.2.1");
	check_net("10.0.0.0/8", AF_INET, 8, "10.0.0.0");
	check_net("192.0.2.128/25", AF_INET, 25, "192.0.2.128");
	check_net("0.0.0.0/0", AF_INET, 0, "0.0.0.0");
	check_net("2001:db8::/32", AF_INET6, 32, "2001:db8::");
	check_net("2001:db8::1", AF_INET6, 128, "2001:db8::1");
	check_net("2001:db8:0:8000::/49", AF_INET6, 49, "2001:db8:0:8000::");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_parse_net(bad[i], &a, &p) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
test_equal_sockaddr(void **state)
{
	struct sockaddr_storage ss;
	struct addr a, b, c;
	socklen_t sl;

	assert_int_equal(addr_parse("192.0.2.1:53", 0, &a), 0);
	assert_int_equal(addr_parse("192.0.2.1:54", 0, &b), 0);
	assert_true(addr_ip_equal(&a, &b));
	assert_false(addr_equal(&a, &b));
	assert_int_equal(addr_iplen(AF_INET), 4);
	assert_int_equal(addr_iplen(AF_INET6), 16);

	sl = addr_to_sockaddr(&a, &ss);
	assert_int_equal(sl, sizeof(struct sockaddr_in));
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, htons(53));
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, &c), 0);
	assert_true(addr_equal(&a, &c));

	assert_int_equal(addr_parse("[2001:db8::5]:853", 0, &a), 0);
	sl = addr_to_sockaddr(&a, &ss);
	assert_int_equal(sl, sizeof(struct sockaddr_in6));
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, &c), 0);
	assert_true(addr_equal(&a, &c));
	/* Same bytes, other family: never equal. */
	memset(&b, 0, sizeof(b));
	b.family = AF_INET;
	memcpy(b.ip, a.ip, 4);
	b.port = a.port;
	assert_false(addr_ip_equal(&a, &b));

	ss.ss_family = AF_UNIX;
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, &c), -1);
}

static void
test_fmt_small_buffer(void **state)
{
	char buf[8];
	struct addr a;

	assert_int_equal(addr_parse("[2001:db8::1]:853", 0, &a), 0);
	addr_fmt(&a, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	addr_ntop(&a, buf, sizeof(buf));
	assert_true(strlen(buf) < sizeof(buf));
}

/* A list for a log line: separators between entries only, prefixes when
 * asked, unknown families skipped, and whole entries or none. */
static void
test_list_add(void **state)
{
	static const uint8_t v4[4] = {192, 0, 2, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	char buf[32];
	size_t used = 0;

	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, ",", AF_INET, v4, -1), 0);
	assert_string_equal(buf, "192.0.2.1");
	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, ",", AF_UNIX, v4, -1), 0);
	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, ",", AF_INET6, v6, 64), 0);
	assert_string_equal(buf, "192.0.2.1,2001:db8::1/64");
	assert_int_equal(used, strlen(buf));
	/* ",192.0.2.1/32" is 13 bytes; 7 are left */
	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, ",", AF_INET, v4, 32), -1);
	assert_string_equal(buf, "192.0.2.1,2001:db8::1/64");
	assert_int_equal(used, strlen(buf));
	used = 0;
	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, " ", AF_INET, v4, 24), 0);
	assert_int_equal(addr_list_add(buf, sizeof(buf), &used, " ", AF_INET6, v6, -1), 0);
	assert_string_equal(buf, "192.0.2.1/24 2001:db8::1");
	used = 0;
	assert_int_equal(addr_list_add(buf, 9, &used, ",", AF_INET, v4, -1), -1);
	assert_string_equal(buf, "");
	assert_int_equal(addr_list_add(buf, 0, &used, ",", AF_INET, v4, -1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_net),
	    cmocka_unit_test(test_equal_sockaddr),
	    cmocka_unit_test(test_fmt_small_buffer),
	    cmocka_unit_test(test_list_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
