/*
 * Pure DNS message logic of the resolver, free of I/O so that unit tests and
 * fuzzers can drive it directly: a client query becomes a decision, an
 * upstream answer becomes the list of addresses the gate must allow first,
 * and every reply the client sees is built here.
 *
 * Wire bytes are parsed and built with ldns. Buffers returned through
 * uint8_t **out are malloc'd; the caller frees them with free().
 */
#ifndef NAMEGATE_DNSMSG_H
#define NAMEGATE_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "conf.h"
#include "pattern.h"

#define DNSMSG_HDR_LEN 12
#define DNSMSG_EDNS_SIZE 1232   /* what we advertise, both ways */
#define DNSMSG_MAX_CHAIN 16     /* CNAMEs followed from the qname, at most */
#define DNSMSG_LOGNAME_LEN 1024 /* presentation form of any name, escaped */

#define DNSMSG_RCODE_BADVERS 16

/* What to do with bytes that arrived on port 53. */
enum dnsmsg_parse {
	DNSMSG_DROP,  /* say nothing: too short to answer, or not a query */
	DNSMSG_ERROR, /* answer with q->rcode at once (dnsmsg_build_error) */
	DNSMSG_QUERY, /* a well-formed query: decide with dnsmsg_decide */
};

enum dnsmsg_action {
	DNSMSG_DENY,    /* off the list: REFUSED or NXDOMAIN per config */
	DNSMSG_FORWARD, /* on the list: forward, allow the answer's addresses */
	DNSMSG_AUDIT,   /* off the list in audit mode: forward, log, no gate */
	DNSMSG_NOTIMP,  /* zone transfers and the like: not something a stub does */
};

struct dnsmsg_query {
	uint16_t id;
	uint8_t opcode;
	bool rd;
	ldns_rdf *qname; /* owned; NULL when the question did not parse */
	uint16_t qtype, qclass;
	bool host;                        /* qname is a plain host name (see pattern.h) */
	bool listed;                      /* host and on the allowlist */
	char name[NAME_MAX_LEN + 1];      /* normalized; valid when host */
	char logname[DNSMSG_LOGNAME_LEN]; /* name as logged: normalized or presentation */
	bool edns;                        /* the client sent an OPT record */
	uint16_t udp_size;                /* the client's advertised size, when edns */
	bool do_bit;
	uint16_t rcode; /* DNSMSG_ERROR: the rcode to answer with (may be BADVERS) */
};

struct dnsmsg_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t ip[16];
};

#define DNSMSG_MAX_REMOVED 16 /* inward addresses kept for the log line */

struct dnsmsg_addrs {
	size_t n;
	uint32_t ttl; /* clamped to [min_ttl, max_ttl]; meaningful when n > 0 */
	struct dnsmsg_addr v[CONF_MAX_ADDRS];
	/* Inward addresses (inward.h) whose records were removed because no
	 * "inward" line of the name allows them: how many, and the first
	 * DNSMSG_MAX_REMOVED of them. (A record goes whole: an HTTPS record's
	 * other hints go with it, but are not counted here.) */
	size_t nremoved;
	struct dnsmsg_addr removed[DNSMSG_MAX_REMOVED];
	/* Some record was removed or rewritten (ech stripped): the filtered
	 * packet no longer holds the answer whole (cache_entry_prepare). */
	bool altered;
};

enum dnsmsg_check {
	DNSMSG_ANSWER_OK,
	DNSMSG_ANSWER_MISMATCH, /* not an answer to what we asked: ignore it */
	DNSMSG_ANSWER_MALFORMED,
};

/* Query side. */
enum dnsmsg_parse dnsmsg_parse_query(const uint8_t *buf, size_t len, const struct conf *c,
                                     struct dnsmsg_query *q);
void dnsmsg_query_free(struct dnsmsg_query *q);
enum dnsmsg_action dnsmsg_decide(const struct dnsmsg_query *q, const struct conf *c);
/* Query types no client needs, answered NOTIMP for every name without an
 * upstream query (DNSMSG_NOTIMP): 0, the meta types 128-254 (zone
 * transfers, TKEY, TSIG, MAILA, MAILB), the private-use types 65280-65534
 * and 65535. ANY (255) is not among them. */
#define DNSMSG_QTYPE_PRIVATE 65280
bool dnsmsg_qtype_refused(uint16_t qtype);

/* Replies made without asking upstream. */
int dnsmsg_build_error(const struct dnsmsg_query *q, uint8_t **out, size_t *len);
int dnsmsg_build_rcode(const struct dnsmsg_query *q, uint16_t rcode, uint8_t **out, size_t *len);
/* The answer to a name off the list (DNSMSG_DENY): dnsmsg_deny_rcode, and
 * for a client with EDNS an Extended DNS Error (RFC 8914): 15 Blocked on
 * NXDOMAIN, 18 Prohibited on REFUSED, with a text that says it is
 * namegate's policy and names the config file. */
int dnsmsg_build_deny(const struct dnsmsg_query *q, const struct conf *c, uint8_t **out,
                      size_t *len);
/* NXDOMAIN with deny = nxdomain or for a name under a search domain of
 * the config; REFUSED otherwise. */
uint16_t dnsmsg_deny_rcode(const struct dnsmsg_query *q, const struct conf *c);
/* The answer to a query type no client needs (DNSMSG_NOTIMP): NOTIMP, with
 * EDE 21 Not Supported for a client with EDNS. */
int dnsmsg_build_notimp(const struct dnsmsg_query *q, const struct conf *c, uint8_t **out,
                        size_t *len);
