/*
 * namegate status / why: see status.h.
 */
#include "status.h"
#include "logread.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <search.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define COLS 5
#define COL_LEN 256
#define WHY_MAX_LINES 8
#define WHY_MAX_ITEMS 64
#define WHY_TEXT_LEN 512

/* One entry of the sets. name points into the status's name tree. */
struct sentry {
	int family;
	uint8_t ip[16];
	struct port p;
	uint32_t ttl;
	const char *name;
};

/* One row of a denial grouping: its columns, count and latest time. */
struct scount {
	char key[COLS * COL_LEN];
	char col[COLS][COL_LEN];
	char last[40];
	unsigned long count;
};

struct sgroup {
	void *tree;
	struct scount **v;
	size_t n, cap;
	unsigned long other; /* lines past STATUS_MAX_KEYS keys */
};

/* The latest lookup that handed an address out (for "expired"). */
struct slookup {
	char ip[INET6_ADDRSTRLEN];
	char name[NAME_MAX_LEN + 1];
	char ts[40];
};

struct status {
	const struct conf *conf;
	void *names; /* tsearch of char * */
	struct sentry *v;
	size_t n, cap;
	unsigned long more; /* entries past STATUS_MAX_ENTRIES */
	bool sorted;
	struct sgroup by_name, by_dst, by_proc;
	void *lookups;
	size_t nlookups;
	unsigned long denials;
	char first[40], last[40];
	char log[PATH_MAX];
	bool log_cut;
};

