/*
 * cache: how long answers may be kept, hits aged by their age, expiry,
 * keys (name, qtype, DO), and the size bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "cache.h"

static ldns_pkt *
answer(ldns_pkt_rcode rcode, const char *ans, const char *auth)
{
	ldns_pkt *p = NULL;
	ldns_rr *rr = NULL;

	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (ans != NULL) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, ans, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	if (auth != NULL) {
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, auth, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	return p;
}

static const char *soa = "x.test. 3600 IN SOA ns.x.test. h.x.test. 1 3600 600 86400 900";

static void
test_ttl(void **state)
{
	ldns_pkt *p;

	p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	assert_int_equal(cache_answer_ttl(p), 120);
	ldns_pkt_set_tc(p, true);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);

	/* negative: min(SOA TTL, MINIMUM), capped at 300 */
	p = answer(LDNS_RCODE_NXDOMAIN, NULL, soa);
	assert_int_equal(cache_answer_ttl(p), CACHE_NEG_MAX_TTL);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_NOERROR, NULL, "x.test. 30 IN SOA ns.x.test. h.x.test. 1 2 3 4 900");
	assert_int_equal(cache_answer_ttl(p), 30);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_NXDOMAIN, NULL, NULL);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_SERVFAIL, NULL, NULL);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);
}

static uint64_t
put(struct cache *c, const char *name, uint16_t qtype, bool do_bit, ldns_pkt *p, uint64_t now)
{
	uint8_t *w = NULL;
	size_t len;
	uint64_t serial;

	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	serial = cache_put(c, name, qtype, do_bit, p, w, len, now);
	free(w);
	return serial;
}

static void
test_hit_and_age(void **state)
{
	struct cache *c = cache_new(100);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	ldns_pkt *h;

	put(c, "www.x.test", 1, false, p, 1000);
	ldns_pkt_free(p);
	assert_null(cache_get(c, "www.x.test", 28, false, 1000));
	assert_null(cache_get(c, "www.x.test", 1, true, 1000));
	assert_null(cache_get(c, "ww.x.test", 1, false, 1000));

	h = cache_get(c, "www.x.test", 1, false, 1000 + 50500);
	assert_non_null(h);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(h), 0)), 70);
	ldns_pkt_free(h);

	/* expired */
	assert_null(cache_get(c, "www.x.test", 1, false, 1000 + 120000));
	assert_int_equal(cache_size(c), 0);
	cache_free(c);
}

static void
test_bound(void **state)
{
	struct cache *c = cache_new(3);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	ldns_pkt *h;

	put(c, "a.test", 1, false, p, 0);
	put(c, "b.test", 1, false, p, 0);
	put(c, "c.test", 1, false, p, 0);
	/* touch a, so b is the least recently used */
	h = cache_get(c, "a.test", 1, false, 0);
	ldns_pkt_free(h);
	put(c, "d.test", 1, false, p, 0);
	assert_int_equal(cache_size(c), 3);
	assert_null(cache_get(c, "b.test", 1, false, 0));
	h = cache_get(c, "a.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	/* replacing keeps one entry per key */
	put(c, "d.test", 1, false, p, 0);
	assert_int_equal(cache_size(c), 3);
	ldns_pkt_free(p);
	cache_free(c);
}

/* A new bound on reload keeps the most recently used entries up to it,
 * drops the rest, and grows the table for a larger one. */
static void
test_set_max(void **state)
{
	struct cache *c = cache_new(4);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	char name[32];
	ldns_pkt *h;

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		put(c, name, 1, false, p, 0);
	}
	/* n0 is now the most recently used, then n3, n2, n1 */
	h = cache_get(c, "n0.test", 1, false, 0);
	ldns_pkt_free(h);
	assert_int_equal(cache_set_max(c, 2), 0);
	assert_int_equal(cache_size(c), 2);
	assert_null(cache_get(c, "n1.test", 1, false, 0));
	assert_null(cache_get(c, "n2.test", 1, false, 0));
	h = cache_get(c, "n3.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	h = cache_get(c, "n0.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	/* the smaller bound holds for new entries too */
	put(c, "n4.test", 1, false, p, 0);
	assert_int_equal(cache_size(c), 2);

	/* larger: the entries stay and every one is still found in the
	 * bigger table, up to the new bound */
	assert_int_equal(cache_set_max(c, 1000), 0);
	for (int i = 5; i < 1005; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		put(c, name, 1, false, p, 0);
	}
	assert_int_equal(cache_size(c), 1000);
	for (int i = 5; i < 1005; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		h = cache_get(c, name, 1, false, 0);
		assert_non_null(h);
		ldns_pkt_free(h);
	}
	assert_int_equal(cache_set_max(c, 0), 0); /* 0 counts as 1 */
	assert_int_equal(cache_size(c), 1);
	ldns_pkt_free(p);
	cache_free(c);
}

/* A hit may skip the gate only while the acknowledged set entries have
 * more than half of their timeout left and outlive the answer's TTL, only
 * for the answer that was acknowledged, and never after an invalidation. */
static void
test_fresh(void **state)
{
	struct cache *c = cache_new(100);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	uint64_t s1, s2;
	uint32_t gen;

	s1 = put(c, "www.x.test", 1, false, p, 1000);
	assert_true(s1 != 0);
	assert_null(cache_get(c, "www.x.test", 28, false, 1000));
	/* never acknowledged */
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1, 1000, 120));

	gen = cache_fresh_gen(c);
	cache_mark_acked(c, "www.x.test", 1, false, s1, gen, 1000, 120);
	assert_true(cache_fresh(c, "www.x.test", 1, false, s1, 1000, 120));
	/* 50 s later the answer says 70 s: still within the first half */
	assert_true(cache_fresh(c, "www.x.test", 1, false, s1, 51000, 70));
	/* an answer claiming longer than the entries live */
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1, 51000, 120));
	/* half of the timeout gone: refresh */
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1, 61000, 60));
	/* another entry's serial */
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1 + 1, 1000, 120));

	/* an invalidation forgets it, and an ACK for a request sent before
	 * the invalidation does not count */
	cache_invalidate_fresh(c);
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1, 1000, 120));
	cache_mark_acked(c, "www.x.test", 1, false, s1, gen, 1000, 120);
	assert_false(cache_fresh(c, "www.x.test", 1, false, s1, 1000, 120));

	/* a newer answer under the same key is not credited with the ACK of
	 * the older one */
	gen = cache_fresh_gen(c);
	s2 = put(c, "www.x.test", 1, false, p, 2000);
	assert_true(s2 != s1);
	cache_mark_acked(c, "www.x.test", 1, false, s1, gen, 1500, 120);
	assert_false(cache_fresh(c, "www.x.test", 1, false, s2, 2000, 120));
	cache_mark_acked(c, "www.x.test", 1, false, s2, gen, 2000, 120);
	assert_true(cache_fresh(c, "www.x.test", 1, false, s2, 2000, 119));
	ldns_pkt_free(p);
	cache_free(c);
}

