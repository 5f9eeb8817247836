/*
 * namegate learn: see learn.h.
 */
#include "learn.h"
#include "logread.h"
#include "suffix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX LOGREAD_VALUE_MAX

/* One name seen in the log. */
struct lname {
	char name[NAME_MAX_LEN + 1];
	unsigned lookups, flows;
	bool listed;           /* a dns.allow: on the list then, so its flows on the list's
	                        * ports were never logged */
	struct portlist ports; /* ports its flows used that were logged */
	char procs[LEARN_MAX_PROCS][32];
	size_t nprocs, moreprocs;
	/* filled in by learn_print */
	bool deflt;   /* proposed with the [gate] ports */
	bool covered; /* by the merge config, whole */
	size_t goff;  /* its registrable domain: name + goff */
};

/* The last name an address was handed out for. */
struct laddr {
	char ip[INET6_ADDRSTRLEN];
	size_t idx;
};

/* Flows to an address no lookup handed out. */
struct lflow {
	char key[INET6_ADDRSTRLEN + 16];
	unsigned count;
};

struct learn {
	struct lname *names;
	size_t n, cap;
	void *byname, *byaddr, *byflow; /* tsearch trees */
	struct lflow **flows;
	size_t nflows, capflows;
	size_t lines, used;
};

static const char *const wanted[] = {
    "event", "name", "rcode", "addrs", "proto", "dst", "dport", "reason", "comm", "pid", NULL,
};

static int
cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

struct learn *
learn_new(void)
{
	return calloc(1, sizeof(struct learn));
}

static void
noop_free(void *p)
{
	(void)p;
}

void
learn_free(struct learn *l)
{
	if (l == NULL)
		return;
	tdestroy(l->byname, free);
	tdestroy(l->byaddr, free);
	tdestroy(l->byflow, noop_free);
	for (size_t i = 0; i < l->nflows; i++)
		free(l->flows[i]);
	free(l->flows);
	free(l->names);
	free(l);
}

/* The index of name (normalized) in l->names, added when new; -1 on ENOMEM. */
static long
name_index(struct learn *l, const char *name)
{
	struct {
		char name[NAME_MAX_LEN + 1];
		size_t idx;
	} * key, **found;

	found = tfind(name, &l->byname, cmp_name);
	if (found != NULL)
		return (long)(*found)->idx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct lname *v = realloc(l->names, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		l->names = v;
		l->cap = cap;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL)
		return -1;
	snprintf(key->name, sizeof(key->name), "%s", name);
	key->idx = l->n;
	if (tsearch(key, &l->byname, cmp_name) == NULL) {
		free(key);
		return -1;
	}
	memset(&l->names[l->n], 0, sizeof(l->names[0]));
	snprintf(l->names[l->n].name, sizeof(l->names[0].name), "%s", name);
	return (long)l->n++;
}

