/*
 * The answer cache: a chained hash table plus an LRU list, bounded in
 * entries. Expired entries are dropped when looked up or when they reach
 * the cold end of the list.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "hash.h"
#include "list.h"
#include "log.h"

struct cache_entry {
	struct cache_entry *hnext;
	struct list_node lru; /* in c->lru */
	uint64_t hash;
	uint16_t qtype;
	bool do_bit;
	unsigned refs; /* the table's (while linked) and every holder's */
	bool linked;   /* in the table and the LRU list */
	uint64_t stored_ms, expires_ms;
	struct holds_mark holds; /* the gate's last acknowledgement */
	/* The answer is stored once: as received (wire), until a template
	 * that holds it whole stands in for it (prep->whole; wire is then
	 * NULL). Either wire or a whole prep is there. */
	uint8_t *wire;
	size_t len;
	struct prep *prep; /* NULL until a reply was prepared */
	char name[];       /* normalized */
};

/* A prepared reply and what it was prepared for (see cache.h). data holds
 * the TTL offsets, the TTL values, the template, the addresses and their
 * text (NUL-terminated), in that order, each exactly as long as it needs
 * to be (struct dnsmsg_addr is bytes only, so no alignment is needed). The
 * question name it was prepared for is the template's own, at
 * DNSMSG_HDR_LEN. */
struct prep {
	uint32_t conf_gen;
	uint32_t raw_ttl;
	uint16_t qclass;
	uint16_t nttl;
	uint16_t naddrs;
	uint8_t qnamelen;
	bool edns;
	bool whole; /* every record of the answer, unchanged: it stands in for it */
	uint16_t len;
	uint8_t data[];
};

struct cache {
	size_t max, n;
	size_t nbuckets; /* power of two */
	struct cache_entry **buckets;
	struct list lru; /* most recently used first */
	uint64_t seed;
};

/* Seeded (common/hash.h): under a wildcard line the agent chooses the
 * names, and so would choose one bucket for all of them. */
static uint64_t
key_hash(const struct cache *c, const char *name, uint16_t qtype, bool do_bit)
{
	uint64_t h = hash_init(c->seed);

	h = hash_bytes(h, name, strlen(name));
	h = hash_byte(h, (uint8_t)(qtype & 0xff));
	h = hash_byte(h, (uint8_t)(qtype >> 8));
	h = hash_byte(h, do_bit ? 1u : 0u);
	return hash_final(h);
}

_Static_assert(_Alignof(struct dnsmsg_addr) == 1, "prep->data holds dnsmsg_addr unaligned");

static void entry_remove(struct cache *c, struct cache_entry *e);

/* A table of at least twice max buckets, with every entry moved over. */
static int
rehash(struct cache *c, size_t max)
{
	size_t nb = 64;
	struct cache_entry **b;
	struct list_node *n, *tmp;

	while (nb < 2 * max)
		nb *= 2;
	if (nb == c->nbuckets)
		return 0;
	b = calloc(nb, sizeof(*b));
	if (b == NULL) {
		log_warn("cache: calloc %zu buckets", nb);
		return -1;
	}
	list_for_each_safe(n, tmp, &c->lru)
	{
		struct cache_entry *e = list_entry(n, struct cache_entry, lru);

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
	if (hash_seed(&c->seed) != 0) {
		log_warn("cache: getrandom for the hash seed");
		free(c);
		return NULL;
	}
	list_init(&c->lru);
	c->max = max_entries ? max_entries : 1;
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
	while (c->n > max && !list_empty(&c->lru))
		entry_remove(c, list_entry(list_last(&c->lru), struct cache_entry, lru));
	if (rehash(c, max) != 0 && max > c->max)
		return -1;
	c->max = max;
	return 0;
}

static void
entry_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	list_remove(&e->lru);
	c->n--;
	e->linked = false;
	cache_entry_release(e);
}

void
cache_entry_hold(struct cache_entry *e)
{
	e->refs++;
}

void
cache_entry_release(struct cache_entry *e)
{
	if (e == NULL || --e->refs > 0)
		return;
	free(e->prep);
	free(e->wire);
	free(e);
}