#define DNSMSG_EDE_TEXT_MAX 200 /* bytes of EXTRA-TEXT, at most */

/* Upstream side. The upstream query asks the client's question with the
 * name in lower case. */
int dnsmsg_build_upstream_query(const struct dnsmsg_query *q, uint16_t id, uint8_t **out,
                                size_t *len);
/* On DNSMSG_ANSWER_OK, *pkt is the parsed answer, owned by the caller. */
enum dnsmsg_check dnsmsg_check_answer(const uint8_t *buf, size_t len, uint16_t id,
                                      const struct dnsmsg_query *q, ldns_pkt **pkt);
/* Collects the addresses the gate must allow before the client may see pkt,
 * and removes from pkt every address-bearing record that is not allowed:
 * off the CNAME chain, over max_addrs, malformed, or holding an inward
 * address (c->local included) when no "inward" line matches q's name.
 * Unless c->keep_ech, an SVCB/HTTPS record that is kept loses its ech
 * SvcParam (dnsmsg_svcb_strip_ech), or goes whole when it cannot. Every
 * TTL is left as the upstream sent it (no max_ttl cap on records, out->ttl
 * the plain minimum): the reply is aged and capped afterwards with
 * dnsmsg_reply_age (or dnsmsg_age_cap) and dnsmsg_addrs_ttl, which gives
 * exactly what aging, filtering with caps and building would have (the
 * tests hold it to that: dnsmsg_testing.h). */
void dnsmsg_filter_answer_raw(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c,
                              struct dnsmsg_addrs *out);
/* Copies SVCB/HTTPS rdata d (RFC 9460) into out (at least len bytes)
 * without its ech SvcParam (key 5), *outlen its new length: 1 when ech was
 * there, 0 when not (out is then d), -1 when the rdata is malformed (keys
 * out of order included) or its mandatory key lists ech. */
int dnsmsg_svcb_strip_ech(const uint8_t *d, size_t len, uint8_t *out, size_t *outlen);
/* The TTL handed to the gate for a raw minimum, age seconds later:
 * raw - age (not below 0), clamped to [min_ttl, max_ttl]. */
uint32_t dnsmsg_addrs_ttl(uint32_t raw, uint32_t age, const struct conf *c);
/* Lowers every TTL in pkt by age seconds and caps it at max_ttl: after
 * dnsmsg_filter_answer_raw, what aging and filtering with caps would have
 * left. */
void dnsmsg_age_cap(ldns_pkt *pkt, uint32_t age, uint32_t max_ttl);

/* Where the TTLs of a reply's records are (every record but the OPT
 * record of EDNS), and what they say. */
#define DNSMSG_MAX_TTLS 64
struct dnsmsg_ttls {
	size_t n;
	uint16_t off[DNSMSG_MAX_TTLS];
	uint32_t val[DNSMSG_MAX_TTLS];
};

/* Finds them in a reply this module built for a query with or without
 * EDNS (whose OPT record then comes last); -1 when it does not parse to its
 * exact end or has more than DNSMSG_MAX_TTLS records. */
int dnsmsg_reply_ttls(const uint8_t *wire, size_t len, bool edns, struct dnsmsg_ttls *t);
/* Lowers the case of the letters of an uncompressed wire name of size
 * bytes in place (a name cut short is lowered as far as it goes). */
void dnsmsg_wire_name_lower(uint8_t *d, size_t size);
/* Whether two uncompressed wire names of len bytes are the same but for
 * the case of letters. */
bool dnsmsg_wire_name_equal_nocase(const uint8_t *a, const uint8_t *b, size_t len);
/* Makes a reply built for another query of the same name (a template) the
 * reply to q: writes q's ID, RD bit and question name, in the client's
 * case, over the template's. The reply names every later occurrence of
 * the query name by a pointer to the question (ldns compresses names
 * case-insensitively), so this gives the reply built for q. -1 (wire
 * untouched) when the names differ otherwise. */
int dnsmsg_reply_retarget(uint8_t *wire, size_t len, const struct dnsmsg_query *q);
/* Writes each TTL of t into wire as t's value lowered by age (not below 0)
 * and capped at max_ttl. */
void dnsmsg_reply_age(uint8_t *wire, const struct dnsmsg_ttls *t, uint32_t age, uint32_t max_ttl);
/* The reply to the client, from a filtered answer. The answer's sections
 * are moved into the reply, so pkt is left empty. udp selects the size
 * limit; *truncated says the limit forced a TC=1 reply. */
/* The largest reply the client can take: 65535 over TCP, over UDP its
 * EDNS size (at most what we advertise), or 512 without EDNS. */
size_t dnsmsg_reply_limit(const struct dnsmsg_query *q, bool udp);
int dnsmsg_build_reply(ldns_pkt *pkt, const struct dnsmsg_query *q, bool udp, uint8_t **out,
                       size_t *len, bool *truncated);

/* Mnemonics for logs: "A", "TYPE65534", "NXDOMAIN", "RCODE23". */
const char *dnsmsg_type_str(uint16_t type, char *buf, size_t len);
const char *dnsmsg_rcode_str(uint16_t rcode, char *buf, size_t len);
/* The rcode of a wire reply (for logs), or -1 when it is too short. */
int dnsmsg_wire_rcode(const uint8_t *buf, size_t len);
/* Comma-separated addresses, "" if none. */
const char *dnsmsg_addrs_fmt(const struct dnsmsg_addrs *a, char *buf, size_t len);
/* The same for the removed ones (a "+N" at the end for those not kept). */
const char *dnsmsg_removed_fmt(const struct dnsmsg_addrs *a, char *buf, size_t len);

#endif
