/* The SNI / Host binding: the address map's names, the ClientHello and
 * Host parsers, and first flights held over segments. */
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
#include "sni.h"

static const uint8_t cdn[4] = {192, 0, 2, 80};

static struct portlist
tcp_ports(uint16_t a, uint16_t b)
{
	struct portlist pl = {0};

	portlist_add(&pl, (struct port){IPPROTO_TCP, a});
	if (b != 0)
		portlist_add(&pl, (struct port){IPPROTO_TCP, b});
	return pl;
}

static void
put(struct addrmap *m, const char *name, struct portlist pl, uint64_t exp)
{
	struct addrmap_name *nm = addrmap_name_new(name, &pl);

	assert_non_null(nm);
	assert_int_equal(addrmap_put(m, AF_INET, cdn, nm, exp), 0);
	addrmap_name_unref(nm);
}

/* Every name an address was handed out for, each with its own ports and
 * expiry; the last one stays what the deny log names. */
static void
test_addrmap_names(void **state)
{
	struct addrmap *m = addrmap_new(16, 7);
	const struct addrmap_entry *e;
	char buf[256];
	int i;

	put(m, "a.lab.test", tcp_ports(443, 0), 1000);
	put(m, "b.lab.test", tcp_ports(80, 0), 5000);
	e = addrmap_get(m, AF_INET, cdn);
	assert_non_null(e);
	assert_string_equal(e->nm->name, "b.lab.test");
	assert_true(addrmap_bound_to(e, "a.lab.test", IPPROTO_TCP, 443, 999));
	assert_false(addrmap_bound_to(e, "a.lab.test", IPPROTO_TCP, 443, 1000)); /* ran out */
	assert_false(addrmap_bound_to(e, "a.lab.test", IPPROTO_TCP, 80, 10));    /* not its port */
	assert_true(addrmap_bound_to(e, "b.lab.test", IPPROTO_TCP, 80, 10));
	assert_false(addrmap_bound_to(e, "c.lab.test", IPPROTO_TCP, 443, 10));
	assert_string_equal(addrmap_names_fmt(e, 10, buf, sizeof(buf)), "a.lab.test,b.lab.test");
	assert_string_equal(addrmap_names_fmt(e, 2000, buf, sizeof(buf)), "b.lab.test");
	/* A shorter answer for the same name never shortens it. */
	put(m, "b.lab.test", tcp_ports(80, 0), 3000);
	assert_true(
	    addrmap_bound_to(addrmap_get(m, AF_INET, cdn), "b.lab.test", IPPROTO_TCP, 80, 4000));
	/* Bounded: a flood of names sharing the address pushes out the one
	 * that runs out first, never more than ADDRMAP_NAMES kept. */
	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "n%d.lab.test", i);
		put(m, buf, tcp_ports(443, 0), 100000 + (uint64_t)i);
	}
	e = addrmap_get(m, AF_INET, cdn);
	assert_false(addrmap_bound_to(e, "n0.lab.test", IPPROTO_TCP, 443, 10));
	assert_true(addrmap_bound_to(e, "n39.lab.test", IPPROTO_TCP, 443, 10));
	assert_int_equal(addrmap_count(m), 1);
	addrmap_free(m);
}

