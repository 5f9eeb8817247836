/*
 * The netfilter rules of one address family: the text handed to
 * iptables-restore / ip6tables-restore (a pure function of the config), and
 * applying or removing it by running those tools.
 */
#ifndef NAMEGATE_RULES_H
#define NAMEGATE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "dockerdns.h"

/* Which jumps rules_text adds: each only when iptables -C says it is missing. */
#define RULES_JUMP_OUTPUT 1u /* -I OUTPUT 1 -j NAMEGATE */
#define RULES_JUMP_INPUT 2u  /* -I INPUT 1 -j NAMEGATE-IN */

/* Writes the iptables-restore --noflush input for family (AF_INET or
 * AF_INET6) into buf, NUL-terminated: our four chains (declaring them flushes
 * them, so applying twice leaves one copy) and the jumps of jumps
 * (RULES_JUMP_*). dd is what resolv_conf says about Docker's embedded DNS
 * (NULL: nothing). Returns the length, or -1 if buf is too small. */
int rules_text(const struct conf *c, const struct dockerdns *dd, int family, uid_t resolver_uid,
               unsigned queue, unsigned jumps, char *buf, size_t len);

/* The uid and gid of the resolver user (conf->user). Returns 0, or -1 after
 * logging why (no such user). */
int rules_resolver_user(const char *user, uid_t *uid, gid_t *gid);

/* Install or refresh the rules of both families, each in one transaction.
 * Returns 0, or -1 after logging the tool's stderr and what is missing. */
int rules_apply(const struct conf *c, uid_t resolver_uid);

/* Remove every jump to NAMEGATE from OUTPUT and to NAMEGATE-IN from INPUT,
 * and delete our chains, in both families. Missing pieces are not an error. Returns 0 or -1. */
int rules_remove(void);

#endif
