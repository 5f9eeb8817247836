/*
 * The process's own capabilities, for the daemons' privilege drop: read
 * and set the effective, permitted and inheritable sets (capget/capset,
 * all 64 bits), clear the ambient set, and drop from the bounding set
 * every capability the running kernel knows but the caller keeps.
 * Nothing here logs or exits: each daemon decides how fatal a failure is.
 */
#ifndef NAMEGATE_CAPS_H
#define NAMEGATE_CAPS_H

#include <stdint.h>

#define CAPS_BIT(cap) (1ULL << (cap))

struct caps {
	uint64_t effective, permitted, inheritable;
};

/* This process's sets. Returns 0, or -1 with errno. */
int caps_get(struct caps *out);

/* Makes effective and permitted exactly these, inheritable empty (the
 * kernel refuses to add to permitted, or to make effective what is not
 * permitted: EPERM). Returns 0, or -1 with errno. */
int caps_set(uint64_t effective, uint64_t permitted);

/* Drops every capability the running kernel knows (it may know more than
 * the headers this was built with: /proc/sys/kernel/cap_last_cap) that
 * keep lacks from the bounding set, so no exec can bring it back. Dropping needs CAP_SETPCAP;
 * one the kernel does not know (EINVAL) is no failure. Returns how many
 * could not be dropped, with errno that of the first. */
int caps_bound_drop(uint64_t keep);

/* Clears the ambient set; a kernel without one (EINVAL) has nothing to
 * clear. Returns 0, or -1 with errno. */
int caps_ambient_clear(void);

#endif
