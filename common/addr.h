/* Addresses: parsing "ip", "ip:port", "[ip6]:port" and formatting. */
#ifndef NAMEGATE_ADDR_H
#define NAMEGATE_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64 /* enough for "[v6]:port" */

struct addr {
	int family;     /* AF_INET or AF_INET6 */
	uint8_t ip[16]; /* network byte order; IPv4 uses the first 4 bytes */
	uint16_t port;  /* host byte order; 0 when none was given */
};

/* "192.0.2.1", "192.0.2.1:53", "2001:db8::1", "[2001:db8::1]:53".
 * default_port fills in when none is given. Returns 0, or -1 if malformed. */
int addr_parse(const char *text, uint16_t default_port, struct addr *out);
/* "192.0.2.0/24" or "2001:db8::/32"; host bits must be zero. */
int addr_parse_net(const char *text, struct addr *out, uint8_t *prefix);

bool addr_equal(const struct addr *a, const struct addr *b);    /* family, ip and port */
bool addr_ip_equal(const struct addr *a, const struct addr *b); /* family and ip */
size_t addr_iplen(int family);                                  /* 4 or 16 */

socklen_t addr_to_sockaddr(const struct addr *a, struct sockaddr_storage *ss);
int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out);

/* "192.0.2.1" / "2001:db8::1" (ip only) */
const char *addr_ntop(const struct addr *a, char *buf, size_t len);
/* "192.0.2.1:53" / "[2001:db8::1]:53" */
const char *addr_fmt(const struct addr *a, char *buf, size_t len);

/* A list of addresses for a log line, one entry at a time: appends sep
 * (but before the first) and ip of family (network byte order), with
 * "/prefix" when prefix >= 0, to the list in buf, of which *used bytes
 * are taken (start with 0; buf is NUL-terminated after every call).
 * Entries go whole: one that does not fit leaves the list as it was.
 * Returns 0 when it was added (or skipped: a family other than AF_INET
 * and AF_INET6), -1 when it did not fit, and the list is full. */
int addr_list_add(char *buf, size_t len, size_t *used, const char *sep, int family,
                  const uint8_t *ip, int prefix);

#endif
