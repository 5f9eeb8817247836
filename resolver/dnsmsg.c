/*
 * Pure DNS message logic: see dnsmsg.h. Nothing here does I/O; everything
 * that reads wire bytes either goes through ldns or through the bounds
 * checked SVCB parser below.
 */
#include "dnsmsg.h"
#include "addr.h"
#include "dnsmsg_testing.h"
#include "inward.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OPCODE_QUERY 0
#define RCODE_NOERROR 0
#define RCODE_FORMERR 1
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define RCODE_NOTIMP 4
#define RCODE_REFUSED 5

#define SVCPARAM_MANDATORY 0
#define SVCPARAM_IPV4HINT 4
#define SVCPARAM_ECH 5
#define SVCPARAM_IPV6HINT 6

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The name is built from the wire labels rather than from ldns's
 * presentation form, so that a label holding a '.' ("a\.b") can never be
 * confused with two labels: any byte outside [A-Za-z0-9_-] makes the name
 * "not a host name", which is always denied.
 */
static void
query_name(struct dnsmsg_query *q)
{
	const uint8_t *d = ldns_rdf_data(q->qname);
	size_t size = ldns_rdf_size(q->qname);
	char text[NAME_MAX_LEN + 2];
	size_t pos = 0, tlen = 0;
	bool host = true;
	const char *err;

	while (host && pos < size) {
		uint8_t l = d[pos++];

		if (l == 0)
			break;
		if (l > 63 || pos + l > size) {
			host = false;
			break;
		}
		if (tlen + l + 1 > NAME_MAX_LEN + 1) {
			host = false;
			break;
		}
		if (tlen > 0)
			text[tlen++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = d[pos + i];
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';

			if (!ok) {
				host = false;
				break;
			}
			text[tlen++] = (char)ch;
		}
		pos += l;
	}
	text[tlen < sizeof(text) ? tlen : sizeof(text) - 1] = '\0';
	if (host && (tlen == 0 || name_normalize(text, q->name, &err) != 0))
		host = false;
	q->host = host;
	if (host) {
		/* a plain copy: no printf on every query's way */
		_Static_assert(sizeof(q->logname) > sizeof(q->name), "logname holds any name");
		memcpy(q->logname, q->name, strlen(q->name) + 1);
	} else {
		char *s = ldns_rdf2str(q->qname);

		snprintf(q->logname, sizeof(q->logname), "%s", s ? s : "?");
		free(s);
		q->name[0] = '\0';
	}
}

enum dnsmsg_parse
dnsmsg_parse_query(const uint8_t *buf, size_t len, const struct conf *c, struct dnsmsg_query *q)
{
	ldns_pkt *pkt = NULL;
	ldns_rr *qrr;

	memset(q, 0, sizeof(*q));
	/* Too short to even carry an ID we could echo. */
	if (len < DNSMSG_HDR_LEN)
		return DNSMSG_DROP;
	/* A response sent to us is never answered: that is how reflection
	 * loops start. */
	if (buf[2] & 0x80)
		return DNSMSG_DROP;
	q->id = rd16(buf);
	q->opcode = (buf[2] >> 3) & 0x0f;
	q->rd = buf[2] & 0x01;
	if (q->opcode != OPCODE_QUERY) {
		q->rcode = RCODE_NOTIMP;
		return DNSMSG_ERROR;
	}
	q->rcode = RCODE_FORMERR;
	if (rd16(buf + 4) != 1)
		return DNSMSG_ERROR;
	if (ldns_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK || pkt == NULL)
		return DNSMSG_ERROR;
	if (ldns_rr_list_rr_count(ldns_pkt_question(pkt)) != 1)
		goto formerr;
	qrr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	if (ldns_rr_owner(qrr) == NULL ||
	    ldns_rdf_get_type(ldns_rr_owner(qrr)) != LDNS_RDF_TYPE_DNAME)
		goto formerr;
	q->qname = ldns_rdf_clone(ldns_rr_owner(qrr));
	if (q->qname == NULL)
		goto formerr;
	q->qtype = (uint16_t)ldns_rr_get_type(qrr);
	q->qclass = (uint16_t)ldns_rr_get_class(qrr);
	query_name(q);

	if (ldns_pkt_edns(pkt)) {
		q->edns = true;
		q->udp_size = ldns_pkt_edns_udp_size(pkt);
		/* RFC 6891: values below 512 are treated as 512. */
		if (q->udp_size < 512)
			q->udp_size = 512;
		q->do_bit = ldns_pkt_edns_do(pkt);
		if (ldns_pkt_edns_version(pkt) != 0) {
			q->rcode = DNSMSG_RCODE_BADVERS;
			ldns_pkt_free(pkt);
			return DNSMSG_ERROR;
		}
	}
	ldns_pkt_free(pkt);
	q->rcode = RCODE_NOERROR;
	q->listed = q->host && q->qclass == LDNS_RR_CLASS_IN &&
	            conf_lookup(c, q->name, strlen(q->name), NULL);
	return DNSMSG_QUERY;

formerr:
	ldns_pkt_free(pkt);
	return DNSMSG_ERROR;
}