/* A ClientHello as a client writes it: one record, the given extensions. */
static size_t
hello(uint8_t *out, const char *sni, bool ech, bool two_sni)
{
	uint8_t body[1024];
	size_t n = 0, ext_at, ext_len = 0, i, k, hs;

	body[n++] = 3;
	body[n++] = 3;
	memset(body + n, 0xab, 32);
	n += 32;
	body[n++] = 0; /* session id */
	body[n++] = 0;
	body[n++] = 2;
	body[n++] = 0x13;
	body[n++] = 0x01;
	body[n++] = 1;
	body[n++] = 0;
	ext_at = n;
	n += 2;
	/* supported_versions, for the look of it */
	body[n++] = 0;
	body[n++] = 43;
	body[n++] = 0;
	body[n++] = 3;
	body[n++] = 2;
	body[n++] = 3;
	body[n++] = 4;
	for (k = 0; sni != NULL && k < (two_sni ? 2u : 1u); k++) {
		size_t l = strlen(sni);

		body[n++] = 0;
		body[n++] = 0;
		body[n++] = (uint8_t)((l + 5) >> 8);
		body[n++] = (uint8_t)(l + 5);
		body[n++] = (uint8_t)((l + 3) >> 8);
		body[n++] = (uint8_t)(l + 3);
		body[n++] = 0;
		body[n++] = (uint8_t)(l >> 8);
		body[n++] = (uint8_t)l;
		memcpy(body + n, sni, l);
		n += l;
	}
	if (ech) {
		body[n++] = 0xfe;
		body[n++] = 0x0d;
		body[n++] = 0;
		body[n++] = 4;
		for (i = 0; i < 4; i++)
			body[n++] = 0x55;
	}
	ext_len = n - ext_at - 2;
	body[ext_at] = (uint8_t)(ext_len >> 8);
	body[ext_at + 1] = (uint8_t)ext_len;
	hs = n + 4;
	out[0] = 22;
	out[1] = 3;
	out[2] = 1;
	out[3] = (uint8_t)(hs >> 8);
	out[4] = (uint8_t)hs;
	out[5] = 1;
	out[6] = 0;
	out[7] = (uint8_t)(n >> 8);
	out[8] = (uint8_t)n;
	memcpy(out + 9, body, n);
	return n + 9;
}

static void
test_tls(void **state)
{
	uint8_t h[1200];
	struct sni_claim cl;
	size_t n, i;

	n = hello(h, "Good.Lab.Test.", false, false);
	assert_int_equal(sni_parse_tls(h, n, &cl), SNI_OK);
	assert_string_equal(cl.name, "good.lab.test");
	assert_false(cl.ech);
	/* Every prefix is "more", never a verdict. */
	for (i = 0; i < n; i++)
		assert_int_equal(sni_parse_tls(h, i, &cl), SNI_MORE);
	n = hello(h, "outer.lab.test", true, false);
	assert_int_equal(sni_parse_tls(h, n, &cl), SNI_OK);
	assert_true(cl.ech);
	n = hello(h, NULL, false, false);
	assert_int_equal(sni_parse_tls(h, n, &cl), SNI_NONE);
	n = hello(h, "a.lab.test", false, true);
	assert_int_equal(sni_parse_tls(h, n, &cl), SNI_NOT_TLS);
	n = hello(h, "ev\nil.lab.test", false, false);
	assert_int_equal(sni_parse_tls(h, n, &cl), SNI_OK);
	assert_string_equal(cl.name, "ev?il.lab.test");
	assert_int_equal(sni_parse_tls((const uint8_t *)"SSH-2.0-x\r\n", 11, &cl), SNI_NOT_TLS);
	assert_int_equal(sni_parse_tls((const uint8_t *)"G", 1, &cl), SNI_NOT_TLS);
	/* The hello split over two records. */
	n = hello(h, "split.lab.test", false, false);
	{
		uint8_t two[1300];
		size_t body = n - 5, first = 20;

		memcpy(two, h, 5 + first);
		two[3] = 0;
		two[4] = (uint8_t)first;
		two[5 + first] = 22;
		two[6 + first] = 3;
		two[7 + first] = 1;
		two[8 + first] = (uint8_t)((body - first) >> 8);
		two[9 + first] = (uint8_t)(body - first);
		memcpy(two + 10 + first, h + 5 + first, body - first);
		assert_int_equal(sni_parse_tls(two, n + 5, &cl), SNI_OK);
		assert_string_equal(cl.name, "split.lab.test");
		assert_int_equal(sni_parse_tls(two, n, &cl), SNI_MORE);
	}
}

static enum sni_result
http(const char *s, struct sni_claim *cl)
{
	return sni_parse_http((const uint8_t *)s, strlen(s), cl);
}

