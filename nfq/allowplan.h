/*
 * What the gate does with one ALLOW request, as a pure function of the
 * message and the gate's config: look the name up, clamp the TTL, and
 * expand every address into the (address, proto, port) entries that go into
 * the kernel sets. gatesrv.c does the I/O around it; the fuzzer and the unit
 * tests drive it directly.
 */
#ifndef NAMEGATE_ALLOWPLAN_H
#define NAMEGATE_ALLOWPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "gateipc.h"
#include "ipset.h"

#define ALLOWPLAN_MAX_ENTRIES (GATEIPC_MAX_ADDRS * CONF_MAX_PORTS)

struct allowplan {
	uint32_t ttl;                 /* clamped to [min_ttl, max_ttl], never 0 */
	struct portlist ports;        /* the name's ports, from the gate's own config */
	struct portlist inward_ports; /* those of its "inward" lines (inward addresses) */
	/* GATEIPC_ERR_NOT_ALLOWED for a listed name: the inward address that
	 * no "inward" line of the name allows, and why it is inward. */
	const struct gateipc_addr *inward;
	const char *why;
	size_t n4, n6;
	struct ipset_entry v4[ALLOWPLAN_MAX_ENTRIES];
	struct ipset_entry v6[ALLOWPLAN_MAX_ENTRIES];
};

/* m must have passed gateipc_allow_check. Returns GATEIPC_OK with *p
 * filled in, or GATEIPC_ERR_NOT_ALLOWED (and no entries) when the name is
 * not on c's allowlist, or when one of its addresses is inward (inward.h,
 * c->local included) and no "inward" line of the name allows it (p->inward
 * says which). An inward address that is allowed gets only the ports of the
 * name's "inward" lines. */
enum gateipc_status allowplan_make(const struct conf *c, const struct gateipc_allow *m,
                                   struct allowplan *p);

/* The domain lines of c that name (normalized) matches, as indices into
 * c->domains, in order; out has room for c->ndomains. Returns how many. */
size_t allowplan_lines(const struct conf *c, const char *name, uint32_t *out);

/* Of lines[0..n) (from allowplan_lines), those whose ports include e's:
 * the lines that hold e and count it against their bound. out has room for
 * n. Returns how many. */
size_t allowplan_entry_lines(const struct conf *c, const uint32_t *lines, size_t n,
                             const struct ipset_entry *e, uint32_t *out);

#endif