void
dnsmsg_query_free(struct dnsmsg_query *q)
{
	if (q->qname != NULL)
		ldns_rdf_deep_free(q->qname);
	q->qname = NULL;
}

bool
dnsmsg_qtype_refused(uint16_t qtype)
{
	/* ANY stays as it was: forwarded for a listed name, like any type. */
	if (qtype == LDNS_RR_TYPE_ANY)
		return false;
	/* 0 and 65535 are reserved; 65280-65534 are for private use, so they
	 * mean nothing to a public upstream and could only carry bits to it;
	 * 128-254 are meta types (TKEY, TSIG, zone transfers, MAILA/MAILB)
	 * that make no sense through a stub, and an AXFR answer spans several
	 * messages. */
	return qtype == 0 || qtype >= DNSMSG_QTYPE_PRIVATE || (qtype >= 128 && qtype <= 254);
}

enum dnsmsg_action
dnsmsg_decide(const struct dnsmsg_query *q, const struct conf *c)
{
	/* For every name, listed or not, so the rcode says nothing about
	 * the list. */
	if (dnsmsg_qtype_refused(q->qtype))
		return DNSMSG_NOTIMP;
	if (q->listed)
		return DNSMSG_FORWARD;
	/* Audit mode still never forwards names that are not host names or
	 * not in class IN: those are denied in every mode. */
	if (c->mode == MODE_AUDIT && q->host && q->qclass == LDNS_RR_CLASS_IN)
		return DNSMSG_AUDIT;
	return DNSMSG_DENY;
}

/* Renders p into a buffer kept from call to call, and returns an exact-size
 * copy: ldns_pkt2wire would allocate (and free) 64 KiB each time, which
 * costs the allocator more than the rendering itself. */
static int
pkt_wire(ldns_pkt *p, uint8_t **out, size_t *len)
{
	static ldns_buffer *b;
	uint8_t *w;
	size_t n;

	if (b == NULL && (b = ldns_buffer_new(LDNS_MAX_PACKETLEN)) == NULL)
		return -1;
	ldns_buffer_clear(b);
	if (ldns_pkt2buffer_wire(b, p) != LDNS_STATUS_OK)
		return -1;
	n = ldns_buffer_position(b);
	w = malloc(n > 0 ? n : 1);
	if (w == NULL)
		return -1;
	memcpy(w, ldns_buffer_begin(b), n);
	*out = w;
	*len = n;
	return 0;
}

/* A reply header with the client's ID and RD, and its question if it parsed. */
static ldns_pkt *
reply_new(const struct dnsmsg_query *q, uint16_t rcode)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;

	if (p == NULL)
		return NULL;
	ldns_pkt_set_id(p, q->id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, (ldns_pkt_opcode)q->opcode);
	ldns_pkt_set_rd(p, q->rd);
	/* Recursion is available for queries; an opcode we do not implement
	 * gets none of it, and saying RA there is wrong (RFC 1035 4.1.1). */
	ldns_pkt_set_ra(p, q->opcode == OPCODE_QUERY);
	ldns_pkt_set_rcode(p, (uint8_t)(rcode & 0x0f));
	if (q->qname != NULL) {
		rr = ldns_rr_new();
		if (rr == NULL)
			goto fail;
		ldns_rr_set_owner(rr, ldns_rdf_clone(q->qname));
		ldns_rr_set_type(rr, (ldns_rr_type)q->qtype);
		ldns_rr_set_class(rr, (ldns_rr_class)q->qclass);
		ldns_rr_set_question(rr, true);
		if (ldns_rr_owner(rr) == NULL || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr)) {
			ldns_rr_free(rr);
			goto fail;
		}
	}
	if (q->edns) {
		ldns_pkt_set_edns_udp_size(p, DNSMSG_EDNS_SIZE);
		ldns_pkt_set_edns_do(p, q->do_bit);
		ldns_pkt_set_edns_extended_rcode(p, (uint8_t)(rcode >> 4));
	}
	return p;
fail:
	ldns_pkt_free(p);
	return NULL;
}

int
dnsmsg_build_rcode(const struct dnsmsg_query *q, uint16_t rcode, uint8_t **out, size_t *len)
{
	ldns_pkt *p = reply_new(q, rcode);
	int r;

	if (p == NULL)
		return -1;
	r = pkt_wire(p, out, len);
	ldns_pkt_free(p);
	return r;
}

int
dnsmsg_build_error(const struct dnsmsg_query *q, uint8_t **out, size_t *len)
{
	return dnsmsg_build_rcode(q, q->rcode, out, len);
}

uint16_t
dnsmsg_deny_rcode(const struct dnsmsg_query *q, const struct conf *c)
{
	/* A client walking its search list stops at REFUSED, so a name
	 * under a search domain gets NXDOMAIN whatever deny says. */
	if (c->deny == DENY_NXDOMAIN || (q->host && conf_in_search(c, q->name, strlen(q->name))))
		return RCODE_NXDOMAIN;
	return RCODE_REFUSED;
}

/* Header, the longest question, the OPT record, the EDE option's header
 * and INFO-CODE, and the longest text: within the smallest UDP limit a
 * client with EDNS can have, so the reply fits every client. */
