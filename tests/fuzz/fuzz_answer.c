/*
 * An upstream answer: bytes from the network → the addresses the gate is
 * asked to allow and the reply the client gets (dnsmsg check, filter, age,
 * build, and the same again through the cache).
 *
 * Input: one selector byte, then the answer. The selector picks the query
 * (a listed or unlisted name and a type, or the answer's own question, so
 * the fuzzer gets past the question check), UDP or TCP, and the config.
 *
 * The invariant that matters: every A/AAAA record and SVCB hint the client
 * can see is one the gate was asked to allow, every address asked for
 * occurs in the upstream's bytes, and no more than max_addrs of them; none
 * of them is inward (common/inward.h, the config's own networks included)
 * unless the name's line says "inward", and every address the filter says
 * it removed is inward. No SVCB/HTTPS record the client gets carries an
 * ech SvcParam unless the config says keep_ech. And the reply template the
 * cache keeps, aged in place, is exactly that reply; and where it stands in
 * for the answer (stored once), a hit parsed from it builds the bytes that
 * the answer as received builds.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dnsconf.h"
#include "dnsmsg.h"
#include "dnsmsg_testing.h"
#include "fuzz.h"
#include "inward.h"

static struct conf enforce, audit, keep;
static struct cache *cache;

static const char *const names[] = {
    "www.lab.test", "alias.lab.test", "svc.lab.test",   "a.b.wild.test",
    "apex.test",    "blocked.test",   "multi.lab.test", "x.apex.test",
};
static const uint16_t types[] = {
    LDNS_RR_TYPE_A,     LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_HTTPS, LDNS_RR_TYPE_SVCB,
    LDNS_RR_TYPE_CNAME, LDNS_RR_TYPE_MX,   LDNS_RR_TYPE_TXT,   LDNS_RR_TYPE_ANY,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_conf(FUZZ_DNS_CONF("enforce"), &enforce);
	fuzz_conf(FUZZ_DNS_CONF("audit"), &audit);
	/* Own networks in the range the seeds use, so both kinds occur. */
	{
		static const uint8_t v4[4] = {192, 0, 2, 128};
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0xff};

		FUZZ_CHECK(inward_local_add(&enforce.local, AF_INET, v4, 25) == 0 &&
		               inward_local_add(&enforce.local, AF_INET6, v6, 48) == 0,
		           "inward_local_add");
		audit.local = enforce.local;
	}
	/* The enforce config with keep_ech = yes. */
	fuzz_conf(FUZZ_DNS_CONF("enforce"), &keep);
	keep.local = enforce.local;
	keep.keep_ech = true;
	cache = cache_new(64);
	FUZZ_CHECK(cache != NULL, "cache_new");
	return 0;
}

/* The client's query, as the resolver would have parsed it. */
static bool
make_query(uint8_t sel, const uint8_t *ans, size_t alen, const struct conf *c,
           struct dnsmsg_query *q)
{
	ldns_pkt *p = NULL, *a = NULL;
	uint8_t *w = NULL;
	size_t wlen;
	bool ok;

	if ((sel & 0x80) && ldns_wire2pkt(&a, ans, alen) == LDNS_STATUS_OK &&
	    ldns_pkt_qdcount(a) == 1) {
		ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(a), 0);

		p = ldns_pkt_query_new(ldns_rdf_clone(ldns_rr_owner(qrr)), ldns_rr_get_type(qrr),
		                       ldns_rr_get_class(qrr), LDNS_RD);
	} else {
		p = ldns_pkt_query_new(ldns_dname_new_frm_str(names[sel & 7]),
		                       (ldns_rr_type)types[(sel >> 3) & 7], LDNS_RR_CLASS_IN,
		                       LDNS_RD);
	}
	ldns_pkt_free(a);
	if (p == NULL)
		return false;
	if (sel & 0x40) {
		/* EDNS with a small UDP size, so replies get truncated. */
		ldns_pkt_set_edns_udp_size(p, 512);
		ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_str(LDNS_RDF_TYPE_INT32, "0"));
	}
	ldns_pkt_set_id(p, alen >= 2 ? (uint16_t)(ans[0] << 8 | ans[1]) : 0);
	ok = ldns_pkt2wire(&w, p, &wlen) == LDNS_STATUS_OK &&
	     dnsmsg_parse_query(w, wlen, c, q) == DNSMSG_QUERY;
	if (!ok)
		dnsmsg_query_free(q);
	free(w);
	ldns_pkt_free(p);
	return ok;
}

