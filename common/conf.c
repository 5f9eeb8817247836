/*
 * sandbox.ini → struct conf. inih splits the file into sections and
 * key = value pairs; everything else is ours: lines reach inih through our
 * own reader, which counts lines (for "file:line: message"), strips inline
 * comments the same way whatever inih was built with, refuses NUL bytes and
 * over-long lines instead of letting them be cut, and left-trims so that
 * no line is ever taken as a continuation of the previous value.
 *
 * The file is parsed into a fresh struct and checked as a whole (defaults
 * that depend on other sections, upstream = auto) before the caller sees
 * it, so a bad edit never replaces a running config.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

#define CONF_LINE_MAX 1024
/* Bounds memory use for a runaway file; far above any real allowlist. */
#define CONF_MAX_ENTRIES 100000

enum conf_key {
	K_LISTEN,
	K_UPSTREAM,
	K_RESOLV_CONF,
	K_UPSTREAM_TIMEOUT,
	K_DENY,
	K_MIN_TTL,
	K_MAX_TTL,
	K_MAX_ADDRS,
	K_CACHE_SIZE,
	K_USER,
	K_KEEP_ECH,
	K_MODE,
	K_PORTS,
	K_ON_DENY,
	K_QUEUE,
	K_SOCKET,
	K_MAX_PER_LINE,
	K_INBOUND,
	K_BIND,
	K_TLS_PORTS,
	K_HTTP_PORTS,
	K_QUIC_PORTS,
	K_FILE,
	K_FORMAT,
	K_DOMAIN,
	K_NETWORK,
	K_COUNT
};

struct keydef {
	const char *section;
	const char *name;
	enum conf_key key;
	bool repeats;
};

static const struct keydef keydefs[] = {
    {"resolver", "listen", K_LISTEN, false},
    {"resolver", "upstream", K_UPSTREAM, false},
    {"resolver", "resolv_conf", K_RESOLV_CONF, false},
    {"resolver", "upstream_timeout", K_UPSTREAM_TIMEOUT, false},
    {"resolver", "deny", K_DENY, false},
    {"resolver", "min_ttl", K_MIN_TTL, false},
    {"resolver", "max_ttl", K_MAX_TTL, false},
    {"resolver", "max_addrs", K_MAX_ADDRS, false},
    {"resolver", "cache_size", K_CACHE_SIZE, false},
    {"resolver", "user", K_USER, false},
    {"resolver", "keep_ech", K_KEEP_ECH, false},
    {"gate", "mode", K_MODE, false},
    {"gate", "ports", K_PORTS, false},
    {"gate", "on_deny", K_ON_DENY, false},
    {"gate", "queue", K_QUEUE, false},
    {"gate", "socket", K_SOCKET, false},
    {"gate", "max_per_line", K_MAX_PER_LINE, false},
    {"gate", "inbound", K_INBOUND, false},
    {"gate", "bind", K_BIND, false},
    {"gate", "tls_ports", K_TLS_PORTS, false},
    {"gate", "http_ports", K_HTTP_PORTS, false},
    {"gate", "quic_ports", K_QUIC_PORTS, false},
    {"log", "file", K_FILE, false},
    {"log", "format", K_FORMAT, false},
    {"allow", "domain", K_DOMAIN, true},
    {"allow", "network", K_NETWORK, true},
};

struct parse_ctx {
	struct conf *c;
	const char *file;
	FILE *fp;
	char *linebuf;
	size_t linecap;
	int line;
	bool failed;
	char *err;
	size_t errlen;
	int seen[K_COUNT]; /* line where each key was set, 0 = not set */
	bool no_resolv;    /* conf_load_no_resolv: resolv_conf's nameservers unread */
};

