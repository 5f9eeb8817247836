/*
 * sandbox.ini: parsed with inih into a fresh struct conf, validated strictly,
 * and only then handed to the caller, who swaps it in. Any error yields
 * "file:line: message" and leaves the caller's running config alone.
 */
#ifndef NAMEGATE_CONF_H
#define NAMEGATE_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "inward.h"
#include "log.h"
#include "pattern.h"

#define CONF_MAX_PORTS 32
#define CONF_MAX_LISTEN 8
#define CONF_MAX_UPSTREAMS 8
#define CONF_MAX_ADDRS 256 /* upper bound for max_addrs */
/* [resolver] cache_size: answers the resolver keeps. The default holds a
 * big sandbox's working set (25,000 names) within the resolver's memory
 * target, 16 MiB after 100,000 names (README: about 0.4 KiB per cached
 * answer measured); the bound keeps a typo from taking gigabytes. */
#define CONF_DEFAULT_CACHE_SIZE 25000
#define CONF_MAX_CACHE_SIZE 1000000
#define CONF_ERR_LEN 512
/* maxelem of namegate4 and namegate6, and the default bound of one line:
 * 128 lines at their bound fill a set. */
#define CONF_SET_MAXELEM 1048576
#define CONF_DEFAULT_MAX_PER_LINE 8192
#define CONF_MAX_SEARCH 32 /* search domains taken from resolv_conf, at most */

struct port {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port; /* host byte order, 1..65535 */
};

struct portlist {
	size_t n;
	struct port v[CONF_MAX_PORTS];
};

/* "tcp/443" → port. Returns 0 or -1. */
int port_parse(const char *text, struct port *out);
/* Adds p unless already present; -1 when full. */
int portlist_add(struct portlist *pl, struct port p);
bool portlist_has(const struct portlist *pl, uint8_t proto, uint16_t port);
/* Every port of small is in big. */
bool portlist_covers(const struct portlist *big, const struct portlist *small);
/* "tcp/443 tcp/80" */
const char *portlist_fmt(const struct portlist *pl, char *buf, size_t len);

struct conf_domain {
	struct pattern pat;
	struct portlist ports; /* the [gate] ports when the line lists none */
	bool own_ports;        /* the line listed ports */
	bool inward;           /* "inward": inward addresses are allowed for it (inward.h) */
	int line;
};

struct conf_network {
	struct addr net; /* port unused */
	uint8_t prefix;
	struct portlist ports; /* the [gate] ports when the line lists none */
	int line;
};

enum deny_rcode { DENY_REFUSED, DENY_NXDOMAIN };
enum gate_mode { MODE_ENFORCE, MODE_AUDIT };
enum on_deny { ON_DENY_REJECT, ON_DENY_DROP };
/* [gate] bind: is the TLS SNI / HTTP Host of a flow checked against the
 * names its address was handed out for (nfq/bind.h)? */
enum bind_mode { BIND_ENFORCE, BIND_AUDIT, BIND_OFF };

struct conf {
	char path[PATH_MAX];

	/* [resolver] */
	struct addr listen[CONF_MAX_LISTEN]; /* port defaults to 53 */
	size_t nlisten;
	bool upstream_auto;                       /* upstream = auto: read from resolv_conf */
	struct addr upstream[CONF_MAX_UPSTREAMS]; /* effective list, port defaults to 53 */
	size_t nupstream;
	char resolv_conf[PATH_MAX]; /* default /etc/resolv.conf */
	/* The search list of resolv_conf (its search and domain lines),
	 * read at every load whatever upstream says, each as ".domain". */
	struct pattern search[CONF_MAX_SEARCH];
	size_t nsearch;
	uint32_t upstream_timeout_ms; /* per attempt; default 2000 */
	enum deny_rcode deny;
	uint32_t min_ttl, max_ttl; /* seconds; defaults 60 and 86400 */
	uint32_t max_addrs;        /* default 64, at most CONF_MAX_ADDRS */
	uint32_t cache_size;       /* answers kept; CONF_DEFAULT_CACHE_SIZE */
	char user[64];             /* default "namegate" */
	/* Relay the ech SvcParam of HTTPS/SVCB records; by default it is
	 * removed, so clients send a readable SNI. */
	bool keep_ech;

