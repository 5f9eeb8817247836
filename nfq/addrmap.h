/*
 * The address → names map: every allowlisted name an address was handed out
 * for (at most ADDRMAP_NAMES per address), each with its ports and when that
 * answer runs out, and which name was handed out last. The last name makes
 * the deny log readable ("port" vs "expired" vs "unresolved"); the set of
 * names decides the SNI / Host binding (nfq/bind.h): a connection to an
 * address may name only what that address was handed out for.
 *
 * Bounded: when full, the entry refreshed longest ago that no set entry
 * holds any more is evicted (addrmap_set_held); an address still in a set
 * keeps its names, so the map may outgrow its bound by what the sets hold,
 * which max_per_line bounds. Records are compact (a name keeps exactly its
 * ports; an address keeps room for one name inline and allocates the other
 * ADDRMAP_NAMES - 1 slots only when a second name comes), since an agent
 * under a wildcard line makes one name record and one address per fresh
 * name. Pure data structure, no I/O; times are CLOCK_MONOTONIC milliseconds
 * from the caller.
 */
#ifndef NAMEGATE_ADDRMAP_H
#define NAMEGATE_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "list.h"

/* Addresses kept beyond those the sets hold: ~150 bytes each (a fresh
 * name and its address), so ~10 MiB at most for the deny log's history. */
#define ADDRMAP_DEFAULT_MAX 65536
/* Full: the oldest this many are asked whether a set still holds them. */
#define ADDRMAP_EVICT_SCAN 64
/* Names one address keeps, at most. A shared CDN address may be handed out
 * for many; past this the one that runs out first makes room, so a flood
 * of names sharing an address can only make connections to it fail. */
#define ADDRMAP_NAMES 16

/* One allowed name, shared (reference-counted) by all its addresses. */
struct addrmap_name {
	unsigned refs;
	uint8_t nports;  /* its ports follow the name, aligned (addrmap_name_has_port) */
	uint8_t namelen; /* without the NUL */
	char name[];     /* as long as it needs: there is one per ALLOW */
};

struct addrmap_bound {
	struct addrmap_name *nm; /* NULL: slot unused */
	uint64_t expires_ms;
};

struct addrmap_entry {
	int family;
	uint8_t ip[16];
	uint64_t expires_ms;         /* of the last put */
	struct addrmap_name *nm;     /* the name of the last put */
	struct addrmap_bound name0;  /* every name, by name: the first */
	struct addrmap_bound *more;  /* NULL, or ADDRMAP_NAMES - 1 more */
	struct addrmap_entry *hnext; /* hash chain */
	struct list_node link;       /* refresh order */
};

struct addrmap;

struct addrmap *addrmap_new(size_t max_entries, uint64_t seed);
void addrmap_free(struct addrmap *m);

/* A name record with one reference held by the caller. NULL when out of
 * memory. */
struct addrmap_name *addrmap_name_new(const char *name, const struct portlist *ports);
void addrmap_name_unref(struct addrmap_name *nm);
/* Is proto/port one of nm's ports? */
bool addrmap_name_has_port(const struct addrmap_name *nm, uint8_t proto, uint16_t port);

/* Does the kernel still hold the set entry (family, ip, proto, port)? An
 * address is held while an entry on one of its names' ports is: the set
 * entries of an ALLOW carry the ports its name record was made with. Asked
 * before evicting an address to make room; without it (NULL) nothing is
 * held. */
typedef bool addrmap_live_fn(void *arg, int family, const uint8_t *ip, uint8_t proto,
                             uint16_t port);
void addrmap_set_held(struct addrmap *m, addrmap_live_fn *live, void *arg);
bool addrmap_held(const struct addrmap *m, const struct addrmap_entry *e);

/* Insert or refresh (family, ip) → nm until expires_ms. Returns 0, or -1
 * when out of memory (the map is then unchanged). */
int addrmap_put(struct addrmap *m, int family, const uint8_t *ip, struct addrmap_name *nm,
                uint64_t expires_ms);
const struct addrmap_entry *addrmap_get(const struct addrmap *m, int family, const uint8_t *ip);
/* Was the address of e handed out for name (lower-case, no trailing dot),
 * with proto/port among that name's ports, valid at now_ms? */
bool addrmap_bound_to(const struct addrmap_entry *e, const char *name, uint8_t proto, uint16_t port,
                      uint64_t now_ms);
/* The names of e still valid at now_ms, space-separated, into buf. */
const char *addrmap_names_fmt(const struct addrmap_entry *e, uint64_t now_ms, char *buf,
                              size_t len);
/* Forget entries that ran out before cutoff_ms. */
void addrmap_prune(struct addrmap *m, uint64_t cutoff_ms);
size_t addrmap_count(const struct addrmap *m);

#endif
