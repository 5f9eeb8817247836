/*
 * resolv_conf (default /etc/resolv.conf), read at every load: its
 * nameservers become the upstreams when upstream = auto, and its search
 * list is kept whatever upstream says (conf_in_search).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_internal.h"

bool
conf_is_listen_addr(const struct conf *c, const struct addr *a)
{
	size_t i;

	for (i = 0; i < c->nlisten; i++) {
		if (addr_equal(&c->listen[i], a))
			return true;
	}
	return false;
}

/*
 * upstream = auto: the nameserver lines of resolv_conf. Our own listen
 * addresses are left out, since the container's resolv.conf may already
 * point at us and forwarding to ourselves would loop.
 */
int
conf_read_resolv(struct parse_ctx *pc)
{
	struct conf *c = pc->c;
	char *line = NULL, *save, *kw, *ip, *extra;
	size_t cap = 0;
	struct addr a;
	uint8_t prefix;
	FILE *fp;
	size_t i;

	fp = fopen(c->resolv_conf, "re");
	if (fp == NULL) {
		conf_fail(pc, 0, "upstream = auto: cannot open %s: %s", c->resolv_conf,
		          strerror(errno));
		return -1;
	}
	c->nupstream = 0;
	while (getline(&line, &cap, fp) != -1 && c->nupstream < CONF_MAX_UPSTREAMS) {
		save = NULL;
		kw = strtok_r(line, " \t\r\n", &save);
		if (kw == NULL || strcmp(kw, "nameserver") != 0)
			continue;
		ip = strtok_r(NULL, " \t\r\n", &save);
		extra = strtok_r(NULL, " \t\r\n", &save);
		/* resolv.conf names a bare address; anything else (a scoped
		 * fe80::1%eth0, a port, junk) is skipped as glibc would. */
		if (ip == NULL || (extra != NULL && extra[0] != '#' && extra[0] != ';'))
			continue;
		if (strchr(ip, '/') != NULL || addr_parse_net(ip, &a, &prefix) == -1)
			continue;
		a.port = 53;
		if (conf_is_listen_addr(c, &a) || conf_addr_is_unspecified(&a))
			continue;
		for (i = 0; i < c->nupstream; i++) {
			if (addr_equal(&c->upstream[i], &a))
				break;
		}
		if (i == c->nupstream)
			c->upstream[c->nupstream++] = a;
	}
	if (ferror(fp)) {
		conf_fail(pc, 0, "upstream = auto: cannot read %s: %s", c->resolv_conf,
		          strerror(errno));
		free(line);
		fclose(fp);
		return -1;
	}
	free(line);
	fclose(fp);
	if (c->nupstream == 0) {
		conf_fail(pc, 0, "upstream = auto: no usable nameserver in %s", c->resolv_conf);
		return -1;
	}
	return 0;
}

/*
 * The search list of resolv_conf: every word of its search and domain lines
 * (glibc takes the last such line; taking them all only answers NXDOMAIN
 * for more denied names). Best effort, whatever upstream says: a file we
 * cannot read has no search list, a word that is not a host name is
 * skipped.
 */
void
conf_read_search(struct conf *c)
{
	char *line = NULL, *save, *w;
	char name[NAME_MAX_LEN + 1];
	const char *err;
	size_t cap = 0, i;
	FILE *fp;

	c->nsearch = 0;
	fp = fopen(c->resolv_conf, "re");
	if (fp == NULL)
		return;
	while (getline(&line, &cap, fp) != -1) {
		save = NULL;
		w = strtok_r(line, " \t\r\n", &save);
		if (w == NULL || (strcmp(w, "search") != 0 && strcmp(w, "domain") != 0))
			continue;
		while ((w = strtok_r(NULL, " \t\r\n", &save)) != NULL && w[0] != '#' &&
		       w[0] != ';' && c->nsearch < CONF_MAX_SEARCH) {
			if (name_normalize(w, name, &err) != 0)
				continue;
			for (i = 0; i < c->nsearch; i++) {
				if (strcmp(c->search[i].name, name) == 0)
					break;
			}
			if (i < c->nsearch)
				continue;
			c->search[i].kind = PATTERN_APEX_AND_SUBDOMAINS;
			c->search[i].len = strlen(name);
			memcpy(c->search[i].name, name, c->search[i].len + 1);
			c->nsearch++;
		}
	}
	free(line);
	fclose(fp);
}
