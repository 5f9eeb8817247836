/*
 * Ports, written "tcp/443" in sandbox.ini: parsed, collected into a
 * portlist (no duplicates, CONF_MAX_PORTS at most), compared and printed.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

int
port_parse(const char *text, struct port *out)
{
	const char *slash = strchr(text, '/');
	unsigned long v = 0;
	const char *p;
	uint8_t proto;

	if (slash == NULL)
		return -1;
	if (slash - text == 3 && strncasecmp(text, "tcp", 3) == 0)
		proto = IPPROTO_TCP;
	else if (slash - text == 3 && strncasecmp(text, "udp", 3) == 0)
		proto = IPPROTO_UDP;
	else
		return -1;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 5)
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	out->proto = proto;
	out->port = (uint16_t)v;
	return 0;
}

bool
portlist_has(const struct portlist *pl, uint8_t proto, uint16_t port)
{
	size_t i;

	for (i = 0; i < pl->n; i++) {
		if (pl->v[i].proto == proto && pl->v[i].port == port)
			return true;
	}
	return false;
}

int
portlist_add(struct portlist *pl, struct port p)
{
	if (portlist_has(pl, p.proto, p.port))
		return 0;
	if (pl->n >= CONF_MAX_PORTS)
		return -1;
	pl->v[pl->n++] = p;
	return 0;
}

const char *
portlist_fmt(const struct portlist *pl, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < pl->n; i++) {
		n = snprintf(buf + used, len - used, "%s%s/%u", i ? " " : "",
		             pl->v[i].proto == IPPROTO_TCP ? "tcp" : "udp", pl->v[i].port);
		if (n < 0 || (size_t)n >= len - used) {
			/* Cut at a whole entry, not in the middle of one. */
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	return buf;
}

bool
portlist_covers(const struct portlist *big, const struct portlist *small)
{
	size_t i;

	for (i = 0; i < small->n; i++)
		if (!portlist_has(big, small->v[i].proto, small->v[i].port))
			return false;
	return true;
}
