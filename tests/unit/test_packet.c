/* Parsing queued packets: IPv4 (with options), IPv6 with extension headers,
 * fragments, and truncated or malformed input at every length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "packet.h"

/* 192.0.2.1 → 198.51.100.7, TCP 40000 → 443, 20-byte header. */
static const uint8_t v4_tcp[] = {
    0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 192, 0,
    2,    1,    198,  51,   100,  7,    0x9c, 0x40, 0x01, 0xbb, 0,    0,    0,   1,
    0,    0,    0,    0,    0x50, 0x02, 0xff, 0xff, 0,    0,    0,    0,
};

/* Same with 8 bytes of options (IHL 7), UDP 5353 → 53. */
static const uint8_t v4_opts_udp[] = {
    0x47, 0x00, 0x00, 0x24, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 192,  0, 2,
    1,    198,  51,   100,  7,    0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, /* router alert,
                                                                                     nops, eol */
    0x14, 0xe9, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
};

/* 2001:db8::1 → 2001:db8::2: hop-by-hop (8), routing (16), dest opts (8),
 * fragment (offset 0), then TCP 1234 → 80. */
static const uint8_t v6_ext_tcp[] = {
    0x60,
    0,
    0,
    0,
    0x00,
    0x34,
    IPPROTO_HOPOPTS,
    64,
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    2,
    /* hop-by-hop: next routing, len 0 (8 bytes) */
    IPPROTO_ROUTING,
    0,
    1,
    4,
    0,
    0,
    0,
    0,
    /* routing: next dstopts, len 1 (16 bytes) */
    IPPROTO_DSTOPTS,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* dest opts: next fragment, len 0 */
    IPPROTO_FRAGMENT,
    0,
    1,
    4,
    0,
    0,
    0,
    0,
    /* fragment: next tcp, offset 0, M=1 */
    IPPROTO_TCP,
    0,
    0x00,
    0x01,
    0,
    0,
    0,
    7,
    /* tcp ports */
    0x04,
    0xd2,
    0x00,
    0x50,
};

static void
test_v4_tcp(void **state)
{
	struct flow f;
	const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 7};

	assert_int_equal(packet_parse(v4_tcp, sizeof(v4_tcp), &f), 0);
	assert_int_equal(f.family, AF_INET);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_memory_equal(f.src, src, 4);
	assert_memory_equal(f.dst, dst, 4);
	assert_true(f.has_ports);
	assert_int_equal(f.sport, 40000);
	assert_int_equal(f.dport, 443);
}

static void
test_v4_options(void **state)
{
	struct flow f;

	assert_int_equal(packet_parse(v4_opts_udp, sizeof(v4_opts_udp), &f), 0);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.sport, 5353);
	assert_int_equal(f.dport, 53);
}

static void
test_v4_icmp(void **state)
{
	uint8_t p[28];
	struct flow f;

	memcpy(p, v4_tcp, 20);
	p[3] = 28;
	p[9] = IPPROTO_ICMP;
	memset(p + 20, 0, 8);
	assert_int_equal(packet_parse(p, sizeof(p), &f), 0);
	assert_int_equal(f.proto, IPPROTO_ICMP);
	assert_false(f.has_ports);
}

/* A later fragment has no ports; parsing succeeds without them. */
static void
test_v4_later_fragment(void **state)
{
	uint8_t p[sizeof(v4_tcp)];
	struct flow f;

	memcpy(p, v4_tcp, sizeof(p));
	p[6] = 0x00;
	p[7] = 0x10;
	assert_int_equal(packet_parse(p, sizeof(p), &f), 0);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_false(f.has_ports);
}

static void
test_v4_malformed(void **state)
{
	uint8_t p[sizeof(v4_tcp)];
	struct flow f;

	memcpy(p, v4_tcp, sizeof(p));
	p[0] = 0x44; /* IHL 4: shorter than the fixed header */
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
	memcpy(p, v4_tcp, sizeof(p));
	p[0] = 0x4f; /* IHL 15 = 60 bytes, more than we have */
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
	memcpy(p, v4_tcp, sizeof(p));
	p[3] = 22; /* total length ends inside the ports */
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
	memcpy(p, v4_tcp, sizeof(p));
	p[0] = 0x55; /* version 5 */
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
	assert_int_equal(packet_parse(NULL, 0, &f), -1);
}

