/*
 * The resolver's side of the gate socket: ALLOW out, ACK in. An answer that
 * carries addresses is held until the gate acknowledged that the kernel has
 * them; whatever goes wrong (no gate, refusal, no ACK in time) the client
 * gets SERVFAIL instead, never an address the firewall does not know.
 */
#ifndef NAMEGATE_GATECLIENT_H
#define NAMEGATE_GATECLIENT_H

#include "addr.h"
#include "dnsmsg.h"
#include "gateipc.h"
#include "holds.h"
#include "loop.h"

#define GATECLIENT_TIMEOUT_MS 1000

enum gateclient_result {
	GATECLIENT_OK,
	GATECLIENT_REFUSED, /* the gate answered with a non-OK status */
	GATECLIENT_TIMEOUT,
	GATECLIENT_DISCONNECTED,
};

typedef void (*gateclient_cb)(void *arg, enum gateclient_result res);

struct gateclient;

/* Connects at once; when that fails it keeps trying with backoff. Tells
 * holds whenever what the gate acknowledged may be gone: a connection made
 * or lost (a new gate, new sets), an ACK whose removals counter moved. */
struct gateclient *gateclient_new(struct loop *lp, const char *path, struct holds *holds);
/* Pending requests are dropped without callbacks. */
void gateclient_free(struct gateclient *gc);
/* A new socket path (reload): reconnects if it changed. */
void gateclient_set_path(struct gateclient *gc, const char *path);

/* Asks the gate to allow a->v for name (normalized). Returns 0 and calls cb
 * later exactly once, or -1 at once (no callback) when the gate cannot be
 * reached right now. */
int gateclient_allow(struct gateclient *gc, const char *name, const struct dnsmsg_addrs *a,
                     gateclient_cb cb, void *arg);

/* Asks the gate who holds the client socket of a denied query (client ->
 * listen, proto IPPROTO_UDP or IPPROTO_TCP). Returns 0 and calls cb
 * exactly once within timeout_ms, with the gate's reply or one made up
 * here (why TIMEOUT: no reply in time; NOGATE: the connection was lost),
 * or -1 at once (no callback) when the gate cannot be asked right now. */
typedef void (*gateclient_who_cb)(void *arg, const struct gateipc_who_reply *rep);
int gateclient_who(struct gateclient *gc, uint8_t proto, const struct addr *client,
                   const struct addr *listen, unsigned timeout_ms, gateclient_who_cb cb, void *arg);

/* The dns.error token for a failed result. */
const char *gateclient_result_str(enum gateclient_result res);

#endif