static bool
in_addrs(const struct dnsmsg_addrs *a, int family, const uint8_t *ip)
{
	size_t iplen = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].family == family && memcmp(a->v[i].ip, ip, iplen) == 0)
			return true;
	return false;
}

/* Our own walk of SVCB/HTTPS rdata: every ipv4hint/ipv6hint must be allowed,
 * and no ech key is there unless the config keeps it. Malformed rdata holds
 * no hint a client could use. */
static void
check_hints(const ldns_rr *rr, const struct dnsmsg_addrs *a, bool keep_ech)
{
	ldns_buffer *b = ldns_buffer_new(512);
	const uint8_t *d;
	size_t len, pos = 2;

	FUZZ_CHECK(b != NULL, "buffer");
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK)
		goto out;
	d = ldns_buffer_begin(b);
	len = ldns_buffer_position(b);
	while (pos < len && d[pos] != 0)
		pos += (size_t)d[pos] + 1;
	pos++;
	while (pos + 4 <= len) {
		uint16_t key = (uint16_t)(d[pos] << 8 | d[pos + 1]);
		uint16_t vlen = (uint16_t)(d[pos + 2] << 8 | d[pos + 3]);

		pos += 4;
		FUZZ_CHECK(keep_ech || key != 5, "an ech SvcParam reaches the client");
		if (vlen > len - pos)
			break;
		if (key == 4 || key == 6) {
			size_t step = key == 4 ? 4 : 16;

			for (size_t i = 0; i + step <= vlen; i += step)
				FUZZ_CHECK(in_addrs(a, step == 4 ? AF_INET : AF_INET6, d + pos + i),
				           "a hint reaches the client without being allowed");
		}
		pos += vlen;
	}
out:
	ldns_buffer_free(b);
}

/* Every address-bearing record of p is covered by a. */
static void
check_covered(const ldns_pkt *p, const struct dnsmsg_addrs *a, bool keep_ech)
{
	const ldns_rr_list *secs[] = {ldns_pkt_answer(p), ldns_pkt_authority(p),
	                              ldns_pkt_additional(p)};

	for (size_t s = 0; s < 3; s++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(secs[s]); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(secs[s], i);
			ldns_rr_type t = ldns_rr_get_type(rr);
			const ldns_rdf *rdf = ldns_rr_rd_count(rr) > 0 ? ldns_rr_rdf(rr, 0) : NULL;

			if (t == LDNS_RR_TYPE_A && rdf != NULL && ldns_rdf_size(rdf) == 4)
				FUZZ_CHECK(in_addrs(a, AF_INET, ldns_rdf_data(rdf)),
				           "an A record reaches the client without being allowed");
			else if (t == LDNS_RR_TYPE_AAAA && rdf != NULL && ldns_rdf_size(rdf) == 16)
				FUZZ_CHECK(
				    in_addrs(a, AF_INET6, ldns_rdf_data(rdf)),
				    "an AAAA record reaches the client without being allowed");
			else if (t == LDNS_RR_TYPE_SVCB || t == LDNS_RR_TYPE_HTTPS)
				check_hints(rr, a, keep_ech);
		}
	}
}

static bool
in_wire(const uint8_t *w, size_t len, const uint8_t *ip, size_t iplen)
{
	return memmem(w, len, ip, iplen) != NULL;
}

