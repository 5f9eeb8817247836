/*
 * namegate learn: the log of an audit-mode run in, a ready [allow] section
 * out. Pure but for the output stream (and the Public Suffix List libpsl
 * reads), so unit tests drive it line by line.
 *
 * Every name looked up (dns.allow, dns.audit with rcode NOERROR) becomes a
 * domain line with the ports its flows used (flow.audit/flow.deny, named by
 * the gate or by the addrs of the lookup that handed the address out
 * last); names under one registrable domain are grouped into "*.apex" or
 * ".apex" only where the Public Suffix List says no stranger can own a
 * name below it (suffix.h). Output is sorted, so the same log always gives
 * the same section.
 */
#ifndef NAMEGATE_LEARN_H
#define NAMEGATE_LEARN_H

#include <stdbool.h>
#include <stdio.h>

#include "conf.h"

#define LEARN_DEFAULT_GROUP 3 /* distinct subdomains that make a group */
#define LEARN_MAX_PROCS 4     /* process names kept per line, then "+N" */

struct learn;

struct learn_opts {
	unsigned group;           /* subdomains of a registrable domain to group; 0 = never */
	const char *dat;          /* the PSL in text form (NULL: SUFFIX_DAT) */
	const struct conf *merge; /* NULL, or the config whose lines already count */
	const char *merge_path;   /* its file, whose [allow] lines are printed first */
};

struct learn *learn_new(void);
void learn_free(struct learn *l);
/* Takes one log line (logfmt or JSON, with or without its newline):
 * 1 when it told something, 0 when it was no event learn uses. */
int learn_line(struct learn *l, const char *line);
/* Prints the [allow] section; -1 (errno set) when the merge file cannot be
 * read or f fails. It ends the learn: learn_free is all that may follow. */
int learn_print(FILE *f, struct learn *l, const struct learn_opts *o);

#endif
