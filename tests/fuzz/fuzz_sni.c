/*
 * The first-flight parsers and the binding (nfq/sni.c, nfq/bind.c): bytes
 * the agent writes on a TLS or HTTP port → a name or a reason.
 *
 * Input: one control byte (bit 0: HTTP, else TLS; the rest picks where the
 * bytes are cut in two segments), then the bytes.
 *
 * Invariants: a claimed name is 1..253 bytes of [a-z0-9._-?], without a
 * trailing dot; a verdict on a prefix is the verdict on the whole (more
 * bytes never change a decision, so splitting cannot); the binding
 * decides the same whether the bytes come in one segment or two, and never
 * holds a flight once it has decided; only good.lab.test, bound to the
 * address, is let through in enforce mode.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "addrmap.h"
#include "bind.h"
#include "fuzz.h"
#include "kernel.h"
#include "sni.h"

static struct addrmap *map;
static struct bindtab *tab;
static struct conf conf;
static const uint8_t dst[4] = {192, 0, 2, 90};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct portlist pl = {0};
	struct addrmap_name *nm;

	map = addrmap_new(16, 42);
	tab = bindtab_new();
	FUZZ_CHECK(map != NULL && tab != NULL, "alloc");
	portlist_add(&pl, (struct port){IPPROTO_TCP, 443});
	portlist_add(&pl, (struct port){IPPROTO_TCP, 80});
	nm = addrmap_name_new("good.lab.test", &pl);
	FUZZ_CHECK(nm != NULL && addrmap_put(map, AF_INET, dst, nm, 1ULL << 40) == 0, "put");
	addrmap_name_unref(nm);
	portlist_add(&conf.tls_ports, (struct port){IPPROTO_TCP, 443});
	portlist_add(&conf.http_ports, (struct port){IPPROTO_TCP, 80});
	return 0;
}

static void
check_name(const struct sni_claim *cl)
{
	size_t n = strlen(cl->name), i;

	FUZZ_CHECK(n >= 1 && n <= NAME_MAX_LEN && cl->name[n - 1] != '.', "name \"%s\"", cl->name);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz0123456789._-?", cl->name[i]) != NULL,
		           "byte %d in the name", cl->name[i]);
}

static enum verdict_action
decide(const uint8_t *d, size_t n, size_t cut, bool http, uint64_t now, struct verdict *v)
{
	struct flow f = {0};
	const struct addrmap_entry *e = addrmap_get(map, AF_INET, dst);
	size_t parts[2][2] = {{0, cut}, {cut, n - cut}};
	int i, k = cut == 0 || cut >= n ? 1 : 2;

	if (k == 1)
		parts[0][1] = n;
	f.family = AF_INET;
	f.proto = IPPROTO_TCP;
	memcpy(f.dst, dst, 4);
	f.has_ports = f.has_tcp = true;
	f.sport = 40000;
	f.dport = http ? 80 : 443;
	for (i = 0; i < k; i++) {
		f.seq = 7000 + (uint32_t)parts[i][0];
		f.payload_off = parts[i][0];
		f.payload_len = parts[i][1];
		bind_decide(tab, &f, d, n, i == 0 ? KERNEL_MARK_BIND_FIRST : KERNEL_MARK_BIND_MORE,
		            e, &conf, now, v);
		if (v->action != VERDICT_BIND_PART)
			return v->action;
	}
	return v->action;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sni_claim whole, part;
	struct verdict v1, v2;
	enum sni_result rw, rp;
	enum verdict_action a1, a2;
	bool http;
	size_t cut;

	if (size < 1)
		return 0;
	http = data[0] & 1;
	cut = size > 1 ? (size_t)(data[0] >> 1) * (size - 1) / 127 : 0;
	data++;
	size--;

	rw = http ? sni_parse_http(data, size, &whole) : sni_parse_tls(data, size, &whole);
	if (rw == SNI_OK)
		check_name(&whole);
	rp = http ? sni_parse_http(data, cut, &part) : sni_parse_tls(data, cut, &part);
	if (rp != SNI_MORE && size <= SNI_MAX_BYTES) {
		FUZZ_CHECK(rp == rw, "prefix of %zu says %d, the whole %zu says %d", cut, rp, size,
		           rw);
		if (rp == SNI_OK)
			FUZZ_CHECK(strcmp(part.name, whole.name) == 0, "names differ");
	}

	a1 = decide(data, size, 0, http, 100, &v1);
	FUZZ_CHECK(bindtab_count(tab) == (a1 == VERDICT_BIND_PART ? 1u : 0u), "held %zu",
	           bindtab_count(tab));
	if (a1 == VERDICT_BIND_OK)
		FUZZ_CHECK(strcmp(whole.name, "good.lab.test") == 0 && rw == SNI_OK,
		           "let through %s", whole.name);
	/* A flight left pending runs out; the next input starts clean. */
	a2 = decide(data, size, cut, http, 100 + 2 * BIND_HOLD_MS, &v2);
	if (a1 != VERDICT_BIND_PART && a2 != VERDICT_BIND_PART && size <= SNI_MAX_BYTES)
		FUZZ_CHECK(a1 == a2 && v1.reason == v2.reason,
		           "one segment: %d/%d, two at %zu: %d/%d", a1, v1.reason, cut, a2,
		           v2.reason);
	bindtab_free(tab);
	tab = bindtab_new();
	return 0;
}
