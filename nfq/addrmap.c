/* The address → name map: chained hash + refresh-ordered list. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addrmap.h"
#include "hash.h"

#define NBUCKETS 65536 /* power of two */

struct addrmap {
	struct addrmap_entry *buckets[NBUCKETS];
	struct list order; /* of the entries, least recently refreshed first */
	size_t count, max;
	uint64_t seed;
	addrmap_live_fn *live;
	void *live_arg;
};

struct addrmap *
addrmap_new(size_t max_entries, uint64_t seed)
{
	struct addrmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->max = max_entries > 0 ? max_entries : 1;
	m->seed = seed;
	list_init(&m->order);
	return m;
}

/* Where nm's ports start: after the name and its NUL, aligned for them. */
static size_t
ports_off(size_t namelen)
{
	size_t a = _Alignof(struct port);

	return offsetof(struct addrmap_name, name) + (namelen + 1 + a - 1) / a * a;
}

static const struct port *
ports_of(const struct addrmap_name *nm)
{
	return (const struct port *)(const void *)((const char *)nm + ports_off(nm->namelen));
}

struct addrmap_name *
addrmap_name_new(const char *name, const struct portlist *ports)
{
	size_t len = strnlen(name, NAME_MAX_LEN), np = ports->n < UINT8_MAX ? ports->n : UINT8_MAX;
	struct addrmap_name *nm;

	if (len > UINT8_MAX)
		len = UINT8_MAX;
	nm = malloc(ports_off(len) + np * sizeof(struct port));
	if (nm == NULL)
		return NULL;
	nm->refs = 1;
	nm->nports = (uint8_t)np;
	nm->namelen = (uint8_t)len;
	memcpy(nm->name, name, len);
	nm->name[len] = '\0';
	memcpy((char *)nm + ports_off(len), ports->v, np * sizeof(struct port));
	return nm;
}

bool
addrmap_name_has_port(const struct addrmap_name *nm, uint8_t proto, uint16_t port)
{
	const struct port *v = ports_of(nm);

	for (size_t i = 0; i < nm->nports; i++) {
		if (v[i].proto == proto && v[i].port == port)
			return true;
	}
	return false;
}

void
addrmap_name_unref(struct addrmap_name *nm)
{
	if (nm != NULL && --nm->refs == 0)
		free(nm);
}

void
addrmap_set_held(struct addrmap *m, addrmap_live_fn *live, void *arg)
{
	m->live = live;
	m->live_arg = arg;
}

/* Slot i of e's names; NULL past the inline one while none more are
 * allocated. */
static const struct addrmap_bound *
cslot_at(const struct addrmap_entry *e, size_t i)
{
	if (i == 0)
		return &e->name0;
	return e->more != NULL ? &e->more[i - 1] : NULL;
}

static struct addrmap_bound *
slot_at(struct addrmap_entry *e, size_t i)
{
	return (struct addrmap_bound *)cslot_at(e, i);
}

bool
addrmap_held(const struct addrmap *m, const struct addrmap_entry *e)
{
	const struct addrmap_bound *b;

	for (size_t i = 0; m->live != NULL && i < ADDRMAP_NAMES && (b = cslot_at(e, i)) != NULL;
	     i++) {
		const struct port *v = b->nm != NULL ? ports_of(b->nm) : NULL;

		for (size_t j = 0; v != NULL && j < b->nm->nports; j++) {
			if (m->live(m->live_arg, e->family, e->ip, v[j].proto, v[j].port))
				return true;
		}
	}
	return false;
}

/* Seeded (common/hash.h): the addresses come from DNS answers an outsider
 * may choose, so the seed keeps them from aiming at one bucket. */
static size_t
bucket_of(const struct addrmap *m, int family, const uint8_t *ip)
{
	uint64_t h = hash_init(m->seed);

	h = hash_byte(h, (uint8_t)family);
	h = hash_bytes(h, ip, family == AF_INET ? 4 : 16);
	return (size_t)(hash_final(h) & (NBUCKETS - 1));
}

static bool
same_key(const struct addrmap_entry *e, int family, const uint8_t *ip)
{
	return e->family == family && memcmp(e->ip, ip, family == AF_INET ? 4 : 16) == 0;
}

static struct addrmap_entry *
oldest(const struct addrmap *m)
{
	struct list_node *n = list_first(&m->order);

	return n != NULL ? list_entry(n, struct addrmap_entry, link) : NULL;
}

