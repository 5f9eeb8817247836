/*
 * The SNI / Host binding: a new TCP flow the sets admitted to a port of
 * [gate] tls_ports or http_ports is accepted in the kernel up to its first
 * client payload (connmark KERNEL_CT_PENDING); its payload packets come to
 * the gate, which reads the name the first flight claims (nfq/sni.h) and
 * lets the connection on only if the resolver handed that name out for the
 * destination address, on this port, and the answer is still valid
 * (addrmap_bound_to).
 *
 * A first flight over several segments: the segments that do not complete
 * it are let through (a server cannot answer half a ClientHello or a
 * request without its blank line) and their bytes kept here, in sequence
 * order, at most SNI_MAX_BYTES and BIND_HOLD_MS; the segment that
 * completes it is judged. A gap, a retransmission that differs from what
 * was let through, or a continuation the gate holds no bytes for (it was
 * restarted) is denied.
 *
 * Pure: no I/O, times are CLOCK_MONOTONIC milliseconds from the caller.
 */
#ifndef NAMEGATE_BIND_H
#define NAMEGATE_BIND_H

#include <stdint.h>

#include "addrmap.h"
#include "conf.h"
#include "packet.h"
#include "verdict.h"

#define BIND_HOLD_MS 5000
#define BIND_MAX_FLOWS 256 /* first flights under way at once; beyond: the oldest is denied */

struct bindtab;

struct bindtab *bindtab_new(void);
void bindtab_free(struct bindtab *t);
size_t bindtab_count(const struct bindtab *t);

/* A queued packet of a pending connection (mark KERNEL_MARK_BIND_FIRST or
 * _MORE). pkt/len is the packet as parse gave f; e the address map's entry
 * for its destination or NULL. Fills out (out->log says whether to log). */
void bind_decide(struct bindtab *t, const struct flow *f, const uint8_t *pkt, size_t len,
                 uint32_t mark, const struct addrmap_entry *e, const struct conf *c,
                 uint64_t now_ms, struct verdict *out);

#endif
