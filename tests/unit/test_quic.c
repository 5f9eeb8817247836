/* The QUIC Initial parser (nfq/quic.c) against the RFCs' own client
 * Initials, tampered ones, and hellos sealed over several datagrams; and
 * the binding of QUIC flows (nfq/bind.c) on top of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addrmap.h"
#include "bind.h"
#include "kernel.h"
#include "quic.h"
#include "quic_rfc.h"
#include "quic_seal.h"

static const uint8_t dcid_a[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
static const uint8_t dcid_b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t cdn[4] = {192, 0, 2, 80};

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (hex[0] != '\0' && sscanf(hex, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* The RFCs' packets open to a ClientHello for example.com, v1 and v2. */
static void
test_rfc(void **state)
{
	static uint8_t pkt[1300];
	struct sni_claim cl;
	size_t n;

	n = unhex(RFC9001_CLIENT_INITIAL, pkt);
	assert_int_equal(n, 1200);
	assert_int_equal(quic_parse(pkt, n, &cl), SNI_OK);
	assert_string_equal(cl.name, "example.com");
	assert_false(cl.ech);
	n = unhex(RFC9369_CLIENT_INITIAL, pkt);
	assert_int_equal(n, 1200);
	assert_int_equal(quic_parse(pkt, n, &cl), SNI_OK);
	assert_string_equal(cl.name, "example.com");
}

/* Anything a server would not open the same way is not QUIC. */
static void
test_tampered(void **state)
{
	static uint8_t pkt[1300], copy[1300];
	struct sni_claim cl;
	size_t n = unhex(RFC9001_CLIENT_INITIAL, pkt), cut;

	memcpy(copy, pkt, n);
	copy[600] ^= 1; /* the ciphertext: the tag fails */
	assert_int_equal(quic_parse(copy, n, &cl), SNI_NOT_QUIC);
	memcpy(copy, pkt, n);
	copy[4] = 2; /* version 2 in a v1 header: other keys */
	assert_int_equal(quic_parse(copy, n, &cl), SNI_NOT_QUIC);
	memcpy(copy, pkt, n);
	copy[1] = 0xff, copy[2] = 0, copy[3] = 0, copy[4] = 0x1d; /* draft-29: unknown */
	assert_int_equal(quic_parse(copy, n, &cl), SNI_NOT_QUIC);
	memcpy(copy, pkt, n);
	copy[1] = copy[2] = copy[3] = copy[4] = 0; /* version negotiation */
	assert_int_equal(quic_parse(copy, n, &cl), SNI_NOT_QUIC);
	memcpy(copy, pkt, n);
	copy[5] = 21; /* DCID longer than 20 */
	assert_int_equal(quic_parse(copy, n, &cl), SNI_NOT_QUIC);
	for (cut = 0; cut < n; cut += 37)
		assert_int_equal(quic_parse(pkt, cut, &cl), SNI_NOT_QUIC);
	assert_int_equal(quic_parse((const uint8_t *)"SSH-2.0-x\r\n", 11, &cl), SNI_NOT_QUIC);
	memset(copy, 0x41, 1200); /* short header */
	assert_int_equal(quic_parse(copy, 1200, &cl), SNI_NOT_QUIC);
}

/* Sealed here: a hello in one frame, none, out of order, over two
 * datagrams, with frames that disagree, with a frame an Initial may not
 * carry. */
static void
test_sealed(void **state)
{
	static uint8_t hello[8192], frames[8192], d1[2048], d2[2048];
	static struct quic_conn c;
	struct quic_seen seen;
	struct sni_claim cl;
	size_t hn, fn, n1, n2, half;

	hn = seal_hello("good.lab.test", 100, hello);
	fn = seal_crypto(0, hello, hn, frames);
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d1);
	assert_int_equal(n1, 1200);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_OK);
	assert_string_equal(cl.name, "good.lab.test");
	n1 = seal_initial(QUIC_VERSION_2, dcid_b, 8, 0, frames, fn, d1);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_OK);

	hn = seal_hello(NULL, 100, hello);
	fn = seal_crypto(0, hello, hn, frames);
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d1);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_NONE);

	/* Two frames, the second half first, in one packet. */
	hn = seal_hello("good.lab.test", 300, hello);
	half = hn / 2;
	fn = seal_crypto(half, hello + half, hn - half, frames);
	fn += seal_crypto(0, hello, half, frames + fn);
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d1);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_OK);

	/* A frame type an Initial may not carry (STREAM). */
	frames[fn] = 0x08;
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn + 1, d1);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_NOT_QUIC);

	/* A big hello (post-quantum key shares) over two datagrams; the name
	 * in the second. */
	hn = seal_hello("good.lab.test", 1800, hello);
	half = 1000;
	fn = seal_crypto(0, hello, half, frames);
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d1);
	fn = seal_crypto(half, hello + half, hn - half, frames);
	n2 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 1, frames, fn, d2);
	assert_int_equal(quic_parse(d1, n1, &cl), SNI_MORE);
	assert_int_equal(quic_parse(d2, n2, &cl), SNI_NOT_QUIC); /* no start: nothing to judge */
	memset(&c, 0, sizeof(c));
	assert_int_equal(quic_datagram(&c, d1, n1, &seen), QUIC_OK);
	assert_true(seen.fresh && seen.from_zero);
	assert_int_equal(quic_conn_hello(&c, &cl), SNI_MORE);
	assert_int_equal(quic_datagram(&c, d2, n2, &seen), QUIC_OK);
	assert_false(seen.fresh);
	assert_int_equal(quic_conn_hello(&c, &cl), SNI_OK);
	assert_string_equal(cl.name, "good.lab.test");
	/* The same offsets again with other bytes: which would the server keep? */
	hello[half + 10] ^= 0xff;
	fn = seal_crypto(half, hello + half, hn - half, frames);
	n2 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 2, frames, fn, d2);
	assert_int_equal(quic_datagram(&c, d2, n2, &seen), QUIC_NOT_QUIC);
	/* Coalesced: a second packet of another connection in the datagram. */
	fn = seal_crypto(0, hello, 500, frames);
	n1 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d1);
	n2 = seal_initial(QUIC_VERSION_1, dcid_a, 8, 0, frames, fn, d1 + n1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(quic_datagram(&c, d1, n1 + n2, &seen), QUIC_NOT_QUIC);
}

