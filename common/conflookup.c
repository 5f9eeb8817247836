/*
 * The questions the daemons ask of a loaded config: is a name allowed and
 * on which ports (conf_lookup, conf_lookup_inward), is it under a search
 * domain (conf_in_search), and does a new config allow less than the old
 * one (conf_allow_narrowed). Pure: no I/O.
 */
#include <string.h>

#include "conf.h"

bool
conf_lookup(const struct conf *c, const char *name, size_t len, struct portlist *ports)
{
	bool found = false;
	size_t i, j;

	if (ports != NULL)
		memset(ports, 0, sizeof(*ports));
	for (i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];

		if (!pattern_match(&d->pat, name, len))
			continue;
		found = true;
		if (ports == NULL)
			return true;
		/* A full list drops ports, which only ever denies more. */
		for (j = 0; j < d->ports.n; j++)
			portlist_add(ports, d->ports.v[j]);
	}
	return found;
}

bool
conf_lookup_inward(const struct conf *c, const char *name, size_t len, struct portlist *ports)
{
	bool found = false;

	if (ports != NULL)
		memset(ports, 0, sizeof(*ports));
	for (size_t i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];

		if (!d->inward || !pattern_match(&d->pat, name, len))
			continue;
		found = true;
		if (ports == NULL)
			return true;
		for (size_t j = 0; j < d->ports.n; j++)
			portlist_add(ports, d->ports.v[j]);
	}
	return found;
}

bool
conf_in_search(const struct conf *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nsearch; i++) {
		if (pattern_match(&c->search[i], name, len))
			return true;
	}
	return false;
}

bool
conf_allow_narrowed(const struct conf *old, const struct conf *nc)
{
	size_t i, j;

	for (i = 0; i < old->ndomains; i++) {
		const struct conf_domain *d = &old->domains[i];
		bool kept = false;

		for (j = 0; j < nc->ndomains && !kept; j++) {
			const struct conf_domain *e = &nc->domains[j];

			kept = e->pat.kind == d->pat.kind &&
			       strcmp(e->pat.name, d->pat.name) == 0 &&
			       portlist_covers(&e->ports, &d->ports) && (e->inward || !d->inward);
		}
		if (!kept)
			return true;
	}
	return false;
}
