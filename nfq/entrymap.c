/* The gate's record of its set entries: a chained hash of entries, each
 * with one member record per line that holds it; each line keeps its
 * members in the order they were last added. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "entrymap.h"
#include "hash.h"
#include "list.h"

#define NBUCKETS 65536 /* power of two */
/* A line over its bound looks for entries that ran out at most this often. */
#define LINE_PRUNE_MS 1000

struct ent;

struct member {
	struct ent *ent;
	uint32_t line;
	struct list_node link; /* the line's order */
	struct member *next;   /* the entry's other lines */
	bool moved;            /* entrymap_relines: on its new line */
};

struct ent {
	int family;
	uint8_t ip[16];
	uint8_t proto;
	uint16_t port;
	uint64_t expires_ms;
	uint64_t batch; /* the last batch that added it */
	struct ent *hnext;
	struct member *members;
};

struct line {
	struct list members; /* least recently added first */
	size_t count;
	uint64_t pruned_ms;
};

struct entrymap {
	struct ent *buckets[NBUCKETS];
	struct line *lines;
	size_t nlines;
	size_t count;
	uint64_t seed;
	uint32_t removals;
};

struct entrymap *
entrymap_new(uint64_t seed)
{
	struct entrymap *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->seed = seed;
	return m;
}

/* Seeded (common/hash.h): the addresses come from answers an outsider may
 * choose. */
static size_t
bucket_of(const struct entrymap *m, int family, const uint8_t *ip, uint8_t proto, uint16_t port)
{
	uint64_t h = hash_init(m->seed);

	h = hash_byte(h, (uint8_t)family);
	h = hash_bytes(h, ip, family == AF_INET ? 4 : 16);
	h = hash_byte(h, proto);
	h = hash_byte(h, (uint8_t)(port >> 8));
	h = hash_byte(h, (uint8_t)(port & 0xff));
	return (size_t)(hash_final(h) & (NBUCKETS - 1));
}

static size_t
bucket_of_ent(const struct entrymap *m, const struct ent *x)
{
	return bucket_of(m, x->family, x->ip, x->proto, x->port);
}

static struct ent **
find(struct entrymap *m, const struct ipset_entry *e)
{
	size_t n = e->family == AF_INET ? 4 : 16;
	struct ent **pp = &m->buckets[bucket_of(m, e->family, e->ip, e->proto, e->port)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		const struct ent *x = *pp;

		if (x->family == e->family && x->proto == e->proto && x->port == e->port &&
		    memcmp(x->ip, e->ip, n) == 0)
			break;
	}
	return pp;
}

static void
line_unlink(struct line *l, struct member *mb)
{
	list_remove(&mb->link);
	l->count--;
}

static void
line_append(struct line *l, struct member *mb)
{
	list_push_back(&l->members, &mb->link);
	l->count++;
}

static struct member *
member_of(struct list_node *n)
{
	return list_entry(n, struct member, link);
}

/* n lines, each empty. NULL when out of memory. */
static struct line *
lines_new(size_t n)
{
	struct line *v = calloc(n > 0 ? n : 1, sizeof(*v));

	for (size_t i = 0; v != NULL && i < n; i++)
		list_init(&v[i].members);
	return v;
}

/* Takes x out of the hash and every line, and frees it. */
static void
ent_free(struct entrymap *m, struct ent *x)
{
	struct ent **pp = &m->buckets[bucket_of_ent(m, x)];
	struct member *mb, *next;

	while (*pp != NULL && *pp != x)
		pp = &(*pp)->hnext;
	if (*pp == x)
		*pp = x->hnext;
	for (mb = x->members; mb != NULL; mb = next) {
		next = mb->next;
		line_unlink(&m->lines[mb->line], mb);
		free(mb);
	}
	free(x);
	m->count--;
}

