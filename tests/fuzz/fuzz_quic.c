/*
 * The QUIC Initial parser and the binding of QUIC flows (nfq/quic.c,
 * nfq/bind.c): bytes the agent sends to a QUIC port -> a name or a reason.
 *
 * Input: one control byte, then the bytes. Bit 0 set: the bytes are a
 * datagram as it is (the header parser, which a fuzzer reaches; the AEAD
 * it cannot forge). Clear: the bytes are the plaintext frames of Initial
 * packets, which the target seals itself under a fixed DCID (the frame
 * parser and the CRYPTO reassembly behind the AEAD), cut in two datagrams
 * where the rest of the control byte says.
 *
 * Invariants: a claimed name is 1..253 bytes of [a-z0-9._-?]; one datagram
 * alone never gives a name while it says the hello goes on; in enforce mode
 * the binding lets a flow through only for good.lab.test, bound to the
 * address on udp/443, with the hello whole; a datagram is held back as
 * part of a hello exactly when the parser says the hello goes on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../unit/quic_seal.h"
#include "addrmap.h"
#include "bind.h"
#include "fuzz.h"
#include "kernel.h"
#include "quic.h"

static struct addrmap *map;
static struct bindtab *tab;
static struct conf conf;
static const uint8_t dst[4] = {192, 0, 2, 90};
static const uint8_t dcid[8] = {9, 8, 7, 6, 5, 4, 3, 2};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct portlist pl = {0};
	struct addrmap_name *nm;

	map = addrmap_new(16, 42);
	tab = bindtab_new();
	FUZZ_CHECK(map != NULL && tab != NULL, "alloc");
	portlist_add(&pl, (struct port){IPPROTO_UDP, 443});
	nm = addrmap_name_new("good.lab.test", &pl);
	FUZZ_CHECK(nm != NULL && addrmap_put(map, AF_INET, dst, nm, 1ULL << 40) == 0, "put");
	addrmap_name_unref(nm);
	portlist_add(&conf.quic_ports, (struct port){IPPROTO_UDP, 443});
	return 0;
}

static void
check_name(const char *name)
{
	size_t n = strlen(name), i;

	FUZZ_CHECK(n >= 1 && n <= NAME_MAX_LEN && name[n - 1] != '.', "name \"%s\"", name);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz0123456789._-?", name[i]) != NULL,
		           "byte %d in the name", name[i]);
}

/* One datagram of the flow; returns its action and checks the verdict. */
static enum verdict_action
datagram(const uint8_t *d, size_t n, uint32_t mark, bool *was_ok)
{
	const struct addrmap_entry *e = addrmap_get(map, AF_INET, dst);
	struct flow f = {0};
	struct verdict v;

	f.family = AF_INET;
	f.proto = IPPROTO_UDP;
	memcpy(f.dst, dst, 4);
	f.has_ports = f.has_udp = true;
	f.sport = 40000;
	f.dport = 443;
	f.payload_len = n;
	bind_decide(tab, &f, d, n, mark, e, &conf, 100, &v);
	if (v.claim[0] != '\0')
		check_name(v.claim);
	if (v.action == VERDICT_BIND_OK) {
		/* judged now (the claim is the name), or upgraded after */
		FUZZ_CHECK(strcmp(v.claim, "good.lab.test") == 0 || (v.claim[0] == '\0' && *was_ok),
		           "let through \"%s\"", v.claim);
		*was_ok = true;
	}
	return v.action;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t d1[SNI_MAX_BYTES + 1300], d2[SNI_MAX_BYTES + 1300];
	struct sni_claim cl;
	enum sni_result r;
	bool was_ok = false;
	size_t cut, n1, n2;
	enum verdict_action a;

	if (size < 1 || size > 8192)
		return 0;
	if (data[0] & 1) {
		r = quic_parse(data + 1, size - 1, &cl);
		if (r == SNI_OK)
			check_name(cl.name);
		datagram(data + 1, size - 1, KERNEL_MARK_BIND_FIRST, &was_ok);
	} else {
		data++;
		size--;
		cut = size > 0 ? (size_t)(data[-1] >> 1) * size / 127 : 0;
		if (cut > size)
			cut = size;
		n1 = seal_initial(QUIC_VERSION_1, dcid, sizeof(dcid), 0, data, cut, d1);
		n2 =
		    seal_initial(QUIC_VERSION_1, dcid, sizeof(dcid), 1, data + cut, size - cut, d2);
		FUZZ_CHECK(n1 > 0 && n2 > 0, "seal");
		r = quic_parse(d1, n1, &cl);
		if (r == SNI_OK)
			check_name(cl.name);
		a = datagram(d1, n1, KERNEL_MARK_BIND_FIRST, &was_ok);
		FUZZ_CHECK((a == VERDICT_BIND_PART) == (r == SNI_MORE), "part %d but parse %d", a,
		           r);
		datagram(d2, n2,
		         a == VERDICT_BIND_PART ? KERNEL_MARK_BIND_MORE
		         : a == VERDICT_BIND_OK ? KERNEL_MARK_BIND_QUIC
		                                : KERNEL_MARK_BIND_FIRST,
		         &was_ok);
	}
	bindtab_free(tab);
	tab = bindtab_new();
	return 0;
}
