/*
 * inward: which addresses lead back into the container or its networks.
 * The fixed ranges of the issue, the ranges that must stay usable
 * (documentation, benchmarking), the container's own networks, and
 * addresses that smuggle an IPv4 address inside an IPv6 one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "inward.h"

static const char *
why(const struct inward_local *l, const char *text)
{
	uint8_t ip[16] = {0};
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, text, ip) != 1)
		fail_msg("bad test address %s", text);
	return inward_why(l, family, ip);
}

static void
want(const struct inward_local *l, const char *text, const char *reason)
{
	const char *got = why(l, text);

	if (reason == NULL && got != NULL)
		fail_msg("%s: want outward, got %s", text, got);
	if (reason != NULL && (got == NULL || strcmp(got, reason) != 0))
		fail_msg("%s: want %s, got %s", text, reason, got ? got : "outward");
}

static void
add(struct inward_local *l, const char *text, unsigned prefix)
{
	uint8_t ip[16] = {0};
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, text, ip), 1);
	assert_int_equal(inward_local_add(l, family, ip, prefix), 0);
}

static void
test_fixed(void **state)
{
	static const struct {
		const char *ip, *why;
	} cases[] = {
	    {"0.0.0.0", "reserved"},
	    {"0.255.255.255", "reserved"},
	    {"10.0.0.1", "private"},
	    {"10.255.255.255", "private"},
	    {"100.64.0.1", "shared"},
	    {"100.127.255.255", "shared"},
	    {"127.0.0.1", "loopback"},
	    {"127.255.0.1", "loopback"},
	    {"169.254.169.254", "link-local"},
	    {"172.16.0.1", "private"},
	    {"172.31.255.255", "private"},
	    {"192.168.0.1", "private"},
	    {"192.0.0.8", "reserved"},
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.250", "multicast"},
	    {"240.0.0.1", "reserved"},
	    {"255.255.255.255", "reserved"},
	    {"::", "reserved"},
	    {"::1", "loopback"},
	    {"::a00:1", "reserved"},
	    {"::ffff:10.0.0.1", "mapped"},
	    {"::ffff:8.8.8.8", "mapped"},
	    {"fc00::1", "private"},
	    {"fd00::1", "private"},
	    {"fdff:ffff::1", "private"},
	    {"fe80::1", "link-local"},
	    {"febf::1", "link-local"},
	    {"fec0::1", "private"},
	    {"ff02::1", "multicast"},
	    {"100::1", "reserved"},
	    {"64:ff9b:1::1", "nat64"},
	    {"64:ff9b::a00:1", "nat64"},
	    {"64:ff9b::a9fe:a9fe", "nat64"},
	    {"2002:a00:1::1", "6to4"},
	    /* Not inward: the internet, and the ranges the tests use. */
	    {"9.255.255.255", NULL},
	    {"11.0.0.0", NULL},
	    {"100.63.255.255", NULL},
	    {"100.128.0.0", NULL},
	    {"172.15.255.255", NULL},
	    {"172.32.0.0", NULL},
	    {"169.253.255.255", NULL},
	    {"192.169.0.0", NULL},
	    {"223.255.255.255", NULL},
	    {"192.0.2.10", NULL},
	    {"198.51.100.53", NULL},
	    {"203.0.113.20", NULL},
	    {"198.18.0.1", NULL},
	    {"198.19.255.255", NULL},
	    {"2001:db8::1", NULL},
	    {"2001:db8:ff::1", NULL},
	    {"2606:4700::1111", NULL},
	    {"fbff::1", NULL},
	    {"fe00::1", NULL},
	    {"64:ff9b::808:808", NULL},
	    {"2002:808:808::1", NULL},
	    {"::1:0:0:1", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		want(NULL, cases[i].ip, cases[i].why);
	assert_string_equal(inward_why(NULL, AF_UNIX, (const uint8_t *)"xxxxxxxxxxxxxxxx"),
	                    "reserved");
}

static void
test_local(void **state)
{
	struct inward_local l;
	char buf[256];

	(void)state;
	memset(&l, 0, sizeof(l));
	/* The lab's sandbox: its veth subnets and gateways. Host bits are
	 * cleared; a net a fixed range covers, or one already there, takes no
	 * slot. */
	add(&l, "198.18.0.2", 24);
	add(&l, "2001:db8:ff::2", 64);
	add(&l, "198.18.0.1", 32);
	add(&l, "198.18.0.2", 24);
	add(&l, "fe80::1", 64);
	add(&l, "172.17.0.2", 16);
	add(&l, "127.0.0.1", 8);
	assert_int_equal(l.n, 3);
	assert_false(l.overflow);
	assert_string_equal(inward_local_fmt(&l, buf, sizeof(buf)),
	                    "198.18.0.0/24 2001:db8:ff::/64 198.18.0.1/32");
	want(&l, "198.18.0.1", "local-net");
	want(&l, "198.18.0.255", "local-net");
	want(&l, "198.18.1.1", NULL);
	want(&l, "2001:db8:ff::1", "local-net");
	want(&l, "2001:db8:ff:0:ffff::1", "local-net");
	want(&l, "2001:db8:fe::1", NULL);
	want(&l, "10.0.0.1", "private");
	/* Embedded IPv4 of the container's own networks. */
	want(&l, "64:ff9b::c612:1", "nat64");
	/* Odd prefixes. */
	add(&l, "203.0.113.77", 27);
	want(&l, "203.0.113.64", "local-net");
	want(&l, "203.0.113.95", "local-net");
	want(&l, "203.0.113.96", NULL);
	want(&l, "203.0.113.63", NULL);
	assert_int_equal(inward_local_add(&l, AF_INET, (const uint8_t *)"\xc0\0\2\0", 33), -1);
	assert_int_equal(inward_local_add(&l, AF_UNIX, (const uint8_t *)"\xc0\0\2\0", 8), -1);

	/* Full: fail closed, everything counts as inward. */
	memset(&l, 0, sizeof(l));
	for (unsigned i = 0; i <= INWARD_MAX_LOCAL; i++) {
		uint8_t ip[4] = {203, 0, 113, (uint8_t)i};

		assert_int_equal(inward_local_add(&l, AF_INET, ip, 32), 0);
	}
	assert_int_equal(l.n, INWARD_MAX_LOCAL);
	assert_true(l.overflow);
	want(&l, "192.0.2.1", "local-net");
}

static void
test_equal(void **state)
{
	struct inward_local a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_true(inward_local_equal(&a, &b));
	add(&a, "198.18.0.0", 24);
	assert_false(inward_local_equal(&a, &b));
	add(&b, "198.18.0.9", 24);
	assert_true(inward_local_equal(&a, &b));
	add(&b, "198.18.0.1", 32);
	assert_false(inward_local_equal(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed),
	    cmocka_unit_test(test_local),
	    cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
