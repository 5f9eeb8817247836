/* The gate's decision for an ALLOW request: see allowplan.h. No I/O. */
#include <string.h>
#include <sys/socket.h>

#include "allowplan.h"
#include "inward.h"

static void
expand(const struct gateipc_addr *a, const struct portlist *ports, struct ipset_entry *v, size_t *n)
{
	size_t iplen = a->family == AF_INET ? 4 : 16;

	for (size_t j = 0; j < ports->n; j++) {
		struct ipset_entry *e = &v[(*n)++];

		memset(e, 0, sizeof(*e));
		e->family = a->family;
		memcpy(e->ip, a->ip, iplen);
		e->proto = ports->v[j].proto;
		e->port = ports->v[j].port;
	}
}

enum gateipc_status
allowplan_make(const struct conf *c, const struct gateipc_allow *m, struct allowplan *p)
{
	size_t naddrs = m->naddrs < GATEIPC_MAX_ADDRS ? m->naddrs : GATEIPC_MAX_ADDRS;
	size_t len = strnlen(m->name, sizeof(m->name));
	bool inward_ok;

	p->n4 = p->n6 = 0;
	p->ttl = 0;
	p->inward = NULL;
	p->why = NULL;
	memset(&p->ports, 0, sizeof(p->ports));
	memset(&p->inward_ports, 0, sizeof(p->inward_ports));
	/* The resolver should only ask for listed names; the gate checks
	 * anyway, and the ports come from the gate's config, never from the
	 * message. */
	if (!conf_lookup(c, m->name, len, &p->ports))
		return GATEIPC_ERR_NOT_ALLOWED;
	/* The resolver removes inward addresses from answers; the gate does
	 * not take its word for it, and refuses the whole request. */
	inward_ok = conf_lookup_inward(c, m->name, len, &p->inward_ports);
	for (size_t i = 0; i < naddrs; i++) {
		const char *why = inward_why(&c->local, m->addrs[i].family, m->addrs[i].ip);

		if (why != NULL && !inward_ok) {
			memset(&p->ports, 0, sizeof(p->ports));
			p->inward = &m->addrs[i];
			p->why = why;
			return GATEIPC_ERR_NOT_ALLOWED;
		}
	}
	p->ttl = m->ttl;
	if (p->ttl < c->min_ttl)
		p->ttl = c->min_ttl;
	if (p->ttl > c->max_ttl)
		p->ttl = c->max_ttl;
	/* A zero timeout would make the entry permanent. */
	if (p->ttl == 0)
		p->ttl = 1;
	/* Each array holds every address times every port, so neither can
	 * overflow whatever mix of families the message carries. */
	for (size_t i = 0; i < naddrs; i++) {
		const struct portlist *ports = &p->ports;

		if (inward_why(&c->local, m->addrs[i].family, m->addrs[i].ip) != NULL)
			ports = &p->inward_ports;
		if (m->addrs[i].family == AF_INET)
			expand(&m->addrs[i], ports, p->v4, &p->n4);
		else if (m->addrs[i].family == AF_INET6)
			expand(&m->addrs[i], ports, p->v6, &p->n6);
	}
	return GATEIPC_OK;
}

size_t
allowplan_lines(const struct conf *c, const char *name, uint32_t *out)
{
	size_t len = strnlen(name, NAME_MAX_LEN + 1), n = 0;

	for (size_t i = 0; i < c->ndomains; i++) {
		if (pattern_match(&c->domains[i].pat, name, len))
			out[n++] = (uint32_t)i;
	}
	return n;
}

size_t
allowplan_entry_lines(const struct conf *c, const uint32_t *lines, size_t n,
                      const struct ipset_entry *e, uint32_t *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (portlist_has(&c->domains[lines[i]].ports, e->proto, e->port))
			out[k++] = lines[i];
	}
	return k;
}
