/*
 * Inward addresses: those that lead back into the container, its host or
 * the networks around it rather than out to the internet. An allowlisted
 * name whose DNS an attacker controls could otherwise answer 10.0.0.1,
 * 169.254.169.254 or a neighbour container's address and have it allowed
 * (DNS rebinding). Both the resolver (which removes them from answers) and
 * the gate (which refuses to add them) ask inward_why; only a domain line
 * marked "inward", or a network = line, allows them.
 *
 * Inward are fixed special-purpose ranges (private, loopback, link-local,
 * shared, multicast, reserved, mapped), and the container's own networks:
 * the prefixes of its interfaces' addresses and its routes' gateways
 * (struct inward_local, read by localnet.c). The documentation and
 * benchmark ranges are not inward unless they are the container's own.
 */
#ifndef NAMEGATE_INWARD_H
#define NAMEGATE_INWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INWARD_MAX_LOCAL 128

struct inward_net {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t ip[16]; /* network byte order, host bits zero */
};

/* The container's own networks and gateways. A value (no pointers), so a
 * struct conf can carry a copy. */
struct inward_local {
	size_t n;
	bool overflow; /* more than INWARD_MAX_LOCAL: every address is inward */
	struct inward_net v[INWARD_MAX_LOCAL];
};

/* Why ip (family AF_INET or AF_INET6, network byte order) is inward:
 * "private", "loopback", "link-local", "shared", "multicast", "reserved",
 * "mapped", "nat64", "6to4" or "local-net"; NULL when it is not. local may
 * be NULL (fixed ranges only). Pure. */
const char *inward_why(const struct inward_local *local, int family, const uint8_t *ip);

/* Adds net/prefix (host bits are cleared) unless it is already there or
 * covered by a fixed range; sets overflow when full. Returns 0 or -1 on a
 * bad family or prefix. */
int inward_local_add(struct inward_local *l, int family, const uint8_t *ip, unsigned prefix);
bool inward_local_equal(const struct inward_local *a, const struct inward_local *b);
/* "198.18.0.0/24 2001:db8:ff::/64 ..." for the log, cut at a whole entry. */
const char *inward_local_fmt(const struct inward_local *l, char *buf, size_t len);

#endif
