/*
 * The keys of sandbox.ini, listed once: section, name, default, the words a
 * value may be, and how the effective value is written. The parser
 * (confparse.c) dispatches by this table, conf.c takes the defaults from
 * it, conf_print and conf_get (confprint.c) write through it, and a unit
 * test holds README.md and the man page to it.
 */
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const deny_words[] = {"refused", "nxdomain", NULL};
static const char *const yes_no[] = {"no", "yes", NULL};
static const char *const mode_words[] = {"enforce", "audit", NULL};
static const char *const on_deny_words[] = {"reject", "drop", NULL};
static const char *const bind_words[] = {"enforce", "audit", "off", NULL};
static const char *const format_words[] = {"text", "json", NULL};

static void
fmt_addrs(const struct addr *v, size_t n, char *buf, size_t len)
{
	char abuf[ADDR_STRLEN];
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int k = snprintf(buf + used, len - used, "%s%s", i ? " " : "",
		                 addr_fmt(&v[i], abuf, sizeof(abuf)));

		if (k < 0)
			break;
		used += (size_t)k;
	}
}

static void
fmt_listen(const struct keydef *kd, const struct conf *c, char *buf, size_t len)
{
	fmt_addrs(c->listen, c->nlisten, buf, len);
}

static void
fmt_upstream(const struct keydef *kd, const struct conf *c, char *buf, size_t len)
{
	fmt_addrs(c->upstream, c->nupstream, buf, len);
}

#define FMT_STR(fn, field)                                                                         \
	static void fn(const struct keydef *kd, const struct conf *c, char *buf, size_t len)       \
	{                                                                                          \
		snprintf(buf, len, "%s", c->field);                                                \
	}
#define FMT_NUM(fn, field)                                                                         \
	static void fn(const struct keydef *kd, const struct conf *c, char *buf, size_t len)       \
	{                                                                                          \
		snprintf(buf, len, "%u", (unsigned)c->field);                                      \
	}
#define FMT_WORD(fn, field)                                                                        \
	static void fn(const struct keydef *kd, const struct conf *c, char *buf, size_t len)       \
	{                                                                                          \
		snprintf(buf, len, "%s", kd->words[c->field]);                                     \
	}
#define FMT_PORTS(fn, field)                                                                       \
	static void fn(const struct keydef *kd, const struct conf *c, char *buf, size_t len)       \
	{                                                                                          \
		portlist_fmt(&c->field, buf, len);                                                 \
	}

FMT_STR(fmt_resolv_conf, resolv_conf)
FMT_NUM(fmt_upstream_timeout, upstream_timeout_ms)
FMT_WORD(fmt_deny, deny)
FMT_NUM(fmt_min_ttl, min_ttl)
FMT_NUM(fmt_max_ttl, max_ttl)
FMT_NUM(fmt_max_addrs, max_addrs)
FMT_NUM(fmt_cache_size, cache_size)
FMT_STR(fmt_user, user)
FMT_WORD(fmt_keep_ech, keep_ech)
FMT_WORD(fmt_mode, mode)
FMT_PORTS(fmt_ports, ports)
FMT_WORD(fmt_on_deny, on_deny)
FMT_NUM(fmt_queue, queue)
FMT_STR(fmt_socket, socket)
FMT_NUM(fmt_max_per_line, max_per_line)
FMT_PORTS(fmt_inbound, inbound)
FMT_WORD(fmt_bind, bind)
FMT_PORTS(fmt_tls_ports, tls_ports)
FMT_PORTS(fmt_http_ports, http_ports)
FMT_PORTS(fmt_quic_ports, quic_ports)
FMT_STR(fmt_file, log_file)
FMT_WORD(fmt_format, log_format)

/* Indexed by enum conf_key; the order is the order conf_print writes. */
const struct keydef conf_keys[K_COUNT] = {
    {"resolver", "listen", K_LISTEN, false, "127.0.0.1:53 [::1]:53", NULL, fmt_listen},
    {"resolver", "upstream", K_UPSTREAM, false, "auto", NULL, fmt_upstream},
    {"resolver", "resolv_conf", K_RESOLV_CONF, false, "/etc/resolv.conf", NULL, fmt_resolv_conf},
    {"resolver", "upstream_timeout", K_UPSTREAM_TIMEOUT, false, "2000", NULL, fmt_upstream_timeout},
    {"resolver", "deny", K_DENY, false, "nxdomain", deny_words, fmt_deny},
    {"resolver", "min_ttl", K_MIN_TTL, false, "60", NULL, fmt_min_ttl},
    {"resolver", "max_ttl", K_MAX_TTL, false, "86400", NULL, fmt_max_ttl},
    {"resolver", "max_addrs", K_MAX_ADDRS, false, "64", NULL, fmt_max_addrs},
    {"resolver", "cache_size", K_CACHE_SIZE, false, STR(CONF_DEFAULT_CACHE_SIZE), NULL,
     fmt_cache_size},
    {"resolver", "user", K_USER, false, "namegate", NULL, fmt_user},
    {"resolver", "keep_ech", K_KEEP_ECH, false, "no", yes_no, fmt_keep_ech},
    {"gate", "mode", K_MODE, false, "enforce", mode_words, fmt_mode},
    {"gate", "ports", K_PORTS, false, "tcp/443 tcp/80", NULL, fmt_ports},
    {"gate", "on_deny", K_ON_DENY, false, "reject", on_deny_words, fmt_on_deny},
    {"gate", "queue", K_QUEUE, false, "0", NULL, fmt_queue},
    {"gate", "socket", K_SOCKET, false, "/run/namegate/gate.sock", NULL, fmt_socket},
    {"gate", "max_per_line", K_MAX_PER_LINE, false, STR(CONF_DEFAULT_MAX_PER_LINE), NULL,
     fmt_max_per_line},
    {"gate", "inbound", K_INBOUND, false, "", NULL, fmt_inbound},
    {"gate", "bind", K_BIND, false, "enforce", bind_words, fmt_bind},
    {"gate", "tls_ports", K_TLS_PORTS, false, "tcp/443", NULL, fmt_tls_ports},
    {"gate", "http_ports", K_HTTP_PORTS, false, "tcp/80", NULL, fmt_http_ports},
    {"gate", "quic_ports", K_QUIC_PORTS, false, "udp/443", NULL, fmt_quic_ports},
    {"log", "file", K_FILE, false, "/var/log/namegate.log", NULL, fmt_file},
    {"log", "format", K_FORMAT, false, "text", format_words, fmt_format},
    {"allow", "domain", K_DOMAIN, true, NULL, NULL, NULL},
    {"allow", "network", K_NETWORK, true, NULL, NULL, NULL},
};

const struct keydef *
conf_keydef_of(const char *key)
{
	const char *dot = strchr(key, '.');

	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];
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
	return conf_keydef_of(key) != NULL;
}

bool
conf_section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < K_COUNT; i++) {
		if (strlen(conf_keys[i].section) == len &&
		    strncmp(conf_keys[i].section, name, len) == 0)
			return true;
	}
	return false;
}

int
conf_word(const struct keydef *kd, const char *value)
{
	for (int i = 0; kd->words != NULL && kd->words[i] != NULL; i++) {
		if (strcmp(kd->words[i], value) == 0)
			return i;
	}
	return -1;
}