_Static_assert(DNSMSG_HDR_LEN + LDNS_MAX_DOMAINLEN + 4 + 11 + 6 + DNSMSG_EDE_TEXT_MAX <= 512,
               "a denial with its EDE must fit 512 bytes");

/*
 * A local denial: rcode, and for a client that sent EDNS an Extended DNS
 * Error (RFC 8914) saying why. The text is cut at DNSMSG_EDE_TEXT_MAX
 * bytes, and every byte of it outside printable ASCII becomes '?', so it
 * is always valid UTF-8 (a config path may hold any bytes).
 */
static int
build_denial(const struct dnsmsg_query *q, uint16_t rcode, uint16_t ede, const char *why,
             const struct conf *c, uint8_t **out, size_t *len)
{
	char text[2 + DNSMSG_EDE_TEXT_MAX + 1];
	ldns_edns_option_list *opts;
	ldns_edns_option *opt;
	ldns_pkt *p = reply_new(q, rcode);
	size_t n;
	int r;

	if (p == NULL)
		return -1;
	if (q->edns) {
		text[0] = (char)(ede >> 8);
		text[1] = (char)ede;
		n = (size_t)snprintf(text + 2, DNSMSG_EDE_TEXT_MAX + 1, "%s (config: %s)", why,
		                     c->path);
		if (n > DNSMSG_EDE_TEXT_MAX)
			n = DNSMSG_EDE_TEXT_MAX;
		for (size_t i = 2; i < n + 2; i++) {
			if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
				text[i] = '?';
		}
		opts = ldns_edns_option_list_new();
		opt = ldns_edns_new_from_data(LDNS_EDNS_EDE, n + 2, text);
		if (opts == NULL || opt == NULL || !ldns_edns_option_list_push(opts, opt)) {
			ldns_edns_deep_free(opt);
			ldns_edns_option_list_deep_free(opts);
			ldns_pkt_free(p);
			return -1;
		}
		ldns_pkt_set_edns_option_list(p, opts);
	}
	r = pkt_wire(p, out, len);
	ldns_pkt_free(p);
	return r;
}

int
dnsmsg_build_deny(const struct dnsmsg_query *q, const struct conf *c, uint8_t **out, size_t *len)
{
	uint16_t rcode = dnsmsg_deny_rcode(q, c);
	const char *why = "blocked by namegate policy: not on the allowlist";

	if (!q->host)
		why = "blocked by namegate policy: not a plain host name, never forwarded";
	else if (q->qclass != LDNS_RR_CLASS_IN)
		why = "blocked by namegate policy: a class other than IN, never forwarded";
	return build_denial(q, rcode,
	                    rcode == RCODE_REFUSED ? LDNS_EDE_PROHIBITED : LDNS_EDE_BLOCKED, why, c,
	                    out, len);
}

int
dnsmsg_build_notimp(const struct dnsmsg_query *q, const struct conf *c, uint8_t **out, size_t *len)
{
	return build_denial(q, RCODE_NOTIMP, LDNS_EDE_NOT_SUPPORTED,
	                    "not supported by namegate policy: a query type never forwarded", c,
	                    out, len);
}

/* Same question in lower case; our own ID, RD and EDNS, only the DO bit is
 * the client's (so DNSSEC records come back when it asked for them). Laid
 * out by hand: header, the question, and an OPT record. The client's 0x20
 * case pattern stays here: it would carry bits of the agent's choosing to
 * the upstream in a query for an allowed name; replies get the client's
 * case back from its own question (reply_new, dnsmsg_reply_set_question). */
void
dnsmsg_wire_name_lower(uint8_t *d, size_t size)
{
	size_t pos = 0;

	while (pos < size && d[pos] != 0) {
		size_t l = d[pos++];

		for (size_t i = 0; i < l && pos < size; i++, pos++)
			if (d[pos] >= 'A' && d[pos] <= 'Z')
				d[pos] = (uint8_t)(d[pos] - 'A' + 'a');
	}
}