static void
add_proc(struct lname *n, const struct logread_fields *fs)
{
	const char *comm = logread_field(fs, "comm"), *pid = logread_field(fs, "pid");
	char p[32];

	if (comm != NULL && comm[0] != '\0' && strcmp(comm, "-") != 0)
		snprintf(p, sizeof(p), "%s", comm);
	else if (pid != NULL && pid[0] != '\0' && strcmp(pid, "-") != 0)
		snprintf(p, sizeof(p), "pid %s", pid);
	else
		return;
	/* Comments carry it: nothing that could end the line. */
	for (char *c = p; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	for (size_t i = 0; i < n->nprocs; i++)
		if (strcmp(n->procs[i], p) == 0)
			return;
	if (n->nprocs < LEARN_MAX_PROCS)
		snprintf(n->procs[n->nprocs++], sizeof(n->procs[0]), "%s", p);
	else
		n->moreprocs++;
}

/* An address in the form inet_ntop gives, so that the dns and flow lines
 * agree on it; -1 when it is none. */
static int
canon_ip(const char *in, char *out, size_t len)
{
	uint8_t ip[16];
	int af = strchr(in, ':') != NULL ? AF_INET6 : AF_INET;

	if (inet_pton(af, in, ip) != 1 || inet_ntop(af, ip, out, (socklen_t)len) == NULL)
		return -1;
	return 0;
}

static int
cmp_addr(const void *a, const void *b)
{
	return strcmp(((const struct laddr *)a)->ip, ((const struct laddr *)b)->ip);
}

static void
map_addrs(struct learn *l, const char *addrs, size_t idx)
{
	char buf[VALUE_MAX], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", addrs);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		struct laddr *a = calloc(1, sizeof(*a)), **found;

		if (a == NULL)
			return;
		if (canon_ip(t, a->ip, sizeof(a->ip)) != 0) {
			free(a);
			continue;
		}
		found = tsearch(a, &l->byaddr, cmp_addr);
		if (found == NULL) {
			free(a);
			return;
		}
		if (*found != a)
			free(a);
		/* The latest lookup wins, as the gate's set would have it. */
		(*found)->idx = idx;
	}
}

/* gcc -fanalyzer (12) does not know that tsearch keeps its key, and takes
 * the keys name_index and flow_line hand to l->byname and l->byflow (freed
 * by learn_free) for leaks, in dns_line and flow_line. */
#ifndef __clang__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
dns_line(struct learn *l, const struct logread_fields *fs)
{
	const char *name = logread_field(fs, "name"), *rcode = logread_field(fs, "rcode");
	const char *event = logread_field(fs, "event"), *addrs = logread_field(fs, "addrs"), *err;
	char norm[NAME_MAX_LEN + 1];
	long idx;

	/* A name that does not exist needs no line: search-list walks and
	 * typos end here. */
	if (name == NULL || (rcode != NULL && strcmp(rcode, "NOERROR") != 0) ||
	    name_normalize(name, norm, &err) != 0)
		return 0;
	idx = name_index(l, norm);
	if (idx < 0)
		return 0;
	l->names[idx].lookups++;
	if (strcmp(event, "dns.allow") == 0)
		l->names[idx].listed = true;
	add_proc(&l->names[idx], fs);
	if (addrs != NULL)
		map_addrs(l, addrs, (size_t)idx);
	return 1;
}
static int
cmp_flow(const void *a, const void *b)
{
	return strcmp(((const struct lflow *)a)->key, ((const struct lflow *)b)->key);
}

