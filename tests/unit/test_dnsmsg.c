/*
 * dnsmsg: query parsing and decisions, the replies we build, upstream
 * answer checks, and the addresses that go to the gate. Packets are built
 * with ldns, the way a client or an upstream would send them.
 */
#include "dnsmsg_fixture.h"
#include "dnsmsg_testing.h"

static void
test_parse_good(void **state)
{
	struct dnsmsg_query q;

	parse_ok("WWW.x.test.", LDNS_RR_TYPE_A, &q);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.rd);
	assert_true(q.host);
	assert_true(q.listed);
	assert_string_equal(q.name, "www.x.test");
	assert_int_equal(q.qtype, LDNS_RR_TYPE_A);
	assert_true(q.edns);
	assert_true(q.do_bit);
	assert_int_equal(q.udp_size, 4096);
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_FORWARD);
	dnsmsg_query_free(&q);

	parse_ok("a.b.cdn.test", LDNS_RR_TYPE_AAAA, &q);
	assert_true(q.listed);
	dnsmsg_query_free(&q);

	parse_ok("evil.test", LDNS_RR_TYPE_A, &q);
	assert_true(q.host);
	assert_false(q.listed);
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_DENY);
	cfg.mode = MODE_AUDIT;
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_AUDIT);
	cfg.mode = MODE_ENFORCE;
	dnsmsg_query_free(&q);

	parse_ok("www.x.test", LDNS_RR_TYPE_AXFR, &q);
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_NOTIMP);
	dnsmsg_query_free(&q);
}

static void
test_parse_bad(void **state)
{
	struct dnsmsg_query q;
	uint8_t *w, *r;
	size_t len, rlen;

	w = query_wire("www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 7, -1, &len);
	/* short */
	assert_int_equal(dnsmsg_parse_query(w, 11, &cfg, &q), DNSMSG_DROP);
	/* QR set */
	w[2] |= 0x80;
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_DROP);
	w[2] &= 0x7f;
	/* opcode STATUS */
	w[2] |= 2 << 3;
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_ERROR);
	assert_int_equal(q.rcode, LDNS_RCODE_NOTIMPL);
	w[2] &= (uint8_t) ~(0x0f << 3);
	/* QDCOUNT 2 */
	w[5] = 2;
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_ERROR);
	assert_int_equal(q.rcode, LDNS_RCODE_FORMERR);
	assert_int_equal(dnsmsg_build_error(&q, &r, &rlen), 0);
	assert_int_equal(rlen, 12);
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], 7);
	assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
	assert_true(r[2] & 0x80);
	free(r);
	dnsmsg_query_free(&q);
	w[5] = 1;
	/* truncated question */
	assert_int_equal(dnsmsg_parse_query(w, len - 3, &cfg, &q), DNSMSG_ERROR);
	dnsmsg_query_free(&q);
	free(w);

	/* EDNS version 1 */
	{
		ldns_pkt *p = NULL;

		ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_version(p, 1);
		assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
		ldns_pkt_free(p);
		assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_ERROR);
		assert_int_equal(q.rcode, DNSMSG_RCODE_BADVERS);
		assert_int_equal(dnsmsg_build_error(&q, &r, &rlen), 0);
		assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
		ldns_pkt_free(p);
		free(r);
		free(w);
		dnsmsg_query_free(&q);
	}
}

static void
test_parse_weird_names(void **state)
{
	struct dnsmsg_query q;

	/* "www\.x.test" is two labels on the wire, the first holding a dot:
	 * it must never be taken for www.x.test. */
	parse_ok("www\\.x.test", LDNS_RR_TYPE_A, &q);
	assert_false(q.host);
	assert_false(q.listed);
	assert_string_equal(q.logname, "www\\.x.test.");
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_DENY);
	cfg.mode = MODE_AUDIT;
	assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_DENY);
	cfg.mode = MODE_ENFORCE;
	dnsmsg_query_free(&q);

	parse_ok("w\\000w.x.test", LDNS_RR_TYPE_A, &q);
	assert_false(q.host);
	dnsmsg_query_free(&q);

	parse_ok("a b.cdn.test", LDNS_RR_TYPE_A, &q);
	assert_false(q.host);
	dnsmsg_query_free(&q);

	parse_ok(".", LDNS_RR_TYPE_NS, &q);
	assert_false(q.host);
	dnsmsg_query_free(&q);

	/* non-IN class */
	{
		size_t len;
		uint8_t *w =
		    query_wire("www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, 1, -1, &len);

		assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
		assert_false(q.listed);
		assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_DENY);
		dnsmsg_query_free(&q);
		free(w);
	}
}

/* An upstream answer to q with the given records ("ans:" / "add:" prefix
 * picks the section). */