bool
dnsmsg_wire_name_equal_nocase(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

int
dnsmsg_reply_retarget(uint8_t *wire, size_t len, const struct dnsmsg_query *q)
{
	size_t qlen;

	if (q->qname == NULL || len < DNSMSG_HDR_LEN || rd16(wire + 4) != 1)
		return -1;
	qlen = ldns_rdf_size(q->qname);
	if (qlen > len - DNSMSG_HDR_LEN ||
	    !dnsmsg_wire_name_equal_nocase(wire + DNSMSG_HDR_LEN, ldns_rdf_data(q->qname), qlen))
		return -1;
	memcpy(wire + DNSMSG_HDR_LEN, ldns_rdf_data(q->qname), qlen);
	/* The client's own ID and RD bit, as reply_new sets them. */
	wr16(wire, q->id);
	wire[2] = (uint8_t)((wire[2] & ~1u) | (q->rd ? 1u : 0u));
	return 0;
}

int
dnsmsg_build_upstream_query(const struct dnsmsg_query *q, uint16_t id, uint8_t **out, size_t *len)
{
	size_t qlen, n;
	uint8_t *w;

	if (q->qname == NULL)
		return -1;
	qlen = ldns_rdf_size(q->qname);
	if (qlen == 0 || qlen > LDNS_MAX_DOMAINLEN + 1)
		return -1;
	n = DNSMSG_HDR_LEN + qlen + 4 + 11;
	w = calloc(1, n);
	if (w == NULL)
		return -1;
	w[0] = (uint8_t)(id >> 8);
	w[1] = (uint8_t)id;
	w[2] = 0x01; /* RD */
	w[5] = 1;    /* QDCOUNT */
	w[11] = 1;   /* ARCOUNT: the OPT record */
	memcpy(w + DNSMSG_HDR_LEN, ldns_rdf_data(q->qname), qlen);
	dnsmsg_wire_name_lower(w + DNSMSG_HDR_LEN, qlen);
	wr16(w + DNSMSG_HDR_LEN + qlen, q->qtype);
	wr16(w + DNSMSG_HDR_LEN + qlen + 2, q->qclass);
	/* OPT: root owner, type 41, class = our UDP size, extended rcode and
	 * version 0, the DO flag, no options. */
	w[DNSMSG_HDR_LEN + qlen + 4] = 0;
	wr16(w + DNSMSG_HDR_LEN + qlen + 5, LDNS_RR_TYPE_OPT);
	wr16(w + DNSMSG_HDR_LEN + qlen + 7, DNSMSG_EDNS_SIZE);
	w[DNSMSG_HDR_LEN + qlen + 11] = q->do_bit ? 0x80 : 0;
	*out = w;
	*len = n;
	return 0;
}

enum dnsmsg_check
dnsmsg_check_answer(const uint8_t *buf, size_t len, uint16_t id, const struct dnsmsg_query *q,
                    ldns_pkt **pkt)
{
	ldns_pkt *p = NULL;
	ldns_rr *qrr;

	*pkt = NULL;
	if (len < DNSMSG_HDR_LEN)
		return DNSMSG_ANSWER_MALFORMED;
	/* Cheap checks on the raw header first: a spoofing flood costs no
	 * parsing. */
	if (rd16(buf) != id || !(buf[2] & 0x80))
		return DNSMSG_ANSWER_MISMATCH;
	if (ldns_wire2pkt(&p, buf, len) != LDNS_STATUS_OK || p == NULL)
		return DNSMSG_ANSWER_MALFORMED;
	if (ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY ||
	    ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1)
		goto mismatch;
	qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	if (ldns_rr_owner(qrr) == NULL || ldns_dname_compare(ldns_rr_owner(qrr), q->qname) != 0 ||
	    (uint16_t)ldns_rr_get_type(qrr) != q->qtype ||
	    (uint16_t)ldns_rr_get_class(qrr) != q->qclass)
		goto mismatch;
	*pkt = p;
	return DNSMSG_ANSWER_OK;
mismatch:
	ldns_pkt_free(p);
	return DNSMSG_ANSWER_MISMATCH;
}

/*
 * The offset of an SVCB/HTTPS rdata's first SvcParam: past SvcPriority and
 * the uncompressed TargetName. -1 when the name runs off the end.
 */
static ssize_t
svcb_params_at(const uint8_t *d, size_t len)
{
	size_t pos = 2;

	if (len < 2)
		return -1;
	for (;;) {
		uint8_t l;

		if (pos >= len)
			return -1;
		l = d[pos++];
		if (l == 0)
			return (ssize_t)pos;
		if (l > 63 || l > len - pos)
			return -1;
		pos += l;
	}
}

/*
 * SVCB/HTTPS rdata (RFC 9460): priority, target name (uncompressed), then
 * SvcParams as key, length, value. Returns the hints, or -1 when the rdata
 * is malformed or holds more than max hints.
 */
static int
svcb_hints(const uint8_t *d, size_t len, struct dnsmsg_addr *hints, size_t max, size_t *n)
{
	ssize_t at = svcb_params_at(d, len);
	size_t pos;

	*n = 0;
	if (at < 0)
		return -1;
	pos = (size_t)at;
	while (pos < len) {
		uint16_t key, vlen;
		size_t step;

		if (len - pos < 4)
			return -1;
		key = rd16(d + pos);
		vlen = rd16(d + pos + 2);
		pos += 4;
		if (vlen > len - pos)
			return -1;
		if (key == SVCPARAM_IPV4HINT || key == SVCPARAM_IPV6HINT) {
			step = key == SVCPARAM_IPV4HINT ? 4 : 16;
			if (vlen == 0 || vlen % step != 0)
				return -1;
			for (size_t i = 0; i < vlen; i += step) {
				if (*n >= max)
					return -1;
				memset(&hints[*n], 0, sizeof(hints[*n]));
				hints[*n].family = step == 4 ? AF_INET : AF_INET6;
				memcpy(hints[*n].ip, d + pos + i, step);
				(*n)++;
			}
		}
		pos += vlen;
	}
	return 0;
}

int
dnsmsg_svcb_strip_ech(const uint8_t *d, size_t len, uint8_t *out, size_t *outlen)
{
	ssize_t at = svcb_params_at(d, len);
	size_t pos, o;
	bool found = false;
	int32_t last = -1;

	*outlen = 0;
	if (at < 0)
		return -1;
	pos = (size_t)at;
	memcpy(out, d, pos);
	o = pos;
	while (pos < len) {
		uint16_t key, vlen;

		if (len - pos < 4)
			return -1;
		key = rd16(d + pos);
		vlen = rd16(d + pos + 2);
		if (vlen > len - pos - 4)
			return -1;
		/* RFC 9460 2.2: keys in strictly increasing order, so a
		 * second ech can never hide behind the first. */
		if ((int32_t)key <= last)
			return -1;
		last = key;
		if (key == SVCPARAM_MANDATORY) {
			if (vlen == 0 || vlen % 2 != 0)
				return -1;
			/* A record that makes ech mandatory is for clients
			 * that use it: without ech it would be malformed. */
			for (size_t i = 0; i < vlen; i += 2)
				if (rd16(d + pos + 4 + i) == SVCPARAM_ECH)
					return -1;
		}
		if (key == SVCPARAM_ECH) {
			found = true;
		} else {
			memcpy(out + o, d + pos, 4 + (size_t)vlen);
			o += 4 + (size_t)vlen;
		}
		pos += 4 + (size_t)vlen;
	}
	*outlen = o;
	return found ? 1 : 0;
}

/* Replaces *rrp, an SVCB or HTTPS record, by the same record without its
 * ech SvcParam: rebuilt from wire form (owner, type, class, TTL, the new
 * RDLENGTH and rdata), so it does not matter how this ldns splits SVCB
 * rdata into rdfs. 1 when it was replaced, 0 when it has no ech (it is
 * left as it is), -1 when the record is malformed or cannot go without
 * ech; *rrp is then left to the caller to drop. */
static int
rr_strip_ech(ldns_rr **rrp)
{
	static uint8_t rdata[65535], wire[LDNS_MAX_DOMAINLEN + 1 + 10 + 65535];
	ldns_rr *rr = *rrp, *nrr = NULL;
	const ldns_rdf *owner = ldns_rr_owner(rr);
	ldns_buffer *b = ldns_buffer_new(512);
	size_t olen, pos = 0, n;
	int r = -1;

	if (b == NULL || owner == NULL || ldns_rdf_size(owner) > LDNS_MAX_DOMAINLEN + 1)
		goto out;
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK ||
	    ldns_buffer_position(b) > sizeof(rdata))
		goto out;
	r = dnsmsg_svcb_strip_ech(ldns_buffer_begin(b), ldns_buffer_position(b), rdata, &n);
	if (r <= 0)
		goto out;
	olen = ldns_rdf_size(owner);
	memcpy(wire, ldns_rdf_data(owner), olen);
	wr16(wire + olen, (uint16_t)ldns_rr_get_type(rr));
	wr16(wire + olen + 2, (uint16_t)ldns_rr_get_class(rr));
	wire[olen + 4] = (uint8_t)(ldns_rr_ttl(rr) >> 24);
	wire[olen + 5] = (uint8_t)(ldns_rr_ttl(rr) >> 16);
	wire[olen + 6] = (uint8_t)(ldns_rr_ttl(rr) >> 8);
	wire[olen + 7] = (uint8_t)ldns_rr_ttl(rr);
	wr16(wire + olen + 8, (uint16_t)n);
	memcpy(wire + olen + 10, rdata, n);
	if (ldns_wire2rr(&nrr, wire, olen + 10 + n, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK ||
	    nrr == NULL) {
		r = -1;
		goto out;
	}
	ldns_rr_free(rr);
	*rrp = nrr;
	r = 1;
out:
	ldns_buffer_free(b);
	return r;
}

static bool
addrs_has(const struct dnsmsg_addrs *a, const struct dnsmsg_addr *x)
{
	size_t iplen = x->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].family == x->family && memcmp(a->v[i].ip, x->ip, iplen) == 0)
			return true;
	return false;
}

