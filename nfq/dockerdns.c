/* Docker's "# ExtServers: [...]" comment of resolv.conf (pure parser, and
 * reading the file). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerdns.h"

#define EXT_PREFIX "# ExtServers: ["
#define HOST_PREFIX "host("

/* One entry, "ADDR" or "host(ADDR)", len bytes at p. */
static void
add_entry(const char *p, size_t len, struct dockerdns *out)
{
	char text[ADDR_STRLEN];
	struct addr a;
	bool host = false;

	if (len > strlen(HOST_PREFIX) && strncmp(p, HOST_PREFIX, strlen(HOST_PREFIX)) == 0 &&
	    p[len - 1] == ')') {
		host = true;
		p += strlen(HOST_PREFIX);
		len -= strlen(HOST_PREFIX) + 1;
	}
	if (len == 0 || len >= sizeof(text))
		return;
	memcpy(text, p, len);
	text[len] = '\0';
	/* A bare address only: a port, a zone or junk is not one Docker
	 * forwards to from here. */
	memset(&a, 0, sizeof(a));
	a.port = 53;
	if (inet_pton(AF_INET, text, a.ip) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, a.ip) == 1)
		a.family = AF_INET6;
	else
		return;
	if (host) {
		out->nhost++;
		return;
	}
	for (size_t i = 0; i < out->next; i++)
		if (addr_ip_equal(&out->ext[i], &a))
			return;
	if (out->next < DOCKERDNS_MAX_EXT)
		out->ext[out->next++] = a;
}

bool
dockerdns_parse_line(const char *line, struct dockerdns *out)
{
	const char *p, *end;

	if (strncmp(line, EXT_PREFIX, strlen(EXT_PREFIX)) != 0)
		return false;
	p = line + strlen(EXT_PREFIX);
	end = strchr(p, ']');
	if (end == NULL)
		return false;
	memset(out, 0, sizeof(*out));
	out->known = true;
	while (p < end) {
		const char *q;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		for (q = p; q < end && *q != ' ' && *q != '\t'; q++)
			;
		if (q > p)
			add_entry(p, (size_t)(q - p), out);
		p = q;
	}
	return true;
}

int
dockerdns_read(const char *path, struct dockerdns *out)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	FILE *fp;

	memset(out, 0, sizeof(*out));
	fp = fopen(path, "re");
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	while (getline(&line, &cap, fp) != -1) {
		if (dockerdns_parse_line(line, out))
			break;
	}
	if (ferror(fp)) {
		memset(out, 0, sizeof(*out));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}
