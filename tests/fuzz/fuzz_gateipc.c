/*
 * The gate's ALLOW requests: bytes from the gate socket → the message
 * check → the entries that would go into the kernel sets (everything the
 * gate does before the netlink call).
 *
 * Invariants: only messages that pass the check reach the plan; only names
 * on the gate's own allowlist get entries; every entry is one of the
 * message's addresses with one of the name's configured ports; an inward
 * address (common/inward.h, the config's own networks included) refuses the
 * whole request unless the name has an "inward" line, and then gets only
 * that line's ports; the timeout is within [min_ttl, max_ttl] and never 0
 * (0 would mean "forever").
 * Every entry is held by at least one line; through the entry map (kept
 * across inputs) an ADD is sent with the plan's TTL or not at all, a
 * shorter TTL right after is never sent, and trimming a line never gives
 * up an entry this message just added.
 * A WHO request or reply that passes its check has exactly its size, a
 * known protocol and family, non-zero ports and zero bytes past the
 * addresses; a reply's strings are terminated and it names a pid only
 * with why FOUND. No input passes two checks.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "allowplan.h"
#include "entrymap.h"
#include "fuzz.h"
#include "inward.h"

#define TRIM_TO 4

static struct conf conf;
static struct allowplan plan;
static struct entrymap *emap;
static uint64_t batch;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_conf("[resolver]\n"
	          "listen = 127.0.0.1:53\n"
	          "upstream = 192.0.2.53\n"
	          "min_ttl = 1\n"
	          "max_ttl = 600\n"
	          "[log]\n"
	          "file =\n"
	          "[allow]\n"
	          "domain = www.lab.test\n"
	          "domain = *.wild.test tcp/8443\n"
	          "domain = .apex.test tcp/22 udp/443\n"
	          "domain = x.apex.test tcp/2222 inward\n",
	          &conf);
	{
		static const uint8_t v4[4] = {192, 0, 2, 128};

		FUZZ_CHECK(inward_local_add(&conf.local, AF_INET, v4, 25) == 0, "inward_local_add");
	}
	emap = entrymap_new(1);
	FUZZ_CHECK(emap != NULL, "entrymap_new");
	return 0;
}

static bool
msg_has(const struct gateipc_allow *m, const struct ipset_entry *e)
{
	size_t iplen = e->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < m->naddrs; i++)
		if (m->addrs[i].family == e->family && memcmp(m->addrs[i].ip, e->ip, iplen) == 0)
			return true;
	return false;
}

static bool
is_inward(int family, const uint8_t *ip)
{
	return inward_why(&conf.local, family, ip) != NULL;
}

/* Every address gets the name's ports, an inward one only those of its
 * "inward" lines (iports). */
static void
check_entries(const struct gateipc_allow *m, const struct allowplan *p,
              const struct portlist *iports, const struct ipset_entry *v, size_t n, int family)
{
	size_t want = 0;

	for (size_t i = 0; i < m->naddrs; i++)
		if (m->addrs[i].family == family)
			want += is_inward(family, m->addrs[i].ip) ? iports->n : p->ports.n;
	FUZZ_CHECK(n == want, "%zu entries, want %zu", n, want);
	for (size_t i = 0; i < n; i++) {
		const struct portlist *pl = is_inward(family, v[i].ip) ? iports : &p->ports;

		FUZZ_CHECK(v[i].family == family && v[i].cidr == 0, "entry family");
		FUZZ_CHECK(msg_has(m, &v[i]), "an entry for an address the message did not carry");
		FUZZ_CHECK(portlist_has(pl, v[i].proto, v[i].port),
		           "an entry for a port the name does not have (for that address)");
	}
}

static void
add_to_map(struct ipset_entry *v, size_t n, const uint32_t *lines, size_t nl, uint64_t now)
{
	uint32_t el[16];

	for (size_t i = 0; i < n; i++) {
		size_t k = allowplan_entry_lines(&conf, lines, nl, &v[i], el);
		uint32_t t;

		FUZZ_CHECK(k >= 1, "an entry no line holds");
		t = entrymap_add(emap, &v[i], plan.ttl, el, k, now, batch);
		FUZZ_CHECK(t == plan.ttl || t == ENTRYMAP_HELD, "sent %u for ttl %u", t, plan.ttl);
		if (plan.ttl > 1)
			FUZZ_CHECK(entrymap_add(emap, &v[i], plan.ttl - 1, el, k, now, batch) ==
			               ENTRYMAP_HELD,
			           "a shorter TTL right after was sent");
	}
}

static void
trim_map(const struct gateipc_allow *m, uint64_t now)
{
	for (uint32_t l = 0; l < conf.ndomains; l++) {
		struct ipset_entry out[8];
		size_t got;

		do {
			got = entrymap_trim(emap, l, TRIM_TO, now, batch, out, 8);
			for (size_t j = 0; j < got; j++)
				FUZZ_CHECK(!(msg_has(m, &out[j]) &&
				             portlist_has(&plan.ports, out[j].proto, out[j].port)),
				           "trimmed an entry the message just added");
		} while (got == 8);
	}
}