static void
test_http(void **state)
{
	struct sni_claim cl;

	assert_int_equal(
	    http("GET / HTTP/1.1\r\nHost: Good.lab.test:80\r\nAccept: */*\r\n\r\n", &cl), SNI_OK);
	assert_string_equal(cl.name, "good.lab.test");
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: good.lab.test\r\n", &cl), SNI_MORE);
	assert_int_equal(http("GE", &cl), SNI_MORE);
	assert_int_equal(http("GET / HTTP/1.1\r\n\r\n", &cl), SNI_NO_HOST);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &cl), SNI_NO_HOST);
	assert_int_equal(http("GET http://evil/ HTTP/1.1\r\nHost: good\r\n\r\n", &cl),
	                 SNI_NOT_HTTP);
	assert_int_equal(http("GET / HTTP/1.1\nHost: evil\n\n", &cl), SNI_NOT_HTTP);
	assert_int_equal(http("GET / HTTP/1.1\r\nX: y\r\n Host: evil\r\n\r\n", &cl), SNI_NOT_HTTP);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost : evil\r\n\r\n", &cl), SNI_NOT_HTTP);
	assert_int_equal(http("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &cl), SNI_NOT_HTTP);
	assert_int_equal(http("\x16\x03\x01", &cl), SNI_NOT_HTTP);
	assert_int_equal(http("GET / HTTP/1.1\r\nHost: good:x\r\n\r\n", &cl), SNI_NO_HOST);
}

static struct flow
seg(uint32_t seq, size_t off, size_t len)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = AF_INET;
	f.proto = IPPROTO_TCP;
	memcpy(f.dst, cdn, 4);
	f.has_ports = f.has_tcp = true;
	f.sport = 40000;
	f.dport = 443;
	f.seq = seq;
	f.payload_off = off;
	f.payload_len = len;
	return f;
}

static void
sample_conf(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->tls_ports = tcp_ports(443, 0);
	c->http_ports = tcp_ports(80, 0);
}

/* One segment: bound name accepted, the other name on the same address
 * denied with both names logged, no-sni, not-tls, audit lets it by. */
static void
test_decide_one(void **state)
{
	struct addrmap *m = addrmap_new(16, 7);
	struct bindtab *t = bindtab_new();
	struct conf c;
	struct verdict v;
	struct flow f;
	uint8_t h[1200];
	size_t n;

	sample_conf(&c);
	put(m, "good.lab.test", tcp_ports(443, 80), 10000);
	n = hello(h, "good.lab.test", false, false);
	f = seg(1000, 0, n);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.action, VERDICT_BIND_OK);
	assert_false(v.log);
	/* The same after the answer ran out: expired is not bound. */
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, addrmap_get(m, AF_INET, cdn), &c, 10000,
	            &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_SNI);

	n = hello(h, "evil.lab.test", false, false);
	f = seg(1000, 0, n);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_SNI);
	assert_string_equal(v.claim, "evil.lab.test");
	assert_string_equal(v.names, "good.lab.test");
	n = hello(h, "evil.lab.test", true, false);
	f = seg(1000, 0, n);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.reason, REASON_ECH);
	n = hello(h, NULL, false, false);
	f = seg(1000, 0, n);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.reason, REASON_NO_SNI);
	f = seg(1000, 0, 4);
	bind_decide(t, &f, (const uint8_t *)"SSH-", 4, KERNEL_MARK_BIND_FIRST,
	            addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.reason, REASON_NOT_TLS);
	assert_int_equal(v.action, VERDICT_REJECT);
	c.bind = BIND_AUDIT;
	bind_decide(t, &f, (const uint8_t *)"SSH-", 4, KERNEL_MARK_BIND_FIRST,
	            addrmap_get(m, AF_INET, cdn), &c, 5, &v);
	assert_int_equal(v.action, VERDICT_BIND_OK);
	assert_true(v.audit && v.log);
	c.bind = BIND_ENFORCE;
	/* HTTP on port 80: Host checked the same way. */
	{
		const char *req = "GET / HTTP/1.1\r\nHost: evil.lab.test\r\n\r\n";

		f = seg(1, 0, strlen(req));
		f.dport = 80;
		bind_decide(t, &f, (const uint8_t *)req, strlen(req), KERNEL_MARK_BIND_FIRST,
		            addrmap_get(m, AF_INET, cdn), &c, 5, &v);
		assert_int_equal(v.reason, REASON_HOST);
		assert_true(v.http);
	}
	/* An empty segment says nothing. */
	f = seg(1000, 0, 0);
	bind_decide(t, &f, h, 0, KERNEL_MARK_BIND_FIRST, NULL, &c, 5, &v);
	assert_int_equal(v.action, VERDICT_PASS);
	assert_int_equal(bindtab_count(t), 0);
	bindtab_free(t);
	addrmap_free(m);
}