static const char *const wanted[] = {
    "ts",    "event",  "name", "rcode", "addrs", "proto", "dst",
    "dport", "reason", "uid",  "pid",   "comm",  "exe",   NULL,
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int
cmp_count(const void *a, const void *b)
{
	return strcmp(((const struct scount *)a)->key, ((const struct scount *)b)->key);
}

static int
cmp_lookup(const void *a, const void *b)
{
	return strcmp(((const struct slookup *)a)->ip, ((const struct slookup *)b)->ip);
}

struct status *
status_new(const struct conf *c)
{
	struct status *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->conf = c;
	return s;
}

static void
group_free(struct sgroup *g)
{
	tdestroy(g->tree, free);
	free(g->v);
}

void
status_free(struct status *s)
{
	if (s == NULL)
		return;
	tdestroy(s->names, free);
	tdestroy(s->lookups, free);
	group_free(&s->by_name);
	group_free(&s->by_dst);
	group_free(&s->by_proc);
	free(s->v);
	free(s);
}

void
status_set_log(struct status *s, const char *path, bool cut)
{
	snprintf(s->log, sizeof(s->log), "%s", path != NULL ? path : "");
	s->log_cut = cut;
}

/* ---- the set entries */

static const char *
intern(struct status *s, const char *name)
{
	char *copy, **found = tfind(name, &s->names, cmp_str);

	if (found != NULL)
		return *found;
	copy = strdup(name);
	if (copy == NULL)
		return NULL;
	found = tsearch(copy, &s->names, cmp_str);
	if (found == NULL || *found != copy) {
		free(copy);
		return found != NULL ? *found : NULL;
	}
	return copy;
}

void
status_add_entry(struct status *s, int family, const uint8_t *ip, uint8_t proto, uint16_t port,
                 uint32_t timeout, const char *comment)
{
	struct sentry *e;
	char norm[NAME_MAX_LEN + 1];
	const char *err, *name = "-";

	if (family != AF_INET && family != AF_INET6)
		return;
	if (s->n == STATUS_MAX_ENTRIES) {
		s->more++;
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct sentry *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL) {
			s->more++;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	/* The kernel keeps what the gate wrote; a comment that is no host
	 * name (another writer) is shown as "-". */
	if (comment != NULL && name_normalize(comment, norm, &err) == 0)
		name = norm;
	e = &s->v[s->n];
	memset(e, 0, sizeof(*e));
	e->family = family;
	memcpy(e->ip, ip, family == AF_INET ? 4 : 16);
	e->p.proto = proto;
	e->p.port = port;
	e->ttl = timeout;
	e->name = intern(s, name);
	if (e->name == NULL) {
		s->more++;
		return;
	}
	s->n++;
	s->sorted = false;
}

static int
cmp_port(const struct port *x, const struct port *y)
{
	if (x->proto != y->proto)
		return x->proto == IPPROTO_TCP ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static int
cmp_ip(const struct sentry *x, const struct sentry *y)
{
	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	return memcmp(x->ip, y->ip, x->family == AF_INET ? 4 : 16);
}

/* By name, address, port: a name's rows come together, the same every run. */
static int
cmp_entry(const void *a, const void *b)
{
	const struct sentry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c == 0)
		c = cmp_ip(x, y);
	return c != 0 ? c : cmp_port(&x->p, &y->p);
}

static void
sort_entries(struct status *s)
{
	if (!s->sorted && s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), cmp_entry);
	s->sorted = true;
}

static const char *
ip_fmt(int family, const uint8_t *ip, char *buf, size_t len)
{
	if (inet_ntop(family, ip, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

static const char *
port_fmt(const struct port *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u", p->proto == IPPROTO_TCP ? "tcp" : "udp", (unsigned)p->port);
	return buf;
}

/* ---- the log */

/* What the log says ends up in a terminal: nothing that moves the cursor. */
static void
clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

static struct scount *
group_count(struct sgroup *g, const char *const *cols, size_t ncols, const char *ts)
{
	struct scount *c = calloc(1, sizeof(*c)), **found;
	size_t used = 0;

	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < ncols && i < COLS; i++) {
		snprintf(c->col[i], COL_LEN, "%s", cols[i] != NULL && cols[i][0] ? cols[i] : "-");
		clean(c->col[i]);
		used += (size_t)snprintf(c->key + used, sizeof(c->key) - used, "%s\x1f", c->col[i]);
	}
	found = tfind(c, &g->tree, cmp_count);
	if (found == NULL) {
		if (g->n == STATUS_MAX_KEYS) {
			free(c);
			g->other++;
			return NULL;
		}
		if (g->n == g->cap) {
			size_t cap = g->cap ? g->cap * 2 : 64;
			struct scount **v = realloc(g->v, cap * sizeof(*v));

			if (v == NULL) {
				free(c);
				g->other++;
				return NULL;
			}
			g->v = v;
			g->cap = cap;
		}
		found = tsearch(c, &g->tree, cmp_count);
		if (found == NULL) {
			free(c);
			g->other++;
			return NULL;
		}
		g->v[g->n++] = c;
	} else {
		free(c);
	}
	(*found)->count++;
	if (ts != NULL && strcmp(ts, (*found)->last) > 0) {
		snprintf((*found)->last, sizeof((*found)->last), "%s", ts);
		clean((*found)->last);
	}
	return *found;
}

static void
remember_lookups(struct status *s, const char *name, const char *addrs, const char *ts)
{
	char buf[LOGREAD_VALUE_MAX], norm[NAME_MAX_LEN + 1], *save = NULL;
	const char *err;

	if (name_normalize(name, norm, &err) != 0)
		return;
	snprintf(buf, sizeof(buf), "%s", addrs);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		struct slookup *l, **found;
		uint8_t ip[16];
		int af = strchr(t, ':') != NULL ? AF_INET6 : AF_INET;

		if (inet_pton(af, t, ip) != 1)
			continue;
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			return;
		ip_fmt(af, ip, l->ip, sizeof(l->ip));
		found = tfind(l, &s->lookups, cmp_lookup);
		if (found == NULL) {
			if (s->nlookups >= STATUS_MAX_KEYS * 16 ||
			    (found = tsearch(l, &s->lookups, cmp_lookup)) == NULL) {
				free(l);
				continue;
			}
			s->nlookups++;
		} else {
			free(l);
		}
		/* The latest lookup wins, as in the sets. */
		snprintf((*found)->name, sizeof((*found)->name), "%s", norm);
		snprintf((*found)->ts, sizeof((*found)->ts), "%s", ts != NULL ? ts : "");
		clean((*found)->ts);
	}
}

static void
count_process(struct status *s, const struct logread_fields *fs, const char *ts)
{
	const char *uid = logread_field(fs, "uid"), *comm = logread_field(fs, "comm");
	const char *pid = logread_field(fs, "pid"), *exe = logread_field(fs, "exe");
	const char *cols[4];
	struct scount *c;

	/* A line with neither a uid nor a process (a dns line without the
	 * process keys, an inbound flow) names nobody. */
	if ((uid == NULL || strcmp(uid, "-") == 0) && comm == NULL && pid == NULL)
		return;
	cols[0] = uid;
	cols[1] = comm;
	cols[2] = exe;
	cols[3] = NULL;
	c = group_count(&s->by_proc, cols, 3, ts);
	/* The pid changes with every run of a command: the latest is kept
	 * as a column outside the key. */
	if (c != NULL && pid != NULL && ts != NULL && strcmp(ts, c->last) >= 0) {
		snprintf(c->col[3], COL_LEN, "%s", pid);
		clean(c->col[3]);
	}
}

int
status_log_line(struct status *s, const char *line)
{
	static struct logread_fields fs;
	const char *event, *ts, *cols[5];
	bool dns, flow;

	logread_parse(line, wanted, &fs);
	event = logread_field(&fs, "event");
	ts = logread_field(&fs, "ts");
	if (event == NULL)
		return 0;
	if (strcmp(event, "dns.allow") == 0) {
		const char *name = logread_field(&fs, "name"), *addrs = logread_field(&fs, "addrs");

		if (name != NULL && addrs != NULL)
			remember_lookups(s, name, addrs, ts);
		return 1;
	}
	dns = strcmp(event, "dns.deny") == 0 || strcmp(event, "dns.audit") == 0;
	flow = strcmp(event, "flow.deny") == 0 || strcmp(event, "flow.audit") == 0;
	if (!dns && !flow)
		return 0;
	s->denials++;
	if (ts != NULL && (s->first[0] == '\0' || strcmp(ts, s->first) < 0)) {
		snprintf(s->first, sizeof(s->first), "%s", ts);
		clean(s->first);
	}
	if (ts != NULL && strcmp(ts, s->last) > 0) {
		snprintf(s->last, sizeof(s->last), "%s", ts);
		clean(s->last);
	}
	if (dns) {
		char *name = (char *)logread_field(&fs, "name");

		/* One name in any case is one row, as the rate limiter keys it. */
		for (char *p = name; p != NULL && *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cols[0] = name;
		cols[1] = event[4] == 'a' ? "audit" : logread_field(&fs, "rcode");
		group_count(&s->by_name, cols, 2, ts);
	} else {
		cols[0] = logread_field(&fs, "proto");
		cols[1] = logread_field(&fs, "dst");
		cols[2] = logread_field(&fs, "dport");
		cols[3] = logread_field(&fs, "reason");
		cols[4] = logread_field(&fs, "name");
		if (event[5] == 'a' && cols[3] != NULL) {
			static char r[COL_LEN];

			snprintf(r, sizeof(r), "%s(audit)", cols[3]);
			cols[3] = r;
		}
		group_count(&s->by_dst, cols, 5, ts);
	}
	count_process(s, &fs, ts);
	return 1;
}

/* ---- printing */

/* A table: column headers, then rows of strings, printed with each column
 * as wide as its widest cell (the last one not padded). */
struct table {
	size_t ncols, nrows, cap;
	const char *head[8];
	char (*cell)[8][COL_LEN];
};

static void
table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		void *v = realloc(t->cell, cap * sizeof(*t->cell));

		if (v == NULL)
			return;
		t->cell = v;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		snprintf(t->cell[t->nrows][i], COL_LEN, "%s",
		         cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-");
	t->nrows++;
}

static void
table_print(FILE *f, struct table *t)
{
	size_t w[8] = {0};

	for (size_t i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->head[i]);
		for (size_t r = 0; r < t->nrows; r++)
			if (strlen(t->cell[r][i]) > w[i])
				w[i] = strlen(t->cell[r][i]);
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *c = r == 0 ? t->head[i] : t->cell[r - 1][i];

			if (i + 1 == t->ncols)
				fprintf(f, "%s\n", c);
			else
				fprintf(f, "%-*s  ", (int)w[i], c);
		}
	}
	free(t->cell);
	t->cell = NULL;
	t->nrows = t->cap = 0;
}

static json_object *
jstr(const char *s)
{
	return s != NULL && s[0] != '\0' && strcmp(s, "-") != 0 ? json_object_new_string(s) : NULL;
}

static json_object *
ports_json(const struct portlist *pl)
{
	json_object *a = json_object_new_array();
	char b[16];

	for (size_t i = 0; i < pl->n; i++)
		json_object_array_add(a, json_object_new_string(port_fmt(&pl->v[i], b, sizeof(b))));
	return a;
}

static void
sort_ports(struct portlist *pl)
{
	for (size_t i = 1; i < pl->n; i++)
		for (size_t j = i; j > 0 && cmp_port(&pl->v[j - 1], &pl->v[j]) > 0; j--) {
			struct port t = pl->v[j];

			pl->v[j] = pl->v[j - 1];
			pl->v[j - 1] = t;
		}
}

/* A row of the allowed table: one name and address, every port, the
 * least time left among them. */
struct srow {
	const struct sentry *first;
	struct portlist ports;
	uint32_t ttl;
};

/* The row starting at v[i]; returns the index after it. */
static size_t
next_row(const struct sentry *v, size_t n, size_t i, struct srow *r)
{
	memset(r, 0, sizeof(*r));
	r->first = &v[i];
	r->ttl = v[i].ttl;
	for (; i < n && v[i].name == r->first->name && cmp_ip(&v[i], r->first) == 0; i++) {
		portlist_add(&r->ports, v[i].p);
		if (v[i].ttl < r->ttl)
			r->ttl = v[i].ttl;
	}
	return i;
}

static void
ttl_fmt(uint32_t ttl, char *buf, size_t len)
{
	if (ttl == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%us", (unsigned)ttl);
}

static const char *
net_fmt(const struct conf_network *nw, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", addr_ntop(&nw->net, ip, sizeof(ip)), (unsigned)nw->prefix);
	return buf;
}

static int
cmp_count_desc(const void *a, const void *b)
{
	const struct scount *x = *(const struct scount *const *)a;
	const struct scount *y = *(const struct scount *const *)b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static const char *const name_heads[] = {"NAME", "ANSWER"};
static const char *const dst_heads[] = {"PROTO", "DESTINATION", "PORT", "REASON", "NAME"};
static const char *const proc_heads[] = {"UID", "COMM", "EXE", "PID"};
static const char *const name_keys[] = {"name", "answer"};
static const char *const dst_keys[] = {"proto", "destination", "port", "reason", "name"};
static const char *const proc_keys[] = {"uid", "comm", "exe", "pid"};

static void
group_print(FILE *f, json_object *jo, struct sgroup *g, const char *title, const char *const *heads,
            const char *const *keys, size_t ncols, unsigned top)
{
	struct table t = {.ncols = ncols + 2};
	json_object *arr = NULL;
	char cnt[24];
	size_t shown = g->n < top ? g->n : top;

	if (g->n > 0)
		qsort(g->v, g->n, sizeof(*g->v), cmp_count_desc);
	if (jo != NULL) {
		arr = json_object_new_array();
		for (size_t i = 0; i < shown; i++) {
			json_object *r = json_object_new_object();

			json_object_object_add(r, "count",
			                       json_object_new_int64((int64_t)g->v[i]->count));
			for (size_t k = 0; k < ncols; k++)
				json_object_object_add(r, keys[k], jstr(g->v[i]->col[k]));
			json_object_object_add(r, "last", jstr(g->v[i]->last));
			json_object_array_add(arr, r);
		}
		json_object_object_add(jo, title, arr);
		return;
	}
	fprintf(f, "\nby %s:\n", title);
	if (g->n == 0) {
		fprintf(f, "  (none)\n");
		return;
	}
	t.head[0] = "COUNT";
	for (size_t k = 0; k < ncols; k++)
		t.head[k + 1] = heads[k];
	t.head[ncols + 1] = "LAST";
	for (size_t i = 0; i < shown; i++) {
		const char *cells[8];

		snprintf(cnt, sizeof(cnt), "%lu", g->v[i]->count);
		cells[0] = cnt;
		for (size_t k = 0; k < ncols; k++)
			cells[k + 1] = g->v[i]->col[k];
		cells[ncols + 1] = g->v[i]->last[0] ? g->v[i]->last : "-";
		table_row(&t, cells);
	}
	table_print(f, &t);
	if (g->n > shown || g->other > 0)
		fprintf(f, "  ... %zu more\n", g->n - shown + (g->other > 0 ? 1 : 0));
}

static const char *const mode_names[] = {"enforce", "audit"};
static const char *const bind_names[] = {"enforce", "audit", "off"};

int
status_print(FILE *f, struct status *s, bool json, unsigned top)
{
	const struct conf *c = s->conf;
	json_object *jo = NULL, *allowed = NULL, *nets = NULL, *den = NULL, *log = NULL;
	struct table t = {.ncols = 4, .head = {"NAME", "ADDRESS", "PORTS", "TTL"}};
	size_t rows = 0, names = 0;
	struct srow r;
	char ip[INET6_ADDRSTRLEN], ports[CONF_MAX_PORTS * 10], ttl[16], net[64], line[16];
	const char *prev = NULL;

	sort_entries(s);
	if (json) {
		jo = json_object_new_object();
		json_object_object_add(jo, "config", json_object_new_string(c->path));
		json_object_object_add(jo, "mode", json_object_new_string(mode_names[c->mode]));
		json_object_object_add(jo, "bind", json_object_new_string(bind_names[c->bind]));
		allowed = json_object_new_array();
		nets = json_object_new_array();
	} else {
		fprintf(f, "namegate status: mode %s, bind %s, config %s\n", mode_names[c->mode],
		        bind_names[c->bind], c->path);
	}
	for (size_t i = 0; i < s->n; rows++) {
		i = next_row(s->v, s->n, i, &r);
		if (r.first->name != prev)
			names++;
		prev = r.first->name;
		sort_ports(&r.ports);
		ip_fmt(r.first->family, r.first->ip, ip, sizeof(ip));
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", jstr(r.first->name));
			json_object_object_add(o, "address", json_object_new_string(ip));
			json_object_object_add(o, "ports", ports_json(&r.ports));
			json_object_object_add(o, "ttl", json_object_new_int64(r.ttl));
			json_object_array_add(allowed, o);
		} else {
			const char *cells[4] = {r.first->name, ip, ports, ttl};

			portlist_fmt(&r.ports, ports, sizeof(ports));
			ttl_fmt(r.ttl, ttl, sizeof(ttl));
			table_row(&t, cells);
		}
	}
	if (!json) {
		fprintf(f,
		        "\nallowed now: %zu name%s, %zu address%s (the sets namegate4, "
		        "namegate6)\n",
		        names, names == 1 ? "" : "s", rows, rows == 1 ? "" : "es");
		if (rows > 0)
			table_print(f, &t);
		if (s->more > 0)
			fprintf(f, "  ... and %lu entries not read\n", s->more);
	}
	t.ncols = 3;
	t.head[0] = "NETWORK";
	t.head[1] = "PORTS";
	t.head[2] = "LINE";
	for (size_t i = 0; i < c->nnetworks; i++) {
		struct portlist pl = c->networks[i].ports;

		sort_ports(&pl);
		net_fmt(&c->networks[i], net, sizeof(net));
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "network", json_object_new_string(net));
			json_object_object_add(o, "ports", ports_json(&pl));
			json_object_object_add(o, "line", json_object_new_int(c->networks[i].line));
			json_object_array_add(nets, o);
		} else {
			const char *cells[3] = {net, ports, line};

			portlist_fmt(&pl, ports, sizeof(ports));
			snprintf(line, sizeof(line), "%d", c->networks[i].line);
			table_row(&t, cells);
		}
	}
	if (!json && c->nnetworks > 0) {
		fprintf(f, "\nnetworks (network = lines, no DNS involved):\n");
		table_print(f, &t);
	}
	if (json) {
		json_object_object_add(jo, "allowed", allowed);
		json_object_object_add(jo, "allowed_not_read",
		                       json_object_new_int64((int64_t)s->more));
		json_object_object_add(jo, "networks", nets);
		log = json_object_new_object();
		json_object_object_add(log, "file", jstr(s->log[0] ? s->log : NULL));
		json_object_object_add(log, "cut", json_object_new_boolean(s->log_cut));
		json_object_object_add(log, "denials", json_object_new_int64((int64_t)s->denials));
		json_object_object_add(log, "first", jstr(s->first[0] ? s->first : NULL));
		json_object_object_add(log, "last", jstr(s->last[0] ? s->last : NULL));
		json_object_object_add(jo, "log", log);
		den = json_object_new_object();
	} else if (s->log[0] == '\0') {
		fprintf(f, "\nrecent denials: no log read\n");
		return ferror(f) ? -1 : 0;
	} else {
		fprintf(f, "\nrecent denials in %s%s: %lu", s->log,
		        s->log_cut ? " (its last 8 MiB)" : "", s->denials);
		if (s->denials > 0)
			fprintf(f, ", from %s to %s", s->first, s->last);
		fprintf(f, "\n");
	}
	if (json || s->denials > 0) {
		group_print(f, den, &s->by_name, "name", name_heads, name_keys, 2, top);
		group_print(f, den, &s->by_dst, "destination", dst_heads, dst_keys, 5, top);
		group_print(f, den, &s->by_proc, "process", proc_heads, proc_keys, 4, top);
	}
	if (json) {
		json_object_object_add(jo, "denials", den);
		fprintf(f, "%s\n",
		        json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PRETTY |
		                                               JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(jo);
	}
	return ferror(f) ? -1 : 0;
}

/* ---- why */

struct why {
	const char *target;
	bool is_addr;
	int verdict;
	const char *reason;
	const char *answer; /* a name's DNS answer when denied */
	const char *inward;
	char because[WHY_MAX_LINES][WHY_TEXT_LEN];
	size_t nbecause;
	const struct sentry *ent[WHY_MAX_ITEMS];
	size_t nent, moreent;
	const struct conf_network *net[WHY_MAX_ITEMS];
	size_t nnet;
	const struct conf_domain *dom[WHY_MAX_ITEMS];
	size_t ndom;
};

static void __attribute__((format(printf, 2, 3))) because(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (w->nbecause == WHY_MAX_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(w->because[w->nbecause++], WHY_TEXT_LEN, fmt, ap);
	va_end(ap);
}

static void
add_ent(struct why *w, const struct sentry *e)
{
	if (w->nent < WHY_MAX_ITEMS)
		w->ent[w->nent++] = e;
	else
		w->moreent++;
}

static bool
in_net(const struct conf_network *nw, int family, const uint8_t *ip)
{
	unsigned bits = nw->prefix, full = bits / 8, rest = bits % 8;

	if (nw->net.family != family)
		return false;
	if (memcmp(nw->net.ip, ip, full) != 0)
		return false;
	return rest == 0 || ((nw->net.ip[full] ^ ip[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Ports a new flow to any address treats as DNS (the rules' NAMEGATE-DNS):
 * 53, 853, and every listen and upstream port. */
static bool
dns_port(const struct conf *c, uint16_t port)
{
	if (port == 53 || port == 853)
		return true;
	for (size_t i = 0; i < c->nlisten; i++)
		if (c->listen[i].port == port)
			return true;
	for (size_t i = 0; i < c->nupstream; i++)
		if (c->upstream[i].port == port)
			return true;
	return false;
}

static bool
bound_port(const struct conf *c, const struct port *p)
{
	return c->bind != BIND_OFF && (portlist_has(&c->tls_ports, p->proto, p->port) ||
	                               portlist_has(&c->http_ports, p->proto, p->port));
}

static const char *
deny_answer(const struct conf *c, const char *name)
{
	if (c->deny == DENY_NXDOMAIN || (name != NULL && conf_in_search(c, name, strlen(name))))
		return "NXDOMAIN";
	return "REFUSED";
}

static void
why_addr(struct why *w, const struct status *s, int family, const uint8_t *ip,
         const struct port *port)
{
	const struct conf *c = s->conf;
	char pb[16], ports[CONF_MAX_PORTS * 10], key[INET6_ADDRSTRLEN];
	struct portlist other = {0};
	bool loopback =
	    family == AF_INET ? ip[0] == 127 : memcmp(ip, in6addr_loopback.s6_addr, 16) == 0;
	const struct sentry *named = NULL;
	bool hit = false;

	w->inward = inward_why(&c->local, family, ip);
	if (port != NULL)
		port_fmt(port, pb, sizeof(pb));
	if (family == AF_INET && ip[0] == 127 && ip[1] == 0 && ip[2] == 0 && ip[3] == 11) {
		w->verdict = STATUS_DENIED;
		w->reason = "dns";
		because(w, "127.0.0.11 is a local DNS forwarder (Docker's): only the resolver's "
		           "queries reach it");
		return;
	}
	if (port != NULL && dns_port(c, port->port)) {
		bool listen = false;

		for (size_t i = 0; i < c->nlisten; i++)
			if (c->listen[i].family == family && c->listen[i].port == port->port &&
			    memcmp(c->listen[i].ip, ip, family == AF_INET ? 4 : 16) == 0)
				listen = true;
		w->verdict = listen ? STATUS_ALLOWED : STATUS_DENIED;
		w->reason = listen ? "resolver" : "dns";
		because(w,
		        listen ? "the local resolver (a listen address)"
		               : "%s is a DNS port: DNS goes only to the local resolver",
		        pb);
		return;
	}
	if (loopback) {
		w->verdict = STATUS_ALLOWED;
		w->reason = "loopback";
		because(w, "loopback is not filtered (but for DNS ports, which reach only the "
		           "resolver)");
		return;
	}
	for (size_t i = 0; i < c->nnetworks; i++) {
		const struct conf_network *nw = &c->networks[i];

		if (!in_net(nw, family, ip))
			continue;
		if (w->nnet < WHY_MAX_ITEMS)
			w->net[w->nnet++] = nw;
		if (port == NULL || portlist_has(&nw->ports, port->proto, port->port))
			hit = true;
		else
			for (size_t k = 0; k < nw->ports.n; k++)
				portlist_add(&other, nw->ports.v[k]);
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct sentry *e = &s->v[i];

		if (e->family != family || memcmp(e->ip, ip, family == AF_INET ? 4 : 16) != 0)
			continue;
		named = e;
		if (port == NULL || (e->p.proto == port->proto && e->p.port == port->port)) {
			add_ent(w, e);
			hit = true;
		} else {
			portlist_add(&other, e->p);
		}
	}
	if (hit) {
		w->verdict = STATUS_ALLOWED;
		w->reason = w->nent > 0 ? "handed-out" : "network";
		for (size_t i = 0; i < w->nnet; i++)
			if (port == NULL ||
			    portlist_has(&w->net[i]->ports, port->proto, port->port))
				because(w, "a network = line (line %d) covers it", w->net[i]->line);
		for (size_t i = 0; i < w->nent; i++) {
			char tb[16];

			port_fmt(&w->ent[i]->p, pb, sizeof(pb));
			ttl_fmt(w->ent[i]->ttl, tb, sizeof(tb));
			because(w, "handed out for %s on %s, %s left%s%s", w->ent[i]->name, pb, tb,
			        bound_port(c, &w->ent[i]->p) ? ": the TLS server_name or HTTP Host "
			                                       "must then be "
			                                     : "",
			        bound_port(c, &w->ent[i]->p) ? w->ent[i]->name : "");
		}
		if (w->moreent > 0)
			because(w, "... and %zu more entries", w->moreent);
		return;
	}
	w->verdict = STATUS_DENIED;
	if (named != NULL || w->nnet > 0) {
		sort_ports(&other);
		w->reason = "port";
		if (named != NULL)
			because(w,
			        "handed out for %s, but on %s only, not %s: add \"domain = %s %s\"",
			        named->name, portlist_fmt(&other, ports, sizeof(ports)), pb,
			        named->name, pb);
		else
			because(w, "a network = line covers it on %s only, not %s",
			        portlist_fmt(&other, ports, sizeof(ports)), pb);
		return;
	}
	ip_fmt(family, ip, key, sizeof(key));
	{
		struct slookup k, **l;

		snprintf(k.ip, sizeof(k.ip), "%s", key);
		l = tfind(&k, &s->lookups, cmp_lookup);
		if (l != NULL) {
			w->reason = "expired";
			because(w,
			        "handed out for %s at %s (the log), but no longer in the sets: its "
			        "TTL ran out or the list changed; resolve the name again",
			        (*l)->name, (*l)->ts);
		} else {
			w->reason = "unresolved";
			because(w,
			        "not handed out: no lookup of an allowlisted name answered it (a "
			        "direct IP or a hard-coded address)");
		}
	}
	if (w->inward != NULL)
		because(w,
		        "it is inward (%s): a name's answer gets it allowed only through a line "
		        "marked inward, or a network = line",
		        w->inward);
}

static void
why_name(struct why *w, const struct status *s, const char *name, const struct port *port)
{
	const struct conf *c = s->conf;
	char pb[16], ports[CONF_MAX_PORTS * 10];
	struct portlist all = {0};
	size_t len = strlen(name);

	for (size_t i = 0; i < c->ndomains; i++) {
		if (!pattern_match(&c->domains[i].pat, name, len))
			continue;
		if (w->ndom < WHY_MAX_ITEMS)
			w->dom[w->ndom++] = &c->domains[i];
		for (size_t k = 0; k < c->domains[i].ports.n; k++)
			portlist_add(&all, c->domains[i].ports.v[k]);
	}
	if (port != NULL)
		port_fmt(port, pb, sizeof(pb));
	if (w->ndom == 0) {
		w->verdict = STATUS_DENIED;
		w->reason = "not-listed";
		w->answer = deny_answer(c, name);
		because(w,
		        "not on the allowlist of %s: a lookup gets %s%s, and no address of it "
		        "is allowed",
		        c->path, w->answer,
		        c->deny == DENY_REFUSED && strcmp(w->answer, "NXDOMAIN") == 0
		            ? " (under a search domain: NXDOMAIN whatever deny says)"
		            : "");
		because(w, "to allow it: \"domain = %s\" in [allow]", name);
		return;
	}
	sort_ports(&all);
	for (size_t i = 0; i < w->ndom; i++) {
		char pat[NAME_MAX_LEN + 3];

		because(w, "line %d: domain = %s %s%s", w->dom[i]->line,
		        pattern_fmt(&w->dom[i]->pat, pat, sizeof(pat)),
		        portlist_fmt(&w->dom[i]->ports, ports, sizeof(ports)),
		        w->dom[i]->inward ? " inward" : "");
	}
	if (port != NULL && !portlist_has(&all, port->proto, port->port)) {
		w->verdict = STATUS_DENIED;
		w->reason = "port";
		because(w, "its lines allow %s, not %s: add \"domain = %s %s\"",
		        portlist_fmt(&all, ports, sizeof(ports)), pb, name, pb);
		return;
	}
	w->verdict = STATUS_ALLOWED;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0 &&
		    (port == NULL ||
		     (s->v[i].p.proto == port->proto && s->v[i].p.port == port->port)))
			add_ent(w, &s->v[i]);
	if (w->nent > 0) {
		w->reason = "resolved";
		because(w, "resolved: its addresses are in the sets (below)");
	} else {
		w->reason = "listed";
		because(w,
		        "not resolved now: a lookup allows its answer's addresses, for the TTL "
		        "clamped to [%u, %u] s",
		        (unsigned)c->min_ttl, (unsigned)c->max_ttl);
	}
	if (port != NULL && bound_port(c, port))
		because(w, "%s is checked: the TLS server_name or HTTP Host must be the name", pb);
}

static void
why_print(FILE *f, const struct why *w, const struct conf *c, bool json)
{
	char ip[INET6_ADDRSTRLEN], pb[16], tb[16], net[64];

	if (json) {
		json_object *jo = json_object_new_object(), *a;

		json_object_object_add(jo, w->is_addr ? "address" : "name",
		                       json_object_new_string(w->target));
		json_object_object_add(jo, "allowed",
		                       json_object_new_boolean(w->verdict == STATUS_ALLOWED));
		json_object_object_add(jo, "reason", json_object_new_string(w->reason));
		json_object_object_add(jo, "mode", json_object_new_string(mode_names[c->mode]));
		if (w->answer != NULL)
			json_object_object_add(jo, "answer", json_object_new_string(w->answer));
		if (w->is_addr)
			json_object_object_add(jo, "inward", jstr(w->inward));
		a = json_object_new_array();
		for (size_t i = 0; i < w->nbecause; i++)
			json_object_array_add(a, json_object_new_string(w->because[i]));
		json_object_object_add(jo, "because", a);
		a = json_object_new_array();
		for (size_t i = 0; i < w->nent; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", jstr(w->ent[i]->name));
			json_object_object_add(
			    o, "address",
			    json_object_new_string(
			        ip_fmt(w->ent[i]->family, w->ent[i]->ip, ip, sizeof(ip))));
			json_object_object_add(
			    o, "port",
			    json_object_new_string(port_fmt(&w->ent[i]->p, pb, sizeof(pb))));
			json_object_object_add(o, "ttl", json_object_new_int64(w->ent[i]->ttl));
			json_object_array_add(a, o);
		}
		json_object_object_add(jo, "entries", a);
		a = json_object_new_array();
		for (size_t i = 0; i < w->nnet; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(
			    o, "network",
			    json_object_new_string(net_fmt(w->net[i], net, sizeof(net))));
			json_object_object_add(o, "ports", ports_json(&w->net[i]->ports));
			json_object_object_add(o, "line", json_object_new_int(w->net[i]->line));
			json_object_array_add(a, o);
		}
		json_object_object_add(jo, "networks", a);
		a = json_object_new_array();
		for (size_t i = 0; i < w->ndom; i++) {
			json_object *o = json_object_new_object();
			char pat[NAME_MAX_LEN + 3];

			json_object_object_add(o, "line", json_object_new_int(w->dom[i]->line));
			json_object_object_add(
			    o, "pattern",
			    json_object_new_string(pattern_fmt(&w->dom[i]->pat, pat, sizeof(pat))));
			json_object_object_add(o, "ports", ports_json(&w->dom[i]->ports));
			json_object_object_add(o, "inward",
			                       json_object_new_boolean(w->dom[i]->inward));
			json_object_array_add(a, o);
		}
		json_object_object_add(jo, "lines", a);
		fprintf(f, "%s\n",
		        json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PRETTY |
		                                               JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(jo);
		return;
	}
	fprintf(f, "%s: %s (%s)\n", w->target, w->verdict == STATUS_ALLOWED ? "allowed" : "denied",
	        w->reason);
	for (size_t i = 0; i < w->nbecause; i++)
		fprintf(f, "  %s\n", w->because[i]);
	if (!w->is_addr && w->nent > 0) {
		struct table t = {.ncols = 3, .head = {"ADDRESS", "PORT", "TTL"}};

		for (size_t i = 0; i < w->nent; i++) {
			const char *cells[3] = {
			    ip_fmt(w->ent[i]->family, w->ent[i]->ip, ip, sizeof(ip)),
			    port_fmt(&w->ent[i]->p, pb, sizeof(pb)), tb};

			ttl_fmt(w->ent[i]->ttl, tb, sizeof(tb));
			table_row(&t, cells);
		}
		table_print(f, &t);
		if (w->moreent > 0)
			fprintf(f, "  ... and %zu more entries\n", w->moreent);
	}
}

int
status_why(FILE *f, struct status *s, const char *target, const struct port *port, bool json,
           const char **err)
{
	static struct why w;
	uint8_t ip[16];
	char norm[NAME_MAX_LEN + 1];
	int family = strchr(target, ':') != NULL ? AF_INET6 : AF_INET;

	memset(&w, 0, sizeof(w));
	sort_entries(s);
	if (inet_pton(family, target, ip) == 1) {
		w.is_addr = true;
		ip_fmt(family, ip, norm, sizeof(norm));
		w.target = norm;
		why_addr(&w, s, family, ip, port);
	} else if (name_normalize(target, norm, err) == 0) {
		w.target = norm;
		why_name(&w, s, norm, port);
	} else {
		return -1;
	}
	if (w.verdict == STATUS_DENIED && s->conf->mode == MODE_AUDIT) {
		w.verdict = STATUS_ALLOWED;
		because(&w, "mode = audit: allowed and logged (flow.audit, dns.audit); denied in "
		            "enforce mode");
	}
	why_print(f, &w, s->conf, json);
	return ferror(f) ? -1 : w.verdict;
}
