/*
 * The effective config written out: conf_print as an ini file that
 * conf_load accepts (with comments on where values came from), conf_get
 * one key's value. Both write each value through the key table's fmt
 * (confkeys.c), so every key --check-config prints can be asked for with
 * --get and reads the same in both.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"

#define PORTS_LEN (CONF_MAX_PORTS * 10 + 1)

static void
print_domain(FILE *f, const struct conf_domain *d)
{
	char buf[PORTS_LEN];
	char pbuf[NAME_MAX_LEN + 3];

	fprintf(f, "domain = %s%s", pattern_fmt(&d->pat, pbuf, sizeof(pbuf)),
	        d->inward ? " inward" : "");
	if (d->own_ports)
		fprintf(f, " %s\n", portlist_fmt(&d->ports, buf, sizeof(buf)));
	else
		fprintf(f, " ; [gate] ports: %s\n", portlist_fmt(&d->ports, buf, sizeof(buf)));
}

static void
print_network(FILE *f, const struct conf_network *n)
{
	char buf[PORTS_LEN];
	char abuf[ADDR_STRLEN];

	fprintf(f, "network = %s/%u %s\n", addr_ntop(&n->net, abuf, sizeof(abuf)), n->prefix,
	        portlist_fmt(&n->ports, buf, sizeof(buf)));
}

/* "name = value", and the comments that say where a value came from. An
 * empty value is "name =" alone: "file =" means stderr only. */
static void
print_key(FILE *f, const struct conf *c, const struct keydef *kd)
{
	char buf[CONF_VALUE_LEN];

	kd->fmt(kd, c, buf, sizeof(buf));
	fprintf(f, "%s =%s%s", kd->name, buf[0] != '\0' ? " " : "", buf);
	if (kd->key == K_UPSTREAM && c->upstream_auto)
		fprintf(f, "%s; from upstream = auto (nameservers of %s)",
		        buf[0] != '\0' ? " " : "  ", c->resolv_conf);
	fputc('\n', f);
	if (kd->key == K_RESOLV_CONF && c->nsearch > 0) {
		fprintf(f, "; its search list (denied names under it get NXDOMAIN):");
		for (size_t i = 0; i < c->nsearch; i++)
			fprintf(f, " %s", c->search[i].name);
		fprintf(f, "\n");
	}
}

void
conf_print(FILE *f, const struct conf *c)
{
	const char *section = NULL;

	fprintf(f, "; effective configuration of %s\n", c->path);
	for (size_t i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];

		if (section == NULL || strcmp(section, kd->section) != 0) {
			section = kd->section;
			fprintf(f, "\n[%s]\n", section);
		}
		if (kd->key == K_DOMAIN) {
			for (size_t j = 0; j < c->ndomains; j++)
				print_domain(f, &c->domains[j]);
		} else if (kd->key == K_NETWORK) {
			for (size_t j = 0; j < c->nnetworks; j++)
				print_network(f, &c->networks[j]);
		} else {
			print_key(f, c, kd);
		}
	}
}

int
conf_get(FILE *f, const struct conf *c, const char *key)
{
	const struct keydef *kd = conf_keydef_of(key);
	char buf[CONF_VALUE_LEN];
	char abuf[ADDR_STRLEN];

	if (kd == NULL) {
		errno = ENOENT;
		return -1;
	}
	/* A repeating key: the first word of each line (the pattern, the
	 * network), space-separated. */
	if (kd->key == K_DOMAIN) {
		for (size_t i = 0; i < c->ndomains; i++)
			fprintf(f, "%s%s", i ? " " : "",
			        pattern_fmt(&c->domains[i].pat, buf, sizeof(buf)));
	} else if (kd->key == K_NETWORK) {
		for (size_t i = 0; i < c->nnetworks; i++)
			fprintf(f, "%s%s/%u", i ? " " : "",
			        addr_ntop(&c->networks[i].net, abuf, sizeof(abuf)),
			        c->networks[i].prefix);
	} else {
		kd->fmt(kd, c, buf, sizeof(buf));
		fputs(buf, f);
	}
	fputc('\n', f);
	return 0;
}