/* Adds the addresses of one record, all or none, so that a record is either
 * relayed with every address allowed or not relayed at all. */
static bool
addrs_add_all(struct dnsmsg_addrs *a, size_t max, const struct dnsmsg_addr *x, size_t n)
{
	size_t fresh = 0;

	for (size_t i = 0; i < n; i++) {
		bool dup = addrs_has(a, &x[i]);

		for (size_t j = 0; j < i && !dup; j++)
			dup = x[j].family == x[i].family && memcmp(x[j].ip, x[i].ip, 16) == 0;
		if (!dup)
			fresh++;
	}
	if (a->n + fresh > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!addrs_has(a, &x[i]))
			a->v[a->n++] = x[i];
	return true;
}

/* Does the record carry an inward address? Those are noted as removed,
 * since the caller then drops the record (with any other address in it). */
static bool
inward_record(const struct conf *c, const struct dnsmsg_addr *x, size_t n, struct dnsmsg_addrs *out)
{
	bool inward = false;

	for (size_t i = 0; i < n; i++) {
		if (inward_why(&c->local, x[i].family, x[i].ip) == NULL)
			continue;
		inward = true;
		if (out->nremoved < DNSMSG_MAX_REMOVED)
			out->removed[out->nremoved] = x[i];
		out->nremoved++;
	}
	return inward;
}

