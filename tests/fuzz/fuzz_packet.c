/*
 * The gate's packet parsing and verdict: a queued packet's bytes (which the
 * sandbox chose) plus a mark and the mode → flow and verdict.
 *
 * Input: one control byte (mark, mode, on_deny), then the packet from its
 * IP header on. The address map knows a few addresses: fresh, expired, and
 * with a port list.
 *
 * Invariants: enforce mode never accepts; an unparseable packet is never
 * accepted in any mode; a packet the gate already marked is dropped quietly;
 * a parsed flow's addresses are the header's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "addrmap.h"
#include "fuzz.h"
#include "kernel.h"
#include "packet.h"
#include "verdict.h"

#define NOW_MS 1000000ULL

static struct addrmap *map;

static void
put(const char *ip, const char *name, uint64_t expires)
{
	struct portlist pl = {0};
	struct addrmap_name *nm;
	uint8_t buf[16] = {0};
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	FUZZ_CHECK(inet_pton(family, ip, buf) == 1, "%s", ip);
	portlist_add(&pl, (struct port){IPPROTO_TCP, 443});
	portlist_add(&pl, (struct port){IPPROTO_UDP, 443});
	nm = addrmap_name_new(name, &pl);
	FUZZ_CHECK(nm != NULL && addrmap_put(map, family, buf, nm, expires) == 0, "addrmap_put");
	addrmap_name_unref(nm);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	map = addrmap_new(16, 42);
	FUZZ_CHECK(map != NULL, "addrmap_new");
	put("192.0.2.10", "www.lab.test", NOW_MS + 60000);
	put("192.0.2.30", "short.lab.test", NOW_MS - 1);
	put("2001:db8:1::10", "www.lab.test", NOW_MS + 60000);
	put("2001:db8:1::30", "short.lab.test", NOW_MS - 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t marks[] = {0, KERNEL_MARK_DNS, KERNEL_MARK_DENY, 0x12345678};
	const struct addrmap_entry *e = NULL;
	enum gate_mode mode;
	enum on_deny on_deny;
	struct verdict v;
	struct flow f;
	uint32_t mark;
	uint8_t ctl;
	char pbuf[16];
	bool parsed;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	mark = marks[ctl & 3];
	if (ctl & 16)
		mark = KERNEL_MARK_INBOUND;
	mode = (ctl & 4) ? MODE_AUDIT : MODE_ENFORCE;
	on_deny = (ctl & 8) ? ON_DENY_DROP : ON_DENY_REJECT;

	memset(&f, 0xa5, sizeof(f));
	parsed = packet_parse(data, size, &f) == 0;
	if (parsed) {
		FUZZ_CHECK(f.family == AF_INET || f.family == AF_INET6, "family %d", f.family);
		FUZZ_CHECK(!f.has_ports || f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP,
		           "ports on proto %u", f.proto);
		if (f.family == AF_INET)
			FUZZ_CHECK(size >= 20 && memcmp(f.dst, data + 16, 4) == 0 &&
			               memcmp(f.src, data + 12, 4) == 0,
			           "IPv4 addresses are not the header's");
		else
			FUZZ_CHECK(size >= 40 && memcmp(f.dst, data + 24, 16) == 0 &&
			               memcmp(f.src, data + 8, 16) == 0,
			           "IPv6 addresses are not the header's");
		packet_proto_name(f.proto, pbuf, sizeof(pbuf));
		e = addrmap_get(map, f.family, f.dst);
	}
	verdict_decide(parsed ? &f : NULL, mark, e, mode, on_deny, NOW_MS, &v);
	verdict_reason_name(v.reason);
	if (mark == KERNEL_MARK_DENY) {
		FUZZ_CHECK(v.action == VERDICT_DROP && !v.log,
		           "a marked packet not dropped quietly");
		return 0;
	}
	FUZZ_CHECK(v.log, "a denial without a log line");
	if (mode == MODE_ENFORCE)
		FUZZ_CHECK(v.action != VERDICT_ACCEPT, "enforce mode accepted a packet");
	if (!parsed)
		FUZZ_CHECK(v.action != VERDICT_ACCEPT && v.reason == REASON_MALFORMED,
		           "an unparseable packet accepted");
	/* Inbound is dropped, never rejected: a repeat would come back through
	 * INPUT, marked inbound again, and loop. */
	if (mark == KERNEL_MARK_INBOUND) {
		FUZZ_CHECK(v.action != VERDICT_REJECT, "an inbound packet rejected");
		FUZZ_CHECK(v.action == VERDICT_ACCEPT || v.action == VERDICT_DROP,
		           "inbound action");
		return 0;
	}
	if (mode == MODE_ENFORCE)
		FUZZ_CHECK(v.action == (on_deny == ON_DENY_DROP ? VERDICT_DROP : VERDICT_REJECT),
		           "action does not follow on_deny");
	if (v.reason == REASON_PORT)
		FUZZ_CHECK(e != NULL && v.name != NULL && f.has_ports,
		           "port reason without a name");
	return 0;
}