static uint8_t *
answer_wire(const struct dnsmsg_query *q, uint16_t id, const char *qname, size_t *len, ...)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;
	const char *rrs;
	va_list ap;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, qname, (ldns_rr_type)q->qtype,
	                                            LDNS_RR_CLASS_IN, LDNS_RD),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	va_start(ap, len);
	while ((rrs = va_arg(ap, const char *)) != NULL) {
		ldns_rr *rr = NULL;
		ldns_pkt_section sec =
		    strncmp(rrs, "add:", 4) == 0 ? LDNS_SECTION_ADDITIONAL : LDNS_SECTION_ANSWER;

		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs + 4, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, sec, rr);
	}
	va_end(ap);
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

static void
test_check_answer(void **state)
{
	struct dnsmsg_query q;
	ldns_pkt *p;
	uint8_t *w;
	size_t len;

	parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
	w = answer_wire(&q, 42, "WWW.X.test", &len, "ans:www.x.test. 300 IN A 192.0.2.1", NULL);
	assert_int_equal(dnsmsg_check_answer(w, len, 42, &q, &p), DNSMSG_ANSWER_OK);
	ldns_pkt_free(p);
	assert_int_equal(dnsmsg_check_answer(w, len, 43, &q, &p), DNSMSG_ANSWER_MISMATCH);
	assert_null(p);
	assert_int_equal(dnsmsg_check_answer(w, 11, 42, &q, &p), DNSMSG_ANSWER_MALFORMED);
	assert_int_equal(dnsmsg_check_answer(w, len - 2, 42, &q, &p), DNSMSG_ANSWER_MALFORMED);
	w[2] &= 0x7f; /* QR clear: a query, not an answer */
	assert_int_equal(dnsmsg_check_answer(w, len, 42, &q, &p), DNSMSG_ANSWER_MISMATCH);
	free(w);
	w = answer_wire(&q, 42, "www.y.test", &len, NULL);
	assert_int_equal(dnsmsg_check_answer(w, len, 42, &q, &p), DNSMSG_ANSWER_MISMATCH);
	free(w);
	dnsmsg_query_free(&q);

	/* The upstream query: our ID, RD, EDNS 1232 with the client's DO. */
	parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_build_upstream_query(&q, 777, &w, &len), 0);
	assert_int_equal(ldns_wire2pkt(&p, w, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 777);
	assert_true(ldns_pkt_rd(p));
	assert_false(ldns_pkt_qr(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), DNSMSG_EDNS_SIZE);
	assert_true(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_QUERY);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p) + ldns_pkt_nscount(p), 0);
	assert_int_equal(
	    ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)), q.qname),
	    0);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(p), 0)),
	                 LDNS_RR_TYPE_A);
	ldns_pkt_free(p);
	free(w);
	q.do_bit = false;
	assert_int_equal(dnsmsg_build_upstream_query(&q, 778, &w, &len), 0);
	assert_int_equal(ldns_wire2pkt(&p, w, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 778);
	assert_false(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), DNSMSG_EDNS_SIZE);
	ldns_pkt_free(p);
	free(w);
	dnsmsg_query_free(&q);
}

/* Filter an answer built from the records; returns the addresses. */
static ldns_pkt *
filtered(const char *name, ldns_rr_type type, struct dnsmsg_addrs *a, struct dnsmsg_query *q, ...)
{
	ldns_pkt *p = NULL;
	const char *rrs;
	va_list ap;

	parse_ok(name, type, q);
	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, true);
	va_start(ap, q);
	while ((rrs = va_arg(ap, const char *)) != NULL) {
		ldns_rr *rr = NULL;
		ldns_pkt_section sec =
		    strncmp(rrs, "add:", 4) == 0 ? LDNS_SECTION_ADDITIONAL : LDNS_SECTION_ANSWER;

		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs + 4, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, sec, rr);
	}
	va_end(ap);
	dnsmsg_filter_answer(p, q, &cfg, a);
	return p;
}

static const char *
fmt(const struct dnsmsg_addrs *a)
{
	static char buf[4096];

	return dnsmsg_addrs_fmt(a, buf, sizeof(buf));
}

static void
test_extract_plain(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p;

	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN A 192.0.2.1",
	             "ans:www.x.test. 200 IN A 192.0.2.2", "ans:www.x.test. 300 IN A 192.0.2.1",
	             "ans:www.x.test. 300 IN AAAA 2001:db8::1", NULL);
	assert_string_equal(fmt(&a), "192.0.2.1,192.0.2.2,2001:db8::1");
	assert_int_equal(a.ttl, 200);
	assert_int_equal(ldns_pkt_ancount(p), 4);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* TTL clamped to [60, 3600] */
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 5 IN A 192.0.2.1",
	             NULL);
	assert_int_equal(a.ttl, 60);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 99999 IN A 192.0.2.1",
	             NULL);
	assert_int_equal(a.ttl, 3600);
	/* and the client is not told to keep it longer than the gate does */
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 3600);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* No addresses: nothing for the gate. */
	p = filtered("www.x.test", LDNS_RR_TYPE_TXT, &a, &q, "ans:www.x.test. 300 IN TXT hi", NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
}