static int
flow_line(struct learn *l, const struct logread_fields *fs)
{
	const char *reason = logread_field(fs, "reason"), *proto = logread_field(fs, "proto");
	const char *dst = logread_field(fs, "dst"), *dport = logread_field(fs, "dport"),
	           *name = logread_field(fs, "name");
	const char *err;
	char ip[INET6_ADDRSTRLEN], norm[NAME_MAX_LEN + 1], pt[24];
	struct laddr key, **a;
	struct port p;
	long idx = -1;

	/* Only what a domain line can allow: not DNS to another server,
	 * inbound flows, other protocols or broken packets. */
	if (reason != NULL && strcmp(reason, "unresolved") != 0 && strcmp(reason, "expired") != 0 &&
	    strcmp(reason, "port") != 0)
		return 0;
	if (proto == NULL || dst == NULL || dport == NULL || canon_ip(dst, ip, sizeof(ip)) != 0)
		return 0;
	snprintf(pt, sizeof(pt), "%s/%s", proto, dport);
	if (port_parse(pt, &p) != 0)
		return 0;
	if (name != NULL && name[0] != '\0' && name_normalize(name, norm, &err) == 0) {
		idx = name_index(l, norm);
	} else {
		snprintf(key.ip, sizeof(key.ip), "%s", ip);
		a = tfind(&key, &l->byaddr, cmp_addr);
		if (a != NULL)
			idx = (long)(*a)->idx;
	}
	if (idx < 0) {
		struct lflow *f = calloc(1, sizeof(*f)), **found;

		if (f == NULL)
			return 0;
		snprintf(f->key, sizeof(f->key), "%s %s %u", p.proto == IPPROTO_TCP ? "tcp" : "udp",
		         ip, (unsigned)p.port);
		found = tsearch(f, &l->byflow, cmp_flow);
		if (found == NULL) {
			free(f);
			return 0;
		}
		if (*found != f) {
			free(f);
		} else {
			if (l->nflows == l->capflows) {
				size_t cap = l->capflows ? l->capflows * 2 : 16;
				struct lflow **v = realloc(l->flows, cap * sizeof(*v));

				if (v == NULL) {
					tdelete(f, &l->byflow, cmp_flow);
					free(f);
					return 0;
				}
				l->flows = v;
				l->capflows = cap;
			}
			l->flows[l->nflows++] = f;
		}
		(*found)->count++;
		return 1;
	}
	l->names[idx].flows++;
	/* A full list keeps the ports it has: the line then says so. */
	portlist_add(&l->names[idx].ports, p);
	add_proc(&l->names[idx], fs);
	return 1;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

int
learn_line(struct learn *l, const char *line)
{
	static struct logread_fields fs;
	const char *event;
	int r = 0;

	l->lines++;
	logread_parse(line, wanted, &fs);
	event = logread_field(&fs, "event");
	if (event == NULL)
		return 0;
	if (strcmp(event, "dns.allow") == 0 || strcmp(event, "dns.audit") == 0)
		r = dns_line(l, &fs);
	else if (strcmp(event, "flow.audit") == 0 || strcmp(event, "flow.deny") == 0)
		r = flow_line(l, &fs);
	if (r > 0)
		l->used++;
	return r;
}

/* ---- the section */

/* What one printed entry stands for: a name, or the names of a group. */
struct proposal {
	char pat[NAME_MAX_LEN + 3];
	char sort[NAME_MAX_LEN + 1]; /* the registrable domain */
	struct portlist ports;
	bool deflt;
	unsigned lookups, flows, names, listed;
	size_t first, end; /* its names in the sorted names (covered ones skipped) */
};

static const char *
group_of(const struct lname *n)
{
	return n->name + n->goff;
}

static int
cmp_flow_p(const void *a, const void *b)
{
	return cmp_flow(*(const struct lflow *const *)a, *(const struct lflow *const *)b);
}

static int
cmp_lname(const void *a, const void *b)
{
	const struct lname *x = a, *y = b;
	int c = strcmp(x->name + x->goff, y->name + y->goff);

	return c != 0 ? c : strcmp(x->name, y->name);
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct proposal *x = a, *y = b;
	int c = strcmp(x->sort, y->sort);

	return c != 0 ? c : strcmp(x->pat, y->pat);
}

/* Takes away what the merge config already allows: ports its lines give
 * the name, and the [gate] ports when one of its lines without ports (or
 * with all of them) matches. */
static void
apply_merge(struct lname *n, const struct conf *m)
{
	struct portlist have, left;

	n->deflt = n->listed || n->ports.n == 0;
	if (m == NULL || !conf_lookup(m, n->name, strlen(n->name), &have))
		return;
	if (n->deflt && portlist_covers(&have, &m->ports))
		n->deflt = false;
	memset(&left, 0, sizeof(left));
	for (size_t i = 0; i < n->ports.n; i++)
		if (!portlist_has(&have, n->ports.v[i].proto, n->ports.v[i].port))
			portlist_add(&left, n->ports.v[i]);
	n->ports = left;
	n->covered = !n->deflt && n->ports.n == 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The distinct processes of names v[0..n), sorted, the first
 * LEARN_MAX_PROCS of them by name and the rest counted. */
static void
print_procs(FILE *f, const struct lname *v, size_t n)
{
	static char seen[64][32];
	size_t ns = 0, more = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].covered)
			continue;
		more += v[i].moreprocs;
		for (size_t j = 0; j < v[i].nprocs; j++) {
			size_t k;

			for (k = 0; k < ns && strcmp(seen[k], v[i].procs[j]) != 0; k++)
				;
			if (k < ns)
				continue;
			if (ns < sizeof(seen) / sizeof(seen[0]))
				snprintf(seen[ns++], sizeof(seen[0]), "%s", v[i].procs[j]);
			else
				more++;
		}
	}
	if (ns == 0)
		return;
	qsort(seen, ns, sizeof(seen[0]), cmp_str);
	fprintf(f, "; processes:");
	for (size_t k = 0; k < ns && k < LEARN_MAX_PROCS; k++)
		fprintf(f, " %s", seen[k]);
	if (ns > LEARN_MAX_PROCS)
		more += ns - LEARN_MAX_PROCS;
	if (more > 0)
		fprintf(f, " +%zu more", more);
	fprintf(f, "\n");
}