static void conf_fail(struct parse_ctx *pc, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are often consequences of it. */
static void
conf_fail(struct parse_ctx *pc, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (pc->failed)
		return;
	pc->failed = true;
	n = snprintf(pc->err, pc->errlen, "%s:%d: ", pc->file, line);
	if (n < 0 || (size_t)n >= pc->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(pc->err + n, pc->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Ports. */

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

/* Value helpers. */

static int
parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 10)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
set_string(struct parse_ctx *pc, const char *key, const char *value, char *dst, size_t size,
           bool may_be_empty)
{
	const unsigned char *p;

	if (!may_be_empty && value[0] == '\0') {
		conf_fail(pc, pc->line, "%s must not be empty", key);
		return -1;
	}
	if (strlen(value) >= size) {
		conf_fail(pc, pc->line, "%s is too long (at most %zu bytes)", key, size - 1);
		return -1;
	}
	/* "key =;x" reaches us as ";x", but conf_print writes "key = ;x",
	 * which reads back as a comment: the printed config would not be the
	 * one in force. */
	if (value[0] == ';' || value[0] == '#') {
		conf_fail(pc, pc->line, "%s must not start with '%c'", key, value[0]);
		return -1;
	}
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			conf_fail(pc, pc->line, "%s contains a space or a non-printable byte", key);
			return -1;
		}
	}
	strcpy(dst, value);
	return 0;
}

/* Splits a copy of value at whitespace; returns the number of words. */
static size_t
split_words(char *buf, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL, *w;

	for (w = strtok_r(buf, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return max + 1;
		words[n++] = w;
	}
	return n;
}

static int
parse_ports(struct parse_ctx *pc, char **words, size_t n, struct portlist *pl)
{
	struct port p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (port_parse(words[i], &p) == -1) {
			conf_fail(pc, pc->line,
			          "bad port \"%s\" (expected tcp/N or udp/N, N in 1..65535)",
			          words[i]);
			return -1;
		}
		if (portlist_add(pl, p) == -1) {
			conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
			return -1;
		}
	}
	return 0;
}

static bool
addr_is_unspecified(const struct addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, addr_iplen(a->family)) == 0;
}

static int
parse_addrlist(struct parse_ctx *pc, const char *key, const char *value, struct addr *v, size_t max,
               size_t *count)
{
	char buf[CONF_LINE_MAX];
	char *words[CONF_MAX_LISTEN + CONF_MAX_UPSTREAMS + 1];
	size_t n, i, j;

	snprintf(buf, sizeof(buf), "%s", value);
	n = split_words(buf, words, max);
	if (n == 0) {
		conf_fail(pc, pc->line, "%s needs at least one address", key);
		return -1;
	}
	if (n > max) {
		conf_fail(pc, pc->line, "too many %s addresses (at most %zu)", key, max);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (addr_parse(words[i], 53, &v[i]) == -1) {
			conf_fail(pc, pc->line, "bad %s address \"%s\"", key, words[i]);
			return -1;
		}
		/* A wildcard would make the DNS rules allow every address. */
		if (addr_is_unspecified(&v[i])) {
			conf_fail(pc, pc->line,
			          "%s address \"%s\" is a wildcard; name a specific address", key,
			          words[i]);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (addr_equal(&v[i], &v[j])) {
				conf_fail(pc, pc->line, "%s address \"%s\" is listed twice", key,
				          words[i]);
				return -1;
			}
		}
	}
	*count = n;
	return 0;
}

static int
parse_domain(struct parse_ctx *pc, const char *value)
{
	char buf[CONF_LINE_MAX];
	char *words[CONF_MAX_PORTS + 3];
	struct conf_domain d, *nd;
	const char *perr;
	size_t n, i, k;

	memset(&d, 0, sizeof(d));
	snprintf(buf, sizeof(buf), "%s", value);
	n = split_words(buf, words, CONF_MAX_PORTS + 2);
	if (n == 0) {
		conf_fail(pc, pc->line, "domain needs a name pattern");
		return -1;
	}
	if (pattern_parse(words[0], &d.pat, &perr) == -1) {
		conf_fail(pc, pc->line, "bad domain pattern \"%s\": %s", words[0], perr);
		return -1;
	}
	/* "inward" may stand anywhere among the ports, once. */
	for (i = 1, k = 1; i < n && i <= CONF_MAX_PORTS + 1; i++) {
		if (strcmp(words[i], "inward") != 0) {
			words[k++] = words[i];
		} else if (d.inward) {
			conf_fail(pc, pc->line, "\"inward\" given twice");
			return -1;
		} else {
			d.inward = true;
		}
	}
	if (n > CONF_MAX_PORTS + 1 + (d.inward ? 1 : 0)) {
		conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
		return -1;
	}
	if (parse_ports(pc, words + 1, k - 1, &d.ports) == -1)
		return -1;
	d.own_ports = k > 1;
	d.line = pc->line;
	if (pc->c->ndomains >= CONF_MAX_ENTRIES) {
		conf_fail(pc, pc->line, "too many domain lines (at most %d)", CONF_MAX_ENTRIES);
		return -1;
	}
	nd = realloc(pc->c->domains, (pc->c->ndomains + 1) * sizeof(*nd));
	if (nd == NULL) {
		conf_fail(pc, pc->line, "out of memory: %s", strerror(errno));
		return -1;
	}
	pc->c->domains = nd;
	nd[pc->c->ndomains++] = d;
	return 0;
}