static void
test_extract_cap(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p;

	/* max_addrs = 4: the fifth and sixth records are not allowed, so they
	 * are not relayed either. */
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN A 192.0.2.1",
	             "ans:www.x.test. 300 IN A 192.0.2.2", "ans:www.x.test. 300 IN A 192.0.2.3",
	             "ans:www.x.test. 300 IN A 192.0.2.4", "ans:www.x.test. 300 IN A 192.0.2.5",
	             "ans:www.x.test. 300 IN A 192.0.2.6", NULL);
	assert_int_equal(a.n, 4);
	assert_int_equal(ldns_pkt_ancount(p), 4);
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 4);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
}

static void
test_extract_cname(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p;

	p = filtered(
	    "www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 100 IN CNAME edge.cdn.test.",
	    "ans:edge.cdn.test. 300 IN CNAME e1.other.test.",
	    "ans:e1.other.test. 300 IN A 203.0.113.1", "ans:evil.test. 300 IN A 198.51.100.66",
	    "add:www.x.test. 300 IN A 203.0.113.2", "add:ns.evil.test. 300 IN AAAA 2001:db8::66",
	    NULL);
	assert_string_equal(fmt(&a), "203.0.113.1,203.0.113.2");
	assert_int_equal(a.ttl, 100);
	/* the off-chain records are gone from the reply */
	assert_int_equal(ldns_pkt_ancount(p), 3);
	assert_int_equal(ldns_pkt_arcount(p), 1);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* A loop ends the chain without hanging. */
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN CNAME b.test.",
	             "ans:b.test. 300 IN CNAME www.x.test.", "ans:b.test. 300 IN A 192.0.2.9",
	             NULL);
	assert_string_equal(fmt(&a), "192.0.2.9");
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* A chain longer than DNSMSG_MAX_CHAIN is cut. */
	{
		char rr[20][64];

		parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
		p = NULL;
		ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
		for (int i = 0; i < 20; i++) {
			ldns_rr *r = NULL;

			if (i == 0)
				snprintf(rr[i], sizeof(rr[i]), "www.x.test. 60 IN CNAME c1.test.");
			else
				snprintf(rr[i], sizeof(rr[i]), "c%d.test. 60 IN CNAME c%d.test.", i,
				         i + 1);
			ldns_rr_new_frm_str(&r, rr[i], 0, NULL, NULL);
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, r);
		}
		{
			ldns_rr *r = NULL;

			ldns_rr_new_frm_str(&r, "c21.test. 60 IN A 192.0.2.21", 0, NULL, NULL);
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, r);
		}
		dnsmsg_filter_answer(p, &q, &cfg, &a);
		assert_int_equal(a.n, 0);
		ldns_pkt_free(p);
		dnsmsg_query_free(&q);
	}
}

static const char *
fmt_removed(const struct dnsmsg_addrs *a)
{
	static char buf[4096];

	return dnsmsg_removed_fmt(a, buf, sizeof(buf));
}

/* DNS rebinding: inward addresses are removed (and noted) unless the
 * name's line says inward; every other address stays. */
