/*
 * A client query: bytes that arrived on port 53 → the resolver's decision
 * and every reply it can make without asking upstream, each parsed back.
 *
 * Invariants: a query is forwarded only for a plain host name on the
 * allowlist (checked against our own decoding of the wire name, so a label
 * holding a '.' or an escape can never pass for two labels); audit mode
 * forwards only host names in class IN; every reply echoes the ID and
 * carries no records (and RA only for a standard query); a denial carries
 * an EDE naming namegate exactly when the query had EDNS, within the
 * client's UDP limit; the upstream query asks the client's question with
 * the name in lower case (so no case pattern of the agent's reaches the
 * upstream), and never for type 0, 128-254 but ANY, or 65280-65535.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dnsconf.h"
#include "dnsmsg.h"
#include "fuzz.h"

static struct conf enforce, audit;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_conf(FUZZ_DNS_CONF("enforce"), &enforce);
	fuzz_conf(FUZZ_DNS_CONF("audit"), &audit);
	return 0;
}

/* Our own reading of the wire name: labels of [A-Za-z0-9_-], lowercased,
 * joined by dots. false when any byte is outside that set. */
static bool
plain_name(const ldns_rdf *rdf, char *out, size_t outlen)
{
	const uint8_t *d = ldns_rdf_data(rdf);
	size_t size = ldns_rdf_size(rdf), pos = 0, o = 0;

	while (pos < size) {
		uint8_t l = d[pos++];

		if (l == 0)
			break;
		if (pos + l > size || o + l + 2 > outlen)
			return false;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = d[pos + i];

			if (!isalnum(ch) && ch != '-' && ch != '_')
				return false;
			out[o++] = (char)tolower(ch);
		}
		pos += l;
	}
	out[o] = '\0';
	return o > 0;
}

static ldns_pkt *
parse_back(const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;

	FUZZ_CHECK(ldns_wire2pkt(&p, w, len) == LDNS_STATUS_OK && p != NULL,
	           "a reply we built does not parse");
	return p;
}

/* A reply made without upstream: our ID, QR, the expected rcode, no
 * records, and the client's question when it had one. */
static void
check_local_reply(const struct dnsmsg_query *q, const uint8_t *w, size_t len, uint16_t rcode)
{
	ldns_pkt *p = parse_back(w, len);

	FUZZ_CHECK(ldns_pkt_id(p) == q->id, "reply id %u != %u", ldns_pkt_id(p), q->id);
	FUZZ_CHECK(ldns_pkt_qr(p), "reply without QR");
	FUZZ_CHECK(ldns_pkt_ra(p) == (q->opcode == 0), "RA on a reply to opcode %u", q->opcode);
	FUZZ_CHECK(ldns_pkt_get_rcode(p) == (rcode & 0x0f), "rcode %d != %u", ldns_pkt_get_rcode(p),
	           rcode);
	FUZZ_CHECK(ldns_pkt_ancount(p) == 0 && ldns_pkt_nscount(p) == 0,
	           "records in a local reply");
	if (q->qname != NULL) {
		ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);

		FUZZ_CHECK(ldns_pkt_qdcount(p) == 1 && qrr != NULL, "question missing");
		FUZZ_CHECK(ldns_dname_compare(ldns_rr_owner(qrr), q->qname) == 0,
		           "question changed");
	}
	ldns_pkt_free(p);
}

/* A denial: within the client's UDP limit; for a client with EDNS one
 * option, an EDE with the expected INFO-CODE and a printable ASCII text
 * naming namegate; for one without, no OPT record at all. */
static void
check_ede(const struct dnsmsg_query *q, const uint8_t *w, size_t len, uint16_t code)
{
	ldns_pkt *p = parse_back(w, len);
	ldns_edns_option_list *opts;
	ldns_edns_option *o;
	const uint8_t *d;
	size_t n;

	FUZZ_CHECK(len <= dnsmsg_reply_limit(q, true), "a denial of %zu bytes over the limit", len);
	/* ldns takes the OPT record out of the parsed additional section */
	FUZZ_CHECK(((w[10] << 8) | w[11]) == (q->edns ? 1 : 0), "additional records in a denial");
	if (!q->edns) {
		FUZZ_CHECK(!ldns_pkt_edns(p), "an OPT record for a client without EDNS");
		ldns_pkt_free(p);
		return;
	}
	opts = ldns_pkt_edns_get_option_list(p);
	FUZZ_CHECK(opts != NULL && ldns_edns_option_list_get_count(opts) == 1,
	           "not one EDNS option");
	o = ldns_edns_option_list_get_option(opts, 0);
	d = ldns_edns_get_data(o);
	n = ldns_edns_get_size(o);
	FUZZ_CHECK(ldns_edns_get_code(o) == LDNS_EDNS_EDE && n > 2, "not an EDE with a text");
	FUZZ_CHECK(((d[0] << 8) | d[1]) == code, "EDE %u, want %u", (d[0] << 8) | d[1], code);
	for (size_t i = 2; i < n; i++)
		FUZZ_CHECK(d[i] >= 0x20 && d[i] <= 0x7e, "EDE text byte 0x%02x", d[i]);
	FUZZ_CHECK(n - 2 >= 8 && memmem(d + 2, n - 2, "namegate", 8) != NULL,
	           "the EDE text does not name namegate");
	ldns_pkt_free(p);
}

