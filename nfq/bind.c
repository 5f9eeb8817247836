/* The SNI / Host binding: first flights held and judged. Pure. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bind.h"
#include "kernel.h"
#include "quic.h"
#include "sni.h"

struct held {
	bool used;
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t start; /* sequence number of the first byte */
	uint64_t since_ms;
	size_t len;
	uint8_t *buf;        /* TCP: SNI_MAX_BYTES */
	struct quic_conn *q; /* UDP: the Initial crypto stream */
	bool bound;          /* UDP: q holds a whole hello, found bound */
};

struct bindtab {
	struct held h[BIND_MAX_FLOWS];
	size_t count;
};

struct bindtab *
bindtab_new(void)
{
	return calloc(1, sizeof(struct bindtab));
}

static void
release(struct bindtab *t, struct held *h)
{
	free(h->buf);
	free(h->q);
	memset(h, 0, sizeof(*h));
	t->count--;
}

void
bindtab_free(struct bindtab *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < BIND_MAX_FLOWS; i++)
		if (t->h[i].used)
			release(t, &t->h[i]);
	free(t);
}

size_t
bindtab_count(const struct bindtab *t)
{
	return t->count;
}

static bool
same_flow(const struct held *h, const struct flow *f)
{
	return h->used && h->family == f->family && h->sport == f->sport && h->dport == f->dport &&
	       memcmp(h->src, f->src, 16) == 0 && memcmp(h->dst, f->dst, 16) == 0;
}

static struct held *
find(struct bindtab *t, const struct flow *f)
{
	size_t i;

	for (i = 0; i < BIND_MAX_FLOWS; i++)
		if (same_flow(&t->h[i], f))
			return &t->h[i];
	return NULL;
}

/* A free slot, after dropping what is past its time; when none is free,
 * the oldest flight makes room (its next segment is then denied). */
static struct held *
slot_for(struct bindtab *t, const struct flow *f, uint64_t now_ms, bool quic)
{
	struct held *oldest = NULL, *free_slot = NULL;
	size_t i;

	for (i = 0; i < BIND_MAX_FLOWS; i++) {
		struct held *h = &t->h[i];

		if (h->used && now_ms - h->since_ms > BIND_HOLD_MS)
			release(t, h);
		if (!h->used) {
			if (free_slot == NULL)
				free_slot = h;
		} else if (oldest == NULL || h->since_ms < oldest->since_ms) {
			oldest = h;
		}
	}
	if (free_slot == NULL) {
		release(t, oldest);
		free_slot = oldest;
	}
	if (quic)
		free_slot->q = calloc(1, sizeof(struct quic_conn));
	else
		free_slot->buf = malloc(SNI_MAX_BYTES);
	if (free_slot->buf == NULL && free_slot->q == NULL)
		return NULL;
	free_slot->used = true;
	free_slot->family = f->family;
	memcpy(free_slot->src, f->src, 16);
	memcpy(free_slot->dst, f->dst, 16);
	free_slot->sport = f->sport;
	free_slot->dport = f->dport;
	free_slot->since_ms = now_ms;
	t->count++;
	return free_slot;
}

/* Judges a complete claim: name bound to this address and port? */
static void
judge(enum sni_result r, const struct sni_claim *cl, bool http, const struct flow *f,
      const struct addrmap_entry *e, uint64_t now_ms, struct verdict *out)
{
	snprintf(out->claim, sizeof(out->claim), "%s", r == SNI_OK ? cl->name : "");
	out->names[0] = '\0';
	if (r == SNI_OK && addrmap_bound_to(e, cl->name, f->proto, f->dport, now_ms)) {
		out->log = false;
		out->reason = REASON_NONE;
		return;
	}
	/* Only a line that will be written needs the address's names. */
	out->log = true;
	addrmap_names_fmt(e, now_ms, out->names, sizeof(out->names));
	switch (r) {
	case SNI_OK:
		out->reason = http ? REASON_HOST : cl->ech ? REASON_ECH : REASON_SNI;
		return;
	case SNI_NONE:
		out->reason = REASON_NO_SNI;
		return;
	case SNI_NO_HOST:
		out->reason = REASON_HOST;
		return;
	case SNI_NOT_HTTP:
		out->reason = REASON_NOT_HTTP;
		return;
	case SNI_NOT_QUIC:
		out->reason = REASON_NOT_QUIC;
		return;
	case SNI_NOT_TLS:
	case SNI_MORE:
	default:
		out->reason = http ? REASON_NOT_HTTP : REASON_NOT_TLS;
		return;
	}
}