/* A hello over three segments: the first two pass, the third decides;
 * a gap, a changed retransmission, a continuation the gate does not hold,
 * or one past the time are denied. */
static void
test_decide_split(void **state)
{
	struct addrmap *m = addrmap_new(16, 7);
	struct bindtab *t = bindtab_new();
	const struct addrmap_entry *e;
	struct conf c;
	struct verdict v;
	struct flow f;
	uint8_t h[1200], x[1200];
	size_t n, a = 30, b = 70;
	const char *names[] = {"good.lab.test", "evil.lab.test"};
	int k;

	sample_conf(&c);
	put(m, "good.lab.test", tcp_ports(443, 0), 100000);
	e = addrmap_get(m, AF_INET, cdn);
	for (k = 0; k < 2; k++) {
		n = hello(h, names[k], false, false);
		f = seg(5000, 0, a);
		bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 5, &v);
		assert_int_equal(v.action, VERDICT_BIND_PART);
		/* The same bytes again: a retransmission. */
		bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 6, &v);
		assert_int_equal(v.action, VERDICT_PASS);
		f = seg(5000 + (uint32_t)a, a, b - a);
		bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 7, &v);
		assert_int_equal(v.action, VERDICT_BIND_PART);
		f = seg(5000 + (uint32_t)b, b, n - b);
		bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 8, &v);
		assert_int_equal(v.action, k == 0 ? VERDICT_BIND_OK : VERDICT_REJECT);
		assert_int_equal(bindtab_count(t), 0);
	}
	n = hello(h, "good.lab.test", false, false);
	/* A gap. */
	f = seg(5000, 0, a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 5, &v);
	f = seg(5000 + (uint32_t)b, b, n - b);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 6, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_NOT_TLS);
	/* A retransmission with other bytes. */
	f = seg(5000, 0, a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 5, &v);
	memcpy(x, h, n);
	x[10] ^= 1;
	bind_decide(t, &f, x, n, KERNEL_MARK_BIND_MORE, e, &c, 6, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	/* A continuation the gate holds nothing for (it restarted). */
	f = seg(5000 + (uint32_t)a, a, n - a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 6, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_NOT_TLS);
	/* Past the time. */
	f = seg(5000, 0, a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 5, &v);
	f = seg(5000 + (uint32_t)a, a, n - a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 5 + BIND_HOLD_MS + 1, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	/* Sequence numbers wrap. */
	f = seg(0xffffffffu - 9, 0, a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_FIRST, e, &c, 5, &v);
	f = seg((uint32_t)(0xffffffffu - 9 + a), a, n - a);
	bind_decide(t, &f, h, n, KERNEL_MARK_BIND_MORE, e, &c, 6, &v);
	assert_int_equal(v.action, VERDICT_BIND_OK);
	assert_int_equal(bindtab_count(t), 0);
	bindtab_free(t);
	addrmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrmap_names), cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_http),          cmocka_unit_test(test_decide_one),
	    cmocka_unit_test(test_decide_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
