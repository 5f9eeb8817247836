/*
 * Address parsing and formatting. The parsers take config text, so they are
 * strict: anything but exactly one well-formed address (with an optional
 * port, or prefix) is rejected, rather than guessed at.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Longest text we consider: "[" v6 "]:" port, with room to spare. */
#define ADDR_TEXT_MAX 80

size_t
addr_iplen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Decimal digits only (no sign, no spaces), value in [min, max]. */
static int
parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 10)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_port(const char *s, uint16_t *out)
{
	unsigned long v;

	if (parse_uint(s, 1, 65535, &v) == -1)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* A bare IP, no brackets, no port. inet_pton rejects everything else
 * (leading zeros in IPv4 octets, scope ids, trailing junk). */
static int
parse_ip(const char *s, struct addr *out)
{
	if (inet_pton(AF_INET, s, out->ip) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->ip) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

int
addr_parse(const char *text, uint16_t default_port, struct addr *out)
{
	char buf[ADDR_TEXT_MAX];
	struct addr a;
	char *colon, *close;

	memset(&a, 0, sizeof(a));
	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	a.port = default_port;

	if (buf[0] == '[') {
		/* "[v6]" or "[v6]:port"; brackets are for IPv6 only. */
		close = strchr(buf, ']');
		if (close == NULL)
			return -1;
		*close = '\0';
		if (inet_pton(AF_INET6, buf + 1, a.ip) != 1)
			return -1;
		a.family = AF_INET6;
		if (close[1] == ':') {
			if (parse_port(close + 2, &a.port) == -1)
				return -1;
		} else if (close[1] != '\0') {
			return -1;
		}
	} else {
		colon = strchr(buf, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			/* Exactly one colon: "v4:port". */
			*colon = '\0';
			if (inet_pton(AF_INET, buf, a.ip) != 1)
				return -1;
			a.family = AF_INET;
			if (parse_port(colon + 1, &a.port) == -1)
				return -1;
		} else if (parse_ip(buf, &a) == -1) {
			/* Several colons: a bare IPv6 address, never with a port. */
			return -1;
		}
	}
	*out = a;
	return 0;
}

int
addr_parse_net(const char *text, struct addr *out, uint8_t *prefix)
{
	char buf[ADDR_TEXT_MAX];
	struct addr a;
	unsigned long plen;
	unsigned long maxlen;
	char *slash;
	size_t i;

	memset(&a, 0, sizeof(a));
	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (parse_ip(buf, &a) == -1)
		return -1;
	maxlen = a.family == AF_INET ? 32 : 128;
	plen = maxlen;
	if (slash != NULL && parse_uint(slash + 1, 0, maxlen, &plen) == -1)
		return -1;

	/* Host bits set usually means a typo in the prefix or the address;
	 * refusing it beats silently allowing a different network. */
	for (i = 0; i < addr_iplen(a.family); i++) {
		unsigned long bit0 = i * 8;
		uint8_t mask;

		if (bit0 + 8 <= plen)
			continue;
		mask = bit0 >= plen ? 0xff : (uint8_t)(0xff >> (plen - bit0));
		if (a.ip[i] & mask)
			return -1;
	}
	*out = a;
	*prefix = (uint8_t)plen;
	return 0;
}

bool
addr_ip_equal(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, addr_iplen(a->family)) == 0;
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
	return addr_ip_equal(a, b) && a->port == b->port;
}

socklen_t
addr_to_sockaddr(const struct addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip, 4);
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return sizeof(*sin6);
	}
	return 0;
}

int
addr_from_sockaddr(const struct sockaddr *sa, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		out->port = ntohs(sin->sin_port);
		memcpy(out->ip, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		out->family = AF_INET6;
		out->port = ntohs(sin6->sin6_port);
		memcpy(out->ip, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

const char *
addr_ntop(const struct addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->ip, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *
addr_fmt(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_ntop(a, ip, sizeof(ip));
	if (a->port == 0)
		snprintf(buf, len, "%s", ip);
	else if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}

int
addr_list_add(char *buf, size_t len, size_t *used, const char *sep, int family, const uint8_t *ip,
              int prefix)
{
	char text[INET6_ADDRSTRLEN];
	int w;

	if (len == 0 || *used >= len)
		return -1;
	buf[*used] = '\0';
	if ((family != AF_INET && family != AF_INET6) ||
	    inet_ntop(family, ip, text, sizeof(text)) == NULL)
		return 0;
	if (prefix >= 0)
		w = snprintf(buf + *used, len - *used, "%s%s/%d", *used ? sep : "", text, prefix);
	else
		w = snprintf(buf + *used, len - *used, "%s%s", *used ? sep : "", text);
	if (w < 0 || (size_t)w >= len - *used) {
		buf[*used] = '\0';
		return -1;
	}
	*used += (size_t)w;
	return 0;
}