/* Filter pkt (owned, consumed) as the resolver does and check the result. */
static void
filter_and_reply(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c, bool udp,
                 const uint8_t *ans, size_t alen)
{
	static struct dnsmsg_addrs addrs;
	size_t max = c->max_addrs < CONF_MAX_ADDRS ? c->max_addrs : CONF_MAX_ADDRS;
	uint8_t *w = NULL;
	size_t wlen = 0;
	bool trunc, inward_ok;
	char buf[4096];

	dnsmsg_filter_answer(pkt, q, c, &addrs);
	FUZZ_CHECK(addrs.n <= max, "%zu addresses > max_addrs %zu", addrs.n, max);
	if (addrs.n > 0)
		FUZZ_CHECK(addrs.ttl >= c->min_ttl && addrs.ttl <= c->max_ttl && addrs.ttl > 0,
		           "ttl %u outside [%u, %u]", addrs.ttl, c->min_ttl, c->max_ttl);
	inward_ok = q->host && conf_lookup_inward(c, q->name, strlen(q->name), NULL);
	for (size_t i = 0; i < addrs.nremoved && i < DNSMSG_MAX_REMOVED; i++)
		FUZZ_CHECK(!inward_ok && inward_why(&c->local, addrs.removed[i].family,
		                                    addrs.removed[i].ip) != NULL,
		           "removed an address that is not inward, or for a name that opted in");
	for (size_t i = 0; i < addrs.n; i++) {
		FUZZ_CHECK(addrs.v[i].family == AF_INET || addrs.v[i].family == AF_INET6, "family");
		FUZZ_CHECK(inward_ok ||
		               inward_why(&c->local, addrs.v[i].family, addrs.v[i].ip) == NULL,
		           "an inward address to allow for a name without \"inward\"");
		FUZZ_CHECK(in_wire(ans, alen, addrs.v[i].ip, addrs.v[i].family == AF_INET ? 4 : 16),
		           "an address to allow that upstream never sent");
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(addrs.v[i].family != addrs.v[j].family ||
			               memcmp(addrs.v[i].ip, addrs.v[j].ip, 16) != 0,
			           "duplicate address");
	}
	dnsmsg_addrs_fmt(&addrs, buf, sizeof(buf));
	check_covered(pkt, &addrs, c->keep_ech);
	if (dnsmsg_build_reply(pkt, q, udp, &w, &wlen, &trunc) == 0) {
		ldns_pkt *r = NULL;

		FUZZ_CHECK(ldns_wire2pkt(&r, w, wlen) == LDNS_STATUS_OK && r != NULL,
		           "our reply does not parse");
		FUZZ_CHECK(ldns_pkt_id(r) == q->id && ldns_pkt_qr(r), "reply header");
		if (udp)
			FUZZ_CHECK(
			    wlen <= (q->edns ? (q->udp_size < DNSMSG_EDNS_SIZE ? q->udp_size
			                                                       : DNSMSG_EDNS_SIZE)
			                     : 512),
			    "UDP reply of %zu bytes over the client's limit", wlen);
		if (trunc)
			FUZZ_CHECK(ldns_pkt_tc(r) && ldns_pkt_ancount(r) == 0, "truncated reply");
		/* What the client parses is what the gate allowed. */
		check_covered(r, &addrs, c->keep_ech);
		ldns_pkt_free(r);
		free(w);
	}
	ldns_pkt_free(pkt);
}

/* *out: q with the letters of its name in the other case (out->qname its
 * own), as an earlier client might have spelled it. */
