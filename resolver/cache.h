/*
 * A TTL cache of upstream answers, keyed by (name, qtype, DO bit). It keeps
 * the answer as received (after dnsmsg_check_answer); a hit is parsed again,
 * its TTLs lowered by its age, and then takes the same path as a fresh
 * answer: filtered, its addresses sent to the gate (refreshing the set
 * entries), and relayed only after the ACK. A hit may instead reuse the
 * reply an earlier one was built into (cache_prepared, below).
 */
#ifndef NAMEGATE_CACHE_H
#define NAMEGATE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "dnsmsg.h"

#define CACHE_NEG_MAX_TTL 300 /* seconds, for NXDOMAIN and NODATA */
#define CACHE_POS_MAX_TTL 86400

struct cache;

struct cache *cache_new(size_t max_entries);
/* A new bound, kept on reload: the least recently used entries beyond it
 * are dropped, the rest stay. -1 (and the old bound kept) when the larger
 * table cannot be allocated. */
int cache_set_max(struct cache *c, size_t max_entries);
void cache_free(struct cache *c);
void cache_clear(struct cache *c);
size_t cache_size(const struct cache *c);

/* How long pkt may be cached, in seconds; 0 = not at all. Pure. */
uint32_t cache_answer_ttl(const ldns_pkt *pkt);

/* Stores wire (the answer pkt was parsed from) if cache_answer_ttl allows;
 * returns the new entry's serial, or 0 when it stored nothing. */
uint64_t cache_put(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                   const ldns_pkt *pkt, const uint8_t *wire, size_t len, uint64_t now_ms);
/* A fresh, aged copy of the cached answer (the caller frees it), or NULL. */
ldns_pkt *cache_get(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                    uint64_t now_ms);
/* The same, not aged: its TTLs are as stored, *age says how many whole
 * seconds ago that was, and *serial which entry it is. */
ldns_pkt *cache_get_raw(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                        uint64_t now_ms, uint32_t *age, uint64_t *serial);

/*
 * What the gate last acknowledged for an entry, so that a hit can skip the
 * gate while the kernel surely still holds its addresses. Every entry gets
 * a serial when stored (0 = none), so an acknowledgement is never credited
 * to a newer answer with other addresses. cache_mark_acked records that the
 * addresses of entry serial went to the gate at sent_ms for ttl seconds and
 * were acknowledged; it is ignored when the entry changed or the
 * acknowledgements were invalidated (gen moved on) meanwhile.
 * cache_fresh says whether a hit that would ask for ttl seconds can skip
 * the gate: the set entries were acknowledged with more than half of their
 * timeout still to run, and they outlive the answer's TTL. Invalidate
 * (reload, gate reconnect, any failed ALLOW) forgets every acknowledgement.
 */
uint32_t cache_fresh_gen(const struct cache *c);
void cache_invalidate_fresh(struct cache *c);
void cache_mark_acked(struct cache *c, const char *name, uint16_t qtype, bool do_bit,
                      uint64_t serial, uint32_t gen, uint64_t sent_ms, uint32_t ttl);
bool cache_fresh(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t serial,
                 uint64_t now_ms, uint32_t ttl);

/*
 * Prepared replies: the reply a hit on an entry was built into, kept in the
 * entry as a template with its TTLs as the upstream sent them, so that the
 * next hits skip ldns: copy the template, set the ID and RD bit, age and cap
 * the TTLs (dnsmsg_reply_age). That gives exactly the bytes the slow path
 * would build, as long as the new query matches what the template was built
 * for: the same config generation, the same question bytes but for the
 * case of letters (the caller writes the client's own question over the
 * template's: dnsmsg_reply_set_question), the same EDNS presence, and room
 * under the client's size limit. addrs (the dns.allow text), naddrs and raw_ttl (for
 * dnsmsg_addrs_ttl) come along; naddrs == 0 means no gate is needed.
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
	uint32_t age; /* seconds since the entry was stored */
	const char *addrs;
	size_t naddrs;
	uint32_t raw_ttl;
	uint64_t serial;
};

/* Stores a copy of the template in entry serial (ignored if that entry is
 * gone or replaced). */
void cache_prepare(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t serial,
                   const struct cache_prep_key *k, const uint8_t *wire, size_t len,
                   const struct dnsmsg_ttls *ttls, const char *addrs, size_t naddrs,
                   uint32_t raw_ttl);
/* true and *out filled when the entry is fresh and its template fits k;
 * size_limit is the most the client can take. */
bool cache_prepared(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now_ms,
                    const struct cache_prep_key *k, size_t size_limit, struct cache_prepared *out);

#endif
