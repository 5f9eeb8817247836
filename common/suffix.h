/*
 * The Public Suffix List (Debian's publicsuffix, through libpsl): which
 * names anyone can register names under. A wildcard or apex line over such
 * a name (*.github.io, .s3.amazonaws.com, .com) allows every stranger's
 * host below it, so namegate learn never proposes one and --check-config
 * warns about one.
 */
#ifndef NAMEGATE_SUFFIX_H
#define NAMEGATE_SUFFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf.h"

/* The list as Debian ships it, in text form, for suffix_below. */
#define SUFFIX_DAT "/usr/share/publicsuffix/public_suffix_list.dat"

/* Loads the newest list libpsl finds (its built-in one or Debian's file);
 * -1 when none. Called once; the other functions load on first use. */
int suffix_init(void);
void suffix_fini(void);

/* Is name (normalized) a public suffix, of the ICANN or the private
 * (shared hosting) section? Without a list: true (fail closed). */
bool suffix_is_public(const char *name);
/* The registrable domain of name (the public suffix and one label more), a
 * pointer into name; NULL when name is a public suffix itself or no list
 * loaded. */
const char *suffix_registrable(const char *name);
/* Is there a public suffix strictly below name (s3.amazonaws.com below
 * amazonaws.com)? If so the first one found is copied to ex (exlen bytes).
 * Read from dat (SUFFIX_DAT when NULL); an unreadable file: true, ex "?". */
bool suffix_below(const char *name, const char *dat, char *ex, size_t exlen);

/* Whether a pattern may stand in a config without letting strangers in:
 * NULL when it may, else why not, in a sentence written into buf. Exact
 * names always may. */
const char *suffix_pattern_why(const struct pattern *p, const char *dat, char *buf, size_t len);
/* "file:line: warning: ..." on f for every [allow] line of c over a public
 * suffix (suffix_pattern_why); returns how many. */
size_t suffix_conf_warnings(const struct conf *c, FILE *f);

#endif