struct chain {
	const ldns_rdf *names[DNSMSG_MAX_CHAIN + 1];
	size_t n;
	uint32_t ttl;
};

static bool
chain_has(const struct chain *ch, const ldns_rdf *name)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ldns_dname_compare(ch->names[i], name) == 0)
			return true;
	return false;
}

/* Follows CNAMEs in the answer section from the qname. Bounded, and a loop
 * simply ends the chain. */
static void
chain_build(const ldns_pkt *pkt, const ldns_rdf *qname, struct chain *ch)
{
	const ldns_rr_list *ans = ldns_pkt_answer(pkt);

	ch->names[0] = qname;
	ch->n = 1;
	ch->ttl = UINT32_MAX;
	while (ch->n <= DNSMSG_MAX_CHAIN) {
		const ldns_rdf *cur = ch->names[ch->n - 1];
		const ldns_rdf *target = NULL;
		size_t i;

		for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(ans, i);

			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
			    ldns_rr_rd_count(rr) == 1 &&
			    ldns_dname_compare(ldns_rr_owner(rr), cur) == 0) {
				target = ldns_rr_rdf(rr, 0);
				if (ldns_rr_ttl(rr) < ch->ttl)
					ch->ttl = ldns_rr_ttl(rr);
				break;
			}
		}
		if (target == NULL || ldns_rdf_get_type(target) != LDNS_RDF_TYPE_DNAME ||
		    chain_has(ch, target) || ch->n == DNSMSG_MAX_CHAIN + 1)
			break;
		ch->names[ch->n++] = target;
	}
}

static bool
is_addr_type(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA || t == LDNS_RR_TYPE_HTTPS ||
	       t == LDNS_RR_TYPE_SVCB;
}

/* The addresses one record carries; -1 when it is malformed or carries
 * more than fit in hints. */
static int
rr_addrs(const ldns_rr *rr, struct dnsmsg_addr *hints, size_t max, size_t *n)
{
	ldns_rr_type t = ldns_rr_get_type(rr);
	ldns_buffer *b;
	const ldns_rdf *rdf;
	int r;

	*n = 0;
	if (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA) {
		size_t iplen = t == LDNS_RR_TYPE_A ? 4 : 16;

		rdf = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : NULL;
		if (rdf == NULL || ldns_rdf_size(rdf) != iplen || max < 1)
			return -1;
		memset(&hints[0], 0, sizeof(hints[0]));
		hints[0].family = t == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
		memcpy(hints[0].ip, ldns_rdf_data(rdf), iplen);
		*n = 1;
		return 0;
	}
	/* ldns may hand the SVCB rdata over in several rdfs depending on its
	 * version; the wire form of the whole rdata is the same either way. */
	b = ldns_buffer_new(512);
	if (b == NULL)
		return -1;
	r = -1;
	if (ldns_rr_rdata2buffer_wire(b, rr) == LDNS_STATUS_OK)
		r = svcb_hints(ldns_buffer_begin(b), ldns_buffer_position(b), hints, max, n);
	ldns_buffer_free(b);
	return r;
}

static ldns_rr_list *
section_list(const ldns_pkt *pkt, ldns_pkt_section s)
{
	switch (s) {
	case LDNS_SECTION_QUESTION:
		return ldns_pkt_question(pkt);
	case LDNS_SECTION_ANSWER:
		return ldns_pkt_answer(pkt);
	case LDNS_SECTION_AUTHORITY:
		return ldns_pkt_authority(pkt);
	case LDNS_SECTION_ADDITIONAL:
		return ldns_pkt_additional(pkt);
	default:
		return NULL;
	}
}

static void
filter(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c, bool clamp,
       struct dnsmsg_addrs *out)
{
	static const ldns_pkt_section secs[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
	                                        LDNS_SECTION_ADDITIONAL};
	struct dnsmsg_addr hints[CONF_MAX_ADDRS];
	size_t max = c->max_addrs < CONF_MAX_ADDRS ? c->max_addrs : CONF_MAX_ADDRS;
	struct chain ch;
	bool inward_ok;
	uint32_t ttl;

