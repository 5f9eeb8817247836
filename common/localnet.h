/*
 * The container's own networks, read from the kernel (rtnetlink dumps):
 * the prefix of every interface address, every route's gateway, and the
 * destination of every route without one (a network on the link). They
 * are inward (inward.h): a name's answer must not point into them.
 *
 * The resolver reads them once, before its seccomp filter forbids netlink;
 * the gate reads them at start and again on every reload.
 */
#ifndef NAMEGATE_LOCALNET_H
#define NAMEGATE_LOCALNET_H

#include "inward.h"

/* Fills *out (from empty). Returns 0, or -1 with the failure logged. */
int localnet_read(struct inward_local *out);

#endif