/* Removes mb from its entry's list and its line, and frees it. */
static void
member_free(struct entrymap *m, struct member *mb)
{
	struct member **pp = &mb->ent->members;

	while (*pp != NULL && *pp != mb)
		pp = &(*pp)->next;
	if (*pp == mb)
		*pp = mb->next;
	line_unlink(&m->lines[mb->line], mb);
	free(mb);
}

/* Not realloc: each line's head is a node its members point at, so the
 * members move over to the new heads (list_splice_back, whole lists). */
static int
grow_lines(struct entrymap *m, size_t n)
{
	struct line *nl;

	if (n <= m->nlines)
		return 0;
	nl = lines_new(n);
	if (nl == NULL)
		return -1;
	for (size_t i = 0; i < m->nlines; i++) {
		nl[i].count = m->lines[i].count;
		nl[i].pruned_ms = m->lines[i].pruned_ms;
		list_splice_back(&nl[i].members, &m->lines[i].members);
	}
	free(m->lines);
	m->lines = nl;
	m->nlines = n;
	return 0;
}

uint32_t
entrymap_add(struct entrymap *m, const struct ipset_entry *e, uint32_t ttl, const uint32_t *lines,
             size_t n, uint64_t now_ms, uint64_t batch)
{
	struct ent **pp = find(m, e), *x = *pp;
	uint64_t want = now_ms + (uint64_t)ttl * 1000;
	uint32_t send = ttl;
	size_t i;

	if (x == NULL) {
		x = calloc(1, sizeof(*x));
		if (x == NULL)
			return 0;
		x->family = e->family;
		memcpy(x->ip, e->ip, e->family == AF_INET ? 4 : 16);
		x->proto = e->proto;
		x->port = e->port;
		*pp = x;
		m->count++;
	}
	if (x->expires_ms > want)
		send = ENTRYMAP_HELD;
	else
		x->expires_ms = want;
	x->batch = batch;
	for (i = 0; i < n; i++) {
		struct member *mb;

		if (grow_lines(m, (size_t)lines[i] + 1) < 0)
			return 0;
		for (mb = x->members; mb != NULL && mb->line != lines[i]; mb = mb->next)
			;
		if (mb != NULL) {
			line_unlink(&m->lines[mb->line], mb);
		} else {
			mb = calloc(1, sizeof(*mb));
			if (mb == NULL)
				return 0;
			mb->ent = x;
			mb->line = lines[i];
			mb->next = x->members;
			x->members = mb;
		}
		line_append(&m->lines[mb->line], mb);
	}
	return send;
}

void
entrymap_forget(struct entrymap *m, const struct ipset_entry *e)
{
	struct ent *x = *find(m, e);

	if (x == NULL)
		return;
	ent_free(m, x);
	m->removals++;
}

/* Drops the members of line whose entries ran out; an entry no line holds
 * any more goes. */
static void
prune_line(struct entrymap *m, uint32_t line, uint64_t now_ms)
{
	struct list_node *n, *tmp;

	/* Removes mb only: an entry has one member per line. */
	list_for_each_safe(n, tmp, &m->lines[line].members)
	{
		struct member *mb = member_of(n);
		struct ent *x = mb->ent;

		if (x->expires_ms <= now_ms) {
			member_free(m, mb);
			if (x->members == NULL)
				ent_free(m, x);
		}
	}
	m->lines[line].pruned_ms = now_ms;
}

size_t
entrymap_trim(struct entrymap *m, uint32_t line, size_t max, uint64_t now_ms, uint64_t batch,
              struct ipset_entry *out, size_t outmax)
{
	struct list_node *n, *tmp;
	struct line *l;
	size_t nout = 0;

