/*
 * The container's own networks, read from the kernel (rtnetlink dumps):
 * the prefix of every interface address, every route's gateway, and the
 * destination of every route without one (a network on the link). They
 * are inward (inward.h): a name's answer must not point into them.
 *
 * The resolver reads them once, before its seccomp filter forbids netlink;
 * the gate reads them at start, on every reload, and whenever the kernel
 * says an address or a route changed (localnet_watch).
 */
#ifndef NAMEGATE_LOCALNET_H
#define NAMEGATE_LOCALNET_H

#include "inward.h"
#include "loop.h"

/* Fills *out (from empty). Returns 0, or -1 with the failure logged. */
int localnet_read(struct inward_local *out);

/* Calls cb(arg) shortly after the kernel announced a change of an address
 * or a route (a burst of them is one call), and after the kernel dropped
 * announcements it could not queue. The gate uses it to re-read. */
struct localnet_watch;
struct localnet_watch *localnet_watch_new(struct loop *lp, void (*cb)(void *arg), void *arg);
void localnet_watch_free(struct localnet_watch *w);

#endif
