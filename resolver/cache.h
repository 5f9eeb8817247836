/*
 * A TTL cache of upstream answers, keyed by (name, qtype, DO bit). It keeps
 * the answer once: as received (after dnsmsg_check_answer), until a reply
 * template that holds it whole is prepared (below) and stands in for it; a
 * hit is parsed again (from either),
 * its TTLs lowered by its age, and then takes the same path as a fresh
 * answer: filtered, its addresses sent to the gate (refreshing the set
 * entries), and relayed only after the ACK. A hit may instead reuse the
 * reply an earlier one was built into (cache_entry_prepared, below).
 *
 * The key is looked up once (cache_find, cache_put); everything else is
 * asked of the entry it hands out.
 */
#ifndef NAMEGATE_CACHE_H
#define NAMEGATE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "dnsmsg.h"
#include "holds.h"

#define CACHE_NEG_MAX_TTL 300 /* seconds, for NXDOMAIN and NODATA */
#define CACHE_POS_MAX_TTL 86400

struct cache;
/* One stored answer. A handle the cache hands out is borrowed: valid until
 * the next cache_put, cache_find, cache_set_max or cache_clear, which may
 * drop entries. A query that keeps one across loop turns holds it
 * (cache_entry_hold) and releases it; a held entry that the cache dropped
 * meanwhile stays valid but is found by no lookup again, so nothing
 * recorded in it reaches a newer answer. */
struct cache_entry;

struct cache *cache_new(size_t max_entries);
/* A new bound, kept on reload: the least recently used entries beyond it
 * are dropped, the rest stay. -1 (and the old bound kept) when the larger
 * table cannot be allocated. */
int cache_set_max(struct cache *c, size_t max_entries);
/* Every held entry must have been released. */
void cache_free(struct cache *c);
void cache_clear(struct cache *c);

/* How long pkt may be cached, in seconds; 0 = not at all. Pure. */
uint32_t cache_answer_ttl(const ldns_pkt *pkt);

/* Stores wire (the answer pkt was parsed from) if cache_answer_ttl allows,
 * replacing the key's entry; returns the new entry, or NULL when it stored
 * nothing. */
struct cache_entry *cache_put(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                              const ldns_pkt *pkt, const uint8_t *wire, size_t len,
                              uint64_t now_ms);
/* The key's entry while it is fresh at now_ms (made the most recently
 * used), or NULL; an expired one is dropped. */
struct cache_entry *cache_find(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                               uint64_t now_ms);
void cache_entry_hold(struct cache_entry *e);
void cache_entry_release(struct cache_entry *e);

/* Whole seconds since e was stored. */
uint32_t cache_entry_age(const struct cache_entry *e, uint64_t now_ms);
/* The stored answer, parsed, its TTLs as stored (the caller frees it); NULL
 * when it does not parse (e is then dropped from the cache). */
ldns_pkt *cache_entry_answer(struct cache *c, struct cache_entry *e);
/* What the gate last acknowledged for e's addresses (holds.h). */
struct holds_mark *cache_entry_holds(struct cache_entry *e);

/*
 * Prepared replies: the reply a hit on an entry was built into, kept in the
 * entry as a template with its TTLs as the upstream sent them, so that the
 * next hits skip ldns: copy the template, set the ID and RD bit, age and cap
 * the TTLs (dnsmsg_reply_age). That gives exactly the bytes the slow path
 * would build, as long as the new query matches what the template was built
 * for: the same config generation, the same question bytes but for the
 * case of letters (the caller writes the client's own question over the
 * template's: dnsmsg_reply_retarget), the same EDNS presence, and room
 * under the client's size limit. The answer's addresses (for the gate, and
 * as the dns.allow text) and raw_ttl (for dnsmsg_addrs_ttl) come along, so
 * that a hit which must ask the gate again needs no parse either; naddrs
 * == 0 means no gate is needed.
 */
struct cache_prep_key {
	uint32_t conf_gen;
	const uint8_t *qname; /* the question name as the client sent it (any case) */
	size_t qnamelen;
	uint16_t qclass;
	bool edns;
};

struct cache_prepared {
	const uint8_t *wire; /* the template; its TTLs are in ttls */
	size_t len;
	struct dnsmsg_ttls ttls;
	uint32_t age;      /* seconds since the entry was stored */
	const char *addrs; /* the dns.allow text */
	size_t naddrs;
	const struct dnsmsg_addr *addrv; /* naddrs of them */
	uint32_t raw_ttl;
};

/* Stores a copy of the template in e, with a's addresses (a->n of them,
 * addrs their text; a may be NULL when there are none). whole: the
 * template holds every record of the stored answer unchanged (the filter
 * removed and rewrote none; !dnsmsg_addrs.altered), with its rcode, AD and
 * TC bits and its TTLs as stored: it is then kept instead of the answer as
 * received, and cache_entry_answer parses it. What a template leaves out
 * (the upstream's ID, flags, OPT record and question case) no reply is
 * built from. A template that is not whole never replaces a whole one
 * that stands in for the answer. */
void cache_entry_prepare(struct cache_entry *e, const struct cache_prep_key *k, const uint8_t *wire,
                         size_t len, const struct dnsmsg_ttls *ttls, const char *addrs,
                         const struct dnsmsg_addrs *a, uint32_t raw_ttl, bool whole);
/* true and *out filled when e's template fits k; size_limit is the most the
 * client can take. */
bool cache_entry_prepared(const struct cache_entry *e, uint64_t now_ms,
                          const struct cache_prep_key *k, size_t size_limit,
                          struct cache_prepared *out);

#endif