	/* [gate] */
	enum gate_mode mode;
	struct portlist ports; /* default tcp/443 tcp/80 */
	enum on_deny on_deny;
	uint16_t queue;
	char socket[108];           /* default /run/namegate/gate.sock; fits sun_path */
	uint32_t max_per_line;      /* set entries one domain line holds, at most */
	struct portlist inbound;    /* new inbound flows allowed to these; default none */
	enum bind_mode bind;        /* default enforce */
	struct portlist tls_ports;  /* SNI checked; default tcp/443, tcp only */
	struct portlist http_ports; /* Host checked; default tcp/80, tcp only */
	struct portlist quic_ports; /* QUIC Initial SNI checked; default udp/443, udp only */

	/* [log] */
	char log_file[PATH_MAX]; /* default /var/log/namegate.log; "" = stderr only */
	enum log_format log_format;

	/* [allow] */
	struct conf_domain *domains;
	size_t ndomains;
	struct conf_network *networks;
	size_t nnetworks;

	/* Not from the file: the container's own networks (localnet.h), which
	 * each daemon fills in after conf_load. Zero: fixed ranges only. */
	struct inward_local local;
};

/* Parse and validate path into *out (which the caller then owns and frees
 * with conf_free). With upstream = auto the nameservers of resolv_conf are
 * read now, leaving out any that is one of our own listen addresses; none
 * left is an error. Returns 0, or -1 with err = "file:line: message"
 * (line 0 when the error is about the file as a whole). */
int conf_load(const char *path, struct conf *out, char *err, size_t errlen);
/* The same, except that with upstream = auto resolv_conf's nameservers are
 * not read (nupstream stays 0): for what a caller needs to know before it
 * writes that file (namegate-nfq --get, namegate-up). */
int conf_load_no_resolv(const char *path, struct conf *out, char *err, size_t errlen);
void conf_free(struct conf *c);

/* config.load file=PATH, and config.error file line error from the
 * "file:line: message" that conf_load gave. */
void conf_log_load(const char *path);
void conf_log_error(const char *path, const char *err);

/* The effective config, as an ini file that conf_load accepts. */
void conf_print(FILE *f, const struct conf *c);

/* Is key ("section.key", e.g. "resolver.listen") a key of sandbox.ini? */
bool conf_key_known(const char *key);
/* Writes key's effective value (defaults applied) as one line, as
 * conf_print writes it without its comments; for allow.domain and
 * allow.network the first word of every line (the patterns, the networks),
 * space-separated. Returns 0, or -1 (errno ENOENT: no such key). */
int conf_get(FILE *f, const struct conf *c, const char *key);

/* Does nc allow less than old: a domain line of old that nc no longer has
 * with at least the same ports? Then addresses old allowed may have to go. */
bool conf_allow_narrowed(const struct conf *old, const struct conf *nc);

/* Does name (normalized) match the allowlist? If so, and ports is not NULL,
 * *ports is the union of the ports of every matching line. */
bool conf_lookup(const struct conf *c, const char *name, size_t len, struct portlist *ports);
/* The same, over the lines marked "inward" only: may the name's answers
 * hold inward addresses, and on which ports (*ports, unless NULL). */
bool conf_lookup_inward(const struct conf *c, const char *name, size_t len, struct portlist *ports);

/* Is name (normalized) one of the search domains or under one, by whole
 * labels? A client walking its search list goes on after NXDOMAIN but
 * stops at REFUSED, so such a name is denied with NXDOMAIN. */
bool conf_in_search(const struct conf *c, const char *name, size_t len);

#endif
