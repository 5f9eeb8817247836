/*
 * The gate's unix socket for ALLOW requests from the resolver. Only root and
 * the resolver user may connect (SO_PEERCRED). Every message is checked for
 * exact length and content; the name is looked up again in the gate's own
 * config, and only then do its addresses go into the kernel sets, before the
 * ACK is sent. The requests a connection has ready are handled as a batch:
 * one netlink exchange for all their entries, one sendmmsg for the ACKs,
 * and each request still all or nothing on its own. WHO requests (who
 * holds a denied query's client socket) are answered after the batch's
 * ACKs, so an allowed answer never waits for a lookup.
 */
#ifndef NAMEGATE_GATESRV_H
#define NAMEGATE_GATESRV_H

#include <sys/types.h>

#include "addrmap.h"
#include "conf.h"
#include "entrymap.h"
#include "ipset.h"
#include "loop.h"

#define GATESRV_MAX_CONNS 16

struct gatesrv;

/* Creates the socket at c->socket (and its directory), owned by root with
 * the resolver's group. emap is the record of what the sets hold (it
 * outlives the server). NULL after logging why. */
struct gatesrv *gatesrv_new(struct loop *lp, const struct conf *c, uid_t resolver_uid,
                            gid_t resolver_gid, struct ipset_nl *ipset, struct addrmap *map,
                            struct entrymap *emap);
/* The new config's lines must be those entrymap_relines mapped emap to. */
void gatesrv_set_conf(struct gatesrv *s, const struct conf *c);
/* The lookup that answers WHO requests (who_dns), shared with the queue
 * and its budget; NULL (the default) answers why=nohelper. */
struct who;
void gatesrv_set_who(struct gatesrv *s, struct who *w);
/* Closes every connection and removes the socket file. */
void gatesrv_free(struct gatesrv *s);
/* Close every resolver connection: the resolver reconnects and forgets
 * which of its cached answers it believed the sets still hold. */
void gatesrv_drop_clients(struct gatesrv *s);

#endif
