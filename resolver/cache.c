/*
 * The answer cache: a chained hash table plus an LRU list, bounded in
 * entries. Expired entries are dropped when looked up or when they reach
 * the cold end of the list.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "log.h"

struct cache_entry {
	struct cache_entry *hnext;
	struct cache_entry *prev, *next; /* LRU: most recently used first */
	uint32_t hash;
	uint16_t qtype;
	bool do_bit;
	uint64_t stored_ms, expires_ms;
	uint64_t serial;
	/* The gate's last acknowledgement of this answer's addresses: valid
	 * while ack_gen is the cache's fresh_gen. */
	uint32_t ack_gen;
	uint64_t ack_half_ms, ack_until_ms;
	uint8_t *wire;
	size_t len;
	struct prep *prep; /* NULL until a reply was prepared */
	char name[];       /* normalized */
};

/* A prepared reply and what it was prepared for (see cache.h). data holds
 * the question name, the TTL offsets, the TTL values and the template, in
 * that order, each exactly as long as it needs to be. */
struct prep {
	uint32_t conf_gen;
	uint16_t qclass;
	bool edns;
	uint8_t qnamelen;
	uint16_t nttl;
	size_t naddrs;
	uint32_t raw_ttl;
	size_t len;
	char *addrs;
	uint8_t data[];
};

struct cache {
	size_t max, n;
	size_t nbuckets; /* power of two */
	struct cache_entry **buckets;
	struct cache_entry *head, *tail;
	uint64_t next_serial;
	uint32_t fresh_gen;
};

static uint32_t
key_hash(const char *name, uint16_t qtype, bool do_bit)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ (qtype & 0xff)) * 16777619u;
	h = (h ^ (qtype >> 8)) * 16777619u;
	h = (h ^ (do_bit ? 1u : 0u)) * 16777619u;
	return h;
}

static void entry_remove(struct cache *c, struct cache_entry *e);