	/* Inward addresses only for a name that opted in (DNS rebinding). */
	inward_ok = q->host && conf_lookup_inward(c, q->name, strlen(q->name), NULL);
	out->n = 0;
	out->ttl = 0;
	out->nremoved = 0;
	out->altered = false;
	chain_build(pkt, q->qname, &ch);
	ttl = ch.ttl;
	for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]); s++) {
		ldns_rr_list *list = section_list(pkt, secs[s]);
		size_t k = 0, cnt = ldns_rr_list_rr_count(list);

		for (size_t i = 0; i < cnt; i++) {
			ldns_rr *rr = ldns_rr_list_rr(list, i);
			int stripped = 0;
			bool keep = true;
			size_t n;

			if (is_addr_type(ldns_rr_get_type(rr))) {
				ldns_rr_type t = ldns_rr_get_type(rr);

				/* Only records on the chain may reach the client,
				 * and only once all their addresses are allowed;
				 * an SVCB or HTTPS record only without ech (so
				 * the client's SNI stays readable), unless the
				 * config keeps it. */
				keep = chain_has(&ch, ldns_rr_owner(rr)) &&
				       (c->keep_ech ||
				        (t != LDNS_RR_TYPE_HTTPS && t != LDNS_RR_TYPE_SVCB) ||
				        (stripped = rr_strip_ech(&rr)) >= 0) &&
				       rr_addrs(rr, hints, CONF_MAX_ADDRS, &n) == 0 &&
				       (inward_ok || !inward_record(c, hints, n, out)) &&
				       addrs_add_all(out, max, hints, n);
				if (keep && ldns_rr_ttl(rr) < ttl)
					ttl = ldns_rr_ttl(rr);
			}
			if (!keep || stripped > 0)
				out->altered = true;
			if (!keep) {
				ldns_rr_free(rr);
				continue;
			}
			/* The client must not cache an address longer than the
			 * gate keeps it. */
			if (clamp && ldns_rr_ttl(rr) > c->max_ttl)
				ldns_rr_set_ttl(rr, c->max_ttl);
			ldns_rr_list_set_rr(list, rr, k++);
		}
		ldns_rr_list_set_rr_count(list, k);
		ldns_pkt_set_section_count(pkt, secs[s], (uint16_t)k);
	}
	if (out->n > 0)
		out->ttl = clamp ? dnsmsg_addrs_ttl(ttl, 0, c) : ttl;
}

#ifdef DNSMSG_TESTING
void
dnsmsg_filter_answer(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c,
                     struct dnsmsg_addrs *out)
{
	filter(pkt, q, c, true, out);
}
#endif

void
dnsmsg_filter_answer_raw(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c,
                         struct dnsmsg_addrs *out)
{
	filter(pkt, q, c, false, out);
}

uint32_t
dnsmsg_addrs_ttl(uint32_t raw, uint32_t age, const struct conf *c)
{
	uint32_t ttl = raw > age ? raw - age : 0;

	if (ttl < c->min_ttl)
		ttl = c->min_ttl;
	if (ttl > c->max_ttl)
		ttl = c->max_ttl;
	return ttl;
}

/* Skips a name in wire at *pos (labels, ending in a root label or a
 * pointer); -1 when it runs past len or is not a name. */
static int
skip_name(const uint8_t *wire, size_t len, size_t *pos)
{
	size_t p = *pos;

	for (;;) {
		uint8_t b;

		if (p >= len)
			return -1;
		b = wire[p];
		if (b == 0) {
			*pos = p + 1;
			return 0;
		}
		if ((b & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return -1;
			*pos = p + 2;
			return 0;
		}
		if (b & 0xc0)
			return -1;
		p += 1 + (size_t)b;
	}
}

int
dnsmsg_reply_ttls(const uint8_t *wire, size_t len, bool edns, struct dnsmsg_ttls *t)
{
	size_t pos = DNSMSG_HDR_LEN;
	unsigned nrr;

	t->n = 0;
	if (len < DNSMSG_HDR_LEN)
		return -1;
	for (unsigned i = 0; i < rd16(wire + 4); i++) {
		if (skip_name(wire, len, &pos) != 0 || pos + 4 > len)
			return -1;
		pos += 4;
	}
	nrr = (unsigned)rd16(wire + 6) + rd16(wire + 8) + rd16(wire + 10);
	if (edns && nrr == 0)
		return -1;
	for (unsigned i = 0; i < nrr; i++) {
		if (skip_name(wire, len, &pos) != 0 || pos + 10 > len)
			return -1;
		if (edns && i == nrr - 1) {
			/* The OPT record ldns adds last: its TTL field holds the
			 * extended rcode and flags, not a TTL. Any other record
			 * is aged, whatever its type, as dnsmsg_age does. */
			if (rd16(wire + pos) != LDNS_RR_TYPE_OPT)
				return -1;
		} else {
			if (t->n == DNSMSG_MAX_TTLS || pos + 4 > UINT16_MAX)
				return -1;
			t->off[t->n] = (uint16_t)(pos + 4);
			t->val[t->n] = (uint32_t)wire[pos + 4] << 24 |
			               (uint32_t)wire[pos + 5] << 16 |
			               (uint32_t)wire[pos + 6] << 8 | wire[pos + 7];
			t->n++;
		}
		pos += 10 + rd16(wire + pos + 8);
		if (pos > len)
			return -1;
	}
	return pos == len ? 0 : -1;
}

void
dnsmsg_reply_age(uint8_t *wire, const struct dnsmsg_ttls *t, uint32_t age, uint32_t max_ttl)
{
	for (size_t i = 0; i < t->n; i++) {
		uint32_t v = t->val[i] > age ? t->val[i] - age : 0;
		uint8_t *p = wire + t->off[i];

		if (v > max_ttl)
			v = max_ttl;
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

void
dnsmsg_age_cap(ldns_pkt *pkt, uint32_t age, uint32_t max_ttl)
{
	static const ldns_pkt_section secs[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
	                                        LDNS_SECTION_ADDITIONAL};

	for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]); s++) {
		ldns_rr_list *list = section_list(pkt, secs[s]);

		for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
			ldns_rr *rr = ldns_rr_list_rr(list, i);
			uint32_t t = ldns_rr_ttl(rr);

			t = t > age ? t - age : 0;
			ldns_rr_set_ttl(rr, t < max_ttl ? t : max_ttl);
		}
	}
}