static void
test_v6_ext_headers(void **state)
{
	struct flow f;

	assert_int_equal(packet_parse(v6_ext_tcp, sizeof(v6_ext_tcp), &f), 0);
	assert_int_equal(f.family, AF_INET6);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(f.dst[15], 2);
	assert_int_equal(f.src[15], 1);
	assert_true(f.has_ports);
	assert_int_equal(f.sport, 1234);
	assert_int_equal(f.dport, 80);
}

static void
test_v6_later_fragment(void **state)
{
	uint8_t p[sizeof(v6_ext_tcp)];
	struct flow f;

	memcpy(p, v6_ext_tcp, sizeof(p));
	p[40 + 8 + 16 + 8 + 2] = 0x01; /* fragment offset 32 */
	assert_int_equal(packet_parse(p, sizeof(p), &f), 0);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_false(f.has_ports);
}

static void
test_v6_icmp(void **state)
{
	uint8_t p[48];
	struct flow f;

	memcpy(p, v6_ext_tcp, 40);
	p[5] = 8;
	p[6] = IPPROTO_ICMPV6;
	memset(p + 40, 0, 8);
	assert_int_equal(packet_parse(p, sizeof(p), &f), 0);
	assert_int_equal(f.proto, IPPROTO_ICMPV6);
	assert_false(f.has_ports);
}

/* An extension header whose length runs past the packet. */
static void
test_v6_bad_ext_length(void **state)
{
	uint8_t p[sizeof(v6_ext_tcp)];
	struct flow f;

	memcpy(p, v6_ext_tcp, sizeof(p));
	p[41] = 200; /* hop-by-hop claims 1608 bytes */
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
}

/* A chain of extension headers longer than any real packet uses. */
static void
test_v6_endless_chain(void **state)
{
	uint8_t p[40 + 8 * 40];
	struct flow f;
	size_t i;

	memset(p, 0, sizeof(p));
	memcpy(p, v6_ext_tcp, 40);
	p[4] = (uint8_t)((sizeof(p) - 40) >> 8);
	p[5] = (uint8_t)(sizeof(p) - 40);
	p[6] = IPPROTO_DSTOPTS;
	for (i = 40; i < sizeof(p); i += 8)
		p[i] = IPPROTO_DSTOPTS;
	assert_int_equal(packet_parse(p, sizeof(p), &f), -1);
}

/* Every prefix of a good packet that is too short to hold the ports is an
 * error, and parsing never reads past the given length (valgrind/ASan see
 * the exact-size copy). */
static void
test_truncated(void **state)
{
	const struct {
		const uint8_t *p;
		size_t len, need;
	} pk[] = {
	    {v4_tcp, sizeof(v4_tcp), 24},
	    {v4_opts_udp, sizeof(v4_opts_udp), 32},
	    {v6_ext_tcp, sizeof(v6_ext_tcp), sizeof(v6_ext_tcp)},
	};
	struct flow f;
	size_t i, n;

	for (i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
		for (n = 0; n <= pk[i].len; n++) {
			uint8_t *copy = malloc(n > 0 ? n : 1);

			assert_non_null(copy);
			memcpy(copy, pk[i].p, n);
			if (n < pk[i].need)
				assert_int_equal(packet_parse(copy, n, &f), -1);
			else
				assert_int_equal(packet_parse(copy, n, &f), 0);
			free(copy);
		}
	}
}

static void
test_proto_names(void **state)
{
	char buf[8];

	assert_string_equal(packet_proto_name(IPPROTO_TCP, buf, sizeof(buf)), "tcp");
	assert_string_equal(packet_proto_name(IPPROTO_UDP, buf, sizeof(buf)), "udp");
	assert_string_equal(packet_proto_name(IPPROTO_ICMP, buf, sizeof(buf)), "icmp");
	assert_string_equal(packet_proto_name(IPPROTO_ICMPV6, buf, sizeof(buf)), "ipv6-icmp");
	assert_string_equal(packet_proto_name(253, buf, sizeof(buf)), "253");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_tcp),
	    cmocka_unit_test(test_v4_options),
	    cmocka_unit_test(test_v4_icmp),
	    cmocka_unit_test(test_v4_later_fragment),
	    cmocka_unit_test(test_v4_malformed),
	    cmocka_unit_test(test_v6_ext_headers),
	    cmocka_unit_test(test_v6_later_fragment),
	    cmocka_unit_test(test_v6_icmp),
	    cmocka_unit_test(test_v6_bad_ext_length),
	    cmocka_unit_test(test_v6_endless_chain),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_proto_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