/* A table of at least twice max buckets, with every entry moved over. */
static int
rehash(struct cache *c, size_t max)
{
	size_t nb = 64;
	struct cache_entry **b;

	while (nb < 2 * max)
		nb *= 2;
	if (nb == c->nbuckets)
		return 0;
	b = calloc(nb, sizeof(*b));
	if (b == NULL) {
		log_warn("cache: calloc %zu buckets", nb);
		return -1;
	}
	for (struct cache_entry *e = c->head; e != NULL; e = e->next) {
		e->hnext = b[e->hash & (nb - 1)];
		b[e->hash & (nb - 1)] = e;
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
	return 0;
}

struct cache *
cache_new(size_t max_entries)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_warn("cache: calloc");
		return NULL;
	}
	c->max = max_entries ? max_entries : 1;
	c->fresh_gen = 1;
	if (rehash(c, c->max) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

int
cache_set_max(struct cache *c, size_t max_entries)
{
	size_t max = max_entries ? max_entries : 1;

	/* The least recently used go first, as when the cache fills up. */
	while (c->n > max && c->tail != NULL)
		entry_remove(c, c->tail);
	if (rehash(c, max) != 0 && max > c->max)
		return -1;
	c->max = max;
	return 0;
}

static void
prep_free(struct prep *p)
{
	if (p != NULL)
		free(p->addrs);
	free(p);
}

static void
lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push_front(struct cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static void
entry_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->n--;
	prep_free(e->prep);
	free(e->wire);
	free(e);
}

void
cache_clear(struct cache *c)
{
	while (c->head != NULL)
		entry_remove(c, c->head);
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	cache_clear(c);
	free(c->buckets);
	free(c);
}

size_t
cache_size(const struct cache *c)
{
	return c->n;
}

static struct cache_entry *
lookup(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint32_t h)
{
	for (struct cache_entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && e->qtype == qtype && e->do_bit == do_bit &&
		    strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Negative answers live as long as the SOA says (RFC 2308: the smaller of
 * its TTL and its MINIMUM field), capped; without a SOA they are not
 * cached at all. */
static uint32_t
negative_ttl(const ldns_pkt *pkt)
{
	const ldns_rr_list *auth = ldns_pkt_authority(pkt);

	for (size_t i = 0; i < ldns_rr_list_rr_count(auth); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(auth, i);
		const ldns_rdf *min;
		uint32_t ttl;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7)
			continue;
		min = ldns_rr_rdf(rr, 6);
		if (min == NULL || ldns_rdf_size(min) != 4)
			return 0;
		ttl = ldns_rr_ttl(rr);
		if (ldns_rdf2native_int32(min) < ttl)
			ttl = ldns_rdf2native_int32(min);
		return ttl < CACHE_NEG_MAX_TTL ? ttl : CACHE_NEG_MAX_TTL;
	}
	return 0;
}

uint32_t
cache_answer_ttl(const ldns_pkt *pkt)
{
	const ldns_rr_list *ans = ldns_pkt_answer(pkt);
	uint32_t ttl = CACHE_POS_MAX_TTL;
	size_t n = ldns_rr_list_rr_count(ans);

	if (ldns_pkt_tc(pkt))
		return 0;
	switch (ldns_pkt_get_rcode(pkt)) {
	case LDNS_RCODE_NXDOMAIN:
		return negative_ttl(pkt);
	case LDNS_RCODE_NOERROR:
		break;
	default:
		/* SERVFAIL and friends are retried, never remembered. */
		return 0;
	}
	if (n == 0)
		return negative_ttl(pkt);
	for (size_t i = 0; i < n; i++) {
		uint32_t t = ldns_rr_ttl(ldns_rr_list_rr(ans, i));

		if (t < ttl)
			ttl = t;
	}
	return ttl;
}

uint64_t
cache_put(struct cache *c, const char *name, uint16_t qtype, bool do_bit, const ldns_pkt *pkt,
          const uint8_t *wire, size_t len, uint64_t now_ms)
{
	uint32_t ttl = cache_answer_ttl(pkt);
	uint32_t h = key_hash(name, qtype, do_bit);
	size_t nlen = strlen(name);
	struct cache_entry *e;

	if (ttl == 0 || len < DNSMSG_HDR_LEN)
		return 0;
	e = lookup(c, name, qtype, do_bit, h);
	if (e != NULL)
		entry_remove(c, e);
	/* Make room at the cold end, where expired entries gather. */
	while (c->n >= c->max && c->tail != NULL)
		entry_remove(c, c->tail);
	e = calloc(1, sizeof(*e) + nlen + 1);
	if (e == NULL)
		return 0;
	e->wire = malloc(len);
	if (e->wire == NULL) {
		free(e);
		return 0;
	}
	memcpy(e->wire, wire, len);
	memcpy(e->name, name, nlen + 1);
	e->len = len;
	e->hash = h;
	e->qtype = qtype;
	e->do_bit = do_bit;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
	e->serial = ++c->next_serial;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push_front(c, e);
	c->n++;
	return e->serial;
}

ldns_pkt *
cache_get_raw(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now_ms,
              uint32_t *age, uint64_t *serial)
{
	uint32_t h = key_hash(name, qtype, do_bit);
	struct cache_entry *e = lookup(c, name, qtype, do_bit, h);
	ldns_pkt *pkt = NULL;

	if (e == NULL)
		return NULL;
	if (now_ms >= e->expires_ms || now_ms < e->stored_ms) {
		entry_remove(c, e);
		return NULL;
	}
	if (ldns_wire2pkt(&pkt, e->wire, e->len) != LDNS_STATUS_OK || pkt == NULL) {
		entry_remove(c, e);
		return NULL;
	}
	*age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	*serial = e->serial;
	lru_unlink(c, e);
	lru_push_front(c, e);
	return pkt;
}

ldns_pkt *
cache_get(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now_ms)
{
	uint32_t age;
	uint64_t serial;
	ldns_pkt *pkt = cache_get_raw(c, name, qtype, do_bit, now_ms, &age, &serial);

	if (pkt != NULL)
		dnsmsg_age(pkt, age);
	return pkt;
}

uint32_t
cache_fresh_gen(const struct cache *c)
{
	return c->fresh_gen;
}

void
cache_invalidate_fresh(struct cache *c)
{
	/* Entries compare their ack_gen with this; none is valid when 0. */
	if (++c->fresh_gen == 0)
		c->fresh_gen = 1;
}

void
cache_mark_acked(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t serial,
                 uint32_t gen, uint64_t sent_ms, uint32_t ttl)
{
	struct cache_entry *e = lookup(c, name, qtype, do_bit, key_hash(name, qtype, do_bit));

	if (e == NULL || serial == 0 || e->serial != serial || gen != c->fresh_gen || ttl == 0)
		return;
	/* The gate added the entries after we sent the request, so they run
	 * out no earlier than sent_ms + ttl (the gate clamps with the same
	 * config; a reload invalidates). */
	e->ack_gen = gen;
	e->ack_until_ms = sent_ms + (uint64_t)ttl * 1000;
	e->ack_half_ms = sent_ms + (uint64_t)ttl * 500;
}

bool
cache_fresh(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t serial,
            uint64_t now_ms, uint32_t ttl)
{
	struct cache_entry *e = lookup(c, name, qtype, do_bit, key_hash(name, qtype, do_bit));

	if (e == NULL || serial == 0 || e->serial != serial || e->ack_gen != c->fresh_gen)
		return false;
	/* More than half of the timeout left, and the set entries outlive
	 * the TTL the client is about to get. TTLs are whole seconds and
	 * aged by whole seconds, so the answer may claim up to a second more
	 * than the exact remainder, as it does after a fresh ALLOW. */
	return now_ms < e->ack_half_ms && now_ms + (uint64_t)ttl * 1000 <= e->ack_until_ms + 1000;
}

void
cache_prepare(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t serial,
              const struct cache_prep_key *k, const uint8_t *wire, size_t len,
              const struct dnsmsg_ttls *ttls, const char *addrs, size_t naddrs, uint32_t raw_ttl)
{
	struct cache_entry *e = lookup(c, name, qtype, do_bit, key_hash(name, qtype, do_bit));
	size_t offs = k->qnamelen, vals = offs + ttls->n * 2, tmpl = vals + ttls->n * 4;
	struct prep *p;

	if (e == NULL || serial == 0 || e->serial != serial || k->qnamelen > 255 ||
	    ttls->n > DNSMSG_MAX_TTLS)
		return;
	p = malloc(sizeof(*p) + tmpl + len);
	if (p == NULL)
		return;
	p->addrs = strdup(addrs != NULL ? addrs : "");
	if (p->addrs == NULL) {
		free(p);
		return;
	}
	p->conf_gen = k->conf_gen;
	p->qclass = k->qclass;
	p->edns = k->edns;
	p->qnamelen = (uint8_t)k->qnamelen;
	p->nttl = (uint16_t)ttls->n;
	p->naddrs = naddrs;
	p->raw_ttl = raw_ttl;
	p->len = len;
	memcpy(p->data, k->qname, k->qnamelen);
	memcpy(p->data + offs, ttls->off, ttls->n * 2);
	memcpy(p->data + vals, ttls->val, ttls->n * 4);
	memcpy(p->data + tmpl, wire, len);
	prep_free(e->prep);
	e->prep = p;
}

bool
cache_prepared(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now_ms,
               const struct cache_prep_key *k, size_t size_limit, struct cache_prepared *out)
{
	struct cache_entry *e = lookup(c, name, qtype, do_bit, key_hash(name, qtype, do_bit));
	const struct prep *p = e != NULL ? e->prep : NULL;
	size_t offs, vals;

	if (p == NULL || now_ms < e->stored_ms || now_ms >= e->expires_ms ||
	    p->conf_gen != k->conf_gen || p->qclass != k->qclass || p->edns != k->edns ||
	    p->qnamelen != k->qnamelen ||
	    !dnsmsg_wire_name_equal_nocase(p->data, k->qname, k->qnamelen) || p->len > size_limit)
		return false;
	lru_unlink(c, e);
	lru_push_front(c, e);
	offs = p->qnamelen;
	vals = offs + (size_t)p->nttl * 2;
	out->ttls.n = p->nttl;
	memcpy(out->ttls.off, p->data + offs, (size_t)p->nttl * 2);
	memcpy(out->ttls.val, p->data + vals, (size_t)p->nttl * 4);
	out->wire = p->data + vals + (size_t)p->nttl * 4;
	out->len = p->len;
	out->age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	out->addrs = p->addrs;
	out->naddrs = p->naddrs;
	out->raw_ttl = p->raw_ttl;
	out->serial = e->serial;
	return true;
}