#ifdef DNSMSG_TESTING
void
dnsmsg_age(ldns_pkt *pkt, uint32_t age)
{
	dnsmsg_age_cap(pkt, age, UINT32_MAX);
}
#endif

/* Moves one section's records from one packet to the other. */
static int
section_move(ldns_pkt *from, ldns_pkt *to, ldns_pkt_section s)
{
	ldns_rr_list *list = section_list(from, s);
	ldns_rr_list *empty = ldns_rr_list_new();

	if (empty == NULL)
		return -1;
	ldns_rr_list_free(section_list(to, s));
	switch (s) {
	case LDNS_SECTION_ANSWER:
		ldns_pkt_set_answer(to, list);
		ldns_pkt_set_answer(from, empty);
		break;
	case LDNS_SECTION_AUTHORITY:
		ldns_pkt_set_authority(to, list);
		ldns_pkt_set_authority(from, empty);
		break;
	default:
		ldns_pkt_set_additional(to, list);
		ldns_pkt_set_additional(from, empty);
		break;
	}
	ldns_pkt_set_section_count(to, s, (uint16_t)ldns_rr_list_rr_count(list));
	ldns_pkt_set_section_count(from, s, 0);
	return 0;
}

size_t
dnsmsg_reply_limit(const struct dnsmsg_query *q, bool udp)
{
	if (!udp)
		return 65535;
	if (!q->edns)
		return 512;
	return q->udp_size < DNSMSG_EDNS_SIZE ? q->udp_size : DNSMSG_EDNS_SIZE;
}

int
dnsmsg_build_reply(ldns_pkt *pkt, const struct dnsmsg_query *q, bool udp, uint8_t **out,
                   size_t *len, bool *truncated)
{
	uint16_t rcode = ldns_pkt_get_rcode(pkt);
	size_t limit;
	ldns_pkt *r;
	int ret;

	*truncated = false;
	limit = dnsmsg_reply_limit(q, udp);
	r = reply_new(q, rcode);
	if (r == NULL)
		return -1;
	ldns_pkt_set_ad(r, ldns_pkt_ad(pkt));
	ldns_pkt_set_tc(r, ldns_pkt_tc(pkt));
	if (section_move(pkt, r, LDNS_SECTION_ANSWER) != 0 ||
	    section_move(pkt, r, LDNS_SECTION_AUTHORITY) != 0 ||
	    section_move(pkt, r, LDNS_SECTION_ADDITIONAL) != 0) {
		ldns_pkt_free(r);
		return -1;
	}
	ret = pkt_wire(r, out, len);
	ldns_pkt_free(r);
	if (ret != 0 || *len <= limit)
		return ret;

	/* Too big for the client's UDP limit: only the question, TC=1, so the
	 * client retries over TCP. Never cut records in half. */
	free(*out);
	*out = NULL;
	*truncated = true;
	r = reply_new(q, rcode);
	if (r == NULL)
		return -1;
	ldns_pkt_set_tc(r, true);
	ret = pkt_wire(r, out, len);
	ldns_pkt_free(r);
	return ret;
}

const char *
dnsmsg_type_str(uint16_t type, char *buf, size_t len)
{
	const ldns_rr_descriptor *d = ldns_rr_descript(type);

	if (d != NULL && d->_type == type && d->_name != NULL)
		snprintf(buf, len, "%s", d->_name);
	else
		snprintf(buf, len, "TYPE%u", (unsigned)type);
	return buf;
}

const char *
dnsmsg_rcode_str(uint16_t rcode, char *buf, size_t len)
{
	static const char *const names[] = {
	    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
	    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
	};

	if (rcode < sizeof(names) / sizeof(names[0]))
		snprintf(buf, len, "%s", names[rcode]);
	else if (rcode == DNSMSG_RCODE_BADVERS)
		snprintf(buf, len, "%s", "BADVERS");
	else
		snprintf(buf, len, "RCODE%u", (unsigned)rcode);
	return buf;
}

int
dnsmsg_wire_rcode(const uint8_t *buf, size_t len)
{
	if (len < DNSMSG_HDR_LEN)
		return -1;
	return buf[3] & 0x0f;
}

const char *
dnsmsg_addrs_fmt(const struct dnsmsg_addrs *a, char *buf, size_t len)
{
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < a->n; i++)
		if (addr_list_add(buf, len, &used, ",", a->v[i].family, a->v[i].ip, -1) < 0)
			break;
	return buf;
}

const char *
dnsmsg_removed_fmt(const struct dnsmsg_addrs *a, char *buf, size_t len)
{
	struct dnsmsg_addrs r;
	size_t pos;

	r.n = a->nremoved < DNSMSG_MAX_REMOVED ? a->nremoved : DNSMSG_MAX_REMOVED;
	memcpy(r.v, a->removed, r.n * sizeof(r.v[0]));
	dnsmsg_addrs_fmt(&r, buf, len);
	pos = strlen(buf);
	if (a->nremoved > r.n && pos < len)
		snprintf(buf + pos, len - pos, ",+%zu", a->nremoved - r.n);
	return buf;
}