static struct flow
udp_flow(uint16_t sport)
{
	struct flow f = {0};

	f.family = AF_INET;
	f.proto = IPPROTO_UDP;
	memcpy(f.dst, cdn, 4);
	f.src[0] = 192, f.src[2] = 2, f.src[3] = 9;
	f.has_ports = f.has_udp = true;
	f.sport = sport;
	f.dport = 443;
	return f;
}

static void
decide(struct bindtab *t, struct flow *f, const uint8_t *d, size_t n, uint32_t mark,
       const struct addrmap_entry *e, const struct conf *c, struct verdict *v)
{
	f->payload_off = 0;
	f->payload_len = n;
	bind_decide(t, f, d, n, mark, e, c, 1000, v);
}

/* The binding of a QUIC flow: a hello over two datagrams judged when
 * whole, another connection's Initial on a judged flow judged too, 1-RTT
 * packets of a judged flow pass, a continuation the gate holds nothing
 * of is denied. */
static void
test_bind_quic(void **state)
{
	static uint8_t hello[8192], frames[8192], d1[2048], d2[2048], d3[2048];
	struct addrmap *m = addrmap_new(16, 7);
	struct bindtab *t = bindtab_new();
	struct portlist pl = {0};
	struct addrmap_name *nm;
	const struct addrmap_entry *e;
	struct conf c = {0};
	struct verdict v;
	struct flow f = udp_flow(40001);
	size_t hn, fn, n1, n2, n3;

	portlist_add(&pl, (struct port){IPPROTO_UDP, 443});
	nm = addrmap_name_new("good.lab.test", &pl);
	assert_int_equal(addrmap_put(m, AF_INET, cdn, nm, 1ULL << 40), 0);
	addrmap_name_unref(nm);
	e = addrmap_get(m, AF_INET, cdn);
	portlist_add(&c.quic_ports, (struct port){IPPROTO_UDP, 443});

	hn = seal_hello("good.lab.test", 1800, hello);
	fn = seal_crypto(0, hello, 1000, frames);
	n1 = seal_initial(QUIC_VERSION_1, dcid_a, 8, 0, frames, fn, d1);
	fn = seal_crypto(1000, hello + 1000, hn - 1000, frames);
	n2 = seal_initial(QUIC_VERSION_1, dcid_a, 8, 1, frames, fn, d2);
	decide(t, &f, d1, n1, KERNEL_MARK_BIND_FIRST, e, &c, &v);
	assert_int_equal(v.action, VERDICT_BIND_PART);
	decide(t, &f, d2, n2, KERNEL_MARK_BIND_MORE, e, &c, &v);
	assert_int_equal(v.action, VERDICT_BIND_OK);
	assert_false(v.log);
	/* 1-RTT on the judged flow (the rules pass these; the gate too). */
	memset(d3, 0x41, 100);
	decide(t, &f, d3, 100, KERNEL_MARK_BIND_QUIC, e, &c, &v);
	assert_int_equal(v.action, VERDICT_PASS);
	/* Another connection on the same ports, for a name not bound. */
	hn = seal_hello("evil.lab.test", 100, hello);
	fn = seal_crypto(0, hello, hn, frames);
	n3 = seal_initial(QUIC_VERSION_1, dcid_b, 8, 0, frames, fn, d3);
	decide(t, &f, d3, n3, KERNEL_MARK_BIND_QUIC, e, &c, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_SNI);
	assert_string_equal(v.claim, "evil.lab.test");
	/* The same first datagram on a fresh flow: reason sni, as for TCP. */
	f = udp_flow(40002);
	decide(t, &f, d3, n3, KERNEL_MARK_BIND_FIRST, e, &c, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_SNI);
	/* A continuation the gate holds nothing of. */
	f = udp_flow(40003);
	decide(t, &f, d2, n2, KERNEL_MARK_BIND_MORE, e, &c, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_NOT_QUIC);
	/* Not QUIC at all on a fresh flow; audit mode lets it pass, logged. */
	f = udp_flow(40004);
	decide(t, &f, (const uint8_t *)"hello\n", 6, KERNEL_MARK_BIND_FIRST, e, &c, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_NOT_QUIC);
	c.bind = BIND_AUDIT;
	decide(t, &f, (const uint8_t *)"hello\n", 6, KERNEL_MARK_BIND_FIRST, e, &c, &v);
	assert_int_equal(v.action, VERDICT_BIND_OK);
	assert_true(v.audit && v.log);
	bindtab_free(t);
	addrmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_sealed),
	    cmocka_unit_test(test_bind_quic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
