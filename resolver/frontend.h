/*
 * Client sockets: one UDP and one TCP listener per listen address. UDP
 * datagrams and TCP length-prefixed messages both come out as one callback
 * per message; replies go back through frontend_reply, in any order. UDP
 * replies are queued and sent together at the end of the loop's turn; one
 * that nothing else can join (no other event of the turn waits, and its
 * caller handles no batch: loop_turn_busy) goes at once, before what its
 * caller does next (a log line).
 */
#ifndef NAMEGATE_FRONTEND_H
#define NAMEGATE_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "loop.h"

struct frontend;
struct frontend_conn;

/* Where a reply goes. A copy made with frontend_client_copy holds a
 * reference on the TCP connection (which may close meanwhile; the reply is
 * then dropped) and must be released. */
struct frontend_client {
	struct frontend *fe;
	int udp_fd; /* -1 for TCP */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct frontend_conn *conn;
};

typedef void (*frontend_query_cb)(const uint8_t *buf, size_t len,
                                  const struct frontend_client *client, void *arg);

/* Binds every address (must run before privileges are dropped). Returns
 * NULL, with the reason logged, if any address cannot be bound. */
struct frontend *frontend_new(struct loop *lp, const struct addr *listen, size_t n,
                              frontend_query_cb cb, void *arg);
void frontend_free(struct frontend *fe);

void frontend_client_copy(struct frontend_client *dst, const struct frontend_client *src);
void frontend_client_release(struct frontend_client *c);
bool frontend_client_udp(const struct frontend_client *c);
/* The client's IP, for logs. */
const char *frontend_client_str(const struct frontend_client *c, char *buf, size_t len);

/* The client's address and port and the listen address and port its
 * query came to; -1 when the TCP connection is closed already. */
int frontend_client_ends(const struct frontend_client *c, struct addr *peer, struct addr *local);

void frontend_reply(const struct frontend_client *c, const uint8_t *buf, size_t len);

#endif