static void
test_extract_inward(void **state)
{
	uint8_t net[4] = {198, 51, 100, 0};
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p;

	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN A 10.0.0.1",
	             "ans:www.x.test. 300 IN A 192.0.2.1",
	             "ans:www.x.test. 300 IN A 169.254.169.254",
	             "ans:www.x.test. 300 IN AAAA fd00::1", "ans:www.x.test. 300 IN AAAA fe80::1",
	             "ans:www.x.test. 300 IN AAAA ::ffff:127.0.0.1",
	             "ans:www.x.test. 300 IN AAAA 2001:db8::1", NULL);
	assert_string_equal(fmt(&a), "192.0.2.1,2001:db8::1");
	assert_int_equal(ldns_pkt_ancount(p), 2);
	assert_int_equal(a.nremoved, 5);
	assert_string_equal(fmt_removed(&a),
	                    "10.0.0.1,169.254.169.254,fd00::1,fe80::1,::ffff:127.0.0.1");
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* An HTTPS record with one inward hint goes whole. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.44,10.1.2.3", NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_string_equal(fmt_removed(&a), "10.1.2.3");
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* Through a CNAME: the query's name decides, and it did not opt in. */
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN CNAME db.",
	             "ans:db. 300 IN A 172.18.0.3", NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* The opt-in: a compose neighbour. */
	p = filtered("db", LDNS_RR_TYPE_A, &a, &q, "ans:db. 300 IN A 172.18.0.3",
	             "ans:db. 300 IN AAAA fd00::3", NULL);
	assert_string_equal(fmt(&a), "172.18.0.3,fd00::3");
	assert_int_equal(a.nremoved, 0);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* The container's own networks count, whatever range they are in. */
	assert_int_equal(inward_local_add(&cfg.local, AF_INET, net, 24), 0);
	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN A 198.51.100.7",
	             "ans:www.x.test. 300 IN A 198.51.101.7", NULL);
	assert_string_equal(fmt(&a), "198.51.101.7");
	assert_string_equal(fmt_removed(&a), "198.51.100.7");
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
	memset(&cfg.local, 0, sizeof(cfg.local));

	/* Many: the log keeps the first DNSMSG_MAX_REMOVED and a count; they
	 * do not use up max_addrs (4). */
	parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
	p = NULL;
	ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
	for (int i = 0; i < 20; i++) {
		char text[64];
		ldns_rr *r = NULL;

		snprintf(text, sizeof(text), "www.x.test. 60 IN A 10.0.0.%d", i);
		assert_int_equal(ldns_rr_new_frm_str(&r, text, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, r);
	}
	{
		ldns_rr *r = NULL;

		ldns_rr_new_frm_str(&r, "www.x.test. 60 IN A 192.0.2.1", 0, NULL, NULL);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, r);
	}
	dnsmsg_filter_answer(p, &q, &cfg, &a);
	assert_string_equal(fmt(&a), "192.0.2.1");
	assert_int_equal(a.nremoved, 20);
	assert_non_null(strstr(fmt_removed(&a), "10.0.0.15,+4"));
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
}

static void
test_extract_https(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p;

	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.44,192.0.2.45 "
	             "ipv6hint=2001:db8::44",
	             "ans:other.test. 300 IN HTTPS 1 . ipv4hint=198.51.100.1", NULL);
	assert_string_equal(fmt(&a), "192.0.2.44,192.0.2.45,2001:db8::44");
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* Raw rdata: priority 1, target ".", ipv4hint with a bad length. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS \\# 10 0001 00 0004 0003 c00002", NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* Hints that would exceed max_addrs: the record is dropped whole. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . ipv4hint=192.0.2.1,192.0.2.2,192.0.2.3,"
	             "192.0.2.4,192.0.2.5",
	             NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
}

/* The rdata of a record in wire form, for comparing two records. */
static size_t
rdata_wire(const ldns_rr *rr, uint8_t *out, size_t max)
{
	ldns_buffer *b = ldns_buffer_new(512);
	size_t n;

	assert_non_null(b);
	assert_int_equal(ldns_rr_rdata2buffer_wire(b, rr), LDNS_STATUS_OK);
	n = ldns_buffer_position(b);
	assert_true(n <= max);
	memcpy(out, ldns_buffer_begin(b), n);
	ldns_buffer_free(b);
	return n;
}

/* The only record of p's answer has the rdata of the record in text. */
static void
answer_is(const ldns_pkt *p, const char *text)
{
	uint8_t got[1024], want[1024];
	size_t ng, nw;
	ldns_rr *rr = NULL;

	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
	ng = rdata_wire(ldns_rr_list_rr(ldns_pkt_answer(p), 0), got, sizeof(got));
	nw = rdata_wire(rr, want, sizeof(want));
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), 0)),
	                 ldns_rr_get_type(rr));
	assert_int_equal(ng, nw);
	assert_memory_equal(got, want, nw);
	ldns_rr_free(rr);
}

#define ECH                                                                                        \
	"AEX+"                                                                                     \
	"DQBBpQAgACBTKq0yNVLJQjrzmT1eeTyXzfzYPw9tdAHbgE7cZXE8HAAEAAEAAQASY2xvdWRmbGFyZS1lY2guY29t" \
	"AAA="

