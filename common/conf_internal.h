/*
 * What the conf*.c files share and nobody else sees (not installed; only
 * common/conf*.c and the unit tests include it): the key table, the parse
 * context, and the steps of a load that live in separate files.
 *
 *   conf.c        load, the checks that need the whole file, free, log events
 *   confkeys.c    the key table: every key's section, default and printer
 *   confparse.c   the ini reader, section/key dispatch, set_key, value parsers
 *   confport.c    tcp/443: parsed, listed, compared, printed
 *   confresolv.c  resolv_conf: nameservers for upstream = auto, search list
 *   confprint.c   conf_print and conf_get
 *   conflookup.c  the questions asked of a loaded config
 */
#ifndef NAMEGATE_CONF_INTERNAL_H
#define NAMEGATE_CONF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf.h"

#define CONF_LINE_MAX 1024
/* Bounds memory use for a runaway file; far above any real allowlist. */
#define CONF_MAX_ENTRIES 100000

/* In the order of conf_keys[], which is the order conf_print writes. */
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

/* Room for any one value conf_keys[].fmt writes (a path is the longest). */
#define CONF_VALUE_LEN (PATH_MAX + 64)

/*
 * One key of sandbox.ini. The default is text that the parser reads like
 * a line of the file, so a default is always a value the file could hold
 * and is written down once. A key whose value is one of a few words lists
 * them in words, in the order of its enum (the index is the value), for
 * the parser and the printer alike. A key that repeats (an [allow] line)
 * has neither a default nor fmt: conf_print and conf_get write its lines.
 */
struct keydef {
	const char *section;
	const char *name;
	enum conf_key key;
	bool repeats;
	const char *def;
	const char *const *words; /* NULL-terminated, or NULL */
	/* The effective value as conf_print writes it after "name = ". */
	void (*fmt)(const struct keydef *kd, const struct conf *c, char *buf, size_t len);
};

extern const struct keydef conf_keys[K_COUNT];

/* "section.key" → its keydef, or NULL. */
const struct keydef *conf_keydef_of(const char *key);
/* Is name (len bytes, not NUL-terminated) one of the sections? */
bool conf_section_known(const char *name, size_t len);
/* The index of value in kd->words, or -1. */
int conf_word(const struct keydef *kd, const char *value);

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

/* Records "file:line: message" unless an error was recorded already: later
 * ones are often consequences of the first. */
void conf_fail(struct parse_ctx *pc, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses pc->fp with inih into pc->c (defaults already set). Returns 0 or
 * -1 with the error recorded. */
int conf_parse_file(struct parse_ctx *pc);
/* Every key's default from the table, parsed as if it were a line of the
 * file (line 0: an error here is about the build, not the file). */
int conf_set_defaults(struct parse_ctx *pc);

/* upstream = auto: resolv_conf's nameservers into c->upstream. */
int conf_read_resolv(struct parse_ctx *pc);
/* resolv_conf's search list into c->search, best effort. */
void conf_read_search(struct conf *c);

bool conf_is_listen_addr(const struct conf *c, const struct addr *a);
bool conf_addr_is_unspecified(const struct addr *a);

#endif
