/* What the kernel surely still holds (holds.h). */
#include "holds.h"

void
holds_init(struct holds *h)
{
	h->gen = 1;
	h->have_removals = false;
	h->removals = 0;
}

void
holds_forget(struct holds *h)
{
	/* Marks compare their gen with this; none is valid when 0. */
	if (++h->gen == 0)
		h->gen = 1;
}

void
holds_gate_lost(struct holds *h)
{
	holds_forget(h);
	h->have_removals = false;
}

void
holds_ack_removals(struct holds *h, uint32_t removals)
{
	if (h->have_removals && removals != h->removals)
		holds_forget(h);
	h->have_removals = true;
	h->removals = removals;
}

struct holds_ticket
holds_ticket(const struct holds *h, uint64_t now_ms)
{
	struct holds_ticket t = {.gen = h->gen, .sent_ms = now_ms};

	return t;
}

void
holds_credit(const struct holds *h, struct holds_mark *m, const struct holds_ticket *t,
             uint32_t ttl)
{
	if (t->gen != h->gen || ttl == 0)
		return;
	/* The gate added the entries after we sent the request, so they run
	 * out no earlier than sent_ms + ttl (the gate clamps with the same
	 * config; a reload forgets). */
	m->gen = t->gen;
	m->until_ms = t->sent_ms + (uint64_t)ttl * 1000;
	m->half_ms = t->sent_ms + (uint64_t)ttl * 500;
}

bool
holds_fresh(const struct holds *h, const struct holds_mark *m, uint64_t now_ms, uint32_t ttl)
{
	if (m->gen != h->gen)
		return false;
	/* More than half of the timeout left, and the set entries outlive
	 * the TTL the client is about to get. TTLs are whole seconds and
	 * aged by whole seconds, so the answer may claim up to a second more
	 * than the exact remainder, as it does after a fresh ALLOW. */
	return now_ms < m->half_ms && now_ms + (uint64_t)ttl * 1000 <= m->until_ms + 1000;
}