static void
check_who(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	int passed = (gateipc_ack_check(data, size, &err) == 0) +
	             (gateipc_who_check(data, size, &err) == 0) +
	             (gateipc_who_reply_check(data, size, &err) == 0) +
	             (gateipc_allow_check(data, size, &err) == 0);

	FUZZ_CHECK(passed <= 1, "one input passed %d message checks", passed);
	if (gateipc_who_check(data, size, &err) == 0) {
		struct gateipc_who w;
		size_t alen;

		FUZZ_CHECK(size == sizeof(w), "a WHO of %zu bytes", size);
		memcpy(&w, data, sizeof(w));
		alen = w.family == AF_INET ? 4 : 16;
		FUZZ_CHECK(w.proto == IPPROTO_UDP || w.proto == IPPROTO_TCP, "proto %u", w.proto);
		FUZZ_CHECK(w.family == AF_INET || w.family == AF_INET6, "family %u", w.family);
		FUZZ_CHECK(w.cport != 0 && w.lport != 0 && w.pad == 0, "ports or padding");
		for (size_t i = alen; i < 16; i++)
			FUZZ_CHECK(w.client[i] == 0 && w.listen[i] == 0,
			           "bytes past an IPv4 address");
	}
	if (gateipc_who_reply_check(data, size, &err) == 0) {
		struct gateipc_who_reply r;

		FUZZ_CHECK(size == sizeof(r), "a WHO_REPLY of %zu bytes", size);
		memcpy(&r, data, sizeof(r));
		FUZZ_CHECK(r.why <= GATEIPC_WHY_NONE, "why %u", r.why);
		FUZZ_CHECK(memchr(r.comm, '\0', sizeof(r.comm)) &&
		               memchr(r.exe, '\0', sizeof(r.exe)),
		           "an unterminated string passed");
		FUZZ_CHECK(r.why == GATEIPC_WHY_FOUND ? r.pid > 0
		                                      : r.pid == -1 && !r.comm[0] && !r.exe[0],
		           "a pid or names without FOUND");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gateipc_allow *m;
	struct portlist ports, iports;
	const char *err = NULL;
	enum gateipc_status st;
	bool inward_ok, has_inward = false;

	check_who(data, size);
	if (gateipc_allow_check(data, size, &err) != 0) {
		FUZZ_CHECK(err != NULL, "refused without a reason");
		return 0;
	}
	/* The gate receives into an aligned buffer; so do we. */
	m = calloc(1, sizeof(*m));
	FUZZ_CHECK(m != NULL, "malloc");
	FUZZ_CHECK(size <= sizeof(*m), "accepted %zu bytes", size);
	memcpy(m, data, size);
	FUZZ_CHECK(size == gateipc_allow_len(m), "accepted %zu bytes for %u addresses", size,
	           (unsigned)m->naddrs);
	FUZZ_CHECK(memchr(m->name, '\0', sizeof(m->name)) != NULL, "unterminated name passed");
	FUZZ_CHECK(m->naddrs >= 1 && m->naddrs <= GATEIPC_MAX_ADDRS, "naddrs %u", m->naddrs);

	st = allowplan_make(&conf, m, &plan);
	if (!conf_lookup(&conf, m->name, strlen(m->name), &ports)) {
		FUZZ_CHECK(st == GATEIPC_ERR_NOT_ALLOWED && plan.n4 == 0 && plan.n6 == 0,
		           "an off-list name got entries: %s", m->name);
		free(m);
		return 0;
	}
	inward_ok = conf_lookup_inward(&conf, m->name, strlen(m->name), &iports);
	for (size_t i = 0; i < m->naddrs; i++)
		has_inward = has_inward || is_inward(m->addrs[i].family, m->addrs[i].ip);
	if (has_inward && !inward_ok) {
		FUZZ_CHECK(st == GATEIPC_ERR_NOT_ALLOWED && plan.n4 == 0 && plan.n6 == 0 &&
		               plan.inward != NULL,
		           "an inward address allowed for %s, which has no \"inward\" line",
		           m->name);
		free(m);
		return 0;
	}
	FUZZ_CHECK(st == GATEIPC_OK, "a listed name refused: %s", m->name);
	FUZZ_CHECK(plan.ttl >= 1 && plan.ttl >= conf.min_ttl && plan.ttl <= conf.max_ttl, "ttl %u",
	           plan.ttl);
	FUZZ_CHECK(plan.ports.n == ports.n && plan.ports.n > 0, "ports");
	check_entries(m, &plan, &iports, plan.v4, plan.n4, AF_INET);
	check_entries(m, &plan, &iports, plan.v6, plan.n6, AF_INET6);
	{
		uint32_t lines[16];
		size_t nl;
		uint64_t now;

		FUZZ_CHECK(conf.ndomains <= 16, "lines");
		nl = allowplan_lines(&conf, m->name, lines);
		FUZZ_CHECK(nl >= 1, "a listed name matches no line");
		batch++;
		now = batch * 700;
		if (batch % 4096 == 0)
			entrymap_clear(emap);
		add_to_map(plan.v4, plan.n4, lines, nl, now);
		add_to_map(plan.v6, plan.n6, lines, nl, now);
		trim_map(m, now);
	}
	free(m);
	return 0;
}
