/*
 * Docker's embedded DNS (127.0.0.11) as the container's resolv.conf
 * describes it. Docker forwards what reaches it to the servers of its
 * "# ExtServers: [...]" comment: an entry host(ADDR) from the host's
 * namespace, a bare ADDR from inside this one, as root. Only those bare
 * addresses, on port 53, need an exception from the DNS rules.
 */
#ifndef NAMEGATE_DOCKERDNS_H
#define NAMEGATE_DOCKERDNS_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

#define DOCKERDNS_ADDR "127.0.0.11"
#define DOCKERDNS_MAX_EXT 16

struct dockerdns {
	bool known;  /* an ExtServers line was found */
	size_t next; /* forwarded from this namespace (port 53) */
	struct addr ext[DOCKERDNS_MAX_EXT];
	size_t nhost; /* entries forwarded from the host's namespace */
};

/* One line of resolv.conf. Returns true when it is an ExtServers comment,
 * which then fills *out (known = true; entries that do not parse, and any
 * past DOCKERDNS_MAX_EXT, are left out: they can only deny more). */
bool dockerdns_parse_line(const char *line, struct dockerdns *out);

/* The first ExtServers line of path. A missing file or line leaves
 * known = false. Returns 0, or -1 (errno set) when path could not be read
 * for another reason than not existing. */
int dockerdns_read(const char *path, struct dockerdns *out);

#endif