static void
test_strip_ech(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	uint8_t out[64];
	size_t n;
	ldns_pkt *p;

	/* ech goes, the other params stay as they were, hints allowed. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . alpn=h2,h3 ipv4hint=192.0.2.44 ech=" ECH
	             " ipv6hint=2001:db8::44",
	             NULL);
	assert_string_equal(fmt(&a), "192.0.2.44,2001:db8::44");
	answer_is(p, "www.x.test. 300 IN HTTPS 1 . alpn=h2,h3 ipv4hint=192.0.2.44 "
	             "ipv6hint=2001:db8::44");
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 300);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* SVCB alike; a record with nothing but ech keeps priority and target. */
	p = filtered("www.x.test", LDNS_RR_TYPE_SVCB, &a, &q,
	             "ans:www.x.test. 300 IN SVCB 2 svc.x.test. ech=" ECH, NULL);
	answer_is(p, "www.x.test. 300 IN SVCB 2 svc.x.test.");
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* keep_ech = yes: the record as upstream sent it. */
	cfg.keep_ech = true;
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . alpn=h2 ech=" ECH, NULL);
	answer_is(p, "www.x.test. 300 IN HTTPS 1 . alpn=h2 ech=" ECH);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
	cfg.keep_ech = false;

	/* ech made mandatory: the record cannot go without it, so it goes
	 * whole, with its hints. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS 1 . mandatory=ech ipv4hint=192.0.2.44 ech=" ECH,
	             NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* Keys out of order (an ech after alpn after ech): malformed, dropped. */
	p = filtered("www.x.test", LDNS_RR_TYPE_HTTPS, &a, &q,
	             "ans:www.x.test. 300 IN HTTPS \\# 19 0001 00 0005 0001 aa 0001 0003 026832 "
	             "0005 0001 bb",
	             NULL);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);

	/* The pure function: lengths checked, nothing read past the end. */
	{
		static const uint8_t ok[] = {0, 1, 0, 0, 5, 0, 2, 0xaa, 0xbb, 0, 6, 0, 0};
		static const uint8_t cut[] = {0, 1, 0, 0, 5, 0, 9, 0xaa};
		static const uint8_t plain[] = {0, 1, 0, 0, 1, 0, 3, 2, 'h', '2'};
		static const uint8_t want[] = {0, 1, 0, 0, 6, 0, 0};

		assert_int_equal(dnsmsg_svcb_strip_ech(ok, sizeof(ok), out, &n), 1);
		assert_int_equal(n, 7);
		assert_memory_equal(out, want, sizeof(want));
		assert_int_equal(dnsmsg_svcb_strip_ech(cut, sizeof(cut), out, &n), -1);
		assert_int_equal(dnsmsg_svcb_strip_ech(plain, sizeof(plain), out, &n), 0);
		assert_int_equal(n, sizeof(plain));
		assert_memory_equal(out, plain, n);
		assert_int_equal(dnsmsg_svcb_strip_ech(plain, 1, out, &n), -1);
	}
}

static void
test_reply(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p, *r = NULL;
	uint8_t *w;
	size_t len;
	bool tc;

	p = filtered("www.x.test", LDNS_RR_TYPE_A, &a, &q, "ans:www.x.test. 300 IN A 192.0.2.1",
	             NULL);
	q.id = 0xbeef;
	assert_int_equal(dnsmsg_build_reply(p, &q, true, &w, &len, &tc), 0);
	assert_false(tc);
	assert_int_equal(ldns_wire2pkt(&r, w, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(r), 0xbeef);
	assert_int_equal(ldns_pkt_ancount(r), 1);
	assert_int_equal(ldns_pkt_edns_udp_size(r), DNSMSG_EDNS_SIZE);
	ldns_pkt_free(r);
	ldns_pkt_free(p);
	free(w);
	dnsmsg_query_free(&q);

	/* Without EDNS, more than 512 bytes over UDP: TC=1, question only;
	 * over TCP the whole answer. */
	{
		uint8_t *qw =
		    query_wire("www.x.test", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 5, -1, &len);
		char txt[300];

		assert_int_equal(dnsmsg_parse_query(qw, len, &cfg, &q), DNSMSG_QUERY);
		free(qw);
		for (int pass = 0; pass < 2; pass++) {
			p = NULL;
			ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_TXT,
			                           LDNS_RR_CLASS_IN, 0);
			ldns_pkt_set_qr(p, true);
			for (int i = 0; i < 4; i++) {
				ldns_rr *rr = NULL;

				snprintf(txt, sizeof(txt), "www.x.test. 60 IN TXT \"%0200d\"", i);
				ldns_rr_new_frm_str(&rr, txt, 0, NULL, NULL);
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
			}
			assert_int_equal(dnsmsg_build_reply(p, &q, pass == 0, &w, &len, &tc), 0);
			assert_int_equal(ldns_wire2pkt(&r, w, len), LDNS_STATUS_OK);
			if (pass == 0) {
				assert_true(tc);
				assert_true(len <= 512);
				assert_true(ldns_pkt_tc(r));
				assert_int_equal(ldns_pkt_ancount(r), 0);
				assert_int_equal(ldns_pkt_qdcount(r), 1);
				assert_false(ldns_pkt_edns(r));
			} else {
				assert_false(tc);
				assert_int_equal(ldns_pkt_ancount(r), 4);
			}
			ldns_pkt_free(r);
			ldns_pkt_free(p);
			free(w);
		}
		dnsmsg_query_free(&q);
	}
}

