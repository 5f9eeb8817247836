/* Inward addresses: see inward.h. No I/O. */
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "inward.h"

struct range {
	uint8_t family;
	uint8_t prefix;
	uint8_t ip[16];
	const char *why;
};

/*
 * The special-purpose ranges (RFC 6890 and its updates) that never lead to
 * the internet. 198.18.0.0/15 (benchmarking) and the documentation ranges
 * are left out on purpose: the lab and the tests live there, and they are
 * not routed on the internet either, so allowing them opens nothing.
 */
static const struct range fixed[] = {
    {AF_INET, 8, {0}, "reserved"},                        /* 0/8 "this network" */
    {AF_INET, 8, {10}, "private"},                        /* 10/8 */
    {AF_INET, 10, {100, 64}, "shared"},                   /* 100.64/10 CGNAT */
    {AF_INET, 8, {127}, "loopback"},                      /* 127/8 */
    {AF_INET, 16, {169, 254}, "link-local"},              /* 169.254/16, cloud metadata */
    {AF_INET, 12, {172, 16}, "private"},                  /* 172.16/12 */
    {AF_INET, 24, {192, 0, 0}, "reserved"},               /* 192.0.0/24 IETF protocol */
    {AF_INET, 16, {192, 168}, "private"},                 /* 192.168/16 */
    {AF_INET, 4, {224}, "multicast"},                     /* 224/4 */
    {AF_INET, 4, {240}, "reserved"},                      /* 240/4 and broadcast */
    {AF_INET6, 128, {0}, "reserved"},                     /* :: */
    {AF_INET6, 128, {[15] = 1}, "loopback"},              /* ::1 */
    {AF_INET6, 96, {0}, "reserved"},                      /* ::/96 IPv4-compatible */
    {AF_INET6, 96, {[10] = 0xff, [11] = 0xff}, "mapped"}, /* ::ffff:0:0/96 */
    {AF_INET6, 48, {0, 0x64, 0xff, 0x9b, 0, 1}, "nat64"}, /* 64:ff9b:1::/48 local use */
    {AF_INET6, 64, {1, 0}, "reserved"},                   /* 100::/64 discard */
    {AF_INET6, 7, {0xfc}, "private"},                     /* fc00::/7 unique local */
    {AF_INET6, 10, {0xfe, 0x80}, "link-local"},           /* fe80::/10 */
    {AF_INET6, 10, {0xfe, 0xc0}, "private"},              /* fec0::/10 site-local */
    {AF_INET6, 8, {0xff}, "multicast"},                   /* ff00::/8 */
};

static bool
prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const char *
fixed_why(int family, const uint8_t *ip, unsigned min_prefix)
{
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (fixed[i].family == family && fixed[i].prefix <= min_prefix &&
		    prefix_match(ip, fixed[i].ip, fixed[i].prefix))
			return fixed[i].why;
	}
	return NULL;
}

const char *
inward_why(const struct inward_local *local, int family, const uint8_t *ip)
{
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
	const char *why;

	if (family != AF_INET && family != AF_INET6)
		return "reserved";
	why = fixed_why(family, ip, family == AF_INET ? 32 : 128);
	if (why != NULL)
		return why;
	/* Addresses that carry an IPv4 address the network turns them into:
	 * the well-known NAT64 prefix and 6to4. */
	if (family == AF_INET6 && memcmp(ip, nat64, sizeof(nat64)) == 0 &&
	    inward_why(local, AF_INET, ip + 12) != NULL)
		return "nat64";
	if (family == AF_INET6 && ip[0] == 0x20 && ip[1] == 0x02 &&
	    inward_why(local, AF_INET, ip + 2) != NULL)
		return "6to4";
	if (local == NULL)
		return NULL;
	if (local->overflow)
		return "local-net";
	for (size_t i = 0; i < local->n; i++) {
		const struct inward_net *n = &local->v[i];

		if (n->family == family && prefix_match(ip, n->ip, n->prefix))
			return "local-net";
	}
	return NULL;
}

int
inward_local_add(struct inward_local *l, int family, const uint8_t *ip, unsigned prefix)
{
	unsigned max = family == AF_INET ? 32 : 128;
	struct inward_net n;

	if ((family != AF_INET && family != AF_INET6) || prefix > max)
		return -1;
	memset(&n, 0, sizeof(n));
	n.family = (uint8_t)family;
	n.prefix = (uint8_t)prefix;
	memcpy(n.ip, ip, max / 8);
	for (unsigned b = prefix; b < max; b++)
		n.ip[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
	/* Already inward as a whole: a fixed range covers it. */
	if (fixed_why(family, n.ip, prefix) != NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		if (memcmp(&l->v[i], &n, sizeof(n)) == 0)
			return 0;
	}
	if (l->n == INWARD_MAX_LOCAL) {
		l->overflow = true;
		return 0;
	}
	l->v[l->n++] = n;
	return 0;
}

bool
inward_local_equal(const struct inward_local *a, const struct inward_local *b)
{
	return a->n == b->n && a->overflow == b->overflow &&
	       memcmp(a->v, b->v, a->n * sizeof(a->v[0])) == 0;
}

const char *
inward_local_fmt(const struct inward_local *l, char *buf, size_t len)
{
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		if (addr_list_add(buf, len, &used, " ", l->v[i].family, l->v[i].ip,
		                  l->v[i].prefix) < 0)
			break;
	return buf;
}
