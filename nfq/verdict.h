/*
 * The gate's decision for a packet that missed every accept rule, as a pure
 * function of the packet, its mark, what the address map knows and the
 * config. In enforce mode the answer is never "accept": the kernel sets are
 * the only way in.
 */
#ifndef NAMEGATE_VERDICT_H
#define NAMEGATE_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "addrmap.h"
#include "conf.h"
#include "packet.h"

/* Packet marks shared with the rules (docs/internals.md). */
#define VERDICT_MARK_DNS 0x4e470001u  /* set by NAMEGATE-DNS before queueing */
#define VERDICT_MARK_DENY 0x4e470002u /* set by the gate: the rules reject it */
#define VERDICT_MARK_INBOUND 0x4e470003u /* set by NAMEGATE-IN: a new inbound flow */

enum verdict_action {
	VERDICT_ACCEPT, /* audit mode only */
	VERDICT_DROP,
	VERDICT_REJECT, /* NF_REPEAT with VERDICT_MARK_DENY */
};

enum verdict_reason {
	REASON_NONE, /* not logged: a packet that already carried the deny mark */
	REASON_DNS,
	REASON_PORT,
	REASON_EXPIRED,
	REASON_UNRESOLVED,
	REASON_PROTO,
	REASON_MALFORMED, /* the packet could not be parsed */
	REASON_INBOUND,   /* a new inbound flow to a port [gate] inbound does not list */
};

struct verdict {
	enum verdict_action action;
	enum verdict_reason reason;
	bool log;         /* write a flow.deny / flow.audit line */
	bool audit;       /* the line is flow.audit */
	const char *name; /* the name the address was handed out for, or NULL */
};

/* f is NULL when the packet could not be parsed. e is the address map's
 * entry for f's destination, or NULL. now_ms is CLOCK_MONOTONIC. */
void verdict_decide(const struct flow *f, uint32_t mark, const struct addrmap_entry *e,
                    enum gate_mode mode, enum on_deny on_deny, uint64_t now_ms,
                    struct verdict *out);

const char *verdict_reason_name(enum verdict_reason r);

#endif
