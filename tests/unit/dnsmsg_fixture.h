/*
 * What the dnsmsg unit tests share: the config they decide against (its
 * set-up and tear-down), and client queries built with ldns.
 */
#ifndef NAMEGATE_TEST_DNSMSG_FIXTURE_H
#define NAMEGATE_TEST_DNSMSG_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "conf.h"
#include "dnsmsg.h"

static struct conf cfg;

static const char *ini = "[resolver]\n"
                         "listen = 127.0.0.1:53\n"
                         "upstream = 198.51.100.53\n"
                         "min_ttl = 60\n"
                         "max_ttl = 3600\n"
                         "max_addrs = 4\n"
                         "[gate]\n"
                         "socket = /tmp/none.sock\n"
                         "[log]\n"
                         "file =\n"
                         "[allow]\n"
                         "domain = www.x.test\n"
                         "domain = .cdn.test\n"
                         "domain = db tcp/5432 inward\n";

static int
setup(void **state)
{
	char path[] = "/tmp/test_dnsmsg_XXXXXX";
	char err[CONF_ERR_LEN];
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, ini, strlen(ini)) != (ssize_t)strlen(ini))
		return -1;
	close(fd);
	if (conf_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		unlink(path);
		return -1;
	}
	unlink(path);
	return 0;
}

static int
teardown(void **state)
{
	conf_free(&cfg);
	return 0;
}

/* A client query as wire bytes. */
static __attribute__((unused)) uint8_t *
query_wire(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id, int edns,
           size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, cls, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns >= 0) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)edns);
		ldns_pkt_set_edns_do(p, true);
	}
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

static __attribute__((unused)) void
parse_ok(const char *name, ldns_rr_type type, struct dnsmsg_query *q)
{
	size_t len;
	uint8_t *w = query_wire(name, type, LDNS_RR_CLASS_IN, 0x1234, 4096, &len);

	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, q), DNSMSG_QUERY);
	free(w);
}

/* Pushes records into p: "ans:", "ns:" or "add:" and the record's text. */
static __attribute__((unused)) void
push_rrs(ldns_pkt *p, const char *const *rrs)
{
	for (size_t i = 0; rrs[i] != NULL; i++) {
		ldns_rr *rr = NULL;
		ldns_pkt_section sec = strncmp(rrs[i], "add:", 4) == 0  ? LDNS_SECTION_ADDITIONAL
		                       : strncmp(rrs[i], "ns:", 3) == 0 ? LDNS_SECTION_AUTHORITY
		                                                        : LDNS_SECTION_ANSWER;

		assert_int_equal(ldns_rr_new_frm_str(&rr, strchr(rrs[i], ':') + 1, 0, NULL, NULL),
		                 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, sec, rr);
	}
}

#endif