/* A prepared reply is reused only for the same entry, config, question
 * bytes but for case, class and EDNS presence, and only if it fits; it
 * says how old the entry is, so its TTLs can be aged. */
static void
test_prepared(void **state)
{
	static const uint8_t qname[] = "\3www\1x\4test";
	static const uint8_t upper[] = "\3WWW\1x\4test";
	static const uint8_t another[] = "\3wwx\1x\4test";
	static const uint8_t reply[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 7};
	struct cache *c = cache_new(4);
	struct cache_prep_key k = {
	    .conf_gen = 1, .qname = qname, .qnamelen = sizeof(qname), .qclass = 1, .edns = false};
	struct dnsmsg_ttls ttls = {.n = 2, .off = {3, 9}, .val = {120, 7}};
	struct cache_prep_key other;
	struct cache_prepared out;
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	uint64_t serial = put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 1000);

	assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1000, &k, 512, &out));
	/* for another entry's serial: ignored */
	cache_prepare(c, "www.x.test", LDNS_RR_TYPE_A, false, serial + 1, &k, reply, sizeof(reply),
	              &ttls, "192.0.2.1", 1, 120);
	assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1000, &k, 512, &out));
	cache_prepare(c, "www.x.test", LDNS_RR_TYPE_A, false, serial, &k, reply, sizeof(reply),
	              &ttls, "192.0.2.1", 1, 120);
	assert_true(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1999, &k, 512, &out));
	assert_int_equal(out.len, sizeof(reply));
	assert_memory_equal(out.wire, reply, sizeof(reply));
	assert_string_equal(out.addrs, "192.0.2.1");
	assert_int_equal(out.naddrs, 1);
	assert_int_equal(out.raw_ttl, 120);
	assert_int_equal(out.serial, serial);
	assert_int_equal(out.age, 0);
	assert_int_equal(out.ttls.n, 2);
	assert_int_equal(out.ttls.off[1], 9);
	assert_int_equal(out.ttls.val[0], 120);
	/* later: the same template, an older entry */
	assert_true(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 62000, &k, 512, &out));
	assert_int_equal(out.age, 61);
	/* the same name in other case: the same template (the caller writes
	 * its own question over it) */
	other = k;
	other.qname = upper;
	assert_true(
	    cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1999, &other, 512, &out));
	assert_memory_equal(out.wire, reply, sizeof(reply));
	/* not for another key, config, question name, class, EDNS, size */
	assert_false(
	    cache_prepared(c, "www.x.test", LDNS_RR_TYPE_AAAA, false, 1999, &k, 512, &out));
	assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, true, 1999, &k, 512, &out));
	for (int v = 0; v < 4; v++) {
		other = k;
		if (v == 0)
			other.conf_gen = 2;
		else if (v == 1)
			other.qname = another;
		else if (v == 2)
			other.qclass = 3;
		else
			other.edns = true;
		assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1999, &other,
		                            512, &out));
	}
	assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1999, &k,
	                            sizeof(reply) - 1, &out));
	/* a new answer under the key drops it */
	put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 1999);
	assert_false(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 1999, &k, 512, &out));
	/* expired entries have none */
	serial = put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 2000);
	cache_prepare(c, "www.x.test", LDNS_RR_TYPE_A, false, serial, &k, reply, sizeof(reply),
	              &ttls, "", 0, 0);
	assert_true(cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 2000, &k, 512, &out));
	assert_false(
	    cache_prepared(c, "www.x.test", LDNS_RR_TYPE_A, false, 2000 + 120000, &k, 512, &out));
	ldns_pkt_free(p);
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ttl),      cmocka_unit_test(test_hit_and_age),
	    cmocka_unit_test(test_bound),    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_prepared), cmocka_unit_test(test_set_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