static enum sni_result
parse(bool http, const uint8_t *p, size_t n, struct sni_claim *cl)
{
	return http ? sni_parse_http(p, n, cl) : sni_parse_tls(p, n, cl);
}

/* The outcome of the bytes, before the mode says what to do with it:
 * PASS, BIND_PART, or a judged claim (out->reason NONE: allowed). */
static enum verdict_action
classify(struct bindtab *t, const struct flow *f, const uint8_t *pl, size_t plen, uint32_t mark,
         bool http, const struct addrmap_entry *e, uint64_t now_ms, struct verdict *out)
{
	struct held *h = find(t, f);
	struct sni_claim cl;
	enum sni_result r;
	/* A SYN's data (TCP Fast Open) starts one after its sequence number. */
	uint32_t seq = f->syn ? f->seq + 1 : f->seq, off;

	/* No payload (an ACK, a FIN the kernel rules did not take): it says
	 * nothing and carries nothing to the server. */
	if (plen == 0)
		return VERDICT_PASS;
	if (h != NULL && now_ms - h->since_ms > BIND_HOLD_MS) {
		release(t, h);
		h = NULL;
		if (mark == KERNEL_MARK_BIND_MORE) {
			judge(SNI_MORE, &cl, http, f, e, now_ms, out);
			return VERDICT_REJECT;
		}
	}
	if (h != NULL) {
		off = seq - h->start;
		/* A retransmission of bytes already let through, unchanged:
		 * nothing new reaches the server. */
		if (off < h->len && plen <= h->len - off && memcmp(h->buf + off, pl, plen) == 0)
			return VERDICT_PASS;
		if (off == h->len) {
			if (plen > SNI_MAX_BYTES - h->len) {
				release(t, h);
				judge(SNI_MORE, &cl, http, f, e, now_ms, out);
				return VERDICT_REJECT;
			}
			memcpy(h->buf + h->len, pl, plen);
			h->len += plen;
			r = parse(http, h->buf, h->len, &cl);
			if (r == SNI_MORE)
				return VERDICT_BIND_PART;
			release(t, h);
			judge(r, &cl, http, f, e, now_ms, out);
			return VERDICT_REJECT;
		}
		/* Bytes out of order, or changed: deny unless this is a new
		 * connection on the same ports (its first payload, below). */
		release(t, h);
		h = NULL;
		if (mark == KERNEL_MARK_BIND_MORE) {
			judge(SNI_MORE, &cl, http, f, e, now_ms, out);
			return VERDICT_REJECT;
		}
	}
	/* A continuation the gate holds nothing for (restarted, evicted):
	 * what the server has seen is unknown. */
	if (mark == KERNEL_MARK_BIND_MORE) {
		judge(SNI_MORE, &cl, http, f, e, now_ms, out);
		return VERDICT_REJECT;
	}
	r = parse(http, pl, plen, &cl);
	if (r != SNI_MORE) {
		judge(r, &cl, http, f, e, now_ms, out);
		return VERDICT_REJECT;
	}
	if (plen > SNI_MAX_BYTES || (h = slot_for(t, f, now_ms, false)) == NULL) {
		judge(SNI_MORE, &cl, http, f, e, now_ms, out);
		return VERDICT_REJECT;
	}
	h->start = seq;
	memcpy(h->buf, pl, plen);
	h->len = plen;
	return VERDICT_BIND_PART;
}

/* A datagram of a QUIC flow: mark FIRST (nothing judged yet), MORE (a
 * hello under way) or QUIC (a long-header datagram of a judged flow, which
 * may start another connection). Every Initial that opens under its own
 * DCID's keys is a hello a server would take: judged once it is whole,
 * its bytes kept until then; datagrams that do not complete it pass (no
 * server answers half a hello). */
