/* Verdicts for queued packets: pure decision logic. */
#include <netinet/in.h>
#include <string.h>

#include "kernel.h"
#include "verdict.h"

static enum verdict_reason
classify(const struct flow *f, uint32_t mark, const struct addrmap_entry *e, uint64_t now_ms,
         const char **name)
{
	*name = NULL;
	if (f == NULL)
		return REASON_MALFORMED;
	if (mark == KERNEL_MARK_INBOUND)
		return REASON_INBOUND;
	/* NAMEGATE-DNS marks DNS that is not the resolver talking upstream or a
	 * client talking to the resolver; whatever the address, it is DNS that
	 * bypasses the allowlist. */
	if (mark == KERNEL_MARK_DNS)
		return REASON_DNS;
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return REASON_PROTO;
	if (e == NULL)
		return REASON_UNRESOLVED;
	*name = e->nm->name;
	if (now_ms >= e->expires_ms)
		return REASON_EXPIRED;
	if (f->has_ports && !addrmap_name_has_port(e->nm, f->proto, f->dport))
		return REASON_PORT;
	/* Handed out, still fresh by our clock, and the port is allowed, yet
	 * the kernel set missed it: the kernel's timeout is the authority, so
	 * its entry ran out a moment before ours did. */
	return REASON_EXPIRED;
}

void
verdict_decide(const struct flow *f, uint32_t mark, const struct addrmap_entry *e,
               enum gate_mode mode, enum on_deny on_deny, uint64_t now_ms, struct verdict *out)
{
	memset(out, 0, sizeof(*out));

	/* The gate marked this packet and repeated it so the rules would
	 * reject it; it is back here only if they did not. Dropping it is the
	 * one answer that cannot loop. */
	if (mark == KERNEL_MARK_DENY) {
		out->action = VERDICT_DROP;
		out->reason = REASON_NONE;
		return;
	}

	out->reason = classify(f, mark, e, now_ms, &out->name);
	out->log = true;

	/* An unparseable packet is denied even in audit mode: we cannot say
	 * what it is, so we do not let it out. */
	if (mode == MODE_AUDIT && out->reason != REASON_MALFORMED) {
		out->action = VERDICT_ACCEPT;
		out->audit = true;
		return;
	}
	/* Inbound is dropped, never rejected: the reject rules live in the
	 * output chain, a repeated inbound packet would come back here, and a
	 * scanner learns nothing from silence. */
	if (mark == KERNEL_MARK_INBOUND) {
		out->action = VERDICT_DROP;
		return;
	}
	out->action = on_deny == ON_DENY_DROP ? VERDICT_DROP : VERDICT_REJECT;
}

const char *
verdict_reason_name(enum verdict_reason r)
{
	switch (r) {
	case REASON_DNS:
		return "dns";
	case REASON_PORT:
		return "port";
	case REASON_EXPIRED:
		return "expired";
	case REASON_UNRESOLVED:
		return "unresolved";
	case REASON_PROTO:
		return "proto";
	case REASON_MALFORMED:
		return "malformed";
	case REASON_INBOUND:
		return "inbound";
	case REASON_SNI:
		return "sni";
	case REASON_NO_SNI:
		return "no-sni";
	case REASON_NOT_TLS:
		return "not-tls";
	case REASON_HOST:
		return "host";
	case REASON_ECH:
		return "ech";
	case REASON_NOT_HTTP:
		return "not-http";
	case REASON_NOT_QUIC:
		return "not-quic";
	case REASON_NONE:
		break;
	}
	return "none";
}
