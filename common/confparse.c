/*
 * Reading sandbox.ini. inih splits the file into sections and key = value
 * pairs; everything else is ours: lines reach inih through our own reader,
 * which counts lines (for "file:line: message"), strips inline comments the
 * same way whatever inih was built with, refuses NUL bytes and over-long
 * lines instead of letting them be cut, and left-trims so that no line is
 * ever taken as a continuation of the previous value. The handler finds the
 * key in the table (confkeys.c) and set_key parses its value; the
 * defaults, text in the same table, are parsed the same way.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_internal.h"

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

/* A number in min..max for key kd; unit (" (ms)", or "") goes into the
 * message. */
static int
set_num(struct parse_ctx *pc, const struct keydef *kd, const char *value, unsigned long min,
        unsigned long max, const char *unit, unsigned long *out)
{
	if (parse_num(value, min, max, out) == 0)
		return 0;
	conf_fail(pc, pc->line, "%s must be %lu..%lu%s, not \"%s\"", kd->name, min, max, unit,
	          value);
	return -1;
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

/* A whole port list for key kd, replacing the one before (the default). */
static int
set_ports(struct parse_ctx *pc, const struct keydef *kd, const char *value, struct portlist *pl,
          bool may_be_empty)
{
	char buf[CONF_LINE_MAX];
	char *words[CONF_MAX_PORTS + 1];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", value);
	n = split_words(buf, words, CONF_MAX_PORTS);
	if (n == 0 && !may_be_empty) {
		conf_fail(pc, pc->line, "%s needs at least one proto/port", kd->name);
		return -1;
	}
	if (n > CONF_MAX_PORTS) {
		conf_fail(pc, pc->line, "too many ports (at most %d)", CONF_MAX_PORTS);
		return -1;
	}
	memset(pl, 0, sizeof(*pl));
	return parse_ports(pc, words, n, pl);
}

bool
conf_addr_is_unspecified(const struct addr *a)
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
		if (conf_addr_is_unspecified(&v[i])) {
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

/* gcc -fanalyzer takes handler, inih's callback, for an entry point with an
 * unknown pc, and then reports the lines that parse_domain and
 * parse_network append to pc->c (freed by conf_free, conf.c) as leaks. */
#ifndef __clang__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
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
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

static int
set_key(struct parse_ctx *pc, enum conf_key key, const char *value)
{
	const struct keydef *kd = &conf_keys[key];
	struct conf *c = pc->c;
	unsigned long v;
	int w;

	switch (key) {
	case K_LISTEN:
		return parse_addrlist(pc, kd->name, value, c->listen, CONF_MAX_LISTEN, &c->nlisten);
	case K_UPSTREAM:
		if (strcmp(value, "auto") == 0) {
			c->upstream_auto = true;
			c->nupstream = 0;
			return 0;
		}
		c->upstream_auto = false;
		return parse_addrlist(pc, kd->name, value, c->upstream, CONF_MAX_UPSTREAMS,
		                      &c->nupstream);
	case K_RESOLV_CONF:
		return set_string(pc, kd->name, value, c->resolv_conf, sizeof(c->resolv_conf),
		                  false);
	case K_UPSTREAM_TIMEOUT:
		if (set_num(pc, kd, value, 100, 60000, " (ms)", &v) == -1)
			return -1;
		c->upstream_timeout_ms = (uint32_t)v;
		return 0;
	case K_DENY:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->deny = (enum deny_rcode)w;
		return 0;
	case K_MIN_TTL:
		if (set_num(pc, kd, value, 1, 2147483, " (s)", &v) == -1)
			return -1;
		c->min_ttl = (uint32_t)v;
		return 0;
	case K_MAX_TTL:
		if (set_num(pc, kd, value, 1, 2147483, " (s)", &v) == -1)
			return -1;
		c->max_ttl = (uint32_t)v;
		return 0;
	case K_MAX_ADDRS:
		if (set_num(pc, kd, value, 1, CONF_MAX_ADDRS, "", &v) == -1)
			return -1;
		c->max_addrs = (uint32_t)v;
		return 0;
	case K_CACHE_SIZE:
		if (set_num(pc, kd, value, 1, CONF_MAX_CACHE_SIZE, " (answers)", &v) == -1)
			return -1;
		c->cache_size = (uint32_t)v;
		return 0;
	case K_USER:
		return set_string(pc, kd->name, value, c->user, sizeof(c->user), false);
	case K_KEEP_ECH:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->keep_ech = w == 1;
		return 0;
	case K_MODE:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->mode = (enum gate_mode)w;
		return 0;
	case K_PORTS:
		return set_ports(pc, kd, value, &c->ports, false);
	case K_INBOUND:
		/* Empty is valid: no inbound port open (the default). */
		return set_ports(pc, kd, value, &c->inbound, true);
	case K_TLS_PORTS:
	case K_HTTP_PORTS:
	case K_QUIC_PORTS: {
		struct portlist *pl = key == K_TLS_PORTS    ? &c->tls_ports
		                      : key == K_HTTP_PORTS ? &c->http_ports
		                                            : &c->quic_ports;
		uint8_t want = key == K_QUIC_PORTS ? IPPROTO_UDP : IPPROTO_TCP;
		size_t i;

		/* Empty is valid: no port of that kind is checked. */
		if (set_ports(pc, kd, value, pl, true) < 0)
			return -1;
		/* A TCP stream carries a ClientHello or a request, QUIC (udp)
		 * a ClientHello in its Initial packets. */
		for (i = 0; i < pl->n; i++) {
			if (pl->v[i].proto != want) {
				conf_fail(pc, pc->line,
				          "%s: only %s ports can be checked, not %s/%u", kd->name,
				          want == IPPROTO_UDP ? "udp" : "tcp",
				          want == IPPROTO_UDP ? "tcp" : "udp", pl->v[i].port);
				return -1;
			}
		}
		return 0;
	}
	case K_BIND:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->bind = (enum bind_mode)w;
		return 0;
	case K_ON_DENY:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->on_deny = (enum on_deny)w;
		return 0;
	case K_QUEUE:
		if (set_num(pc, kd, value, 0, 65535, "", &v) == -1)
			return -1;
		c->queue = (uint16_t)v;
		return 0;
	case K_SOCKET:
		return set_string(pc, kd->name, value, c->socket, sizeof(c->socket), false);
	case K_MAX_PER_LINE:
		if (set_num(pc, kd, value, 1, CONF_SET_MAXELEM, "", &v) == -1)
			return -1;
		c->max_per_line = (uint32_t)v;
		return 0;
	case K_FILE:
		return set_string(pc, kd->name, value, c->log_file, sizeof(c->log_file), true);
	case K_FORMAT:
		if ((w = conf_word(kd, value)) < 0)
			break;
		c->log_format = (enum log_format)w;
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
	for (i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];

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
		if (!conf_section_known(p + 1, (size_t)(close - p - 1))) {
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

int
conf_set_defaults(struct parse_ctx *pc)
{
	for (size_t i = 0; i < K_COUNT; i++) {
		if (conf_keys[i].def != NULL &&
		    set_key(pc, conf_keys[i].key, conf_keys[i].def) == -1)
			return -1;
	}
	return 0;
}

int
conf_parse_file(struct parse_ctx *pc)
{
	int rc;

#ifdef HAVE_INI_MAX_LINE
	/* Debian's inih sizes its line buffer from this at run time; the
	 * default (200) is shorter than a long domain line. */
	ini_max_line = CONF_LINE_MAX;
#endif
	rc = ini_parse_stream(reader, pc, handler, pc);
	free(pc->linebuf);
	pc->linebuf = NULL;
	if (!pc->failed && rc > 0)
		conf_fail(pc, rc, "syntax error (expected [section] or key = value)");
	else if (!pc->failed && rc != 0)
		conf_fail(pc, 0, "ini parser failed (%d)", rc);
	return pc->failed ? -1 : 0;
}