static void
flip_case(const struct dnsmsg_query *q, struct dnsmsg_query *out)
{
	uint8_t *d;

	*out = *q;
	out->qname = ldns_rdf_clone(q->qname);
	FUZZ_CHECK(out->qname != NULL, "clone");
	d = ldns_rdf_data(out->qname);
	for (size_t i = 0; i < ldns_rdf_size(out->qname); i++)
		if ((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z'))
			d[i] ^= 0x20;
}

/* The reply template the resolver keeps (raw filter, build, TTLs aged and
 * capped in place) must be byte for byte the reply of aging, filtering with
 * caps and building, and give the gate the same TTL. The template is built
 * for an earlier client that spelled the name in the other case, and gets
 * this client's question written over it, as a hit does. */
static void
check_template(const ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c, bool udp,
               uint32_t age)
{
	static struct dnsmsg_addrs a1, a2;
	static struct dnsmsg_ttls t;
	ldns_pkt *p1 = ldns_pkt_clone(pkt), *p2 = ldns_pkt_clone(pkt);
	struct dnsmsg_query before;
	uint8_t *w1 = NULL, *w2 = NULL;
	size_t l1 = 0, l2 = 0, nrr;
	bool tr1, tr2;
	int r1, r2;

	FUZZ_CHECK(p1 != NULL && p2 != NULL, "clone");
	flip_case(q, &before);
	dnsmsg_age(p1, age);
	dnsmsg_filter_answer(p1, q, c, &a1);
	r1 = dnsmsg_build_reply(p1, q, udp, &w1, &l1, &tr1);
	dnsmsg_filter_answer_raw(p2, &before, c, &a2);
	nrr = ldns_pkt_ancount(p2) + ldns_pkt_nscount(p2) + ldns_pkt_arcount(p2);
	r2 = dnsmsg_build_reply(p2, &before, udp, &w2, &l2, &tr2);
	FUZZ_CHECK(r1 == r2, "the template did not build");
	if (r2 == 0)
		FUZZ_CHECK(dnsmsg_reply_retarget(w2, l2, q) == 0,
		           "the client's question does not fit the template");
	FUZZ_CHECK(a1.n == a2.n, "the template has other addresses");
	if (a1.n > 0)
		FUZZ_CHECK(a1.ttl == dnsmsg_addrs_ttl(a2.ttl, age, c),
		           "gate ttl %u, from the raw %u", a1.ttl,
		           dnsmsg_addrs_ttl(a2.ttl, age, c));
	if (r1 == 0 && nrr <= DNSMSG_MAX_TTLS) {
		FUZZ_CHECK(dnsmsg_reply_ttls(w2, l2, q->edns, &t) == 0,
		           "our own reply has no TTL list");
		dnsmsg_reply_age(w2, &t, age, c->max_ttl);
		FUZZ_CHECK(tr1 == tr2 && l1 == l2 && memcmp(w1, w2, l1) == 0,
		           "the aged template differs from the reply");
	}
	free(w1);
	free(w2);
	ldns_pkt_free(p1);
	ldns_pkt_free(p2);
	dnsmsg_query_free(&before);
}

/* Built for q under c from pkt (consumed): the reply and its addresses. */
static int
build_one(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c, bool udp,
          struct dnsmsg_addrs *a, uint8_t **w, size_t *len, bool *tr)
{
	int r;

	dnsmsg_filter_answer_raw(pkt, q, c, a);
	r = dnsmsg_build_reply(pkt, q, udp, w, len, tr);
	ldns_pkt_free(pkt);
	return r;
}

/*
 * Stored once: the miss of the query in the other case prepares its
 * template in an entry; when that template stands in for the answer, a hit
 * for q (over the other transport too, or without its EDNS) parsed from the
 * entry must give what the answer as received gives: the same bytes, the
 * same addresses.
 */
static void
check_store_once(const ldns_pkt *pkt, const uint8_t *wire, size_t wlen,
                 const struct dnsmsg_query *q, const struct conf *c, bool udp, uint8_t sel)
{
	static struct dnsmsg_addrs a1, a2, a3;
	static struct dnsmsg_ttls t;
	struct dnsmsg_query before, after = *q;
	struct cache_prep_key k;
	struct cache_entry *e;
	uint8_t *w1 = NULL, *w2 = NULL, *w3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0, nrr;
	bool tr1, tr2, tr3, udp2 = (sel & 0x80) ? !udp : udp;
	int r1, r2;

	flip_case(q, &before);
	if (sel & 0x40)
		after.edns = false;
	cache_clear(cache);
	e = cache_put(cache, q->name, q->qtype, q->do_bit, pkt, wire, wlen, 1000);
	if (e == NULL)
		goto out;
	nrr = ldns_pkt_ancount(pkt) + ldns_pkt_nscount(pkt) + ldns_pkt_arcount(pkt);
	r1 = build_one(ldns_pkt_clone(pkt), &before, c, udp, &a1, &w1, &l1, &tr1);
	if (r1 != 0 || tr1 || nrr > DNSMSG_MAX_TTLS ||
	    dnsmsg_reply_ttls(w1, l1, before.edns, &t) != 0)
		goto out;
	k.conf_gen = 1;
	k.qname = ldns_rdf_data(before.qname);
	k.qnamelen = ldns_rdf_size(before.qname);
	k.qclass = before.qclass;
	k.edns = before.edns;
	cache_entry_prepare(e, &k, w1, l1, &t, "", &a1, a1.ttl, !a1.altered);
	{
		ldns_pkt *hit = cache_entry_answer(cache, e);

		FUZZ_CHECK(hit != NULL, "the stored answer does not parse");
		r2 = build_one(hit, &after, c, udp2, &a2, &w2, &l2, &tr2);
	}
	FUZZ_CHECK(build_one(ldns_pkt_clone(pkt), &after, c, udp2, &a3, &w3, &l3, &tr3) == r2,
	           "the stored answer did not build");
	if (r2 == 0)
		FUZZ_CHECK(tr2 == tr3 && l2 == l3 && memcmp(w2, w3, l2) == 0,
		           "a hit on the stored answer differs from the answer as received");
	FUZZ_CHECK(a2.n == a3.n && (a2.n == 0 || a2.ttl == a3.ttl) &&
	               memcmp(a2.v, a3.v, a2.n * sizeof(a2.v[0])) == 0,
	           "a hit on the stored answer has other addresses");
out:
	cache_clear(cache);
	free(w1);
	free(w2);
	free(w3);
	dnsmsg_query_free(&before);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct conf *c;
	struct dnsmsg_query q;
	ldns_pkt *pkt = NULL;
	uint8_t sel;
	enum dnsmsg_check chk;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	c = (sel & 0x20) ? &audit : &enforce;
	/* An EDNS query over TCP in enforce mode: the config that keeps ech. */
	if ((sel & 0x70) == 0x50)
		c = &keep;
	if (!make_query(sel, data, size, c, &q))
		return 0;
	chk = dnsmsg_check_answer(data, size, q.id, &q, &pkt);
	if (chk != DNSMSG_ANSWER_OK) {
		FUZZ_CHECK(pkt == NULL, "pkt leaked on a failed check");
		dnsmsg_query_free(&q);
		return 0;
	}
	FUZZ_CHECK(ldns_pkt_qr(pkt) && ldns_pkt_id(pkt) == q.id, "accepted a non-answer");
	cache_answer_ttl(pkt);
	if (q.host) {
		struct cache_entry *e;
		uint64_t now = 1000 + (uint64_t)(sel & 3) * 400000;
		ldns_pkt *hit = NULL;

		/* A stale hit must never serve: at most one day old, times
		 * from the selector so entries age and expire. */
		cache_clear(cache);
		cache_put(cache, q.name, q.qtype, q.do_bit, pkt, data, size, 1000);
		e = cache_find(cache, q.name, q.qtype, q.do_bit, now);
		if (e != NULL)
			hit = cache_entry_answer(cache, e);
		if (hit != NULL) {
			dnsmsg_age(hit, cache_entry_age(e, now));
			filter_and_reply(hit, &q, c, !(sel & 0x10), data, size);
		}
	}
	check_template(pkt, &q, c, !(sel & 0x10), (uint32_t)sel * 997);
	if (q.host)
		check_store_once(pkt, data, size, &q, c, !(sel & 0x10), sel);
	dnsmsg_age(pkt, sel);
	filter_and_reply(pkt, &q, c, !(sel & 0x10), data, size);
	dnsmsg_query_free(&q);
	return 0;
}