static int
parse_network(struct parse_ctx *pc, const char *value)
{
	char buf[CONF_LINE_MAX];
	char *words[CONF_MAX_PORTS + 2];
	struct conf_network net, *nn;
	size_t n;

	memset(&net, 0, sizeof(net));
	snprintf(buf, sizeof(buf), "%s", value);
	n = split_words(buf, words, CONF_MAX_PORTS + 1);
	if (n == 0) {
		conf_fail(pc, pc->line, "network needs an address/prefix");
		return -1;
	}
	if (n > CONF_MAX_PORTS + 1) {
		conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
		return -1;
	}
	if (addr_parse_net(words[0], &net.net, &net.prefix) == -1) {
		conf_fail(pc, pc->line,
		          "bad network \"%s\" (expected address/prefix with no host bits set)",
		          words[0]);
		return -1;
	}
	/* /0 would allow everything, and ipset's hash:net cannot hold it. */
	if (net.prefix == 0) {
		conf_fail(pc, pc->line, "network \"%s\" would allow every address", words[0]);
		return -1;
	}
	if (parse_ports(pc, words + 1, n - 1, &net.ports) == -1)
		return -1;
	/* No own_ports flag in struct conf_network: an empty list here means
	 * "use [gate] ports", filled in after parsing. */
	net.line = pc->line;
	if (pc->c->nnetworks >= CONF_MAX_ENTRIES) {
		conf_fail(pc, pc->line, "too many network lines (at most %d)", CONF_MAX_ENTRIES);
		return -1;
	}
	nn = realloc(pc->c->networks, (pc->c->nnetworks + 1) * sizeof(*nn));
	if (nn == NULL) {
		conf_fail(pc, pc->line, "out of memory: %s", strerror(errno));
		return -1;
	}
	pc->c->networks = nn;
	nn[pc->c->nnetworks++] = net;
	return 0;
}