static int
cmp_port(const void *a, const void *b)
{
	const struct port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto == IPPROTO_TCP ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static void
print_entry(FILE *f, const struct proposal *e, const struct lname *names)
{
	char ports[CONF_MAX_PORTS * 10];
	struct portlist sorted = e->ports;

	if (e->names > 1) {
		fprintf(f, "; %u names under %s:", e->names, e->sort);
		for (size_t i = e->first; i < e->end; i++)
			if (!names[i].covered)
				fprintf(f, " %s", names[i].name);
		fprintf(f, "\n");
	}
	fprintf(f, "; %u lookup%s, %u flow%s%s\n", e->lookups, e->lookups == 1 ? "" : "s", e->flows,
	        e->flows == 1 ? "" : "s",
	        e->flows == 0 ? ": none logged, so the [gate] ports" : "");
	if (e->listed > 0 && e->flows > 0)
		fprintf(f, "; on the list when logged: flows on its ports then were not logged, so "
		           "the [gate] ports as well\n");
	print_procs(f, names + e->first, e->end - e->first);
	if (e->deflt)
		fprintf(f, "domain = %s\n", e->pat);
	/* tcp before udp, each by number: the same set prints the same */
	qsort(sorted.v, sorted.n, sizeof(sorted.v[0]), cmp_port);
	if (sorted.n > 0)
		fprintf(f, "domain = %s %s\n", e->pat, portlist_fmt(&sorted, ports, sizeof(ports)));
}

/* Echoes the [allow] lines of the merge file. */
static int
print_merge_allow(FILE *f, const char *path)
{
	FILE *in = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	bool in_allow = false;

	if (in == NULL)
		return -1;
	fprintf(f, "[allow]\n; from %s\n", path);
	while (getline(&line, &cap, in) > 0) {
		const char *s = line;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[') {
			in_allow = strncmp(s, "[allow]", 7) == 0;
			continue;
		}
		if (in_allow && *s != '\n' && *s != '\0')
			fprintf(f, "%s%s", line, line[strlen(line) - 1] == '\n' ? "" : "\n");
	}
	free(line);
	fclose(in);
	return 0;
}

int
learn_print(FILE *f, struct learn *l, const struct learn_opts *o)
{
	struct lname *v = l->names;
	struct proposal *e = calloc(l->n ? l->n : 1, sizeof(*e));
	char why[3 * NAME_MAX_LEN + 128];
	size_t ne = 0, ncovered = 0, i, j;
	const char *g0;
	char *notebuf = NULL;
	size_t notelen = 0;
	FILE *notes;

	if (e == NULL)
		return -1;
	notes = open_memstream(&notebuf, &notelen);
	for (i = 0; i < l->n; i++) {
		apply_merge(&v[i], o->merge);
		if (v[i].covered)
			ncovered++;
		g0 = suffix_registrable(v[i].name);
		v[i].goff = g0 != NULL ? (size_t)(g0 - v[i].name) : 0;
	}
	/* By registrable domain, then name: a group's names come together,
	 * and every run prints the same. (The indexes into names are stale
	 * from here on: learn_print ends a learn.) */
	if (l->n > 0)
		qsort(v, l->n, sizeof(*v), cmp_lname);
	if (o->merge_path != NULL) {
		if (print_merge_allow(f, o->merge_path) != 0) {
			if (notes != NULL)
				fclose(notes);
			free(notebuf);
			free(e);
			return -1;
		}
		fprintf(f, "\n; added by namegate learn\n");
	} else {
		fprintf(f, "[allow]\n");
	}
	fprintf(f, "; namegate learn: %zu of %zu log lines used, %zu names", l->used, l->lines,
	        l->n);
	if (ncovered > 0)
		fprintf(f, " (%zu already allowed by %s)", ncovered, o->merge_path);
	fprintf(f, "\n");
	for (i = 0; i < l->n;) {
		const char *g = group_of(&v[i]);
		size_t end = i, subs = 0;
		bool apex = false, group;
		struct pattern p;

		while (end < l->n && strcmp(group_of(&v[end]), g) == 0) {
			if (!v[end].covered) {
				if (v[end].goff == 0)
					apex = true;
				else
					subs++;
			}
			end++;
		}
		memset(&p, 0, sizeof(p));
		p.kind = apex ? PATTERN_APEX_AND_SUBDOMAINS : PATTERN_SUBDOMAINS;
		p.len = strlen(g);
		snprintf(p.name, sizeof(p.name), "%s", g);
		/* Enough names below one registrable domain, and no public
		 * suffix at it or below it (suffix.h). */
		group = o->group > 0 && subs >= o->group;
		if (group && suffix_pattern_why(&p, o->dat, why, sizeof(why)) != NULL) {
			if (notes != NULL)
				fprintf(notes, "; not grouped: %s\n", why);
			group = false;
		}
		for (j = i; j < end; j++) {
			struct proposal *x;

			if (v[j].covered)
				continue;
			if (!group || ne == 0 || e[ne - 1].first != i || e[ne - 1].names == 0 ||
			    e[ne - 1].end != end) {
				x = &e[ne++];
				snprintf(x->sort, sizeof(x->sort), "%s", g);
				x->first = group ? i : j;
				x->end = group ? end : j + 1;
				if (group)
					pattern_fmt(&p, x->pat, sizeof(x->pat));
				else
					snprintf(x->pat, sizeof(x->pat), "%s", v[j].name);
			}
			x = &e[ne - 1];
			x->names++;
			x->lookups += v[j].lookups;
			x->flows += v[j].flows;
			x->listed += v[j].listed ? 1 : 0;
			x->deflt = x->deflt || v[j].deflt;
			for (size_t k = 0; k < v[j].ports.n; k++)
				portlist_add(&x->ports, v[j].ports.v[k]);
		}
		i = end;
	}
	if (ne > 0)
		qsort(e, ne, sizeof(*e), cmp_entry);
	for (i = 0; i < ne; i++)
		print_entry(f, &e[i], v);
	if (l->nflows > 0) {
		struct lflow **fl = l->flows;

		qsort(fl, l->nflows, sizeof(*fl), cmp_flow_p);
		fprintf(f, "; not proposed: flows to addresses no lookup in the log handed out "
		           "(a direct IP, or a lookup before the log began)\n");
		for (i = 0; i < l->nflows; i++)
			fprintf(f, ";   %s: %u flow%s\n", fl[i]->key, fl[i]->count,
			        fl[i]->count == 1 ? "" : "s");
	}
	if (notes != NULL) {
		fclose(notes);
		fputs(notebuf, f);
		free(notebuf);
	}
	free(e);
	return ferror(f) ? -1 : 0;
}
