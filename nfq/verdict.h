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

enum verdict_action {
	VERDICT_ACCEPT, /* audit mode only */
	VERDICT_DROP,
	VERDICT_REJECT,    /* NF_REPEAT with KERNEL_MARK_DENY */
	VERDICT_BIND_OK,   /* NF_REPEAT with KERNEL_MARK_BIND_OK: checked */
	VERDICT_BIND_PART, /* NF_REPEAT with KERNEL_MARK_BIND_PART: more to come */
	VERDICT_PASS,      /* NF_ACCEPT, nothing changes (no payload, a retransmission) */
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
	REASON_SNI,       /* TLS server_name not handed out for this address and port */
	REASON_NO_SNI,    /* a ClientHello without server_name */
	REASON_NOT_TLS,   /* no well-formed ClientHello in time on a TLS port */
	REASON_HOST,      /* HTTP Host not handed out for this address and port, or none */
	REASON_ECH,       /* as REASON_SNI, the hello carrying encrypted_client_hello */
	REASON_NOT_HTTP,  /* no well-formed HTTP/1 request in time on an HTTP port */
	REASON_NOT_QUIC,  /* no readable QUIC Initial on a QUIC port (nfq/quic.h) */
};

struct verdict {
	enum verdict_action action;
	enum verdict_reason reason;
	bool log;         /* write a flow.deny / flow.audit line */
	bool audit;       /* the line is flow.audit */
	const char *name; /* the name the address was handed out for, or NULL */
	/* The binding's reasons: the claimed name ("" if none) and whether it
	 * came from a Host header, and the names the address was handed out
	 * for. */
	bool bind, http;
	char claim[NAME_MAX_LEN + 2];
	char names[512];
};

/* f is NULL when the packet could not be parsed. e is the address map's
 * entry for f's destination, or NULL. now_ms is CLOCK_MONOTONIC. */
void verdict_decide(const struct flow *f, uint32_t mark, const struct addrmap_entry *e,
                    enum gate_mode mode, enum on_deny on_deny, uint64_t now_ms,
                    struct verdict *out);

const char *verdict_reason_name(enum verdict_reason r);

#endif