static int
set_key(struct parse_ctx *pc, enum conf_key key, const char *value)
{
	struct conf *c = pc->c;
	unsigned long v;
	char buf[CONF_LINE_MAX];
	char *words[CONF_MAX_PORTS + 1];
	size_t n;

	switch (key) {
	case K_LISTEN:
		return parse_addrlist(pc, "listen", value, c->listen, CONF_MAX_LISTEN, &c->nlisten);
	case K_UPSTREAM:
		if (strcmp(value, "auto") == 0) {
			c->upstream_auto = true;
			c->nupstream = 0;
			return 0;
		}
		c->upstream_auto = false;
		return parse_addrlist(pc, "upstream", value, c->upstream, CONF_MAX_UPSTREAMS,
		                      &c->nupstream);
	case K_RESOLV_CONF:
		return set_string(pc, "resolv_conf", value, c->resolv_conf, sizeof(c->resolv_conf),
		                  false);
	case K_UPSTREAM_TIMEOUT:
		if (parse_num(value, 100, 60000, &v) == -1) {
			conf_fail(pc, pc->line,
			          "upstream_timeout must be 100..60000 (ms), not \"%s\"", value);
			return -1;
		}
		c->upstream_timeout_ms = (uint32_t)v;
		return 0;
	case K_DENY:
		if (strcmp(value, "refused") == 0)
			c->deny = DENY_REFUSED;
		else if (strcmp(value, "nxdomain") == 0)
			c->deny = DENY_NXDOMAIN;
		else
			break;
		return 0;
	case K_MIN_TTL:
		if (parse_num(value, 1, 2147483, &v) == -1) {
			conf_fail(pc, pc->line, "min_ttl must be 1..2147483 (s), not \"%s\"",
			          value);
			return -1;
		}
		c->min_ttl = (uint32_t)v;
		return 0;
	case K_MAX_TTL:
		if (parse_num(value, 1, 2147483, &v) == -1) {
			conf_fail(pc, pc->line, "max_ttl must be 1..2147483 (s), not \"%s\"",
			          value);
			return -1;
		}
		c->max_ttl = (uint32_t)v;
		return 0;
	case K_MAX_ADDRS:
		if (parse_num(value, 1, CONF_MAX_ADDRS, &v) == -1) {
			conf_fail(pc, pc->line, "max_addrs must be 1..%d, not \"%s\"",
			          CONF_MAX_ADDRS, value);
			return -1;
		}
		c->max_addrs = (uint32_t)v;
		return 0;
	case K_CACHE_SIZE:
		if (parse_num(value, 1, CONF_MAX_CACHE_SIZE, &v) == -1) {
			conf_fail(pc, pc->line, "cache_size must be 1..%d (answers), not \"%s\"",
			          CONF_MAX_CACHE_SIZE, value);
			return -1;
		}
		c->cache_size = (uint32_t)v;
		return 0;
	case K_USER:
		return set_string(pc, "user", value, c->user, sizeof(c->user), false);
	case K_KEEP_ECH:
		if (strcmp(value, "yes") == 0)
			c->keep_ech = true;
		else if (strcmp(value, "no") == 0)
			c->keep_ech = false;
		else
			break;
		return 0;
	case K_MODE:
		if (strcmp(value, "enforce") == 0)
			c->mode = MODE_ENFORCE;
		else if (strcmp(value, "audit") == 0)
			c->mode = MODE_AUDIT;
		else
			break;
		return 0;
	case K_PORTS:
		snprintf(buf, sizeof(buf), "%s", value);
		n = split_words(buf, words, CONF_MAX_PORTS);
		if (n == 0) {
			conf_fail(pc, pc->line, "ports needs at least one proto/port");
			return -1;
		}
		if (n > CONF_MAX_PORTS) {
			conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
			return -1;
		}
		memset(&c->ports, 0, sizeof(c->ports));
		return parse_ports(pc, words, n, &c->ports);
	case K_INBOUND:
		/* Empty is valid: no inbound port open (the default). */
		snprintf(buf, sizeof(buf), "%s", value);
		n = split_words(buf, words, CONF_MAX_PORTS);
		if (n > CONF_MAX_PORTS) {
			conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
			return -1;
		}
		memset(&c->inbound, 0, sizeof(c->inbound));
		return parse_ports(pc, words, n, &c->inbound);
	case K_TLS_PORTS:
	case K_HTTP_PORTS:
	case K_QUIC_PORTS: {
		struct portlist *pl = key == K_TLS_PORTS    ? &c->tls_ports
		                      : key == K_HTTP_PORTS ? &c->http_ports
		                                            : &c->quic_ports;
		uint8_t want = key == K_QUIC_PORTS ? IPPROTO_UDP : IPPROTO_TCP;
		size_t i;

		/* Empty is valid: no port of that kind is checked. */
		snprintf(buf, sizeof(buf), "%s", value);
		n = split_words(buf, words, CONF_MAX_PORTS);
		if (n > CONF_MAX_PORTS) {
			conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
			return -1;
		}
		memset(pl, 0, sizeof(*pl));
		if (parse_ports(pc, words, n, pl) < 0)
			return -1;
		/* A TCP stream carries a ClientHello or a request, QUIC (udp)
		 * a ClientHello in its Initial packets. */
		for (i = 0; i < pl->n; i++) {
			if (pl->v[i].proto != want) {
				conf_fail(pc, pc->line,
				          "%s: only %s ports can be checked, not %s/%u",
				          key == K_TLS_PORTS    ? "tls_ports"
				          : key == K_HTTP_PORTS ? "http_ports"
				                                : "quic_ports",
				          want == IPPROTO_UDP ? "udp" : "tcp",
				          want == IPPROTO_UDP ? "tcp" : "udp", pl->v[i].port);
				return -1;
			}
		}
		return 0;
	}
	case K_BIND:
		if (strcmp(value, "enforce") == 0)
			c->bind = BIND_ENFORCE;
		else if (strcmp(value, "audit") == 0)
			c->bind = BIND_AUDIT;
		else if (strcmp(value, "off") == 0)
			c->bind = BIND_OFF;
		else
			break;
		return 0;
	case K_ON_DENY:
		if (strcmp(value, "reject") == 0)
			c->on_deny = ON_DENY_REJECT;
		else if (strcmp(value, "drop") == 0)
			c->on_deny = ON_DENY_DROP;
		else
			break;
		return 0;
	case K_QUEUE:
		if (parse_num(value, 0, 65535, &v) == -1) {
			conf_fail(pc, pc->line, "queue must be 0..65535, not \"%s\"", value);
			return -1;
		}
		c->queue = (uint16_t)v;
		return 0;
	case K_SOCKET:
		return set_string(pc, "socket", value, c->socket, sizeof(c->socket), false);
	case K_MAX_PER_LINE:
		if (parse_num(value, 1, CONF_SET_MAXELEM, &v) == -1) {
			conf_fail(pc, pc->line, "max_per_line must be 1..%d, not \"%s\"",
			          CONF_SET_MAXELEM, value);
			return -1;
		}
		c->max_per_line = (uint32_t)v;
		return 0;
	case K_FILE:
		return set_string(pc, "file", value, c->log_file, sizeof(c->log_file), true);
	case K_FORMAT:
		if (strcmp(value, "text") == 0)
			c->log_format = LOG_FORMAT_TEXT;
		else if (strcmp(value, "json") == 0)
			c->log_format = LOG_FORMAT_JSON;
		else
			break;
		return 0;
	case K_DOMAIN:
		return parse_domain(pc, value);
	case K_NETWORK:
		return parse_network(pc, value);
	case K_COUNT:
		break;
	}
	conf_fail(pc, pc->line, "bad value \"%s\"", value);
	return -1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *pc = user;
	bool known_section = false;
	size_t i;

	if (pc->failed)
		return 0;
	if (section[0] == '\0') {
		conf_fail(pc, pc->line, "\"%s\" outside of any section", name);
		return 0;
	}
	for (i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++) {
		const struct keydef *kd = &keydefs[i];

		if (strcmp(kd->section, section) != 0)
			continue;
		known_section = true;
		if (strcmp(kd->name, name) != 0)
			continue;
		if (!kd->repeats && pc->seen[kd->key] != 0) {
			conf_fail(pc, pc->line, "\"%s\" in [%s] already set on line %d", name,
			          section, pc->seen[kd->key]);
			return 0;
		}
		pc->seen[kd->key] = pc->line;
		return set_key(pc, kd->key, value) == 0;
	}
	if (known_section)
		conf_fail(pc, pc->line, "unknown key \"%s\" in [%s]", name, section);
	else
		conf_fail(pc, pc->line, "unknown section [%s]", section);
	return 0;
}

