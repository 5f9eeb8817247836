/*
 * The address → name map: which allowlisted name an address was last handed
 * out for, with that name's ports and when the entry runs out. It only makes
 * the deny log readable ("port" vs "expired" vs "unresolved", and the name);
 * the kernel set decides what is accepted.
 *
 * Bounded: when full, the entry refreshed longest ago is evicted. Pure data
 * structure, no I/O; times are CLOCK_MONOTONIC milliseconds from the caller.
 */
#ifndef NAMEGATE_ADDRMAP_H
#define NAMEGATE_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define ADDRMAP_DEFAULT_MAX 262144

/* One allowed name, shared (reference-counted) by all its addresses. */
struct addrmap_name {
	unsigned refs;
	struct portlist ports;
	char name[]; /* as long as it needs: there is one per ALLOW */
};

struct addrmap_entry {
	int family;
	uint8_t ip[16];
	uint64_t expires_ms;
	struct addrmap_name *nm;
	struct addrmap_entry *hnext;         /* hash chain */
	struct addrmap_entry *older, *newer; /* refresh order */
};

struct addrmap;

struct addrmap *addrmap_new(size_t max_entries, uint64_t seed);
void addrmap_free(struct addrmap *m);

/* A name record with one reference held by the caller. NULL when out of
 * memory. */
struct addrmap_name *addrmap_name_new(const char *name, const struct portlist *ports);
void addrmap_name_unref(struct addrmap_name *nm);

/* Insert or refresh (family, ip) → nm until expires_ms. Returns 0, or -1
 * when out of memory (the map is then unchanged). */
int addrmap_put(struct addrmap *m, int family, const uint8_t *ip, struct addrmap_name *nm,
                uint64_t expires_ms);
const struct addrmap_entry *addrmap_get(const struct addrmap *m, int family, const uint8_t *ip);
/* Forget entries that ran out before cutoff_ms. */
void addrmap_prune(struct addrmap *m, uint64_t cutoff_ms);
size_t addrmap_count(const struct addrmap *m);

#endif