/* An answer with the given records, parsed from wire as from upstream. */
static ldns_pkt *
answer_pkt(const char *name, ldns_rr_type type, const char *const *rrs)
{
	ldns_pkt *p = NULL, *copy = NULL;
	uint8_t *w = NULL;
	size_t len;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, true);
	push_rrs(p, rrs);
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	assert_int_equal(ldns_wire2pkt(&copy, w, len), LDNS_STATUS_OK);
	free(w);
	ldns_pkt_free(p);
	return copy;
}

/*
 * The template path (raw filter, build, find the TTLs, age and cap them in
 * place) gives byte for byte the reply of the classic one (age, filter with
 * caps, build), and the same TTL for the gate, at every age: before and
 * after the cap stops mattering and after records run out.
 */
static void
test_template_ages(void **state)
{
	static const char *const answers[][8] = {
	    {"ans:www.x.test. 300 IN A 203.0.113.1", NULL},
	    {"ans:www.x.test. 100 IN CNAME edge.cdn.test.",
	     "ans:edge.cdn.test. 90000 IN A 203.0.113.1",
	     "ans:edge.cdn.test. 7200 IN A 203.0.113.2", "ns:cdn.test. 86400 IN NS ns.cdn.test.",
	     "add:ns.cdn.test. 5000 IN A 203.0.113.9", "add:evil.test. 300 IN A 198.51.100.66",
	     NULL},
	    {"ns:x.test. 900 IN SOA ns.x.test. h.x.test. 1 3600 600 86400 900", NULL},
	    /* an OPT-typed record where none belongs: aged like any other */
	    {"ans:www.x.test. 300 IN A 203.0.113.1", "ans:www.x.test. 500 IN TYPE41 \\# 0", NULL},
	};
	static const uint32_t ages[] = {0,    1,    59,   99,   100,   101,
	                                3599, 3600, 3601, 5000, 86400, 90001};

	for (size_t a = 0; a < sizeof(answers) / sizeof(answers[0]); a++) {
		for (size_t g = 0; g < sizeof(ages) / sizeof(ages[0]); g++) {
			for (int edns = 0; edns < 2; edns++) {
				struct dnsmsg_addrs classic, raw;
				struct dnsmsg_query q;
				struct dnsmsg_ttls t;
				uint8_t *w1 = NULL, *w2 = NULL;
				size_t l1, l2;
				bool tr1, tr2;
				ldns_pkt *p1 = answer_pkt("www.x.test", LDNS_RR_TYPE_A, answers[a]);
				ldns_pkt *p2 = answer_pkt("www.x.test", LDNS_RR_TYPE_A, answers[a]);

				parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
				q.edns = edns;
				dnsmsg_age(p1, ages[g]);
				dnsmsg_filter_answer(p1, &q, &cfg, &classic);
				assert_int_equal(dnsmsg_build_reply(p1, &q, true, &w1, &l1, &tr1),
				                 0);
				dnsmsg_filter_answer_raw(p2, &q, &cfg, &raw);
				assert_int_equal(dnsmsg_build_reply(p2, &q, true, &w2, &l2, &tr2),
				                 0);
				assert_int_equal(dnsmsg_reply_ttls(w2, l2, q.edns, &t), 0);
				dnsmsg_reply_age(w2, &t, ages[g], cfg.max_ttl);
				assert_int_equal(tr1, tr2);
				assert_int_equal(l1, l2);
				assert_memory_equal(w1, w2, l1);
				assert_int_equal(classic.n, raw.n);
				if (classic.n > 0)
					assert_int_equal(classic.ttl,
					                 dnsmsg_addrs_ttl(raw.ttl, ages[g], &cfg));
				free(w1);
				free(w2);
				ldns_pkt_free(p1);
				ldns_pkt_free(p2);
				dnsmsg_query_free(&q);
			}
		}
	}
}

/* A query of any type, 0 included (ldns would make that one for A). */
static void
parse_type(const char *name, uint16_t qtype, struct dnsmsg_query *q)
{
	size_t len, off = DNSMSG_HDR_LEN + strlen(name) + 2;
	uint8_t *w = query_wire(name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1, -1, &len);

	assert_true(len >= off + 2);
	w[off] = (uint8_t)(qtype >> 8);
	w[off + 1] = (uint8_t)qtype;
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, q), DNSMSG_QUERY);
	assert_int_equal(q->qtype, qtype);
	free(w);
}

/* Query types no client needs are NOTIMP for every name, listed or not,
 * and never forwarded; ANY and ordinary types are decided by the name. */