	if (line >= m->nlines)
		return 0;
	l = &m->lines[line];
	if (l->count > max && now_ms >= l->pruned_ms + LINE_PRUNE_MS)
		prune_line(m, line, now_ms);
	list_for_each_safe(n, tmp, &l->members)
	{
		struct member *mb = member_of(n);
		struct ent *x = mb->ent;

		if (l->count <= max || nout >= outmax)
			break;
		/* This batch's answers hand it out (for this line or another):
		 * what is left over the bound is theirs. */
		if (x->batch == batch)
			continue;
		member_free(m, mb);
		if (x->members != NULL)
			continue;
		if (x->expires_ms > now_ms) {
			struct ipset_entry *o = &out[nout++];

			memset(o, 0, sizeof(*o));
			o->family = x->family;
			memcpy(o->ip, x->ip, sizeof(o->ip));
			o->proto = x->proto;
			o->port = x->port;
			m->removals++;
		}
		ent_free(m, x);
	}
	return nout;
}

bool
entrymap_live(const struct entrymap *m, int family, const uint8_t *ip, uint8_t proto, uint16_t port,
              uint64_t now_ms)
{
	size_t n = family == AF_INET ? 4 : 16;
	const struct ent *x = m->buckets[bucket_of(m, family, ip, proto, port)];

	for (; x != NULL; x = x->hnext) {
		if (x->family == family && x->proto == proto && x->port == port &&
		    memcmp(x->ip, ip, n) == 0)
			return x->expires_ms > now_ms;
	}
	return false;
}

size_t
entrymap_line_count(const struct entrymap *m, uint32_t line)
{
	return line < m->nlines ? m->lines[line].count : 0;
}

size_t
entrymap_count(const struct entrymap *m)
{
	return m->count;
}

void
entrymap_prune(struct entrymap *m, uint64_t now_ms)
{
	for (size_t i = 0; i < m->nlines; i++)
		prune_line(m, (uint32_t)i, now_ms);
}

static void
free_all(struct entrymap *m)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct ent *x;

		/* Unlinked here, so the bucket never points at a freed entry
		 * whatever ent_free finds. */
		while ((x = m->buckets[b]) != NULL) {
			m->buckets[b] = x->hnext;
			ent_free(m, x);
		}
	}
}

void
entrymap_clear(struct entrymap *m)
{
	free_all(m);
	m->removals++;
}

int
entrymap_relines(struct entrymap *m, const uint32_t *remap, size_t n_old, size_t n_new)
{
	struct line *nl = lines_new(n_new);
	struct list_node *n, *tmp;
	size_t i;

	if (nl == NULL) {
		entrymap_clear(m);
		return -1;
	}
	/* Oldest first, line by line, so each new line keeps the order of
	 * the old one it came from. */
	for (i = 0; i < m->nlines; i++) {
		list_for_each_safe(n, tmp, &m->lines[i].members)
		{
			struct member *mb = member_of(n);
			uint32_t to = i < n_old ? remap[i] : UINT32_MAX;
			struct member *other;

			for (other = mb->ent->members; other != NULL; other = other->next) {
				if (other->moved && other->line == to)
					break;
			}
			list_remove(&mb->link);
			if (to >= n_new || other != NULL) {
				/* The line went, or two old lines became one and
				 * the entry is counted there already. */
				struct member **pp = &mb->ent->members;

				while (*pp != mb)
					pp = &(*pp)->next;
				*pp = mb->next;
				free(mb);
				continue;
			}
			mb->line = to;
			mb->moved = true;
			line_append(&nl[to], mb);
		}
	}
	for (i = 0; i < n_new; i++) {
		list_for_each_safe(n, tmp, &nl[i].members)
		{
			member_of(n)->moved = false;
		}
	}
	free(m->lines);
	m->lines = nl;
	m->nlines = n_new;
	/* An entry that no line holds is not bounded by any: out. */
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct ent *x = m->buckets[b], *next;

		for (; x != NULL; x = next) {
			next = x->hnext;
			if (x->members == NULL)
				ent_free(m, x);
		}
	}
	return 0;
}

uint32_t
entrymap_removals(const struct entrymap *m)
{
	return m->removals;
}

void
entrymap_free(struct entrymap *m)
{
	if (m == NULL)
		return;
	free_all(m);
	free(m->lines);
	free(m);
}