static void
remove_entry(struct addrmap *m, struct addrmap_entry *e)
{
	struct addrmap_entry **pp = &m->buckets[bucket_of(m, e->family, e->ip)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	list_remove(&e->link);
	addrmap_name_unref(e->nm);
	addrmap_name_unref(e->name0.nm);
	for (size_t i = 0; e->more != NULL && i < ADDRMAP_NAMES - 1; i++)
		addrmap_name_unref(e->more[i].nm);
	free(e->more);
	free(e);
	m->count--;
}

/*
 * The entry to evict for room: the one refreshed longest ago among the
 * oldest ADDRMAP_EVICT_SCAN that no set entry holds. Those held go to the
 * back, so the next search starts past them. NULL when all of them are held:
 * then the map outgrows its bound rather than forget the names of addresses
 * the sets still hold (the SNI / Host binding needs them). The sets' size
 * bounds them: max_per_line per line, and the sets' maxelem.
 */
static struct addrmap_entry *
victim(struct addrmap *m)
{
	struct addrmap_entry *e;

	for (size_t i = 0; i < ADDRMAP_EVICT_SCAN && (e = oldest(m)) != NULL; i++) {
		if (!addrmap_held(m, e))
			return e;
		list_move_back(&m->order, &e->link);
	}
	return NULL;
}

/* Allocates the slots past the first; returns the first of them, or slot
 * when out of memory. */
static struct addrmap_bound *
grow_names(struct addrmap_entry *e, struct addrmap_bound *slot)
{
	struct addrmap_bound *more = calloc(ADDRMAP_NAMES - 1, sizeof(*more));

	if (more == NULL)
		return slot;
	e->more = more;
	return e->more;
}

/* Records nm in e's names: its own slot when the name is there already
 * (ports and expiry follow the latest answer, as the set's entries do),
 * else a free one, else the one that runs out first. The slots past the
 * first are allocated with the second name; without memory for them the
 * first slot makes room, which only narrows what the address is bound to. */
static void
bind_name(struct addrmap_entry *e, struct addrmap_name *nm, uint64_t expires_ms)
{
	struct addrmap_bound *slot = NULL, *b;
	size_t i;

	for (i = 0; i < ADDRMAP_NAMES && (b = slot_at(e, i)) != NULL; i++) {
		if (b->nm != NULL && strcmp(b->nm->name, nm->name) == 0) {
			slot = b;
			break;
		}
		if (b->nm == NULL) {
			if (slot == NULL || slot->nm != NULL)
				slot = b;
		} else if (slot == NULL || (slot->nm != NULL && b->expires_ms < slot->expires_ms)) {
			slot = b;
		}
	}
	if (slot->nm != NULL && strcmp(slot->nm->name, nm->name) != 0 && e->more == NULL)
		slot = grow_names(e, slot);
	/* An answer never shortens what an earlier one of the same name
	 * granted: the kernel entry keeps the longer timeout too
	 * (nfq/entrymap.h). */
	if (slot->nm == NULL || strcmp(slot->nm->name, nm->name) != 0 ||
	    expires_ms > slot->expires_ms)
		slot->expires_ms = expires_ms;
	nm->refs++;
	addrmap_name_unref(slot->nm);
	slot->nm = nm;
}

int
addrmap_put(struct addrmap *m, int family, const uint8_t *ip, struct addrmap_name *nm,
            uint64_t expires_ms)
{
	size_t b = bucket_of(m, family, ip);
	struct addrmap_entry *e;

	for (e = m->buckets[b]; e != NULL; e = e->hnext) {
		if (same_key(e, family, ip))
			break;
	}
	if (e != NULL) {
		nm->refs++;
		addrmap_name_unref(e->nm);
		e->nm = nm;
		e->expires_ms = expires_ms;
		list_move_back(&m->order, &e->link);
		bind_name(e, nm, expires_ms);
		return 0;
	}

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	/* The entry refreshed longest ago is the most likely to have run out
	 * already; it makes room, unless a set still holds it. */
	if (m->count >= m->max) {
		struct addrmap_entry *v = victim(m);

		/* The sets hold more than the bound: it follows them, an eighth
		 * above, so that the search does not run (and fail) on every
		 * insertion. */
		if (v != NULL)
			remove_entry(m, v);
		else
			m->max = m->count + m->count / 8 + 1;
	}
	e->family = family;
	memcpy(e->ip, ip, family == AF_INET ? 4 : 16);
	e->expires_ms = expires_ms;
	e->nm = nm;
	nm->refs++;
	bind_name(e, nm, expires_ms);
	e->hnext = m->buckets[b];
	m->buckets[b] = e;
	list_push_back(&m->order, &e->link);
	m->count++;
	return 0;
}

const struct addrmap_entry *
addrmap_get(const struct addrmap *m, int family, const uint8_t *ip)
{
	const struct addrmap_entry *e;

	if (family != AF_INET && family != AF_INET6)
		return NULL;
	for (e = m->buckets[bucket_of(m, family, ip)]; e != NULL; e = e->hnext) {
		if (same_key(e, family, ip))
			return e;
	}
	return NULL;
}

bool
addrmap_bound_to(const struct addrmap_entry *e, const char *name, uint8_t proto, uint16_t port,
                 uint64_t now_ms)
{
	const struct addrmap_bound *b;
	size_t i;

	if (e == NULL)
		return false;
	for (i = 0; i < ADDRMAP_NAMES && (b = cslot_at(e, i)) != NULL; i++) {
		if (b->nm != NULL && now_ms < b->expires_ms && strcmp(b->nm->name, name) == 0 &&
		    addrmap_name_has_port(b->nm, proto, port))
			return true;
	}
	return false;
}

const char *
addrmap_names_fmt(const struct addrmap_entry *e, uint64_t now_ms, char *buf, size_t len)
{
	const struct addrmap_bound *b;
	size_t i, used = 0;
	int n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; e != NULL && i < ADDRMAP_NAMES && (b = cslot_at(e, i)) != NULL; i++) {
		if (b->nm == NULL || now_ms >= b->expires_ms)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", b->nm->name);
		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	return buf;
}

void
addrmap_prune(struct addrmap *m, uint64_t cutoff_ms)
{
	struct list_node *n, *tmp;

	/* Refresh order is not expiry order (TTLs differ), so walk them all;
	 * this runs once a minute at most. */
	list_for_each_safe(n, tmp, &m->order)
	{
		struct addrmap_entry *e = list_entry(n, struct addrmap_entry, link);

		if (e->expires_ms < cutoff_ms)
			remove_entry(m, e);
	}
}

size_t
addrmap_count(const struct addrmap *m)
{
	return m->count;
}

void
addrmap_free(struct addrmap *m)
{
	if (m == NULL)
		return;
	while (oldest(m) != NULL)
		remove_entry(m, oldest(m));
	free(m);
}