static bool
section_known(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++) {
		if (strlen(keydefs[i].section) == len &&
		    strncmp(keydefs[i].section, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * Hands inih one physical line at a time. A ';' or '#' starts a comment at
 * the beginning of a line or after whitespace; cutting it here makes
 * "domain = x tcp/22 ; note" mean the same with every inih build.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parse_ctx *pc = stream;
	char *p, *end;
	ssize_t n;
	size_t len;

	if (pc->failed)
		return NULL;
	errno = 0;
	n = getline(&pc->linebuf, &pc->linecap, pc->fp);
	if (n == -1) {
		if (ferror(pc->fp))
			conf_fail(pc, pc->line, "read error: %s", strerror(errno));
		return NULL;
	}
	pc->line++;
	if (memchr(pc->linebuf, '\0', (size_t)n) != NULL) {
		conf_fail(pc, pc->line, "NUL byte in line");
		return NULL;
	}
	p = pc->linebuf;
	while (*p == ' ' || *p == '\t')
		p++;
	for (end = p; *end != '\0' && *end != '\n' && *end != '\r'; end++) {
		if ((*end == ';' || *end == '#') && (end == p || isspace((unsigned char)end[-1])))
			break;
	}
	*end = '\0';
	len = (size_t)(end - p);
	/* inih only reports sections that hold a key, so an empty unknown
	 * section would pass unnoticed; check every header here. */
	if (*p == '[') {
		char *close = strchr(p, ']');

		if (close == NULL) {
			conf_fail(pc, pc->line, "section header without ']'");
			return NULL;
		}
		if (!section_known(p + 1, (size_t)(close - p - 1))) {
			*close = '\0';
			conf_fail(pc, pc->line, "unknown section [%s]", p + 1);
			return NULL;
		}
	}
	if (num < 2 || len > (size_t)num - 2) {
		conf_fail(pc, pc->line, "line too long (at most %d bytes)", num - 2);
		return NULL;
	}
	memcpy(str, p, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static void
set_defaults(struct conf *c)
{
	static const struct port defports[] = {{IPPROTO_TCP, 443}, {IPPROTO_TCP, 80}};
	size_t i;

	addr_parse("127.0.0.1", 53, &c->listen[0]);
	addr_parse("::1", 53, &c->listen[1]);
	c->nlisten = 2;
	c->upstream_auto = true;
	strcpy(c->resolv_conf, "/etc/resolv.conf");
	c->upstream_timeout_ms = 2000;
	c->deny = DENY_NXDOMAIN;
	c->min_ttl = 60;
	c->max_ttl = 86400;
	c->max_addrs = 64;
	c->cache_size = CONF_DEFAULT_CACHE_SIZE;
	strcpy(c->user, "namegate");
	c->mode = MODE_ENFORCE;
	for (i = 0; i < sizeof(defports) / sizeof(defports[0]); i++)
		portlist_add(&c->ports, defports[i]);
	c->on_deny = ON_DENY_REJECT;
	c->queue = 0;
	strcpy(c->socket, "/run/namegate/gate.sock");
	c->max_per_line = CONF_DEFAULT_MAX_PER_LINE;
	c->bind = BIND_ENFORCE;
	portlist_add(&c->tls_ports, (struct port){IPPROTO_TCP, 443});
	portlist_add(&c->http_ports, (struct port){IPPROTO_TCP, 80});
	portlist_add(&c->quic_ports, (struct port){IPPROTO_UDP, 443});
	strcpy(c->log_file, "/var/log/namegate.log");
	c->log_format = LOG_FORMAT_TEXT;
}

static bool
is_listen_addr(const struct conf *c, const struct addr *a)
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
static int
read_resolv_conf(struct parse_ctx *pc)
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
		if (is_listen_addr(c, &a) || addr_is_unspecified(&a))
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
static void
read_search(struct conf *c)
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

bool
conf_in_search(const struct conf *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nsearch; i++) {
		if (pattern_match(&c->search[i], name, len))
			return true;
	}
	return false;
}

/* Checks and defaults that need the whole file. */
static int
finish(struct parse_ctx *pc)
{
	struct conf *c = pc->c;
	size_t i;

	if (c->max_ttl < c->min_ttl) {
		conf_fail(pc, pc->seen[K_MAX_TTL] ? pc->seen[K_MAX_TTL] : pc->seen[K_MIN_TTL],
		          "max_ttl (%u) is less than min_ttl (%u)", c->max_ttl, c->min_ttl);
		return -1;
	}
	/* [gate] may come after [allow], so lines without ports get the
	 * [gate] ports only now. */
	for (i = 0; i < c->ndomains; i++) {
		if (!c->domains[i].own_ports)
			c->domains[i].ports = c->ports;
	}
	for (i = 0; i < c->nnetworks; i++) {
		if (c->networks[i].ports.n == 0)
			c->networks[i].ports = c->ports;
	}
	read_search(c);
	if (c->upstream_auto)
		return pc->no_resolv ? 0 : read_resolv_conf(pc);
	for (i = 0; i < c->nupstream; i++) {
		if (is_listen_addr(c, &c->upstream[i])) {
			conf_fail(pc, pc->seen[K_UPSTREAM],
			          "upstream is one of our own listen addresses (would loop)");
			return -1;
		}
	}
	return 0;
}

static int
load(const char *path, struct conf *out, bool no_resolv, char *err, size_t errlen)
{
	struct parse_ctx pc;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&pc, 0, sizeof(pc));
	pc.no_resolv = no_resolv;
	pc.c = out;
	pc.file = path;
	pc.err = err;
	pc.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';

	if (strlen(path) >= sizeof(out->path)) {
		conf_fail(&pc, 0, "path too long");
		return -1;
	}
	strcpy(out->path, path);
	set_defaults(out);

	pc.fp = fopen(path, "re");
	if (pc.fp == NULL) {
		conf_fail(&pc, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
#ifdef HAVE_INI_MAX_LINE
	/* Debian's inih sizes its line buffer from this at run time; the
	 * default (200) is shorter than a long domain line. */
	ini_max_line = CONF_LINE_MAX;
#endif
	rc = ini_parse_stream(reader, &pc, handler, &pc);
	free(pc.linebuf);
	fclose(pc.fp);
	if (!pc.failed && rc > 0)
		conf_fail(&pc, rc, "syntax error (expected [section] or key = value)");
	else if (!pc.failed && rc != 0)
		conf_fail(&pc, 0, "ini parser failed (%d)", rc);
	if (pc.failed || finish(&pc) == -1)
		goto fail;
	return 0;

fail:
	conf_free(out);
	return -1;
}

int
conf_load(const char *path, struct conf *out, char *err, size_t errlen)
{
	return load(path, out, false, err, errlen);
}

int
conf_load_no_resolv(const char *path, struct conf *out, char *err, size_t errlen)
{
	return load(path, out, true, err, errlen);
}

void
conf_free(struct conf *c)
{
	free(c->domains);
	free(c->networks);
	memset(c, 0, sizeof(*c));
}

static void
print_addrs(FILE *f, const struct addr *v, size_t n)
{
	char buf[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? " " : "", addr_fmt(&v[i], buf, sizeof(buf)));
}

void
conf_print(FILE *f, const struct conf *c)
{
	char buf[CONF_MAX_PORTS * 10 + 1];
	char pbuf[NAME_MAX_LEN + 3];
	char abuf[ADDR_STRLEN];
	size_t i;

	fprintf(f, "; effective configuration of %s\n\n[resolver]\nlisten = ", c->path);
	print_addrs(f, c->listen, c->nlisten);
	fprintf(f, "\nupstream = ");
	print_addrs(f, c->upstream, c->nupstream);
	if (c->upstream_auto)
		fprintf(f, " ; from upstream = auto (nameservers of %s)", c->resolv_conf);
	fprintf(f, "\nresolv_conf = %s\n", c->resolv_conf);
	if (c->nsearch > 0) {
		fprintf(f, "; its search list (denied names under it get NXDOMAIN):");
		for (i = 0; i < c->nsearch; i++)
			fprintf(f, " %s", c->search[i].name);
		fprintf(f, "\n");
	}
	fprintf(f, "upstream_timeout = %u\n", c->upstream_timeout_ms);
	fprintf(f, "deny = %s\n", c->deny == DENY_NXDOMAIN ? "nxdomain" : "refused");
	fprintf(f, "min_ttl = %u\nmax_ttl = %u\nmax_addrs = %u\n", c->min_ttl, c->max_ttl,
	        c->max_addrs);
	fprintf(f, "cache_size = %u\n", c->cache_size);
	fprintf(f, "user = %s\n", c->user);
	fprintf(f, "keep_ech = %s\n\n", c->keep_ech ? "yes" : "no");

	fprintf(f, "[gate]\nmode = %s\n", c->mode == MODE_AUDIT ? "audit" : "enforce");
	fprintf(f, "ports = %s\n", portlist_fmt(&c->ports, buf, sizeof(buf)));
	fprintf(f, "on_deny = %s\n", c->on_deny == ON_DENY_DROP ? "drop" : "reject");
	fprintf(f, "queue = %u\nsocket = %s\n", c->queue, c->socket);
	fprintf(f, "max_per_line = %u\n", c->max_per_line);
	portlist_fmt(&c->inbound, buf, sizeof(buf));
	fprintf(f, "inbound =%s%s\n", buf[0] ? " " : "", buf);
	fprintf(f, "bind = %s\n",
	        c->bind == BIND_OFF     ? "off"
	        : c->bind == BIND_AUDIT ? "audit"
	                                : "enforce");
	portlist_fmt(&c->tls_ports, buf, sizeof(buf));
	fprintf(f, "tls_ports =%s%s\n", buf[0] ? " " : "", buf);
	portlist_fmt(&c->http_ports, buf, sizeof(buf));
	fprintf(f, "http_ports =%s%s\n", buf[0] ? " " : "", buf);
	portlist_fmt(&c->quic_ports, buf, sizeof(buf));
	fprintf(f, "quic_ports =%s%s\n\n", buf[0] ? " " : "", buf);

	/* "file =" alone (no trailing space) means stderr only. */
	fprintf(f, "[log]\nfile =%s%s\nformat = %s\n\n", c->log_file[0] ? " " : "", c->log_file,
	        c->log_format == LOG_FORMAT_JSON ? "json" : "text");

	fprintf(f, "[allow]\n");
	for (i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];

		fprintf(f, "domain = %s%s", pattern_fmt(&d->pat, pbuf, sizeof(pbuf)),
		        d->inward ? " inward" : "");
		if (d->own_ports)
			fprintf(f, " %s\n", portlist_fmt(&d->ports, buf, sizeof(buf)));
		else
			fprintf(f, " ; [gate] ports: %s\n",
			        portlist_fmt(&d->ports, buf, sizeof(buf)));
	}
	for (i = 0; i < c->nnetworks; i++) {
		const struct conf_network *n = &c->networks[i];

		fprintf(f, "network = %s/%u %s\n", addr_ntop(&n->net, abuf, sizeof(abuf)),
		        n->prefix, portlist_fmt(&n->ports, buf, sizeof(buf)));
	}
}

static const struct keydef *
keydef_of(const char *key)
{
	const char *dot = strchr(key, '.');

	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++) {
		const struct keydef *kd = &keydefs[i];
		size_t n = strlen(kd->section);

		if ((size_t)(dot - key) == n && strncmp(key, kd->section, n) == 0 &&
		    strcmp(dot + 1, kd->name) == 0)
			return kd;
	}
	return NULL;
}

bool
conf_key_known(const char *key)
{
	return keydef_of(key) != NULL;
}

/*
 * The value is taken from what conf_print writes, so that every key it
 * prints can be asked for and is written one way: the key's line in its
 * section, up to an inline comment (" ;", which no value holds: the reader
 * strips it from every line).
 */
int
conf_get(FILE *f, const struct conf *c, const char *key)
{
	const struct keydef *kd = keydef_of(key);
	char *buf = NULL, *line, *save = NULL, *v, *end;
	size_t len = 0, slen, nlen;
	bool in = false, first = true;
	FILE *m;

	if (kd == NULL) {
		errno = ENOENT;
		return -1;
	}
	m = open_memstream(&buf, &len);
	if (m == NULL)
		return -1;
	conf_print(m, c);
	if (fclose(m) != 0) {
		free(buf);
		return -1;
	}
	slen = strlen(kd->section);
	nlen = strlen(kd->name);
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[') {
			in = strncmp(line + 1, kd->section, slen) == 0 && line[slen + 1] == ']';
			continue;
		}
		if (!in || strncmp(line, kd->name, nlen) != 0 || strncmp(line + nlen, " =", 2) != 0)
			continue;
		v = line + nlen + 2;
		v += strspn(v, " ");
		end = strstr(v, " ;");
		if (end == NULL)
			end = v + strlen(v);
		while (end > v && end[-1] == ' ')
			end--;
		/* A repeating key: the first word of each line (the pattern,
		 * the network), space-separated. */
		if (kd->repeats && strcspn(v, " ") < (size_t)(end - v))
			end = v + strcspn(v, " ");
		fprintf(f, "%s%.*s", first ? "" : " ", (int)(end - v), v);
		first = false;
		if (!kd->repeats)
			break;
	}
	free(buf);
	fputc('\n', f);
	return 0;
}

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

void
conf_log_load(const char *path)
{
	struct log_line *l = log_begin(LOGL_INFO, "config.load");

	logline_str(l, "daemon", log_ident());
	logline_str(l, "file", path);
	log_end(l);
}

void
conf_log_error(const char *path, const char *err)
{
	struct log_line *l = log_begin(LOGL_ERROR, "config.error");
	size_t plen = strlen(path);
	const char *msg = err;
	long line = 0;

	/* err is "file:line: message", or "file: message" about the file as
	 * a whole (confperm.h); the event wants the parts. */
	if (strncmp(err, path, plen) == 0 && err[plen] == ':') {
		char *end;

		line = strtol(err + plen + 1, &end, 10);
		if (end[0] == ':')
			msg = end[1] == ' ' ? end + 2 : end + 1;
		else if (end == err + plen + 1 && end[0] == ' ')
			msg = end + 1;
	}
	logline_str(l, "daemon", log_ident());
	logline_str(l, "file", path);
	logline_int(l, "line", line);
	logline_str(l, "error", msg);
	log_end(l);
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
