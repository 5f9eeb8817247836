/*
 * Does the kernel surely still hold the addresses of this answer? The one
 * owner of that fact in the resolver. A cache hit skips the gate only while
 * it does: the gate acknowledged the answer's addresses with more than half
 * of their timeout still to run, and they outlive the TTL the client is
 * about to get.
 *
 * What an acknowledgement was worth is taken back, for every answer at
 * once (a new generation), whenever the sets may have lost entries: a
 * reload (ports and TTL limits may change, and the gate reads the file on
 * its own), a failed ALLOW (a refusal may have taken entries back out), a
 * lost or new connection to the gate (a new gate, new sets), and an ACK
 * whose removals counter differs from the previous one on the connection
 * (the gate took entries out before their timeout: an eviction).
 *
 * Pure: times are CLOCK_MONOTONIC milliseconds from the caller. Each cache
 * entry carries a struct holds_mark (zeroed: nothing held).
 */
#ifndef NAMEGATE_HOLDS_H
#define NAMEGATE_HOLDS_H

#include <stdbool.h>
#include <stdint.h>

struct holds {
	uint32_t gen; /* 0 is never valid */
	/* The removals counter of the last ACK on this connection. */
	bool have_removals;
	uint32_t removals;
};

/* Taken when an ALLOW goes out; credited when its ACK comes back. */
struct holds_ticket {
	uint32_t gen;
	uint64_t sent_ms;
};

/* What the gate last acknowledged for one answer. */
struct holds_mark {
	uint32_t gen;
	uint64_t half_ms, until_ms;
};

void holds_init(struct holds *h);
/* Nothing acknowledged so far counts any more (reload, failed ALLOW, a
 * connection to the gate made). */
void holds_forget(struct holds *h);
/* The connection to the gate is gone: forget, and the next ACK's removals
 * counter is the new connection's first. */
void holds_gate_lost(struct holds *h);
/* Every ACK's removals counter, before the ACK is credited: a change
 * forgets (the ACK's own batch may have been the one that lost entries). */
void holds_ack_removals(struct holds *h, uint32_t removals);

struct holds_ticket holds_ticket(const struct holds *h, uint64_t now_ms);
/* The addresses of m's answer were allowed for ttl seconds with ticket t
 * and acknowledged; ignored when the generation moved on meanwhile. */
void holds_credit(const struct holds *h, struct holds_mark *m, const struct holds_ticket *t,
                  uint32_t ttl);
/* May a reply that hands out ttl seconds of m's addresses skip the gate? */
bool holds_fresh(const struct holds *h, const struct holds_mark *m, uint64_t now_ms, uint32_t ttl);

#endif