static void
one(const uint8_t *data, size_t size, const struct conf *c)
{
	struct dnsmsg_query q;
	enum dnsmsg_parse r = dnsmsg_parse_query(data, size, c, &q);
	uint8_t *w = NULL;
	size_t len = 0;
	char name[NAME_MAX_LEN + 64], tbuf[32];

	switch (r) {
	case DNSMSG_DROP:
		FUZZ_CHECK(size < DNSMSG_HDR_LEN || (data[2] & 0x80), "dropped a query");
		FUZZ_CHECK(q.qname == NULL, "qname leaked on drop");
		return;
	case DNSMSG_ERROR:
		FUZZ_CHECK(q.rcode != 0, "error without an rcode");
		FUZZ_CHECK(dnsmsg_build_error(&q, &w, &len) == 0, "cannot build the error reply");
		check_local_reply(&q, w, len, q.rcode);
		free(w);
		dnsmsg_query_free(&q);
		return;
	case DNSMSG_QUERY:
		break;
	}
	FUZZ_CHECK(q.qname != NULL, "a query without a name");
	FUZZ_CHECK(strlen(q.logname) < sizeof(q.logname), "logname");
	dnsmsg_type_str(q.qtype, tbuf, sizeof(tbuf));
	if (q.host) {
		FUZZ_CHECK(plain_name(q.qname, name, sizeof(name)), "host name with odd bytes: %s",
		           q.logname);
		FUZZ_CHECK(strcmp(name, q.name) == 0, "name %s decoded as %s", q.name, name);
	}
	if (q.listed) {
		FUZZ_CHECK(q.host && q.qclass == LDNS_RR_CLASS_IN, "listed but not a host in IN");
		FUZZ_CHECK(conf_lookup(c, q.name, strlen(q.name), NULL),
		           "listed but not on the list");
	}
	switch (dnsmsg_decide(&q, c)) {
	case DNSMSG_NOTIMP:
		FUZZ_CHECK(dnsmsg_qtype_refused(q.qtype), "NOTIMP for type %u", q.qtype);
		FUZZ_CHECK(dnsmsg_build_notimp(&q, c, &w, &len) == 0, "notimp");
		check_local_reply(&q, w, len, LDNS_RCODE_NOTIMPL);
		check_ede(&q, w, len, LDNS_EDE_NOT_SUPPORTED);
		break;
	case DNSMSG_DENY:
		FUZZ_CHECK(!q.listed, "a listed name denied");
		FUZZ_CHECK(dnsmsg_build_deny(&q, c, &w, &len) == 0, "cannot build a deny");
		check_local_reply(&q, w, len, dnsmsg_deny_rcode(&q, c));
		check_ede(&q, w, len,
		          dnsmsg_deny_rcode(&q, c) == LDNS_RCODE_REFUSED ? LDNS_EDE_PROHIBITED
		                                                         : LDNS_EDE_BLOCKED);
		break;
	case DNSMSG_AUDIT:
		FUZZ_CHECK(c->mode == MODE_AUDIT && q.host && q.qclass == LDNS_RR_CLASS_IN,
		           "audit forward of %s", q.logname);
		__attribute__((fallthrough));
	case DNSMSG_FORWARD: {
		ldns_pkt *p;
		ldns_rr *qrr;

		FUZZ_CHECK(q.listed || c->mode == MODE_AUDIT, "forwarded an off-list name %s",
		           q.logname);
		FUZZ_CHECK(dnsmsg_build_upstream_query(&q, 0x1234, &w, &len) == 0,
		           "cannot build the upstream query");
		p = parse_back(w, len);
		qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
		FUZZ_CHECK(ldns_pkt_id(p) == 0x1234 && !ldns_pkt_qr(p) && ldns_pkt_rd(p),
		           "upstream query header");
		FUZZ_CHECK(ldns_pkt_qdcount(p) == 1 && qrr != NULL &&
		               ldns_dname_compare(ldns_rr_owner(qrr), q.qname) == 0 &&
		               (uint16_t)ldns_rr_get_type(qrr) == q.qtype &&
		               (uint16_t)ldns_rr_get_class(qrr) == q.qclass,
		           "the upstream query asks something else");
		FUZZ_CHECK(ldns_pkt_ancount(p) == 0 && ldns_pkt_nscount(p) == 0,
		           "records in the upstream query");
		FUZZ_CHECK(q.qtype != 0 && q.qtype < 65280 &&
		               (q.qtype < 128 || q.qtype == LDNS_RR_TYPE_ANY || q.qtype > 255),
		           "forwarded a query of type %u", q.qtype);
		{
			const uint8_t *d = w + DNSMSG_HDR_LEN;

			for (size_t i = 0; i < ldns_rdf_size(q.qname); i++)
				FUZZ_CHECK(!(d[i] >= 'A' && d[i] <= 'Z'),
				           "an upper-case letter in the upstream query's name %s",
				           q.logname);
		}
		ldns_pkt_free(p);
		break;
	}
	}
	free(w);
	dnsmsg_query_free(&q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, &enforce);
	one(data, size, &audit);
	return 0;
}