void
cache_clear(struct cache *c)
{
	while (!list_empty(&c->lru))
		entry_remove(c, list_entry(list_first(&c->lru), struct cache_entry, lru));
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

static struct cache_entry *
lookup(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t h)
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

struct cache_entry *
cache_put(struct cache *c, const char *name, uint16_t qtype, bool do_bit, const ldns_pkt *pkt,
          const uint8_t *wire, size_t len, uint64_t now_ms)
{
	uint32_t ttl = cache_answer_ttl(pkt);
	uint64_t h = key_hash(c, name, qtype, do_bit);
	size_t nlen = strlen(name);
	struct cache_entry *e;

	if (ttl == 0 || len < DNSMSG_HDR_LEN)
		return NULL;
	e = lookup(c, name, qtype, do_bit, h);
	if (e != NULL)
		entry_remove(c, e);
	/* Make room at the cold end, where expired entries gather. */
	while (c->n >= c->max && !list_empty(&c->lru))
		entry_remove(c, list_entry(list_last(&c->lru), struct cache_entry, lru));
	e = calloc(1, sizeof(*e) + nlen + 1);
	if (e == NULL)
		return NULL;
	e->wire = malloc(len);
	if (e->wire == NULL) {
		free(e);
		return NULL;
	}
	memcpy(e->wire, wire, len);
	memcpy(e->name, name, nlen + 1);
	e->len = len;
	e->hash = h;
	e->qtype = qtype;
	e->do_bit = do_bit;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
	e->refs = 1;
	e->linked = true;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	list_push_front(&c->lru, &e->lru);
	c->n++;
	return e;
}

struct cache_entry *
cache_find(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now_ms)
{
	struct cache_entry *e = lookup(c, name, qtype, do_bit, key_hash(c, name, qtype, do_bit));

	if (e == NULL)
		return NULL;
	if (now_ms >= e->expires_ms || now_ms < e->stored_ms) {
		entry_remove(c, e);
		return NULL;
	}
	list_remove(&e->lru);
	list_push_front(&c->lru, &e->lru);
	return e;
}

uint32_t
cache_entry_age(const struct cache_entry *e, uint64_t now_ms)
{
	return now_ms > e->stored_ms ? (uint32_t)((now_ms - e->stored_ms) / 1000) : 0;
}

/* Where each part of a prep's data starts (struct prep): the TTL offsets
 * at 0, then the TTL values, the template, the addresses, their text. */
struct prep_layout {
	size_t vals, tmpl, addrv, text;
};

static struct prep_layout
prep_layout(size_t nttl, size_t len, size_t naddrs)
{
	struct prep_layout l;

	l.vals = nttl * 2;
	l.tmpl = l.vals + nttl * 4;
	l.addrv = l.tmpl + len;
	l.text = l.addrv + naddrs * sizeof(struct dnsmsg_addr);
	return l;
}

static size_t
prep_tmpl(const struct prep *p)
{
	return prep_layout(p->nttl, p->len, p->naddrs).tmpl;
}

ldns_pkt *
cache_entry_answer(struct cache *c, struct cache_entry *e)
{
	const uint8_t *w = e->wire;
	size_t len = e->len;
	ldns_pkt *pkt = NULL;

	/* A whole template parses to the answer's flags, rcode and records,
	 * its TTLs as stored: all that a reply is built from (cache.h). */
	if (w == NULL && e->prep != NULL) {
		w = e->prep->data + prep_tmpl(e->prep);
		len = e->prep->len;
	}
	if (w == NULL || ldns_wire2pkt(&pkt, w, len) != LDNS_STATUS_OK || pkt == NULL) {
		if (e->linked)
			entry_remove(c, e);
		return NULL;
	}
	return pkt;
}

struct holds_mark *
cache_entry_holds(struct cache_entry *e)
{
	return &e->holds;
}

void
cache_entry_prepare(struct cache_entry *e, const struct cache_prep_key *k, const uint8_t *wire,
                    size_t len, const struct dnsmsg_ttls *ttls, const char *addrs,
                    const struct dnsmsg_addrs *a, uint32_t raw_ttl, bool whole)
{
	size_t naddrs = a != NULL ? a->n : 0, alen = addrs != NULL ? strlen(addrs) : 0;
	struct prep_layout l = prep_layout(ttls->n, len, naddrs);
	struct prep *p;

	if (k->qnamelen > 255 || ttls->n > DNSMSG_MAX_TTLS || naddrs > CONF_MAX_ADDRS ||
	    len > UINT16_MAX || len < DNSMSG_HDR_LEN + k->qnamelen ||
	    memcmp(wire + DNSMSG_HDR_LEN, k->qname, k->qnamelen) != 0)
		return;
	/* The answer must stay: a template that lacks some of it does not
	 * replace the one that stands in for it. */
	if (!whole && e->wire == NULL)
		return;
	p = malloc(sizeof(*p) + l.text + alen + 1);
	if (p == NULL)
		return;
	p->conf_gen = k->conf_gen;
	p->qclass = k->qclass;
	p->edns = k->edns;
	p->whole = whole;
	p->qnamelen = (uint8_t)k->qnamelen;
	p->nttl = (uint16_t)ttls->n;
	p->naddrs = (uint16_t)naddrs;
	p->raw_ttl = raw_ttl;
	p->len = (uint16_t)len;
	memcpy(p->data, ttls->off, ttls->n * 2);
	memcpy(p->data + l.vals, ttls->val, ttls->n * 4);
	memcpy(p->data + l.tmpl, wire, len);
	if (naddrs > 0)
		memcpy(p->data + l.addrv, a->v, naddrs * sizeof(a->v[0]));
	memcpy(p->data + l.text, addrs != NULL ? addrs : "", alen + 1);
	free(e->prep);
	e->prep = p;
	if (whole) {
		free(e->wire);
		e->wire = NULL;
	}
}

bool
cache_entry_prepared(const struct cache_entry *e, uint64_t now_ms, const struct cache_prep_key *k,
                     size_t size_limit, struct cache_prepared *out)
{
	const struct prep *p = e->prep;
	struct prep_layout l;

	if (p == NULL)
		return false;
	l = prep_layout(p->nttl, p->len, p->naddrs);
	if (p->conf_gen != k->conf_gen || p->qclass != k->qclass || p->edns != k->edns ||
	    p->qnamelen != k->qnamelen ||
	    !dnsmsg_wire_name_equal_nocase(p->data + l.tmpl + DNSMSG_HDR_LEN, k->qname,
	                                   k->qnamelen) ||
	    p->len > size_limit)
		return false;
	out->ttls.n = p->nttl;
	memcpy(out->ttls.off, p->data, (size_t)p->nttl * 2);
	memcpy(out->ttls.val, p->data + l.vals, (size_t)p->nttl * 4);
	out->wire = p->data + l.tmpl;
	out->len = p->len;
	out->age = cache_entry_age(e, now_ms);
	out->naddrs = p->naddrs;
	out->addrv = (const struct dnsmsg_addr *)(const void *)(p->data + l.addrv);
	out->addrs = (const char *)(p->data + l.text);
	out->raw_ttl = p->raw_ttl;
	return true;
}
