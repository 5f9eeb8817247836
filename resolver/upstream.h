/*
 * Forwarding to the upstream servers: a fresh socket (so a fresh source
 * port) and a fresh random ID per attempt, answers checked against what was
 * asked, TC=1 retried over TCP, per attempt timeouts and failover.
 */
#ifndef NAMEGATE_UPSTREAM_H
#define NAMEGATE_UPSTREAM_H

#include <stdint.h>

#include <ldns/ldns.h>

#include "addr.h"
#include "conf.h"
#include "dnsmsg.h"
#include "loop.h"

struct upstream;
struct upstream_req;

/* Called exactly once per request, never from within upstream_query. On
 * success pkt is the checked answer (the callee owns it) and wire/len its
 * bytes (valid during the call); on failure pkt is NULL and error a short
 * token ("timeout", "mismatch", "malformed", "tcp-failed", ...). server is
 * the upstream that answered or was tried last. */
typedef void (*upstream_cb)(void *arg, ldns_pkt *pkt, const uint8_t *wire, size_t len,
                            const char *error, const struct addr *server);

struct upstream *upstream_new(struct loop *lp);
void upstream_free(struct upstream *u);
/* Takes the servers and the timeout from c, leaving out our own listen
 * addresses. Requests in flight carry on with the new list. */
void upstream_configure(struct upstream *u, const struct conf *c);

/* q must stay valid until the callback or upstream_cancel. */
struct upstream_req *upstream_query(struct upstream *u, const struct dnsmsg_query *q,
                                    upstream_cb cb, void *arg);
void upstream_cancel(struct upstream_req *r); /* no callback */

#endif