static void
test_qtype_refused(void **state)
{
	static const uint16_t refused[] = {0,   128, 200,   249,   250,   251,  252,
	                                   253, 254, 65280, 65400, 65534, 65535};
	static const uint16_t ok[] = {1, 28, 65, 127, 255, 256, 257, 32768, 65279};
	struct dnsmsg_query q;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_true(dnsmsg_qtype_refused(refused[i]));
		parse_type("www.x.test", refused[i], &q);
		assert_true(q.listed);
		assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_NOTIMP);
		cfg.mode = MODE_AUDIT;
		assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_NOTIMP);
		cfg.mode = MODE_ENFORCE;
		dnsmsg_query_free(&q);
		parse_type("evil.test", refused[i], &q);
		assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_NOTIMP);
		dnsmsg_query_free(&q);
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_false(dnsmsg_qtype_refused(ok[i]));
		parse_ok("WwW.x.TeSt", (ldns_rr_type)ok[i], &q);
		assert_int_equal(dnsmsg_decide(&q, &cfg), DNSMSG_FORWARD);
		dnsmsg_query_free(&q);
	}
}

/* The wire name of a packet's question (uncompressed at offset 12). */
static void
assert_question_name(const uint8_t *w, size_t len, const char *wire_name)
{
	size_t n = strlen(wire_name) + 1;

	assert_true(len >= DNSMSG_HDR_LEN + n);
	assert_memory_equal(w + DNSMSG_HDR_LEN, wire_name, n);
}

/*
 * The client's 0x20 case pattern never reaches the upstream: the upstream
 * query's name is in lower case. The lower-case answer is accepted, and the
 * client's reply carries its own case in the question and, by compression
 * pointers to it, in every owner that is the query name.
 */
static void
test_upstream_lower_case(void **state)
{
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	ldns_pkt *p = NULL, *r = NULL;
	uint8_t *w, *aw;
	size_t len, alen;
	bool tc;

	parse_ok("WwW.x.TeSt", LDNS_RR_TYPE_A, &q);
	assert_true(q.listed);
	assert_string_equal(q.name, "www.x.test");
	assert_int_equal(dnsmsg_build_upstream_query(&q, 0x4242, &w, &len), 0);
	assert_question_name(w, len, "\003www\001x\004test");
	free(w);

	aw = answer_wire(&q, 0x4242, "www.x.test", &alen, "ans:www.x.test. 300 IN A 192.0.2.1",
	                 NULL);
	assert_int_equal(dnsmsg_check_answer(aw, alen, 0x4242, &q, &p), DNSMSG_ANSWER_OK);
	free(aw);
	dnsmsg_filter_answer(p, &q, &cfg, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(dnsmsg_build_reply(p, &q, true, &w, &len, &tc), 0);
	assert_question_name(w, len, "\003WwW\001x\004TeSt");
	assert_int_equal(ldns_wire2pkt(&r, w, len), LDNS_STATUS_OK);
	{
		const ldns_rdf *own = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(r), 0));

		assert_int_equal(ldns_rdf_size(own), 12);
		assert_memory_equal(ldns_rdf_data(own), "\003WwW\001x\004TeSt", 12);
	}
	ldns_pkt_free(r);
	ldns_pkt_free(p);
	free(w);
	dnsmsg_query_free(&q);
}

/*
 * A template built for one client's case pattern, with the next client's
 * question written over it, is byte for byte the reply built for that
 * client, with the client's ID and RD bit; a template for another name is
 * left alone.
 */