static enum verdict_action
quic_classify(struct bindtab *t, const struct flow *f, const uint8_t *pl, size_t plen,
              uint32_t mark, const struct addrmap_entry *e, uint64_t now_ms, struct verdict *out)
{
	bool checked = mark == KERNEL_MARK_BIND_QUIC;
	struct held *h = find(t, f);
	struct quic_seen seen;
	struct sni_claim cl;
	enum sni_result r;

	if (h != NULL && now_ms - h->since_ms > BIND_HOLD_MS) {
		release(t, h);
		h = NULL;
	}
	if (h == NULL) {
		if ((h = slot_for(t, f, now_ms, true)) == NULL) {
			judge(SNI_NOT_QUIC, &cl, false, f, e, now_ms, out);
			return VERDICT_REJECT;
		}
	}
	/* A new connection whose hello does not start here continues one
	 * the gate holds nothing of (restarted, evicted, past its time):
	 * what the server has of it is unknown. */
	if (quic_datagram(h->q, pl, plen, &seen) != QUIC_OK || (seen.fresh && !seen.from_zero)) {
		release(t, h);
		judge(SNI_NOT_QUIC, &cl, false, f, e, now_ms, out);
		return VERDICT_REJECT;
	}
	if (seen.fresh) {
		h->since_ms = now_ms;
		h->bound = false;
	}
	if (seen.crypto == 0) {
		bool bound = h->q->used && h->bound;

		if (!h->q->used)
			release(t, h);
		/* Nothing of a hello: on a judged flow, the packets of its
		 * connections; before, only Initials of the hello under way
		 * that carry nothing else (an ACK). A flow whose hello was
		 * found bound can still carry the PENDING or PARTIAL mark:
		 * the datagrams of a hello in two leave before the first
		 * verdict, each with a conntrack entry of its own, and the
		 * first one's mark wins when they are merged. */
		if (!checked && bound)
			return VERDICT_BIND_OK;
		if (checked || (mark == KERNEL_MARK_BIND_MORE && seen.initials > 0 &&
		                !seen.opaque && !seen.short_hdr))
			return VERDICT_PASS;
		judge(SNI_NOT_QUIC, &cl, false, f, e, now_ms, out);
		return VERDICT_REJECT;
	}
	r = quic_conn_hello(h->q, &cl);
	if (r == SNI_MORE)
		return checked ? VERDICT_PASS : VERDICT_BIND_PART;
	/* Judged again each time it comes (a retransmission): bytes that
	 * differ from what was held were refused above. */
	judge(r, &cl, false, f, e, now_ms, out);
	if (out->reason != REASON_NONE)
		release(t, h);
	else
		h->bound = true;
	return VERDICT_REJECT;
}

void
bind_decide(struct bindtab *t, const struct flow *f, const uint8_t *pkt, size_t len, uint32_t mark,
            const struct addrmap_entry *e, const struct conf *c, uint64_t now_ms,
            struct verdict *out)
{
	bool http;
	enum verdict_action a;

	memset(out, 0, sizeof(*out));
	out->bind = true;
	out->name = e != NULL ? e->nm->name : NULL;
	/* Only TCP and UDP with a whole header reach here by the rules;
	 * anything else is denied as what it claims to be. */
	if (f == NULL || !(f->has_tcp || f->has_udp) || f->payload_off > len ||
	    len - f->payload_off < f->payload_len) {
		out->reason = REASON_MALFORMED;
		out->log = true;
		out->action = VERDICT_REJECT;
		return;
	}
	http = !portlist_has(&c->tls_ports, IPPROTO_TCP, f->dport) &&
	       portlist_has(&c->http_ports, IPPROTO_TCP, f->dport);
	out->http = http && f->has_tcp;
	if (f->has_udp)
		a = quic_classify(t, f, pkt + f->payload_off, f->payload_len, mark, e, now_ms, out);
	else
		a = classify(t, f, pkt + f->payload_off, f->payload_len, mark, http, e, now_ms,
		             out);
	if (a != VERDICT_REJECT) {
		out->action = a;
		return;
	}
	if (out->reason == REASON_NONE) {
		out->action = VERDICT_BIND_OK;
		return;
	}
	/* Judged and not bound. */
	if (c->mode == MODE_AUDIT || c->bind == BIND_AUDIT) {
		out->audit = true;
		out->action = VERDICT_BIND_OK;
		return;
	}
	out->action = c->on_deny == ON_DENY_DROP ? VERDICT_DROP : VERDICT_REJECT;
}
