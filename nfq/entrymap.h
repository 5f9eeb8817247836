/*
 * The gate's record of the entries it put into namegate4/6: for each
 * (address, proto, port) when the timeout it gave the kernel runs out, and
 * which allowlist lines hold it. It answers two questions:
 *
 * - What timeout must an ADD carry so that it never shortens an entry?
 *   Another name on the same address may have been handed out for longer,
 *   and the resolver relies on the kernel holding it that long
 *   (entrymap_add returns max(what is left, the new TTL)).
 * - Which entries does a line over its bound (max_per_line) give up?
 *   Its oldest, counted over live entries; an entry shared by two lines
 *   counts for each and leaves the kernel only when no line holds it any
 *   more (entrymap_trim). Entries added in the current batch are never
 *   given up: their ACKs are about to tell clients they are there.
 *
 * Every entry that leaves the kernel before its timeout (a trim, a
 * request taken back, the sets emptied) moves entrymap_removals on; the
 * ACKs carry that counter, so the resolver stops trusting earlier ACKs.
 *
 * Pure data structure, no I/O; times are CLOCK_MONOTONIC ms from the caller.
 */
#ifndef NAMEGATE_ENTRYMAP_H
#define NAMEGATE_ENTRYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipset.h"

struct entrymap;

struct entrymap *entrymap_new(uint64_t seed);
void entrymap_free(struct entrymap *m);

/* The sets were emptied: forget every entry. */
void entrymap_clear(struct entrymap *m);

/* entrymap_add: the kernel holds the entry longer than asked; send nothing. */
#define ENTRYMAP_HELD UINT32_MAX

/*
 * e is allowed now for ttl seconds on behalf of lines[0..n) (indices into
 * the config's domain lines), in batch (a number the caller moves on for
 * every batch). Records it as the newest entry of each of those lines and
 * returns what to send: ttl, or ENTRYMAP_HELD when the kernel holds e for
 * longer than that already. Then the entry is left alone, since an ADD
 * rewrites the timeout in whole seconds: sending what is left, rounded up,
 * would let frequent short ALLOWs keep it alive for ever. Returns 0 when
 * out of memory; the caller then takes the request back.
 */
uint32_t entrymap_add(struct entrymap *m, const struct ipset_entry *e, uint32_t ttl,
                      const uint32_t *lines, size_t n, uint64_t now_ms, uint64_t batch);

/* e was deleted from the kernel (a request taken back). */
void entrymap_forget(struct entrymap *m, const struct ipset_entry *e);

/*
 * Brings line down to at most max live entries, oldest first, never one
 * added in batch. Entries that ran out are dropped without a word. An
 * entry that another line still holds only stops counting for this one;
 * one that no line holds any more leaves the map and is copied to out, for
 * the caller to delete from the kernel. Stops when outmax are written;
 * returns how many were (call again while it returns outmax).
 */
size_t entrymap_trim(struct entrymap *m, uint32_t line, size_t max, uint64_t now_ms, uint64_t batch,
                     struct ipset_entry *out, size_t outmax);

/* Does the kernel hold (family, ip, proto, port) at now_ms, by what was
 * sent? */
bool entrymap_live(const struct entrymap *m, int family, const uint8_t *ip, uint8_t proto,
                   uint16_t port, uint64_t now_ms);

/* Live and expired-but-not-yet-pruned entries counted for line. */
size_t entrymap_line_count(const struct entrymap *m, uint32_t line);
size_t entrymap_count(const struct entrymap *m);

/* Drops entries that ran out before now_ms. */
void entrymap_prune(struct entrymap *m, uint64_t now_ms);

/*
 * A reload that kept every line (conf_allow_narrowed said no): old line i
 * is now line remap[i] (n_old of them), of n_new lines. Returns 0, or -1
 * when out of memory (the map is then cleared: the caller must empty the
 * sets, since it no longer knows what they hold).
 */
int entrymap_relines(struct entrymap *m, const uint32_t *remap, size_t n_old, size_t n_new);

/* Moves on whenever an entry left the kernel before its timeout. */
uint32_t entrymap_removals(const struct entrymap *m);

#endif