static void
test_template_case(void **state)
{
	static const char *const answers[][8] = {
	    {"ans:www.x.test. 300 IN A 203.0.113.1", NULL},
	    {"ans:www.x.test. 100 IN CNAME edge.cdn.test.",
	     "ans:edge.cdn.test. 900 IN A 203.0.113.1", "ns:x.test. 86400 IN NS ns.www.x.test.",
	     "add:ns.www.x.test. 5000 IN A 203.0.113.9", NULL},
	    {"ns:x.test. 900 IN SOA ns.x.test. h.x.test. 1 3600 600 86400 900", NULL},
	};
	static const char *const cases[] = {"www.x.test", "WwW.x.TeSt", "WWW.X.TEST", "wWw.X.test"};

	for (size_t a = 0; a < sizeof(answers) / sizeof(answers[0]); a++) {
		for (size_t c1 = 0; c1 < 4; c1++) {
			for (size_t c2 = 0; c2 < 4; c2++) {
				struct dnsmsg_addrs x;
				struct dnsmsg_query q1, q2;
				uint8_t *w1 = NULL, *w2 = NULL;
				size_t l1, l2;
				bool tr;
				ldns_pkt *p1 = answer_pkt("www.x.test", LDNS_RR_TYPE_A, answers[a]);
				ldns_pkt *p2 = answer_pkt("www.x.test", LDNS_RR_TYPE_A, answers[a]);

				parse_ok(cases[c1], LDNS_RR_TYPE_A, &q1);
				parse_ok(cases[c2], LDNS_RR_TYPE_A, &q2);
				/* another client: its own ID and RD bit */
				q2.id = (uint16_t)(0xbe00 + c2);
				q2.rd = (c2 & 1) != 0;
				dnsmsg_filter_answer_raw(p1, &q1, &cfg, &x);
				assert_int_equal(dnsmsg_build_reply(p1, &q1, true, &w1, &l1, &tr),
				                 0);
				dnsmsg_filter_answer_raw(p2, &q2, &cfg, &x);
				assert_int_equal(dnsmsg_build_reply(p2, &q2, true, &w2, &l2, &tr),
				                 0);
				assert_int_equal(dnsmsg_reply_retarget(w1, l1, &q2), 0);
				assert_int_equal(l1, l2);
				assert_memory_equal(w1, w2, l1);
				free(w1);
				free(w2);
				ldns_pkt_free(p1);
				ldns_pkt_free(p2);
				dnsmsg_query_free(&q1);
				dnsmsg_query_free(&q2);
			}
		}
	}
	{
		struct dnsmsg_query q1, q2;
		uint8_t *w = NULL, *copy;
		size_t len;

		parse_ok("www.x.test", LDNS_RR_TYPE_A, &q1);
		parse_ok("wwx.x.test", LDNS_RR_TYPE_A, &q2);
		assert_int_equal(dnsmsg_build_rcode(&q1, 0, &w, &len), 0);
		copy = malloc(len);
		memcpy(copy, w, len);
		assert_int_equal(dnsmsg_reply_retarget(w, len, &q2), -1);
		assert_memory_equal(w, copy, len);
		assert_int_equal(dnsmsg_reply_retarget(w, DNSMSG_HDR_LEN + 4, &q1), -1);
		free(copy);
		free(w);
		dnsmsg_query_free(&q1);
		dnsmsg_query_free(&q2);
	}
}

/* Replies that do not parse to their exact end have no TTL list. */
static void
test_reply_ttls_bad(void **state)
{
	static const char *const rrs[] = {"ans:www.x.test. 300 IN A 203.0.113.1", NULL};
	struct dnsmsg_addrs a;
	struct dnsmsg_query q;
	struct dnsmsg_ttls t;
	uint8_t *w = NULL;
	size_t len;
	bool tr;
	ldns_pkt *p = answer_pkt("www.x.test", LDNS_RR_TYPE_A, rrs);

	parse_ok("www.x.test", LDNS_RR_TYPE_A, &q);
	dnsmsg_filter_answer_raw(p, &q, &cfg, &a);
	assert_int_equal(dnsmsg_build_reply(p, &q, true, &w, &len, &tr), 0);
	assert_int_equal(dnsmsg_reply_ttls(w, len, q.edns, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.val[0], 300);
	assert_int_equal(dnsmsg_reply_ttls(w, len - 1, q.edns, &t), -1);
	assert_int_equal(dnsmsg_reply_ttls(w, 11, q.edns, &t), -1);
	w[7] = 2; /* one more answer counted than there is */
	assert_int_equal(dnsmsg_reply_ttls(w, len, q.edns, &t), -1);
	free(w);
	ldns_pkt_free(p);
	dnsmsg_query_free(&q);
}

static void
test_mnemonics(void **state)
{
	char buf[32];

	assert_string_equal(dnsmsg_type_str(1, buf, sizeof(buf)), "A");
	assert_string_equal(dnsmsg_type_str(65, buf, sizeof(buf)), "HTTPS");
	assert_string_equal(dnsmsg_type_str(65534, buf, sizeof(buf)), "TYPE65534");
	assert_string_equal(dnsmsg_rcode_str(3, buf, sizeof(buf)), "NXDOMAIN");
	assert_string_equal(dnsmsg_rcode_str(5, buf, sizeof(buf)), "REFUSED");
	assert_string_equal(dnsmsg_rcode_str(23, buf, sizeof(buf)), "RCODE23");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_weird_names),
	    cmocka_unit_test(test_check_answer),
	    cmocka_unit_test(test_extract_plain),
	    cmocka_unit_test(test_extract_cap),
	    cmocka_unit_test(test_extract_cname),
	    cmocka_unit_test(test_extract_https),
	    cmocka_unit_test(test_strip_ech),
	    cmocka_unit_test(test_extract_inward),
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_mnemonics),
	    cmocka_unit_test(test_template_ages),
	    cmocka_unit_test(test_reply_ttls_bad),
	    cmocka_unit_test(test_qtype_refused),
	    cmocka_unit_test(test_upstream_lower_case),
	    cmocka_unit_test(test_template_case),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
