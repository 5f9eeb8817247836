/*
 * dnsmsg: the answers made without asking upstream (a name off the list, a
 * query type no client needs, an unknown opcode), their rcodes and Extended
 * DNS Errors, and the search-list rule.
 */
#include "dnsmsg_fixture.h"

static void
test_deny(void **state)
{
	struct dnsmsg_query q;
	ldns_pkt *p = NULL;
	uint8_t *r;
	size_t rlen;

	/* the default */
	assert_int_equal(cfg.deny, DENY_NXDOMAIN);
	cfg.deny = DENY_REFUSED;
	parse_ok("evil.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_rd(p));
	assert_true(ldns_pkt_ra(p));
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
	free(r);

	cfg.deny = DENY_NXDOMAIN;
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_NXDOMAIN);
	free(r);

	assert_int_equal(dnsmsg_build_rcode(&q, LDNS_RCODE_SERVFAIL, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_SERVFAIL);
	free(r);
	dnsmsg_query_free(&q);

	/* No OPT in the reply when the client sent none. */
	{
		size_t len;
		uint8_t *w = query_wire("evil.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 9, -1, &len);

		assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
		assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
		assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
		assert_false(ldns_pkt_edns(p));
		ldns_pkt_free(p);
		free(r);
		free(w);
		dnsmsg_query_free(&q);
	}
}

/* The EDE of a denial: its INFO-CODE, and its text in text. -1 when the
 * reply has no EDE (or no OPT record at all). */
static int
reply_ede(const uint8_t *w, size_t len, char *text, size_t textlen)
{
	ldns_pkt *p = NULL;
	ldns_edns_option_list *opts;
	ldns_edns_option *o;
	const uint8_t *d;
	size_t n;
	int code = -1;

	assert_int_equal(ldns_wire2pkt(&p, w, len), LDNS_STATUS_OK);
	opts = ldns_pkt_edns(p) ? ldns_pkt_edns_get_option_list(p) : NULL;
	if (opts != NULL && ldns_edns_option_list_get_count(opts) == 1) {
		o = ldns_edns_option_list_get_option(opts, 0);
		d = ldns_edns_get_data(o);
		n = ldns_edns_get_size(o);
		if (ldns_edns_get_code(o) == LDNS_EDNS_EDE && n >= 2) {
			code = (d[0] << 8) | d[1];
			assert_true(n - 2 < textlen);
			memcpy(text, d + 2, n - 2);
			text[n - 2] = '\0';
			/* the text is not NUL-terminated on the wire */
			assert_null(memchr(d + 2, 0, n - 2));
		}
	}
	ldns_pkt_free(p);
	return code;
}

static void
test_deny_ede(void **state)
{
	struct dnsmsg_query q;
	char text[512], want[PATH_MAX + 128];
	uint8_t *r, *w;
	size_t rlen, len;

	cfg.deny = DENY_NXDOMAIN;
	parse_ok("evil.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_BLOCKED);
	snprintf(want, sizeof(want),
	         "blocked by namegate policy: not on the allowlist (config: %s)", cfg.path);
	assert_string_equal(text, want);
	/* no SOA: nothing caches the denial */
	assert_int_equal(r[6] | r[7] | r[8] | r[9], 0);
	free(r);
	cfg.deny = DENY_REFUSED;
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_REFUSED);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_PROHIBITED);
	free(r);
	assert_int_equal(dnsmsg_build_notimp(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_NOTIMPL);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_NOT_SUPPORTED);
	assert_non_null(strstr(text, "namegate"));
	free(r);
	dnsmsg_query_free(&q);

	/* not a host name; not class IN */
	parse_ok("a\\.b.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_PROHIBITED);
	assert_non_null(strstr(text, "not a plain host name"));
	free(r);
	dnsmsg_query_free(&q);
	w = query_wire("www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, 1, 1232, &len);
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_PROHIBITED);
	assert_non_null(strstr(text, "a class other than IN"));
	free(r);
	free(w);
	dnsmsg_query_free(&q);

	/* no EDNS: no OPT, so no EDE, for every kind */
	w = query_wire("evil.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 9, -1, &len);
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), -1);
	assert_int_equal(r[10] | r[11], 0);
	free(r);
	assert_int_equal(dnsmsg_build_notimp(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(r[10] | r[11], 0);
	free(r);
	free(w);
	dnsmsg_query_free(&q);
	cfg.deny = DENY_NXDOMAIN;
}

/* A long config path and the longest name: the text is cut, the reply
 * stays within the client's 512 bytes (the smallest limit there is), and
 * a byte that is not printable
 * ASCII never reaches the text. */
static void
test_deny_ede_fits(void **state)
{
	char saved[PATH_MAX], name[256], text[512];
	struct dnsmsg_query q;
	uint8_t *r, *w;
	size_t rlen, len;

	memcpy(saved, cfg.path, sizeof(saved));
	memset(cfg.path, 'p', 1000);
	cfg.path[0] = '/';
	cfg.path[1] = (char)0xc3; /* half of a UTF-8 sequence */
	cfg.path[2] = '\n';
	cfg.path[1000] = '\0';
	memset(name, 'a', 63);
	memset(name + 64, 'b', 63);
	memset(name + 128, 'c', 63);
	memset(name + 192, 'd', 56);
	name[63] = name[127] = name[191] = '.';
	memcpy(name + 248, ".test", 6);
	w = query_wire(name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 3, 512, &len);
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
	assert_true(q.host);
	assert_int_equal(strlen(q.name), NAME_MAX_LEN);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_true(rlen <= 512);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_BLOCKED);
	assert_true(strncmp(text, "blocked by namegate policy", 26) == 0);
	assert_non_null(strstr(text, "(config: /??ppp"));
	for (size_t i = 0; text[i]; i++)
		assert_true(text[i] >= 0x20 && text[i] <= 0x7e);
	free(r);
	dnsmsg_query_free(&q);
	free(w);
	/* a larger buffer: the text as long as we ever make it */
	w = query_wire("evil.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 3, 1232, &len);
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(reply_ede(r, rlen, text, sizeof(text)), LDNS_EDE_BLOCKED);
	assert_int_equal(strlen(text), DNSMSG_EDE_TEXT_MAX);
	free(r);
	dnsmsg_query_free(&q);
	free(w);
	memcpy(cfg.path, saved, sizeof(saved));
}

/* A name under a search domain gets NXDOMAIN whatever deny says. */
static void
test_deny_search(void **state)
{
	struct dnsmsg_query q;
	uint8_t *r;
	size_t rlen;
	const char *err;

	cfg.deny = DENY_REFUSED;
	cfg.search[0].kind = PATTERN_APEX_AND_SUBDOMAINS;
	assert_int_equal(name_normalize("corp.test", cfg.search[0].name, &err), 0);
	cfg.search[0].len = strlen(cfg.search[0].name);
	cfg.nsearch = 1;
	parse_ok("WWW.Corp.Test", LDNS_RR_TYPE_AAAA, &q);
	assert_int_equal(dnsmsg_deny_rcode(&q, &cfg), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_int_equal(dnsmsg_wire_rcode(r, rlen), LDNS_RCODE_NXDOMAIN);
	free(r);
	dnsmsg_query_free(&q);
	parse_ok("www.xcorp.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_deny_rcode(&q, &cfg), LDNS_RCODE_REFUSED);
	dnsmsg_query_free(&q);
	/* not a host name: what deny says */
	parse_ok("a\\.b.corp.test", LDNS_RR_TYPE_A, &q);
	assert_int_equal(dnsmsg_deny_rcode(&q, &cfg), LDNS_RCODE_REFUSED);
	dnsmsg_query_free(&q);
	cfg.nsearch = 0;
	cfg.deny = DENY_NXDOMAIN;
}

/* NOTIMP for an opcode we do not implement says no recursion (RA clear);
 * a standard query's reply does. */
static void
test_opcode_no_ra(void **state)
{
	struct dnsmsg_query q;
	uint8_t *w, *r;
	size_t len, rlen;

	w = query_wire("www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 5, 1232, &len);
	for (uint8_t op = 1; op < 16; op++) {
		w[2] = (uint8_t)((w[2] & 0x87) | (op << 3));
		assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_ERROR);
		assert_int_equal(q.rcode, LDNS_RCODE_NOTIMPL);
		assert_int_equal(dnsmsg_build_error(&q, &r, &rlen), 0);
		assert_int_equal(r[3] & 0x0f, LDNS_RCODE_NOTIMPL);
		assert_int_equal((r[2] >> 3) & 0x0f, op);
		assert_true(r[2] & 0x01);  /* RD echoed */
		assert_false(r[3] & 0x80); /* no RA */
		free(r);
		dnsmsg_query_free(&q);
	}
	w[2] &= 0x87;
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, &q), DNSMSG_QUERY);
	assert_int_equal(dnsmsg_build_deny(&q, &cfg, &r, &rlen), 0);
	assert_true(r[3] & 0x80);
	free(r);
	dnsmsg_query_free(&q);
	free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deny),          cmocka_unit_test(test_deny_ede),
	    cmocka_unit_test(test_deny_ede_fits), cmocka_unit_test(test_deny_search),
	    cmocka_unit_test(test_opcode_no_ra),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
